"""A small text maze: the CPU-scale learning task (a tiny model learns it within minutes).

Not from either paper. It exists because ALFWorld and WebShop need a real LLM: their prompts are
1-3k tokens and success needs 5-30 exactly right actions, so a 336k-parameter model on a 2-core CPU
shows no reward signal. The maze keeps what the GiGPO comparison is about: multi-step episodes,
sparse outcome reward (``win_reward`` on reaching the exit, else 0), and the same room revisited by
different trajectories of a group (repeated anchor states, docs/gigpo.md §4).

Task ``"<n>"``: maze number ``n``, a ``size`` x ``size`` grid whose walls come from a seeded
depth-first spanning tree with ``extra_openings`` more walls removed (so there are loops), and a
start and exit at least ``min_distance`` (and, if set, at most ``max_distance``) moves apart. Observation: the room, a hint of the exit's
compass direction (the straight-line direction, which a wall may block) and the open doors.
Admissible actions: ``go <direction>`` through each open door. Tasks ``[0, test_tasks)`` are the
test split, the next ``train_tasks`` the train split. The ``expert`` policy walks a shortest path;
``wander`` follows the hint with random detours (the GiGPO efficiency study's warm start).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from typing import Any, ClassVar

from repro.envs.base import AgentEnv, EnvConfig
from repro.errors import ReproError

MOVES = {"north": (0, -1), "south": (0, 1), "east": (1, 0), "west": (-1, 0)}

_INSTRUCTION = (
    "First reason briefly inside <think> </think> tags, then give exactly one admissible action "
    "inside <action> </action> tags."
)

Cell = tuple[int, int]


@dataclass
class MazeConfig(EnvConfig):
    name: str = "maze"
    max_steps: int = 8  # episode cap
    history_length: int = 2
    max_prompt_tokens: int = 1024
    size: int = 4  # grid side
    extra_openings: int = 4  # walls removed beyond the spanning tree (loops)
    min_distance: int = 3  # shortest start-to-exit path, in moves
    # at most this many moves (0: no bound); min = max fixes the horizon (the GiGPO horizon study). The maze
    # seed does not include it, so a bound only rejects start/exit draws and mazes without one stay as they were
    max_distance: int = 0
    test_tasks: int = 200
    train_tasks: int = 5000
    win_reward: float = 10.0

    def validate(self, prefix: str = "env") -> None:
        if self.max_steps < 1 or self.history_length < 0 or self.max_prompt_tokens < 1:
            raise ReproError(f"{prefix}: max_steps and max_prompt_tokens must be >= 1, history_length >= 0")
        if not 2 <= self.size <= 9:
            raise ReproError(f"{prefix}.size must be in [2, 9], got {self.size}")
        if not 1 <= self.min_distance <= 2 * (self.size - 1):
            raise ReproError(f"{prefix}.min_distance must be in [1, {2 * (self.size - 1)}], got {self.min_distance}")
        if self.max_distance and not self.min_distance <= self.max_distance <= 2 * (self.size - 1):
            raise ReproError(f"{prefix}.max_distance must be 0 or in [min_distance, {2 * (self.size - 1)}], "
                             f"got {self.max_distance}")
        if self.test_tasks < 1 or self.train_tasks < 1 or self.extra_openings < 0:
            raise ReproError(f"{prefix}: test_tasks and train_tasks must be >= 1, extra_openings >= 0")


def build_maze(index: int, cfg: MazeConfig) -> tuple[dict[Cell, set[str]], Cell, Cell]:
    """(open doors per cell, start, exit) of maze ``index`` - a pure function of (index, cfg)."""
    rng = random.Random(f"maze-{cfg.size}-{cfg.extra_openings}-{cfg.min_distance}-{index}")
    cells = [(x, y) for y in range(cfg.size) for x in range(cfg.size)]
    doors: dict[Cell, set[str]] = {c: set() for c in cells}

    def neighbours(c: Cell) -> list[tuple[str, Cell]]:
        out = [(d, (c[0] + dx, c[1] + dy)) for d, (dx, dy) in MOVES.items()]
        return [(d, n) for d, n in out if n in doors]

    def open_door(c: Cell, d: str, n: Cell) -> None:
        doors[c].add(d)
        doors[n].add(next(o for o, (dx, dy) in MOVES.items() if (n[0] + dx, n[1] + dy) == c))

    stack, seen = [rng.choice(cells)], set()
    seen.add(stack[0])
    while stack:
        fresh = [(d, n) for d, n in neighbours(stack[-1]) if n not in seen]
        if not fresh:
            stack.pop()
            continue
        d, n = rng.choice(fresh)
        open_door(stack[-1], d, n)
        seen.add(n)
        stack.append(n)
    walls = [(c, d, n) for c in cells for d, n in neighbours(c) if d not in doors[c] and c < n]
    for c, d, n in rng.sample(walls, min(cfg.extra_openings, len(walls))):
        open_door(c, d, n)
    while True:
        start, goal = rng.sample(cells, 2)
        distance = len(shortest_path(doors, start, goal))
        if distance >= cfg.min_distance and (not cfg.max_distance or distance <= cfg.max_distance):
            return doors, start, goal


def shortest_path(doors: dict[Cell, set[str]], start: Cell, goal: Cell) -> list[str]:
    """Moves of a shortest path (BFS, directions tried in a fixed order)."""
    previous: dict[Cell, tuple[Cell, str] | None] = {start: None}
    queue = deque([start])
    while queue:
        c = queue.popleft()
        if c == goal:
            break
        for d in sorted(doors[c]):
            n = (c[0] + MOVES[d][0], c[1] + MOVES[d][1])
            if n not in previous:
                previous[n] = (c, d)
                queue.append(n)
    path: list[str] = []
    while previous[goal] is not None:
        goal, d = previous[goal]
        path.append(d)
    return path[::-1]


def compass(here: Cell, goal: Cell) -> str:
    vertical = "north" if goal[1] < here[1] else "south" if goal[1] > here[1] else ""
    horizontal = "west" if goal[0] < here[0] else "east" if goal[0] > here[0] else ""
    return "-".join(p for p in (vertical, horizontal) if p)


class MazeEnv(AgentEnv):
    Config = MazeConfig
    EVAL_SPLIT = "test"
    TRAIN_SPLIT = "train"
    ACTION_FALLBACK_CHARS = 10
    SCRIPTED_POLICIES: ClassVar[dict[str, str]] = {"expert": "repro.envs.maze:make_expert",
                                                   "wander": "repro.envs.maze:make_wander"}
    PROMPT_FIRST = (
        "You are an agent in a maze. Your task is to reach the exit.\n"
        "Current observation: {observation}\n"
        "Admissible actions: [{actions}].\n" + _INSTRUCTION
    )
    PROMPT_HISTORY = (
        "You are an agent in a maze. Your task is to: {task}\n"
        "You have taken {steps_taken} step(s). The {history_count} most recent observations and actions:\n"
        "{history}\n"
        "Step {step}. Current observation: {observation}\n"
        "Admissible actions: [{actions}].\n" + _INSTRUCTION
    )

    def __init__(self, cfg: MazeConfig, data_dir: str | None = None):
        super().__init__(cfg, data_dir)
        self.doors: dict[Cell, set[str]] = {}
        self.position: Cell = (0, 0)
        self.goal: Cell = (0, 0)
        self.steps = 0

    def task_ids(self, split: str) -> list[str]:
        first = {"test": 0, "train": self.cfg.test_tasks}.get(split)
        if first is None:
            raise ReproError(f"unknown maze split '{split}'; known: test, train")
        count = self.cfg.test_tasks if split == "test" else self.cfg.train_tasks
        return [str(i) for i in range(first, first + count)]

    def reset(self, task: Any) -> tuple[str, dict[str, Any]]:
        try:
            index = int(task)
        except (TypeError, ValueError):
            raise ReproError(f"a maze task is a maze number, got {task!r}") from None
        self.doors, self.position, self.goal = build_maze(index, self.cfg)
        self.steps = 0
        return self._observe("")

    def step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        direction = action.strip().lower().removeprefix("go ").strip()
        self.steps += 1
        note = ""
        if direction in self.doors[self.position]:
            dx, dy = MOVES[direction]
            self.position = (self.position[0] + dx, self.position[1] + dy)
        else:
            note = "You cannot do that. "
        obs, info = self._observe(note)
        done = info["won"] or self.steps >= self.cfg.max_steps
        return obs, self.cfg.win_reward * info["won"], done, info

    def _observe(self, note: str) -> tuple[str, dict[str, Any]]:
        x, y = self.position
        won = self.position == self.goal
        if won:
            obs = f"{note}You are in room {x}{y}. You found the exit!"
            actions: list[str] = []
        else:
            obs = f"{note}You are in room {x}{y}. The exit is to the {compass(self.position, self.goal)}."
            actions = [f"go {d}" for d in MOVES if d in self.doors[self.position]]
        return obs, {"admissible_actions": actions, "anchor": obs, "won": won, "task": "reach the exit."}


class ExpertPolicy:
    """Follows a shortest path from wherever the env currently is."""

    def __init__(self, env: MazeEnv):
        self.env = env

    def act(self, observation: str, info: dict[str, Any]) -> str:
        return "go " + shortest_path(self.env.doors, self.env.position, self.env.goal)[0]


def make_expert(env: MazeEnv, task: Any, seed: int, **kwargs: Any) -> ExpertPolicy:
    return ExpertPolicy(env)


# Chosen by simulating the policy on 2,000 train mazes of the efficiency study's 3x3 maze (4 extra
# openings, 10-step cap): it arrives 95% of the time, in 4.4 moves on average where always following
# the hint takes 2.5.
WANDER_EPSILON = 0.5


class WanderPolicy:
    """Through a door toward the exit's compass direction (the hint), but each step a uniformly random
    admissible move with probability WANDER_EPSILON: it almost always arrives, by detours - a start
    where every trajectory of a group tends to succeed, so only GiGPO's step-level returns tell short
    successes from long ones (docs/gigpo.md §7). It reads only the observation, as the model does, so SFT
    can imitate it (the shortest path needs the maze's layout, which the prompt does not show)."""

    def __init__(self, env: MazeEnv, seed: int):
        self.env = env
        self.rng = random.Random(seed)

    def act(self, observation: str, info: dict[str, Any]) -> str:
        toward = [f"go {d}" for d in compass(self.env.position, self.env.goal).split("-")
                  if f"go {d}" in info["admissible_actions"]]
        if not toward or self.rng.random() < WANDER_EPSILON:
            return self.rng.choice(info["admissible_actions"])
        return self.rng.choice(toward)


def make_wander(env: MazeEnv, task: Any, seed: int, **kwargs: Any) -> WanderPolicy:
    return WanderPolicy(env, seed)
