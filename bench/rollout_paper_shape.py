"""Env seconds of one paper-shape ALFWorld iteration (docs/gigpo.md §3: 16 tasks x 8 trajectories,
<= 50 steps) with the scripted random policy, on 1 and 2 env workers, and a projection to one
16-core node.

The random policy almost never wins, so nearly every episode runs the full 50 steps: the env's
worst case (a trained policy ends episodes sooner). Whole episodes run inside the workers
(``run_scripted``), so this is env time only, none of generation's. Tasks are drawn from the
training split with a seeded RNG, as an iteration draws them; the pool is warmed (imports, one
reset per worker) before the clock starts. Prints per worker count

    paper_shape workers=<n> env_s=<s> episodes=<n> steps=<n> slowest_group_s=<s>

and the projection, which rests on these assumptions (printed with it):
  * 16 env workers on 16 cores, each as fast as one core here, so each group of 8 has a worker
    of its own (the pool pins a task's resets to one worker);
  * the iteration's env time is then its slowest group's time on one worker, measured here on
    1 worker (groups run one after another there, so each group's time is read off the clock);
  * workers side by side lose what 1 -> 2 workers lost here (the efficiency, shown), which on a
    shared 2-core machine overstates the loss of a node's own cores.

    .venv/bin/python bench/rollout_paper_shape.py [--tasks 16] [--group-size 8] [--max-steps 50] [--workers 1,2]
        [--engine-cache-games 32]
"""

from __future__ import annotations

import argparse
import os
import time

from repro.envs.alfworld import AlfworldEnv
from repro.rollout import EnvPool, RolloutConfig, run_scripted

NODE_CORES = 16


def iteration(cfg: AlfworldEnv.Config, tasks: list[str], warmup: list[str], group_size: int,
              workers: int) -> tuple[float, list[float], int]:
    """(env seconds, each group's finishing time from the start, steps) of one iteration."""
    with EnvPool(AlfworldEnv, cfg, RolloutConfig(num_workers=workers)) as pool:
        run_scripted(pool, "random", [(t, {}) for t in warmup], seed=1)  # imports and first loads, off the clock
        finished = [0.0] * len(tasks)
        start = time.perf_counter()

        def land(record) -> None:
            finished[record.group] = max(finished[record.group], time.perf_counter() - start)

        records = run_scripted(pool, "random", [(t, {}) for t in tasks], seed=0, group_size=group_size, on_episode=land)
        env_s = time.perf_counter() - start
    failed = [r.failed for r in records if r.failed]
    if failed:
        raise SystemExit(f"{len(failed)} episodes failed, e.g. {failed[0]}")
    return env_s, finished, sum(r.steps for r in records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=16)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--max-steps", type=int, default=50)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (1 is needed for the projection)")
    parser.add_argument("--engine-cache-games", type=int, default=AlfworldEnv.Config.engine_cache_games,
                        help="0 = the plain engine")
    parser.add_argument("--split", default=AlfworldEnv.TRAIN_SPLIT)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    cfg = AlfworldEnv.Config(max_steps=args.max_steps, engine_cache_games=args.engine_cache_games)
    counts = [int(w) for w in args.workers.split(",")]
    env = AlfworldEnv(cfg)
    drawn = env.sample_tasks(args.split, args.tasks + max(counts), args.seed)
    tasks, warmup = drawn[: args.tasks], drawn[args.tasks:]
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs; "
          f"{args.tasks} tasks x {args.group_size} trajectories, <= {args.max_steps} steps, split {args.split}, "
          f"engine_cache_games={args.engine_cache_games}")
    env_s: dict[int, float] = {}
    group_s: list[float] = []
    for workers in counts:
        env_s[workers], finished, steps = iteration(cfg, tasks, warmup, args.group_size, workers)
        if workers == 1:  # one worker runs the groups in order: each group's time is the gap to the previous
            ends = sorted(finished)
            group_s = [b - a for a, b in zip([0.0] + ends[:-1], ends)]
        print(f"paper_shape workers={workers} env_s={env_s[workers]:.1f} episodes={args.tasks * args.group_size} "
              f"steps={steps} slowest_group_s={max(group_s) if group_s else float('nan'):.1f}", flush=True)
    if 1 in env_s and group_s:
        efficiency = min(1.0, env_s[1] / (2 * env_s[2])) if 2 in env_s else 1.0  # above 1 is noise
        ideal = max(group_s)
        print(f"projection {NODE_CORES}-core node ({NODE_CORES} workers, one group each): env_s={ideal:.1f} if workers "
              f"do not slow each other; {ideal / efficiency:.1f} at the 1->2 worker efficiency measured here "
              f"({efficiency:.2f}); mean group {sum(group_s) / len(group_s):.1f} s, slowest {ideal:.1f} s")


if __name__ == "__main__":
    main()
