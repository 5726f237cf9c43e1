"""The contract of multi-turn agent environments (ALFWorld, WebShop, ...).

An env instance runs one episode at a time and lives inside a worker process of the rollout
pool (:mod:`repro.rollout`), so it is built from its config dataclass and the data root alone,
and its constructor must stay cheap (no engine start-up: do that in ``reset``). The main process
also builds one instance to list tasks (``task_ids``). Nothing about it leaks into the trainer:
the rollout loop turns its outputs into step rows.

A *task* is JSON-able: a str id (ALFWorld: ``"<split>/<task dir>/<trial>"``) or a dict (e.g. an
explicit WebShop goal). ``reset(task)`` starts an episode on it.

``info`` returned by ``reset`` and ``step`` always carries:
  * ``admissible_actions``: list[str], the actions shown to the model this step
  * ``anchor``: the JSON-able observation GiGPO groups steps on (docs/gigpo.md §2.1/§2.2)
  * ``won``: bool, the task is solved
  * ``task``: str, the task description shown in the prompt
and optionally ``task_type`` (ALFWorld: pick/look/clean/heat/cool/pick2) and ``task_score``
(WebShop's raw [0, 1] reward; defaults to ``float(won)``).

The config dataclass ``Config`` (a subclass of :class:`EnvConfig`) has at least ``name``, ``max_steps`` (episode cap),
``history_length`` (observation/action pairs shown in the prompt) and ``max_prompt_tokens``
(the prompt-length guard of the rollout loop).

Class-level hooks the rollout loop and the eval driver use (override per env):
  * ``PROMPT_FIRST`` / ``PROMPT_HISTORY`` templates and ``format_actions`` -> ``render_prompt``
    (docs/gigpo.md §2.3); ``ACTION_FALLBACK_CHARS`` for action projection (docs/gigpo.md §2.4);
  * ``SCRIPTED_POLICIES``: policy name -> ``"module:attr"`` factory
    ``make(env, task, seed, **kwargs)`` returning an object with ``act(observation, info) -> str``;
    the generic ``random`` policy is always available (:mod:`repro.rollout.scripted`);
  * ``replay_episodes(path) -> list[(task, kwargs)]`` for ``--policy replay`` (optional);
  * ``task_affinity(cfg)``: True when the env's workers keep per-task caches, so the rollout pool
    runs every reset of one task on the same worker (ALFWorld's engine caches);
  * ``evaluation_subset(tasks, n, seed)``: the ``n`` tasks ``--limit`` and validation use;
  * ``breakdown_key(episode)`` and ``summarize(episodes)`` for the metrics of ``repro eval``;
    ``sample_row(episode)`` (a samples line) and ``provenance()`` (results.json ``details.env_provenance``).
"""

from __future__ import annotations

import abc
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from repro.errors import ReproError


@dataclass
class EnvConfig:
    """The base of every env's and math task's ``Config`` dataclass, so the config sections that
    hold one (``TrainConfig.env``, ``EvalConfig.env``) are typed."""

    name: str = ""  # the registry name that chose the env (`repro ls envs`)


