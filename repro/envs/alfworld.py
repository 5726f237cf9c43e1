"""ALFWorld text games on the real TextWorld engine (docs/envs.md §1, docs/gigpo.md §2.1).

Games are the ``game.tw-pddl`` files under ``<data root>/alfworld/json_2.1.1/<split>/<task>/<trial>/``
(valid_seen, valid_unseen shipped unpacked; train and valid_train as ``.tar.xz``, unpacked once
into the cache). They are registered with TextWorld one game per episode, with ALFWorld's
demangler/infos wrappers, exactly as ALFWorld's own text env does, but without ``traj_data.json``:
the task type is the first ``-`` field of the task directory name. A task id is the game's path
relative to ``json_2.1.1`` without the file name, e.g. ``valid_unseen/look_at_obj_in_light-...-308/trial_T2019...``.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repro.envs.alfworld_engine import engine_caches
from repro.envs.base import AgentEnv, EnvConfig
from repro.errors import ReproError
from repro.paths import cache_dir, data_dir

UNPACKED_SPLITS = ("valid_seen", "valid_unseen")
PACKED_SPLITS = ("train", "valid_train")
# task directory prefix -> the paper's per-task column (docs/gigpo.md §2.1)
TASK_TYPES = {
    "pick_and_place_simple": "pick",
    "look_at_obj_in_light": "look",
    "pick_clean_then_place_in_recep": "clean",
    "pick_heat_then_place_in_recep": "heat",
    "pick_cool_then_place_in_recep": "cool",
    "pick_two_obj_and_place": "pick2",
}
TASK_MARKER = "Your task is to: "

_INSTRUCTION = (
    "It is your turn to act. First reason step by step about the situation, and enclose that "
    "reasoning in <think> </think> tags. Then choose exactly one admissible action for this step "
    "and put it inside <action> </action> tags."
)


def task_type_of(task_id: str) -> str:
    """Short task type (pick, look, clean, heat, cool, pick2) from a task id's directory name."""
    parts = task_id.split("/")
    prefix = parts[1].split("-")[0] if len(parts) == 3 else ""
    if prefix not in TASK_TYPES:
        raise ReproError(f"'{task_id}' is not an ALFWorld task id (<split>/<task dir>/<trial>)")
    return TASK_TYPES[prefix]


def split_root(split: str, data_override: str | None = None) -> Path:
    """The directory holding ``<task>/<trial>/game.tw-pddl`` of a split, unpacking it on first use."""
    base = data_dir(data_override) / "alfworld"
    if split in UNPACKED_SPLITS:
        root = base / "json_2.1.1" / split
        if not root.is_dir():
            raise ReproError(f"missing ALFWorld split directory {root}; run `repro data fetch`")
        return root
    if split not in PACKED_SPLITS:
        raise ReproError(
            f"unknown ALFWorld split '{split}'; known: {', '.join(UNPACKED_SPLITS + PACKED_SPLITS)}"
        )
    root = cache_dir() / "alfworld" / "json_2.1.1" / split
    if not root.is_dir():
        _unpack(base / f"json_2.1.1_{split}.tar.xz", split, root, registered_sha256(f"alfworld/json_2.1.1_{split}.tar.xz"))
    return root


def registered_sha256(path: str) -> str:
    """The sha256 the data registry (repro/data/sources.json) records for ``path``."""
    from repro.data.sources import load_registry

    return next(s.sha256 for s in load_registry() if s.path == path)


