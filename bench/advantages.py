"""Time the GiGPO estimator on synthetic batches shaped like the paper's (docs/gigpo.md §4.3, issue 4).

Each batch has 16 groups x 8 trajectories (n / 128 steps each); every group is one ALFWorld-like
room, and its 8 trajectories wander it with a random policy, so observations repeat across
trajectories and inside one (revisits, "Nothing happens."), as they do in real rollouts. About 40%
of trajectories succeed (reward 10 on their last step).

Prints one line per measurement:
    gigpo mode=<mode> match=<exact|similarity> rows=<n> ms=<median>
and, on stderr, the shape of each batch (distinct anchors, step groups) so the cost of
similarity matching (O(rows x clusters) difflib comparisons, mostly pruned) can be read off.

    .venv/bin/python bench/advantages.py [--sizes 800,3200,6400,64000] [--similarity-budget-s 120]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time

import numpy as np

from repro.algos.gigpo import GiGPOConfig, gigpo_advantages
from repro.algos.rows import StepRows

GROUPS, TRAJS_PER_GROUP = 16, 8

ROOMS = {
    "kitchen": (
        {"cabinet": (6, 20), "countertop": (1, 3), "drawer": (3, 12), "stoveburner": (4, 4), "shelf": (0, 3),
         "fridge": (1, 1), "microwave": (1, 1), "sinkbasin": (1, 1), "toaster": (1, 1), "coffeemachine": (1, 1),
         "garbagecan": (1, 1), "diningtable": (0, 1)},
        ["apple", "bread", "butterknife", "cup", "dishsponge", "egg", "fork", "kettle", "knife", "ladle",
         "lettuce", "mug", "pan", "peppershaker", "plate", "pot", "potato", "saltshaker", "soapbottle",
         "spatula", "spoon", "tomato", "winebottle", "bowl"],
    ),
    "bedroom": (
        {"bed": (1, 1), "desk": (0, 2), "drawer": (2, 8), "dresser": (0, 1), "shelf": (2, 8), "sidetable": (0, 2),
         "garbagecan": (1, 1), "safe": (0, 1), "laundryhamper": (0, 1), "armchair": (0, 1)},
        ["alarmclock", "book", "cd", "cellphone", "creditcard", "keychain", "laptop", "pen", "pencil", "pillow",
         "mug", "bowl", "desklamp", "baseballbat", "basketball", "tennisracket", "teddybear", "cloth"],
    ),
    "bathroom": (
        {"cabinet": (2, 6), "countertop": (1, 1), "drawer": (0, 4), "sinkbasin": (1, 2), "bathtubbasin": (1, 1),
         "toilet": (1, 1), "towelholder": (1, 2), "handtowelholder": (1, 2), "toiletpaperhanger": (1, 1),
         "garbagecan": (1, 1)},
        ["candle", "cloth", "dishsponge", "handtowel", "plunger", "scrubbrush", "soapbar", "soapbottle",
         "spraybottle", "toiletpaper", "towel", "tissuebox"],
    ),
}
OPENABLE = {"cabinet", "drawer", "fridge", "microwave", "safe"}
TASKS = ["put a clean {o} in {r}.", "put a hot {o} in {r}.", "put a cool {o} in {r}.", "put some {o} on {r}.",
         "find two {o} and put them in {r}.", "look at {o} under the desklamp."]


def _listing(items: list[str]) -> str:
    if not items:
        return "nothing"
    names = [f"a {i}" for i in items]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + ", and " + names[-1]


class Room:
    """One task's scene; each trajectory plays a fresh copy from the same initial state."""

    def __init__(self, rng: random.Random):
        kind = rng.choice(list(ROOMS))
        counts, objects = ROOMS[kind]
        self.receptacles = [f"{name} {i}" for name, (lo, hi) in counts.items() for i in range(1, rng.randint(lo, hi) + 1)]
        self.contents: dict[str, list[str]] = {r: [] for r in self.receptacles}
        for name in rng.sample(objects, k=min(len(objects), rng.randint(8, 16))):
            for i in range(1, rng.randint(1, 3) + 1):
                self.contents[rng.choice(self.receptacles)].append(f"{name} {i}")
        target = rng.choice([o for items in self.contents.values() for o in items]).rsplit(" ", 1)[0]
        task = rng.choice(TASKS).format(o=target, r=rng.choice(self.receptacles).rsplit(" ", 1)[0])
        seen = ", ".join(f"a {r}" for r in reversed(self.receptacles[1:])) + f", and a {self.receptacles[0]}"
        self.welcome = ("-= Welcome to TextWorld, ALFRED! =-\n\nYou are in the middle of a room. Looking quickly "
                        f"around you, you see {seen}.\n\nYour task is to: {task}")

    def play(self, steps: int, rng: random.Random) -> list[str]:
        """Anchor observations of ``steps`` steps of a random policy (the first is the welcome)."""
        contents = {r: list(items) for r, items in self.contents.items()}
        opened: set[str] = set()
        at, holding = None, None
        observations = [self.welcome]
        while len(observations) < steps:
            roll = rng.random()
            if roll < 0.45 or at is None:
                at = rng.choice(self.receptacles)
                kind = at.rsplit(" ", 1)[0]
                if kind in OPENABLE and at not in opened:
                    obs = f"You arrive at {at}. The {at} is closed."
                elif kind in OPENABLE:
                    obs = f"You arrive at {at}. The {at} is open. In it, you see {_listing(contents[at])}."
                else:
                    obs = f"You arrive at {at}. On the {at}, you see {_listing(contents[at])}."
            elif roll < 0.55 and at.rsplit(" ", 1)[0] in OPENABLE and at not in opened:
                opened.add(at)
                obs = f"You open the {at}. The {at} is open. In it, you see {_listing(contents[at])}."
            elif roll < 0.62 and holding is None and contents[at]:
                holding = rng.choice(contents[at])
                contents[at].remove(holding)
                obs = f"You pick up the {holding} from the {at}."
            elif roll < 0.67 and holding is not None:
                contents[at].append(holding)
                obs = f"You move the {holding} to the {at}."
                holding = None
            elif roll < 0.71 and holding is not None and at.startswith(("sinkbasin", "microwave", "fridge")):
                verb = {"sinkbasin": "clean", "microwave": "heat", "fridge": "cool"}[at.rsplit(" ", 1)[0]]
                obs = f"You {verb} the {holding} using the {at}."
            elif roll < 0.74:
                obs = f"You are carrying: a {holding}." if holding else "You are not carrying anything."
            else:
                obs = "Nothing happens."
            observations.append(obs)
        return observations


