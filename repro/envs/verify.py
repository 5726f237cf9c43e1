"""Answer checking with math-verify, in a pool of worker processes (docs/sgrpo.md §5).

Rewards and accuracies come from the **last \\boxed{}** of a response only (:func:`last_boxed`):
the last top-level box, wherever it stands (inside ``\\text{}`` too); a box nested in it is part
of it, and earlier boxes (intermediate results) are not scored. math-verify alone would join every
box of a response ("\\boxed{1} ... \\boxed{72}" read as the set "1,72"). An unboxed answer is
``unparsed``, never searched for a stray number (``try_extract_without_anchor=False``: with
math-verify's defaults "... 3+4 = 7 and then" in a truncated answer would be scored), and so is a
response whose last box never closes (cut off inside its own answer). math-verify's own
``signal.alarm`` timeouts are off; each answer instead gets a wall-clock budget in a worker
process, and a worker that overruns it is killed and replaced. Every answer ends in exactly one verdict:

* ``correct`` / ``wrong``: a boxed answer was extracted and compared with the gold
* ``unparsed``: no ``\\boxed{}`` (or an empty or unclosed last one), so nothing to compare
* ``timed_out``: no verdict within the budget (pathological expressions, e.g. ``(10^{10})!``)
* ``error``: math-verify raised, or the gold itself did not parse; ``message`` says what
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Callable, Sequence

from math_verify import ExprExtractionConfig, LatexExtractionConfig, StringExtractionConfig, parse, verify

from repro.workers import READY, await_ready

STARTUP_TIMEOUT_S = 120.0  # the first worker waits for the forkserver to import math-verify
VERDICTS = ("correct", "wrong", "unparsed", "timed_out", "error")
ANSWER_TYPES = ("math", "choice")

# Boxed-only extraction for responses (docs/sgrpo.md §5, "pitfall for RL rewards").
_BOXED_ONLY = [LatexExtractionConfig(try_extract_without_anchor=False, boxed_match_priority=0)]
_MATH_GOLD = [LatexExtractionConfig(), ExprExtractionConfig()]
_CHOICE_GOLD = [StringExtractionConfig()]


@dataclass(frozen=True)
class Check:
    """One answer to check: ``gold`` is the bare reference answer ("72", "\\frac{1}{2}", "C")."""

    gold: str
    response: str
    answer_type: str = "math"  # math: symbolic/numeric equivalence | choice: a letter A-D


@dataclass(frozen=True)
class Verdict:
    status: str  # one of VERDICTS
    extracted: str | None = None  # the boxed answer as written in the response
    message: str = ""  # why, for timed_out / error

    @property
    def correct(self) -> bool:
        return self.status == "correct"


def _extracted_text(parsed: list) -> str:
    # parse() appends the raw matched string after the sympy object (fallback_mode="first_match").
    strings = [p for p in parsed if isinstance(p, str)]
    return strings[0] if strings else str(parsed[0])


_BOX_OPEN = re.compile(r"\\boxed\s*\{")


def last_boxed(response: str) -> str | None:
    """The last top-level ``\\boxed{...}`` of ``response`` (braces matched, ``\\{``/``\\}``
    skipped), or None when there is none or the last one never closes."""
    last, search_from = None, 0
    while (opening := _BOX_OPEN.search(response, search_from)) is not None:
        depth, i = 1, opening.end()
        while i < len(response) and depth:
            ch = response[i]
            if ch == "\\":
                i += 1  # an escaped character (\{, \}) is not a brace of the box
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            i += 1
        if depth:
            return None
        last, search_from = response[opening.start():i], i
    return last


def check_answer(check: Check) -> Verdict:
    """The verdict for one answer, in this process and without any timeout (see the pool)."""
    if check.answer_type not in ANSWER_TYPES:
        raise ValueError(f"answer_type must be one of {ANSWER_TYPES}, got {check.answer_type!r}")
    if check.answer_type == "math":
        gold = parse(f"${check.gold}$", _MATH_GOLD, parsing_timeout=None, raise_on_error=True)
    else:
        gold = parse(check.gold, _CHOICE_GOLD, parsing_timeout=None, raise_on_error=True)
    if not gold:
        return Verdict("error", None, f"gold answer {check.gold!r} could not be parsed")
    boxed = last_boxed(check.response)
    pred = parse(boxed, _BOXED_ONLY, parsing_timeout=None, raise_on_error=True) if boxed else []
    if not pred:
        return Verdict("unparsed")
    extracted = _extracted_text(pred)
    # Pair by pair, so that one comparison raising cannot hide another pair that matches.
    failures = []
    for g in gold:
        for p in pred:
            try:
                if verify(g, p, timeout_seconds=None, raise_on_error=True):
                    return Verdict("correct", extracted)
            except Exception as e:  # recorded below as an `error` verdict, never as `wrong`
                failures.append(f"{type(e).__name__}: {e}")
    if failures:
        return Verdict("error", extracted, "; ".join(failures)[:500])
    return Verdict("wrong", extracted)


def _worker_main(conn) -> None:
    # math-verify warns once that its timeouts are off; the pool enforces them instead.
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    try:
        conn.send(READY)
        while (job := conn.recv()) is not None:
            index, check = job
            try:
                verdict = check_answer(check)
            except Exception as e:
                verdict = Verdict("error", None, f"{type(e).__name__}: {e}"[:500])
            conn.send((index, verdict))
    except (EOFError, OSError):  # the parent is gone: so are we, without a traceback
        return


class _Worker:
    def __init__(self, ctx):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child,), daemon=True)
        self.process.start()
        child.close()
        self.job: int | None = None
        self.deadline = 0.0
        await_ready(self.conn, self.process, STARTUP_TIMEOUT_S, "a verifier worker", "a VerifierPool")

    def kill(self) -> None:
        self.process.kill()
        self.process.join()
        self.conn.close()


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


class VerifierPool:
    """Checks answers in ``workers`` processes, each answer within ``timeout_s`` seconds wall clock.

    Use as a context manager; :meth:`check_all` keeps the order of its input.
    """

    def __init__(self, workers: int | None = None, timeout_s: float = 10.0):
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.n_workers = workers or default_workers()
        self.timeout_s = timeout_s
        # forkserver: workers fork from a clean server that has imported math-verify once, so
        # replacing a killed worker is cheap and never forks a process holding torch threads.
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(["repro.envs.verify"])
        self._workers: list[_Worker] = []
        try:
            for _ in range(self.n_workers):
                self._workers.append(_Worker(self._ctx))
        except BaseException:
            self.close()
            raise
        self.replaced = 0  # workers killed for overrunning or found dead

    def __enter__(self) -> "VerifierPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for w in self._workers:
            try:
                w.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        for w in self._workers:
            w.process.join(timeout=2)
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
            w.conn.close()
        self._workers = []

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        self._workers[self._workers.index(worker)] = _Worker(self._ctx)
        self.replaced += 1

    def check_all(self, checks: Sequence[Check], on_verdict: Callable[[int, Verdict], None] | None = None) -> list[Verdict]:
        """Verdicts for ``checks`` in order; ``on_verdict(index, verdict)`` fires as each lands."""
        if not self._workers:
            raise RuntimeError("VerifierPool is closed")
        todo = deque(range(len(checks)))
        verdicts: list[Verdict | None] = [None] * len(checks)

        def land(index: int, verdict: Verdict) -> None:
            verdicts[index] = verdict
            if on_verdict:
                on_verdict(index, verdict)

        while todo or any(w.job is not None for w in self._workers):
            for w in self._workers:
                if w.job is None and todo:
                    w.job = todo.popleft()
                    w.deadline = time.monotonic() + self.timeout_s
                    w.conn.send((w.job, checks[w.job]))
            busy = [w for w in self._workers if w.job is not None]
            wait_s = max(0.0, min(w.deadline for w in busy) - time.monotonic())
            ready = wait([w.conn for w in busy], timeout=wait_s)
            for w in busy:
                if w.conn in ready:
                    try:
                        index, verdict = w.conn.recv()
                    except EOFError:  # the worker died (segfault, OOM kill)
                        w.process.join()
                        index, verdict = w.job, Verdict(
                            "error", None, f"verifier worker died (exit code {w.process.exitcode})")
                        self._replace(w)
                    w.job = None
                    land(index, verdict)
                elif time.monotonic() >= w.deadline:
                    index = w.job
                    self._replace(w)
                    land(index, Verdict("timed_out", None, f"no verdict within {self.timeout_s:g} s"))
        return verdicts  # type: ignore[return-value]


def count_verdicts(verdicts: Sequence[Verdict]) -> dict[str, int]:
    return {status: sum(v.status == status for v in verdicts) for status in VERDICTS}
