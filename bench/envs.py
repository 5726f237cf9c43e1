"""Agent-env throughput through the rollout worker pool: resets/s and steps/s with 1 and 2
worker processes, and the speed-up (target >= 1.7x on 2 cores).

    .venv/bin/python bench/envs.py                 # every section
    .venv/bin/python bench/envs.py --env alfworld --games 8 --steps 10

Each section measures the same episodes (seeded random admissible actions, so 1 and 2 workers do
identical work): all resets at once, then lock-step rounds of one step per env. Sections are
registered in SECTIONS; an env adds one function ``(args) -> None`` that prints its numbers.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from typing import Any, Callable

from repro.rollout import EnvPool, RolloutConfig


def measure_pool(env_cls: type, env_cfg: Any, tasks: list[Any], workers: int, steps: int, seed: int = 0) -> dict[str, float]:
    """Throughput of ``workers`` processes on one reset + up to ``steps`` steps per task."""
    rngs = [random.Random(seed * 1000 + i) for i in range(len(tasks))]
    with EnvPool(env_cls, env_cfg, RolloutConfig(num_workers=workers, pipeline_stages=1)) as pool:
        start = time.perf_counter()
        for eid, task in enumerate(tasks):
            pool.reset(eid, task)
        infos: dict[int, dict] = {}
        while len(infos) < len(tasks):
            for res in pool.wait():
                assert res.ok, res.value
                infos[res.eid] = res.value[1]
        reset_s = time.perf_counter() - start
        start, done_steps = time.perf_counter(), 0
        live = set(infos)
        for _ in range(steps):
            for eid in sorted(live):
                pool.step(eid, rngs[eid].choice(infos[eid]["admissible_actions"]))
            returned, expected = 0, len(live)
            while returned < expected:
                for res in pool.wait():
                    assert res.ok, res.value
                    returned += 1
                    _, _, done, infos[res.eid] = res.value
                    if done:
                        live.discard(res.eid)
            done_steps += expected
            if not live:
                break
        step_s = time.perf_counter() - start
    return {"resets_per_s": len(tasks) / reset_s, "steps_per_s": done_steps / step_s,
            "resets": len(tasks), "steps": done_steps}


def report(name: str, by_workers: dict[int, dict[str, float]]) -> None:
    for w, r in by_workers.items():
        print(f"{name:9s} workers={w}  resets/s={r['resets_per_s']:6.2f} ({r['resets']} resets)  "
              f"steps/s={r['steps_per_s']:6.2f} ({r['steps']} steps)")
    one, two = by_workers[1], by_workers[2]
    print(f"{name:9s} speed-up 2 vs 1 workers: resets x{two['resets_per_s'] / one['resets_per_s']:.2f}  "
          f"steps x{two['steps_per_s'] / one['steps_per_s']:.2f}  (target >= 1.70)")


def alfworld_section(args: argparse.Namespace) -> None:
    from repro.envs.alfworld import AlfworldEnv

    cfg = AlfworldEnv.Config()
    tasks = AlfworldEnv(cfg).task_ids("valid_unseen")[: args.games]
    report("alfworld", {w: measure_pool(AlfworldEnv, cfg, tasks, w, args.steps) for w in (1, 2)})


SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {"alfworld": alfworld_section}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=sorted(SECTIONS), action="append", help="section(s) to run (default: all)")
    parser.add_argument("--games", type=int, default=8, help="episodes (one reset each) per measurement")
    parser.add_argument("--steps", type=int, default=10, help="steps per episode")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs "
          "(other processes on the machine cut the speed-up)")
    for name in args.env or sorted(SECTIONS):
        SECTIONS[name](args)


if __name__ == "__main__":
    main()