def synthetic_batch(n_rows: int, seed: int = 0) -> StepRows:
    rng = random.Random(seed)
    n_trajs = GROUPS * TRAJS_PER_GROUP
    lengths = [n_rows // n_trajs + (i < n_rows % n_trajs) for i in range(n_trajs)]
    rng.shuffle(lengths)
    group, traj, step, reward, valid, anchor = [], [], [], [], [], []
    for g in range(GROUPS):
        room = Room(rng)
        for t in range(TRAJS_PER_GROUP):
            length = lengths[g * TRAJS_PER_GROUP + t]
            won = rng.random() < 0.4
            for k, obs in enumerate(room.play(length, rng), start=1):
                group.append(g)
                traj.append(t)
                step.append(k)
                reward.append(10.0 if won and k == length else 0.0)
                valid.append(rng.random() > 0.1)
                anchor.append(obs)
    return StepRows.from_columns(group, traj, step, reward, valid, anchor)


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="800,3200,6400,64000")
    parser.add_argument("--similarity-budget-s", type=float, default=120.0,
                        help="skip similarity runs whose single timed call would exceed this (estimated from the previous size)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    batches = {n: synthetic_batch(n) for n in sizes}
    for mode in ("mean_norm", "mean_std_norm"):
        for match in ("exact", "similarity"):
            previous: tuple[int, float] | None = None
            for n in sizes:
                rows = batches[n]
                cfg = GiGPOConfig(mode=mode, anchor_match=match)
                if match == "similarity" and previous is not None:
                    estimate_s = previous[1] / 1000 * n / previous[0] * 2  # allow for worse than linear growth
                    if estimate_s > args.similarity_budget_s:
                        print(f"# skipped similarity rows={n}: estimated {estimate_s:.0f} s > budget", file=sys.stderr)
                        continue
                repeats = 21 if match == "exact" else (5 if n <= 6400 else 1)
                ms = median_ms(lambda: gigpo_advantages(rows, cfg), repeats)
                previous = (n, ms)
                print(f"gigpo mode={mode} match={match} rows={n} ms={ms:.1f}", flush=True)
                if mode == "mean_norm":
                    result = gigpo_advantages(rows, cfg)
                    sizes_ = np.bincount(result.anchor_group)
                    distinct = len({(g, a) for g, a in zip(rows.group.tolist(), rows.anchor)})
                    print(f"#   rows={n} distinct anchors={distinct} step groups={len(sizes_)} "
                          f"singletons={np.mean(sizes_ == 1):.0%} mean size={sizes_.mean():.1f}", file=sys.stderr)


if __name__ == "__main__":
    main()
