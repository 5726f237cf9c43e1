"""ALFWorld group resets and steps through the env pool, with the engine caches on vs off
(``env.engine_cache_games``; repro/envs/alfworld_engine.py), paired in one run.

Each measurement is a fresh pool (empty caches, workers warmed by one reset of a game outside the
measured set) running ``--groups`` groups of ``--group-size`` trajectories, as an iteration does:
all resets at once (a group's trajectories start from the same game), then ``--steps`` lock-step
rounds of seeded random admissible actions. Plain and cached alternate (plain first, then cached
first, ...) ``--repeats`` times; each speed-up is the median of the paired ratios. Both modes must
produce the same observations, admissible actions, rewards and anchors. Prints per measurement
``mode=... reset_s=... step_s=...`` and last

    alfworld group_reset speedup=<x> step_speedup=<y> identical=<true|false>

    .venv/bin/python bench/alfworld_caches.py [--groups 4] [--group-size 8] [--steps 10] [--workers 2] [--repeats 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import statistics
import time
from typing import Any

from repro.envs.alfworld import AlfworldEnv
from repro.rollout import EnvPool, RolloutConfig


def play(cfg: AlfworldEnv.Config, games: list[str], warmup: list[str], group_size: int, steps: int,
         workers: int) -> tuple[float, float, dict[int, list[Any]]]:
    """(reset seconds, step seconds, every trajectory's replies in order) of one fresh pool."""
    with EnvPool(AlfworldEnv, cfg, RolloutConfig(num_workers=workers, pipeline_stages=1)) as pool:
        for eid, game in enumerate(warmup, start=-len(warmup)):  # imports and first-use costs, off the clock
            pool.reset(eid, game)
        for _ in warmup:
            pool.wait()
        trajectories = range(len(games) * group_size)
        replies: dict[int, list[Any]] = {t: [] for t in trajectories}
        start = time.perf_counter()
        for t in trajectories:
            pool.reset(t, games[t // group_size])
        collect(pool, replies, len(replies))
        reset_s = time.perf_counter() - start
        rngs = {t: random.Random(t) for t in trajectories}
        live = set(trajectories)
        start = time.perf_counter()
        for _ in range(steps):
            for t in sorted(live):
                pool.step(t, rngs[t].choice(replies[t][-1][-1]["admissible_actions"]))
            collect(pool, replies, len(live))
            live = {t for t in live if not replies[t][-1][2]}
            if not live:
                break
        return reset_s, time.perf_counter() - start, replies


def collect(pool: EnvPool, replies: dict[int, list[Any]], expected: int) -> None:
    returned = 0
    while returned < expected:
        for res in pool.wait():
            if not res.ok:
                raise SystemExit(f"episode {res.eid} failed: {res.value}")
            replies[res.eid].append(res.value)
            returned += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=4, help="games (one group each), drawn across task types")
    parser.add_argument("--group-size", type=int, default=8, help="trajectories per game")
    parser.add_argument("--steps", type=int, default=10, help="lock-step rounds after the resets")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="plain/cached pairs")
    parser.add_argument("--split", default="valid_seen")
    args = parser.parse_args()

    cached = AlfworldEnv.Config()
    plain = dataclasses.replace(cached, engine_cache_games=0)
    drawn = AlfworldEnv.evaluation_subset(AlfworldEnv(cached).task_ids(args.split), args.groups + args.workers, seed=0)
    games, warmup = drawn[: args.groups], drawn[args.groups:]
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs; "
          f"{args.groups} groups x {args.group_size} trajectories, {args.steps} steps, {args.workers} workers, "
          f"cache capacity {cached.engine_cache_games} games")
    reset_ratios, step_ratios, identical = [], [], True
    for repeat in range(args.repeats):
        order = [("plain", plain), ("cached", cached)][:: 1 if repeat % 2 == 0 else -1]
        measured = {}
        for mode, cfg in order:
            reset_s, step_s, replies = play(cfg, games, warmup, args.group_size, args.steps, args.workers)
            measured[mode] = (reset_s, step_s, replies)
            print(f"repeat={repeat} mode={mode} reset_s={reset_s:.2f} step_s={step_s:.2f} "
                  f"steps={sum(len(r) - 1 for r in replies.values())}", flush=True)
        identical &= measured["plain"][2] == measured["cached"][2]
        reset_ratios.append(measured["plain"][0] / measured["cached"][0])
        step_ratios.append(measured["plain"][1] / measured["cached"][1])
    print(f"alfworld group_reset speedup={statistics.median(reset_ratios):.2f} "
          f"step_speedup={statistics.median(step_ratios):.2f} identical={str(identical).lower()}")


if __name__ == "__main__":
    main()
