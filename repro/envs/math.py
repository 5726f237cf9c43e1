"""Single-turn math tasks: GSM8K, MATH-500, AIME 2024, AMC 2023, GPQA Diamond, MATH train.

Each task reads its file under the data root (``repro data fetch`` / ``../shared/data``; fields in
``shared/data/SOURCES.md``), yields :class:`MathProblem` rows with a stable id and the bare gold
answer, and builds the chat for a problem. Scoring is :mod:`repro.envs.verify` (boxed answers).
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from repro.envs.base import EnvConfig
from repro.errors import ReproError
from repro.io import read_jsonl
from repro.paths import data_dir, data_file
from repro.registry import did_you_mean

# docs/sgrpo.md §2.10 (paper Fig. 4): the instruction follows the problem in the user turn.
PROMPT_SUFFIX = "\nPlease reason step by step, and put your final answer within \\boxed{}."
CHOICE_PROMPT_SUFFIX = "\nPlease reason step by step, and put the letter of your final choice within \\boxed{}."


@dataclass(frozen=True)
class MathProblem:
    id: str
    problem: str
    gold: str  # bare answer: "72", "\\frac{1}{2}", "C"
    answer_type: str = "math"  # how repro.envs.verify compares: math | choice


@dataclass
class MathTaskConfig(EnvConfig):
    name: str = ""
    split: str = "test"  # the evaluation split; `repro eval --split` overrides it
    prompt_suffix: str = PROMPT_SUFFIX
    # DEER sends the instruction as a system message instead (docs/sgrpo.md §2.10); "" = no system turn.
    system_prompt: str = ""
    verify_timeout_s: float = 10.0  # wall clock per answer in the verifier pool
    verify_workers: int = 0  # 0 = one per CPU

    def validate(self, prefix: str = "env") -> None:
        if self.verify_timeout_s <= 0:
            raise ReproError(f"{prefix}.verify_timeout_s must be > 0, got {self.verify_timeout_s}")
        if self.verify_workers < 0:
            raise ReproError(f"{prefix}.verify_workers must be >= 0 (0 = one per CPU), got {self.verify_workers}")


class MathTask:
    """A benchmark: ``problems(split)`` and ``messages(problem)``."""

    Config: ClassVar[type] = MathTaskConfig
    files: ClassVar[dict[str, str]] = {}  # split -> path under the data root

    def __init__(self, cfg: MathTaskConfig, data_dir_override: str | None = None):
        self.cfg = cfg
        self.data_dir_override = data_dir_override

    def _split_file(self, split: str) -> Path:
        if split not in self.files:
            raise ReproError(
                f"{self.cfg.name} has no split '{split}'{did_you_mean(split, list(self.files))}; "
                f"known: {', '.join(self.files)}"
            )
        return data_file(self.files[split], self.data_dir_override)

    def problems(self, split: str | None = None) -> list[MathProblem]:
        split = split or self.cfg.split
        path = self._split_file(split)
        try:
            return self._read(path, split)
        except (KeyError, ValueError, TypeError) as e:
            raise ReproError(f"{path} is not a valid {self.cfg.name} file: {type(e).__name__}: {e}") from None

    def _read(self, path: Path, split: str) -> list[MathProblem]:
        raise NotImplementedError

    def messages(self, problem: MathProblem) -> list[dict[str, str]]:
        chat = [{"role": "system", "content": self.cfg.system_prompt}] if self.cfg.system_prompt else []
        return chat + [{"role": "user", "content": problem.problem + self.cfg.prompt_suffix}]

    def demonstration(self, problem: MathProblem, rng: random.Random) -> str:
        """A target response for ``problem`` (``repro sft``'s demonstrations); only generated tasks have one."""
        raise ReproError(f"{self.cfg.name} has no demonstration traces (`repro sft` needs a task that "
                         f"generates them, e.g. arith)")


def gsm8k_gold(answer: str) -> str:
    """The number after '#### ' at the end of a GSM8K solution, without thousands separators."""
    if "####" not in answer:
        raise ValueError("GSM8K answer has no '#### ' gold marker")
    return answer.rsplit("####", 1)[1].strip().replace(",", "")


@dataclass
class GSM8KConfig(MathTaskConfig):
    name: str = "gsm8k"


class GSM8K(MathTask):
    Config = GSM8KConfig
    files = {"test": "gsm8k/test.jsonl", "train": "gsm8k/train.jsonl"}

    def _read(self, path: Path, split: str) -> list[MathProblem]:
        return [MathProblem(f"{split}/{i}", row["question"], gsm8k_gold(row["answer"]))
                for i, row in enumerate(read_jsonl(path))]


@dataclass
class MATH500Config(MathTaskConfig):
    name: str = "math500"


class MATH500(MathTask):
    Config = MATH500Config
    files = {"test": "math500/test.jsonl"}

    def _read(self, path: Path, split: str) -> list[MathProblem]:
        return [MathProblem(row["unique_id"], row["problem"], row["answer"]) for row in read_jsonl(path)]


@dataclass
class AIME2024Config(MathTaskConfig):
    name: str = "aime2024"


class AIME2024(MathTask):
    Config = AIME2024Config
    files = {"test": "aime2024/test.jsonl"}

    def _read(self, path: Path, split: str) -> list[MathProblem]:
        return [MathProblem(str(row["id"]), row["problem"], str(row["answer"])) for row in read_jsonl(path)]


def _number_text(x: float) -> str:
    return str(int(x)) if x.is_integer() else repr(x)


@dataclass
class AMC2023Config(MathTaskConfig):
    name: str = "amc2023"


class AMC2023(MathTask):
    Config = AMC2023Config
    files = {"test": "amc2023/test.jsonl"}

    def _read(self, path: Path, split: str) -> list[MathProblem]:
        # Answers are floats in the file (27.0); all are integers (SOURCES.md).
        return [MathProblem(str(row["id"]), row["problem"], _number_text(float(row["answer"])))
                for row in read_jsonl(path)]


@dataclass
class MATHTrainConfig(MathTaskConfig):
    name: str = "math_train"
    split: str = "train"


class MATHTrain(MathTask):
    """rllm's answers-only MATH train (7,474 rows); the 4 rows without an answer (2 empty, 2 null)
    are skipped; ids keep the row index."""

    Config = MATHTrainConfig
    files = {"train": "math/train.json"}

    def _read(self, path: Path, split: str) -> list[MathProblem]:
        rows = json.loads(path.read_text(encoding="utf-8"))
        return [MathProblem(f"{split}/{i}", row["problem"], row["answer"])
                for i, row in enumerate(rows) if (row["answer"] or "").strip()]


GPQA_COLUMNS = ("Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")
GPQA_LETTERS = "ABCD"


@dataclass
class GPQADiamondConfig(MathTaskConfig):
    name: str = "gpqa_diamond"
    split: str = "diamond"
    prompt_suffix: str = CHOICE_PROMPT_SUFFIX
    csv_path: str = "gpqa/gpqa_diamond.csv"  # under the data root, unless absolute
    # Options are shuffled per question with this seed: the plain-text copies always put the
    # answer at "A" (docs/sgrpo.md §4.2).
    shuffle_seed: int = 0


def gpqa_problem(row: dict[str, str], index: int, seed: int) -> MathProblem:
    """A GPQA row with its four options in a seeded order; gold is the correct option's letter."""
    record_id = row.get("Record ID") or str(index)
    options = [row[c].strip() for c in GPQA_COLUMNS[1:]]
    order = list(range(4))
    random.Random(f"{seed}:{record_id}").shuffle(order)  # per question: stable under --limit
    lines = [f"{GPQA_LETTERS[k]}) {options[j]}" for k, j in enumerate(order)]
    gold = GPQA_LETTERS[order.index(0)]
    return MathProblem(record_id, row["Question"].strip() + "\n\n" + "\n".join(lines), gold, "choice")


class GPQADiamond(MathTask):
    """GPQA Diamond from the official CSV, which is not shipped (docs/sgrpo.md §4.2)."""

    Config = GPQADiamondConfig

    def _csv(self) -> Path:
        path = Path(self.cfg.csv_path)
        if not path.is_absolute():
            path = data_dir(self.data_dir_override) / path
        if not path.is_file():
            raise ReproError(
                f"GPQA Diamond is not shipped: extract gpqa_diamond.csv from the official "
                f"idavidrein/gpqa dataset.zip (password in its README) to {path} "
                f"(or set env.csv_path=FILE)"
            )
        return path

    def problems(self, split: str | None = None) -> list[MathProblem]:
        split = split or self.cfg.split
        if split != "diamond":
            raise ReproError(f"gpqa_diamond has no split '{split}'; known: diamond")
        path = self._csv()
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        missing = [c for c in GPQA_COLUMNS if rows and c not in rows[0]]
        if not rows or missing:
            raise ReproError(f"{path} is not the GPQA CSV: missing columns {', '.join(missing) or 'and rows'}")
        return [gpqa_problem(row, i, self.cfg.shuffle_seed) for i, row in enumerate(rows)]
