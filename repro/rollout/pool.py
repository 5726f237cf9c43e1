"""A bounded pool of env worker processes with crash/hang recovery.

Each worker hosts the envs of the episodes it reset (an episode's engine state cannot move) and
serves one request at a time, so the request in flight on a dead or hung worker names the episode
to blame. Unpinned work (resets, whole scripted episodes) waits in a shared queue and goes to the
first idle worker; pinned work (steps) waits in its worker's own queue. An env whose workers keep
per-task caches (``env_cls.task_affinity(env_cfg)``, ALFWorld's engine caches) has every reset and
scripted episode of one task pinned to that task's home worker: the least busy one when the task
is first seen, so a group's 8 resets translate its game once.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from repro.rollout.config import RolloutConfig
from repro.workers import READY, await_ready

STARTUP_TIMEOUT_S = 120.0  # a spawned worker imports only repro.rollout before saying it is ready


@dataclass
class Request:
    kind: str  # reset | step | restore | scripted
    eid: int  # episode id (the trajectory id)
    payload: Any


@dataclass
class Result:
    kind: str
    eid: int
    ok: bool
    value: Any  # the reply when ok, else the reason the episode failed


def _worker_main(conn: Connection, env_cls: type, env_cfg: Any, data_dir: str | None) -> None:
    # Ctrl-C reaches the whole process group; the parent decides what happens to workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _serve(conn, env_cls, env_cfg, data_dir)
    except (EOFError, OSError):  # the parent is gone (killed, or exited without stopping us): so are we
        pass


def _serve(conn: Connection, env_cls: type, env_cfg: Any, data_dir: str | None) -> None:
    from repro.rollout.scripted import run_scripted_episode

    envs: dict[int, Any] = {}
    conn.send(READY)
    while True:
        msg = conn.recv()
        kind = msg[0]
        if kind == "stop":
            break
        _, eid, payload = msg
        try:
            if kind == "reset":
                envs[eid] = env_cls(env_cfg, data_dir)
                reply = envs[eid].reset(payload)
            elif kind == "step":
                reply = envs[eid].step(payload)
                if reply[2]:
                    envs.pop(eid).close()
            elif kind == "restore":
                task, actions = payload
                envs[eid] = env_cls(env_cfg, data_dir)
                envs[eid].reset(task)
                for action in actions:
                    envs[eid].step(action)
                reply = None
            else:  # scripted
                env = env_cls(env_cfg, data_dir)
                try:
                    reply = run_scripted_episode(env, *payload)
                finally:
                    env.close()
            conn.send(("ok", reply))
        except Exception as e:  # an env error fails that episode only; the worker goes on
            if eid in envs:
                envs.pop(eid).close()
            last = traceback.extract_tb(e.__traceback__)[-1]
            conn.send(("error", f"{type(e).__name__}: {e} ({os.path.basename(last.filename)}:{last.lineno})"))


def _crash_reason(proc: Any) -> str:
    """Why a worker whose pipe or process ended is gone; read after join, since a pipe can close
    a moment before its process is reaped (and ``exitcode`` is None until then)."""
    proc.join(timeout=5)
    code = proc.exitcode
    if code is None:
        return "worker stopped answering (its pipe closed)"
    if code < 0:
        try:
            return f"worker crashed (killed by {signal.Signals(-code).name})"
        except ValueError:
            pass
    return f"worker crashed (exit code {code})"


@dataclass
class _Worker:
    proc: Any
    conn: Connection
    queue: deque = field(default_factory=deque)  # pinned requests
    inflight: Request | None = None
    deadline: float = 0.0
    hosted: set = field(default_factory=set)  # eids whose env lives here


@dataclass
class _Live:
    task: Any
    worker: int
    actions: list = field(default_factory=list)


class EnvPool:
    """``num_workers`` processes running ``env_cls(env_cfg, data_dir)`` envs (see module doc)."""

    def __init__(self, env_cls: type, env_cfg: Any, cfg: RolloutConfig | None = None, data_dir: str | None = None):
        self.env_cls, self.env_cfg, self.data_dir = env_cls, env_cfg, data_dir
        self.cfg = cfg or RolloutConfig()
        self._ctx = mp.get_context("spawn")  # the parent may hold torch threads: never fork it
        self._shared: deque[Request] = deque()
        self._live: dict[int, _Live] = {}
        self._results: list[Result] = []
        self._homes: dict[str, int] | None = {} if env_cls.task_affinity(env_cfg) else None
        self.restarts = 0
        self._workers = [self._spawn() for _ in range(self.cfg.workers())]
        for w in self._workers:
            self._await_ready(w)

    # ---- lifecycle ----------------------------------------------------------------------------

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=_worker_main, args=(child, self.env_cls, self.env_cfg, self.data_dir), daemon=True
        )
        proc.start()
        child.close()
        return _Worker(proc, parent)

    def _await_ready(self, w: _Worker) -> None:
        await_ready(w.conn, w.proc, STARTUP_TIMEOUT_S, f"an env worker for {self.env_cls.__name__}", "an EnvPool")

    def worker_pids(self) -> list[int]:
        return [w.proc.pid for w in self._workers]

    def close(self) -> None:
        for w in self._workers:
            try:
                w.conn.send(("stop",))
            except OSError:
                pass
        for w in self._workers:
            w.proc.join(timeout=5)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join()
            w.conn.close()
        self._workers = []

    def __enter__(self) -> "EnvPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- requests -----------------------------------------------------------------------------

    def reset(self, eid: int, task: Any) -> None:
        self._queue_for(task).append(Request("reset", eid, task))
        self._dispatch()

    def step(self, eid: int, action: str) -> None:
        live = self._live[eid]
        self._workers[live.worker].queue.append(Request("step", eid, action))
        self._dispatch()

    def scripted(self, eid: int, policy: str, task: Any, seed: int, kwargs: dict, group: int) -> None:
        self._queue_for(task).append(Request("scripted", eid, (policy, task, seed, kwargs, group, eid)))
        self._dispatch()

    def _queue_for(self, task: Any) -> deque:
        """The shared queue, or (task affinity) the queue of the task's home worker."""
        if self._homes is None:
            return self._shared
        key = json.dumps(task, sort_keys=True)
        if key not in self._homes:
            self._homes[key] = min(range(len(self._workers)), key=lambda i: len(self._workers[i].queue)
                                   + (self._workers[i].inflight is not None))
        return self._workers[self._homes[key]].queue

    def _timeout(self, req: Request) -> float:
        c = self.cfg
        if req.kind == "reset":
            return c.reset_timeout_s
        if req.kind == "step":
            return c.step_timeout_s
        if req.kind == "restore":
            return c.reset_timeout_s + len(req.payload[1]) * c.step_timeout_s
        return c.reset_timeout_s + self.env_cfg.max_steps * c.step_timeout_s

    def _dispatch(self) -> None:
        for i in range(len(self._workers)):
            w = self._workers[i]
            if w.inflight is not None:
                continue
            if not w.proc.is_alive():  # died while idle (e.g. OOM-killed): nobody to blame
                self._recover(i, f"worker died while idle ({_crash_reason(w.proc)})")
                w = self._workers[i]
            if w.queue:
                req = w.queue.popleft()
            elif self._shared:
                req = self._shared.popleft()
            else:
                continue
            if req.kind == "reset":
                w.hosted.add(req.eid)
                self._live[req.eid] = _Live(req.payload, i)
            w.inflight, w.deadline = req, time.monotonic() + self._timeout(req)
            try:
                w.conn.send((req.kind, req.eid, req.payload))
            except OSError:  # it died just now; wait() sees its sentinel and blames this request
                pass

    def wait(self) -> list[Result]:
        """Block until at least one request finishes; return every finished one. Crashed or hung
        requests come back with ``ok=False`` and the reason."""
        while not self._results:
            busy = [w for w in self._workers if w.inflight is not None]
            if not busy:
                raise RuntimeError("EnvPool.wait() with nothing outstanding")
            timeout = max(0.0, min(w.deadline for w in busy) - time.monotonic())
            ready = set(wait([o for w in busy for o in (w.conn, w.proc.sentinel)], timeout=timeout))
            for i, w in enumerate(self._workers):
                if w.inflight is None:
                    continue
                if w.conn in ready:
                    try:
                        status, value = w.conn.recv()
                    except (EOFError, OSError):
                        self._recover(i, _crash_reason(w.proc))
                        continue
                    self._finish(i, status == "ok", value)
                elif w.proc.sentinel in ready:
                    self._recover(i, _crash_reason(w.proc))
                elif time.monotonic() >= w.deadline:
                    self._recover(i, f"worker hung for more than {self._timeout(w.inflight):.0f} s")
            self._dispatch()
        out, self._results = self._results, []
        return out

    def _finish(self, i: int, ok: bool, value: Any) -> None:
        w = self._workers[i]
        req, w.inflight = w.inflight, None
        live = self._live.get(req.eid)
        ended = not ok or (req.kind == "step" and value[2])
        if req.kind == "step" and ok:
            live.actions.append(req.payload)
        if req.kind in ("reset", "step", "restore") and ended:
            self._live.pop(req.eid, None)
            w.hosted.discard(req.eid)
        if req.kind != "restore" or not ok:  # a successful restore is invisible to the caller
            self._results.append(Result(req.kind, req.eid, ok, value))

    def _recover(self, i: int, reason: str) -> None:
        """Kill and restart worker ``i``; fail its in-flight episode, restore the others."""
        w = self._workers[i]
        culprit = w.inflight
        if w.proc.is_alive():
            w.proc.kill()
        w.proc.join()
        w.conn.close()
        self.restarts += 1
        fresh = self._spawn()
        self._await_ready(fresh)
        if culprit is not None:
            during = culprit.kind if culprit.kind != "step" else f"step {len(self._live[culprit.eid].actions) + 1}"
            self._live.pop(culprit.eid, None)
            w.hosted.discard(culprit.eid)
            self._results.append(Result(culprit.kind, culprit.eid, False, f"{reason} during {during}"))
        restores = [Request("restore", eid, (self._live[eid].task, list(self._live[eid].actions)))
                    for eid in sorted(w.hosted)]
        fresh.queue = deque(restores + list(w.queue))
        fresh.hosted = w.hosted
        self._workers[i] = fresh
