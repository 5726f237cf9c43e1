"""Advantage estimators: how a scalar reward becomes a per-row (and per-token) advantage.

One small module per estimator, pure functions over numpy arrays (GAE: torch tensors), no
trainer and no I/O:

* :mod:`repro.algos.gigpo` - GiGPO (episode + anchor-state step advantages, docs/gigpo.md §4)
* :mod:`repro.algos.grpo`  - GRPO / Dr.GRPO on step rows (docs/gigpo.md §5)
* :mod:`repro.algos.rloo`  - RLOO, leave-one-out over a group's rows (docs/gigpo.md §5)
* :mod:`repro.algos.gae`   - PPO's GAE with a critic, per step row (docs/gigpo.md §5)
* :mod:`repro.algos.sgrpo` - S-GRPO decaying reward over a serial group (docs/sgrpo.md §2.5-2.6)
* :mod:`repro.algos.length_penalty` - RL + length penalty, S-GRPO's baseline (docs/sgrpo.md §2.9)

One interface: ``estimate(inputs, cfg) -> result``. Each estimator declares its input, a columns
dataclass (:mod:`repro.algos.rows`: ``StepRows`` for the multi-turn estimators, ``SerialRows``,
``ResponseRows``; GAE's ``TokenRows``), and returns a frozen dataclass whose ``advantage`` holds one
advantage per row (GAE: per token) beside its named components (GiGPO's two terms, S-GRPO's
reward, ...). Its options are a dataclass the trainer embeds in its typed config.
``ALGOS.get(name)`` returns an :class:`Algorithm` (options class, estimator, declared input); the
trainer calls every estimator through :mod:`repro.trainer.advantages`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

from repro.registry import Registry


@dataclass
class EstimatorConfig:
    """The base of every estimator's options dataclass (``Algorithm.config``), so the config
    section holding one (``TrainConfig.advantage``) is typed."""


class Advantages(Protocol):
    """What every estimator returns (a frozen dataclass with more named fields)."""

    advantage: Any  # numpy array per row; GAE: a [rows, tokens] tensor


@dataclass(frozen=True)
class Algorithm:
    config: type  # the options dataclass (defaults reproduce the reference code)
    estimate: Callable[[Any, Any], Advantages]  # estimate(inputs, cfg or None for the defaults)
    inputs: type  # the input it declares: StepRows | SerialRows | ResponseRows | TokenRows


ALGOS = Registry("algo")
ALGOS.register("gigpo", "repro.algos.gigpo:GIGPO", "GiGPO: episode + anchor-state step advantages (Eqs. 3-8)")
ALGOS.register("grpo", "repro.algos.grpo:GRPO", "GRPO on step rows; norm_by_std=false gives Dr.GRPO")
ALGOS.register("rloo", "repro.algos.rloo:RLOO", "RLOO: leave-one-out baseline over the group's rows")
ALGOS.register("ppo", "repro.algos.gae:PPO", "PPO with a critic: GAE within each step row + batch whitening")
ALGOS.register("sgrpo", "repro.algos.sgrpo:SGRPO", "S-GRPO: decaying reward over a serial group, r - mean(r)")
ALGOS.register("length_penalty", "repro.algos.length_penalty:LENGTH_PENALTY",
               "RL + length penalty (Arora & Zanette, α=0.2): S-GRPO's baseline, RLOO advantage")
