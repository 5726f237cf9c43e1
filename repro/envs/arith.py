"""``arith``: one-digit "a+b-c" problems, the CPU-scale task of the S-GRPO early-exit study (docs/sgrpo.md §8).

Not from the paper. GSM8K and MATH need a real reasoning model; the tiny model learns this task in
a minute of SFT. What it keeps of the paper's setting: a math prompt answered in ``<think> …
</think>`` then ``\\boxed{}``, scored by the same boxed-only verifier (:mod:`repro.envs.verify`),
and a warm start that *overthinks*: its demonstrations (:meth:`Arith.demonstration`) reach the
answer in their first two sentences and then re-check and restate it a random number of times
before closing the thought, so a forced early exit right after the answer is as accurate as the
full response (the redundancy S-GRPO's Fig. 1 shows, and what its serial groups reward cutting).

Problems are generated, not read from a file: every triple ``(a, b, c)`` with ``1 <= a, b, c <=
max_operand`` and ``c <= a + b`` (so the answer is >= 0), in an order shuffled by ``problem_seed``;
the first ``test_size`` are the test split, the rest the train split (disjoint by construction).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from repro.envs.math import MathProblem, MathTask, MathTaskConfig
from repro.errors import ReproError

SPLITS = ("train", "test")

# The redundant sentences a demonstration adds after its answer (re-checks and restatements);
# fields: the operands a, b, c, the partial sum s = a + b and the answer r = s - c.
RECHECKS = (
    "Let me check: {a}+{b}={s}, and {s}-{c}={r}. Yes.",
    "Let me verify: {r}+{c}={s}, and {s}-{b}={a}. Correct.",
    "Wait, let me double-check {a}+{b}. {a}+{b}={s}. Right.",
    "Hmm, {s}-{c}={r}. That is right.",
    "So the answer is {r}.",
)


@dataclass
class ArithConfig(MathTaskConfig):
    name: str = "arith"
    max_operand: int = 9  # a, b, c in 1..max_operand (one digit keeps every fact learnable by the tiny model)
    test_size: int = 128  # the first problems of the shuffled order; the rest are the train split
    problem_seed: int = 0  # the shuffle that splits the triples into test and train
    # demonstrations: redundant sentences after the answer, uniform in [rechecks_min, rechecks_max]
    rechecks_min: int = 0
    rechecks_max: int = 4

    def validate(self, prefix: str = "env") -> None:
        super().validate(prefix)
        if not 1 <= self.max_operand <= 9:
            raise ReproError(f"{prefix}.max_operand must be in [1, 9], got {self.max_operand}")
        if not 1 <= self.test_size < len(triples(self.max_operand)):
            raise ReproError(f"{prefix}.test_size must be in [1, {len(triples(self.max_operand)) - 1}] "
                             f"(problems with max_operand={self.max_operand}), got {self.test_size}")
        if not 0 <= self.rechecks_min <= self.rechecks_max:
            raise ReproError(f"{prefix}: need 0 <= rechecks_min <= rechecks_max, got "
                             f"{self.rechecks_min} and {self.rechecks_max}")


def triples(max_operand: int) -> list[tuple[int, int, int]]:
    """Every (a, b, c) with operands in 1..max_operand and a non-negative answer a + b - c."""
    digits = range(1, max_operand + 1)
    return [(a, b, c) for a in digits for b in digits for c in digits if c <= a + b]


def problem_text(a: int, b: int, c: int) -> str:
    return f"Compute {a}+{b}-{c}."


def demonstration_text(a: int, b: int, c: int, rechecks: int, rng: random.Random) -> str:
    """The overthinking response: the answer in two steps, ``rechecks`` redundant sentences, the box."""
    s, r = a + b, a + b - c
    lines = [f"{a}+{b}={s}. {s}-{c}={r}. The answer is {r}."]
    lines += [rng.choice(RECHECKS).format(a=a, b=b, c=c, s=s, r=r) for _ in range(rechecks)]
    return "<think>\n" + "\n".join(lines) + "\n</think>\n\n\\boxed{" + str(r) + "}"


class Arith(MathTask):
    """Generated one-digit arithmetic with overthinking demonstrations (see the module docstring)."""

    Config = ArithConfig

    def problems(self, split: str | None = None) -> list[MathProblem]:
        split = split or self.cfg.split
        if split not in SPLITS:
            raise ReproError(f"arith has no split '{split}'; known: {', '.join(SPLITS)}")
        order = triples(self.cfg.max_operand)
        random.Random(f"arith-{self.cfg.problem_seed}").shuffle(order)
        chosen = order[: self.cfg.test_size] if split == "test" else order[self.cfg.test_size:]
        return [MathProblem(f"{split}/{a}+{b}-{c}", problem_text(a, b, c), str(a + b - c)) for a, b, c in chosen]

    def demonstration(self, problem: MathProblem, rng: random.Random) -> str:
        """A target response for ``problem`` (an SFT demonstration); ``rng`` picks the redundancy."""
        a, b, c = operands(problem)
        rechecks = rng.randint(self.cfg.rechecks_min, self.cfg.rechecks_max)
        return demonstration_text(a, b, c, rechecks, rng)


def operands(problem: MathProblem) -> tuple[int, int, int]:
    """(a, b, c) from an arith problem id ``<split>/a+b-c``."""
    expression = problem.id.partition("/")[2]
    a_b, _, c = expression.partition("-")
    a, _, b = a_b.partition("+")
    return int(a), int(b), int(c)
