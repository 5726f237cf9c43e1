"""Math tasks on the real data files: sizes, ids, golds, prompts; GPQA's CSV loader and shuffle."""

from __future__ import annotations

import csv
from collections import Counter

import pytest

from repro.envs import ENVS
from repro.envs.math import GPQA_COLUMNS, PROMPT_SUFFIX, GPQADiamond, gsm8k_gold
from repro.errors import ReproError

SIZES = {"gsm8k": 1319, "math500": 500, "aime2024": 30, "amc2023": 40, "math_train": 7470}


@pytest.mark.parametrize("name", sorted(SIZES))
def test_task_loads_its_default_split(name):
    cls = ENVS.get(name)
    task = cls(cls.Config())
    problems = task.problems()
    assert len(problems) == SIZES[name]
    assert len({p.id for p in problems}) == len(problems)
    assert all(p.gold.strip() and p.problem.strip() for p in problems)
    chat = task.messages(problems[0])
    assert chat == [{"role": "user", "content": problems[0].problem + PROMPT_SUFFIX}]
    assert chat[0]["content"].endswith("put your final answer within \\boxed{}.")


def test_golds_come_from_the_documented_fields():
    gsm8k = ENVS.get("gsm8k")(ENVS.get("gsm8k").Config()).problems()
    assert gsm8k[0].gold == "18" and gsm8k[0].id == "test/0"
    aime = ENVS.get("aime2024")(ENVS.get("aime2024").Config()).problems()
    assert aime[0].id == "60" and aime[0].gold == "204"
    amc = ENVS.get("amc2023")(ENVS.get("amc2023").Config()).problems()
    assert amc[0].gold == "27"  # 27.0 in the file
    assert gsm8k_gold("so 1,000 in all.\n#### 1,000") == "1000"
    with pytest.raises(ValueError):
        gsm8k_gold("no marker")


def test_gsm8k_train_split_and_unknown_split():
    task = ENVS.get("gsm8k")(ENVS.get("gsm8k").Config())
    assert len(task.problems("train")) == 7473
    with pytest.raises(ReproError, match="no split 'tset'.*did you mean 'test'"):
        task.problems("tset")


def test_system_prompt_option_moves_nothing_else():
    cls = ENVS.get("math500")
    task = cls(cls.Config(system_prompt="Be brief."))
    chat = task.messages(task.problems()[0])
    assert chat[0] == {"role": "system", "content": "Be brief."} and chat[1]["role"] == "user"


def test_gpqa_without_the_csv_says_which_file_to_provide(tmp_path):
    task = GPQADiamond(GPQADiamond.Config(), str(tmp_path))
    with pytest.raises(ReproError, match=f"gpqa_diamond.csv.*{tmp_path}/gpqa/gpqa_diamond.csv"):
        task.problems()


def _write_gpqa_csv(path, n):
    # A stand-in in the official column layout; the real CSV is not shipped (docs/sgrpo.md §4.2).
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["Record ID", *GPQA_COLUMNS])
        writer.writeheader()
        for i in range(n):
            writer.writerow({"Record ID": f"rec{i}", "Question": f"Question {i}?", "Correct Answer": f"right {i}",
                             "Incorrect Answer 1": f"wrong a{i}", "Incorrect Answer 2": f"wrong b{i}",
                             "Incorrect Answer 3": f"wrong c{i}"})


def test_gpqa_csv_is_shuffled_per_question_with_a_seed(tmp_path):
    _write_gpqa_csv(tmp_path / "gpqa" / "gpqa_diamond.csv", 60)
    problems = GPQADiamond(GPQADiamond.Config(), str(tmp_path)).problems()
    assert len(problems) == 60 and problems[0].id == "rec0" and problems[0].answer_type == "choice"
    for i, p in enumerate(problems):
        assert f"{p.gold}) right {i}" in p.problem  # the gold letter labels the correct option
        assert sorted(line[:2] for line in p.problem.splitlines()[-4:]) == ["A)", "B)", "C)", "D)"]
    letters = Counter(p.gold for p in problems)
    assert set(letters) == set("ABCD") and max(letters.values()) < 30
    again = GPQADiamond(GPQADiamond.Config(), str(tmp_path)).problems()
    assert again == problems
    other = GPQADiamond(GPQADiamond.Config(shuffle_seed=1), str(tmp_path)).problems()
    assert [p.gold for p in other] != [p.gold for p in problems]
    assert "letter of your final choice" in GPQADiamond(GPQADiamond.Config()).messages(problems[0])[0]["content"]


def test_gpqa_csv_with_wrong_columns_is_rejected(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ReproError, match="missing columns"):
        GPQADiamond(GPQADiamond.Config(csv_path=str(path))).problems()