def _unpack(archive: Path, split: str, root: Path, sha256: str) -> None:
    """Check the archive against ``sha256`` (what the data registry records), then extract into a
    temp dir beside ``root`` and rename it in, so a reader (or a concurrent unpacker) never sees a
    half-unpacked split; a member that would land outside it is refused (``filter="data"``)."""
    from repro.data.checksums import sha256_file

    if not archive.is_file():
        raise ReproError(f"missing ALFWorld archive {archive}; run `repro data fetch`")
    if sha256_file(archive) != sha256:
        raise ReproError(f"ALFWorld archive {archive} does not match its registered sha256 ({sha256[:12]}...); "
                         f"replace it with `repro data fetch` or the original file")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{split}.", dir=root.parent))
    try:
        try:
            with tarfile.open(archive, "r:xz") as tar:
                tar.extractall(tmp, filter="data")
        except tarfile.FilterError as e:
            raise ReproError(f"ALFWorld archive {archive} holds an unsafe member, refused: {e}") from e
        except (tarfile.TarError, EOFError, OSError) as e:  # lzma.LZMAError is an OSError
            raise ReproError(f"cannot unpack ALFWorld archive {archive}: {e}") from e
        try:
            os.rename(tmp / "json_2.1.1" / split, root)
        except OSError:
            if not root.is_dir():  # lost a race to another unpacker: theirs is complete
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class AlfworldEnv(AgentEnv):
    @dataclass
    class Config(EnvConfig):
        name: str = "alfworld"
        max_steps: int = 50  # episode cap (env.max_steps)
        history_length: int = 2  # observation/action pairs in the prompt
        max_prompt_tokens: int = 2048  # the paper's prompt cap (truncation='error')
        win_reward: float = 10.0  # reward = win_reward x won
        # games whose PDDL translation and logic an env worker keeps (0 = the plain engine); see alfworld_engine
        engine_cache_games: int = 32

        def validate(self, prefix: str = "env") -> None:
            if self.max_steps < 1:
                raise ReproError(f"{prefix}.max_steps must be >= 1, got {self.max_steps}")
            if self.history_length < 0:
                raise ReproError(f"{prefix}.history_length must be >= 0, got {self.history_length}")
            if self.max_prompt_tokens < 1:
                raise ReproError(f"{prefix}.max_prompt_tokens must be >= 1")
            if self.engine_cache_games < 0:
                raise ReproError(f"{prefix}.engine_cache_games must be >= 0 (0 = off), got {self.engine_cache_games}")

    EVAL_SPLIT = "valid_seen"  # verl-agent's eval_in_distribution default
    TRAIN_SPLIT = "train"
    ACTION_FALLBACK_CHARS = 30
    SCRIPTED_POLICIES = {"expert": "repro.envs.alfworld:make_expert"}
    PROMPT_FIRST = (
        "You are an expert agent operating in the ALFRED embodied household environment.\n"
        "Current observation: {observation}\n"
        "Admissible actions at this point: [{actions}].\n\n" + _INSTRUCTION
    )
    PROMPT_HISTORY = (
        "You are an expert agent operating in the ALFRED embodied household environment. "
        "Your task is to: {task}\n"
        "You have already taken {steps_taken} step(s). The {history_count} most recent "
        "observations and the actions you took are:\n{history}\n"
        "You are now at step {step}. Current observation: {observation}\n"
        "Admissible actions at this point: [{actions}].\n\n" + _INSTRUCTION
    )

    def __init__(self, cfg: Any, data_dir: str | None = None):
        super().__init__(cfg, data_dir)
        self._env = None
        self._task = ""
        self._task_type = ""
        self._steps = 0

    def task_ids(self, split: str) -> list[str]:
        root = split_root(split, self.data_dir)
        return sorted(f"{split}/{p.parent.parent.name}/{p.parent.name}" for p in root.glob("*/*/game.tw-pddl"))

    def game_file(self, task_id: str) -> Path:
        task_type_of(task_id)  # validates the shape
        path = split_root(task_id.split("/")[0], self.data_dir) / task_id.split("/", 1)[1] / "game.tw-pddl"
        if not path.is_file():
            raise ReproError(f"no ALFWorld game {path}")
        return path

    def reset(self, task: Any) -> tuple[str, dict[str, Any]]:
        import textworld
        import textworld.gym
        from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos

        if not isinstance(task, str):
            raise ReproError(f"an ALFWorld task is a task id string, got {task!r}")
        self.close()
        infos = textworld.EnvInfos(won=True, admissible_commands=True, extras=["gamefile"])
        env_id = textworld.gym.register_games(
            [str(self.game_file(task))], infos, batch_size=1, asynchronous=False,
            max_episode_steps=self.cfg.max_steps, wrappers=[AlfredDemangler(shuffle=False), AlfredInfos],
        )
        self._env = textworld.gym.make(env_id)
        with engine_caches(self.cfg.engine_cache_games):
            obs, infos = self._env.reset()
        obs = obs[0]
        self._task = obs.split(TASK_MARKER, 1)[1].strip() if TASK_MARKER in obs else ""
        self._task_type = task_type_of(task)
        self._steps = 0
        return obs, self._info(obs, infos)

    def step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        if self._env is None:
            raise RuntimeError("step() before reset()")
        with engine_caches(self.cfg.engine_cache_games):
            obs, _, dones, infos = self._env.step([action])
        obs = obs[0]
        self._steps += 1
        info = self._info(obs, infos)
        done = bool(dones[0]) or info["won"] or self._steps >= self.cfg.max_steps
        return obs, self.cfg.win_reward * info["won"], done, info

    def _info(self, obs: str, infos: dict) -> dict[str, Any]:
        return {
            "admissible_actions": [a for a in infos["admissible_commands"][0] if a != "help"],
            "anchor": obs,  # the raw feedback text (docs/gigpo.md §2.1)
            "won": bool(infos["won"][0]),
            "task": self._task,
            "task_type": self._task_type,
        }

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None

    @classmethod
    def breakdown_key(cls, episode: Any) -> str | None:
        return task_type_of(episode.task)

    @classmethod
    def task_affinity(cls, cfg: Any) -> bool:
        return cfg.engine_cache_games > 0  # a worker's engine caches hold the games it reset

    @classmethod
    def evaluation_subset(cls, tasks: list[Any], n: int, seed: int) -> list[Any]:
        """``n`` games drawn across the task types, as the paper's validation samples its episodes
        from the whole split (a prefix of the sorted ids is one task type): each type's games in a
        seeded order, taken one per type in turn, the types in a seeded order. A smaller ``n``
        gives a prefix of a larger one."""
        import random

        rng = random.Random(seed)
        by_type: dict[str, list[Any]] = {}
        for task in tasks:
            by_type.setdefault(task_type_of(task), []).append(task)
        queues = [rng.sample(games, len(games)) for _, games in sorted(by_type.items())]
        rng.shuffle(queues)
        drawn = [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]
        return drawn[:n]


class ExpertPolicy:
    """Replays the game's stored walkthrough (the upper bound and an install check)."""

    def __init__(self, walkthrough: list[str]):
        self.plan = list(walkthrough)

    def act(self, observation: str, info: dict[str, Any]) -> str:
        # past the end of the plan (a game it did not win) it only looks until the cap
        return self.plan.pop(0) if self.plan else "look"


def make_expert(env: AlfworldEnv, task: str, seed: int, **kwargs: Any) -> ExpertPolicy:
    return ExpertPolicy(json.loads(env.game_file(task).read_text())["walkthrough"])