class AgentEnv(abc.ABC):
    #: the env's config dataclass (see the module docstring for the required fields)
    Config: type
    #: split ``repro eval`` uses when none is given, and the training split
    EVAL_SPLIT: ClassVar[str]
    TRAIN_SPLIT: ClassVar[str]
    #: characters of the lower-cased reply sent as the action when the <action> tags are missing
    ACTION_FALLBACK_CHARS: ClassVar[int]
    #: prompt templates (str.format fields: see ``render_prompt``)
    PROMPT_FIRST: ClassVar[str]
    PROMPT_HISTORY: ClassVar[str]
    #: scripted policies run inside the env worker (name -> "module:attr" factory)
    SCRIPTED_POLICIES: ClassVar[dict[str, str]] = {}

    def __init__(self, cfg: Any, data_dir: str | None = None):
        self.cfg = cfg
        self.data_dir = data_dir

    @abc.abstractmethod
    def task_ids(self, split: str) -> list[Any]:
        """Stable ids of the tasks of a split, in a fixed order (evaluation uses a prefix)."""

    @abc.abstractmethod
    def reset(self, task: Any) -> tuple[str, dict[str, Any]]:
        """Start an episode on ``task``; returns (observation text, info)."""

    @abc.abstractmethod
    def step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        """Apply a text action; returns (observation, reward, done, info). ``done`` is also set
        when the episode reaches ``cfg.max_steps``."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release engine resources."""

    def sample_tasks(self, split: str, n: int, seed: int) -> list[Any]:
        """``n`` tasks drawn with a seeded RNG (with replacement when ``n`` exceeds the split),
        for training iterations."""
        import random

        ids = self.task_ids(split)
        rng = random.Random(seed)
        return rng.sample(ids, n) if n <= len(ids) else [rng.choice(ids) for _ in range(n)]

    @classmethod
    def task_affinity(cls, cfg: Any) -> bool:
        return False

    @classmethod
    def evaluation_subset(cls, tasks: list[Any], n: int, seed: int) -> list[Any]:
        """The first ``n`` tasks (envs whose task order is not representative override this)."""
        return tasks[:n]

    # ---- prompt (docs/gigpo.md §2.3) -------------------------------------------------------------

    @classmethod
    def format_actions(cls, actions: list[str]) -> str:
        return ", ".join(f"'{a}'" for a in actions)

    @classmethod
    def render_prompt(
        cls, cfg: Any, task: str, observation: str, actions: list[str],
        history: list[tuple[str, str]], step: int,
    ) -> str:
        """The user message for step ``step`` (0-based). ``history`` holds every earlier
        (observation, action) pair; only the last ``cfg.history_length`` are shown."""
        shown = history[-cfg.history_length:] if cfg.history_length > 0 else []
        if step == 0 or not shown:
            return cls.PROMPT_FIRST.format(observation=observation, actions=cls.format_actions(actions))
        first = step - len(shown) + 1  # 1-based step number of the first shown pair
        lines = "\n".join(
            f"[Observation {first + i}: '{obs}', Action {first + i}: '{act}']"
            for i, (obs, act) in enumerate(shown)
        )
        return cls.PROMPT_HISTORY.format(
            task=task, steps_taken=step, history_count=len(shown), history=lines,
            step=step + 1, observation=observation, actions=cls.format_actions(actions),
        )

    # ---- scripted policies and metrics ------------------------------------------------------

    @classmethod
    def replay_episodes(cls, path: str) -> list[tuple[Any, dict]]:
        raise ReproError(f"env '{cls.__name__}' has no recorded-episode replay (--policy replay)")

    @classmethod
    def breakdown_key(cls, episode: Any) -> str | None:
        """The bucket a finished episode is reported under (e.g. ALFWorld's task type)."""
        return None

    @classmethod
    def sample_row(cls, episode: Any) -> dict[str, Any]:
        """One samples.jsonl line for a finished episode (envs may add fields)."""
        return episode.to_json()

    def provenance(self) -> dict[str, Any]:
        """What results.json records about the env's task set (e.g. WebShop's goal seed and hash)."""
        return {}

    @classmethod
    def summarize(cls, episodes: list[Any]) -> dict[str, float]:
        """Metrics of ``repro eval`` over :class:`repro.rollout.EpisodeRecord` s; failed episodes
        (worker crash/hang) count as unsuccessful."""
        return summarize_episodes(episodes, cls.breakdown_key)


def _rate(num: float, den: float) -> float:
    return num / den if den else 0.0


def summarize_episodes(
    episodes: list[Any], breakdown_key: Callable[[Any], str | None]
) -> dict[str, float]:
    """success_rate (+ success_rate_<key> per breakdown bucket), mean_return, mean_steps,
    invalid_action_rate (invalid steps / steps), failed_episodes, over
    :class:`repro.rollout.types.EpisodeRecord` s (read by attribute: envs sit below the rollout)."""
    n = len(episodes)
    steps = sum(e.steps for e in episodes)
    metrics: dict[str, float] = {
        "success_rate": _rate(sum(e.success for e in episodes), n),
        "mean_return": _rate(sum(e.episode_return for e in episodes), n),
        "mean_task_score": _rate(sum(e.task_score for e in episodes), n),
        "mean_steps": _rate(steps, n),
        "invalid_action_rate": _rate(sum(e.invalid_steps for e in episodes), steps),
        "episodes": n,
        "failed_episodes": sum(e.failed is not None for e in episodes),
    }
    buckets: dict[str, list[Any]] = defaultdict(list)
    for e in episodes:
        key = breakdown_key(e)
        if key is not None:
            buckets[key].append(e)
    for key, eps in sorted(buckets.items()):
        metrics[f"success_rate_{key}"] = _rate(sum(e.success for e in eps), len(eps))
    return metrics
