"""The verifier pool on the real benchmark files: gold agreement, unparsed, timeouts, errors."""

from __future__ import annotations

import pytest

from repro.envs.math import GSM8K, MATH500
from repro.envs.verify import Check, VerifierPool, check_answer, count_verdicts, last_boxed
from repro.io import read_jsonl
from repro.paths import data_file

# sympy evaluates the factorial of 10^10 when comparing: minutes of CPU, little memory.
HANGS = "so the answer is \\boxed{(10^{10})!}"


@pytest.fixture(scope="module")
def pool():
    with VerifierPool(workers=2, timeout_s=20) as p:
        yield p


def test_math500_reference_solutions_match_gold(pool):
    rows = read_jsonl(data_file("math500/test.jsonl"))
    verdicts = pool.check_all([Check(r["answer"], r["solution"]) for r in rows])
    assert len(verdicts) == 500
    assert count_verdicts(verdicts)["correct"] == 500, [
        (r["unique_id"], v) for r, v in zip(rows, verdicts) if not v.correct][:5]


def test_math500_shifted_solutions_are_mostly_wrong(pool):
    """Control: gold i against solution i+1 must not pass (docs/sgrpo.md §5 saw 3 genuine ties)."""
    rows = read_jsonl(data_file("math500/test.jsonl"))
    verdicts = pool.check_all([Check(a["answer"], b["solution"]) for a, b in zip(rows, rows[1:])])
    assert count_verdicts(verdicts)["correct"] <= 10


def test_gsm8k_golds_round_trip_through_a_boxed_answer(pool):
    task = GSM8K(GSM8K.Config())
    problems = task.problems("test")
    rows = read_jsonl(data_file("gsm8k/test.jsonl"))
    responses = [r["answer"].rsplit("####", 1)[0] + f"The answer is \\boxed{{{p.gold}}}." for r, p in zip(rows, problems)]
    verdicts = pool.check_all([Check(p.gold, resp) for p, resp in zip(problems, responses)])
    assert len(verdicts) == 1319
    assert count_verdicts(verdicts)["correct"] == 1319
    shifted = pool.check_all([Check(p.gold, resp) for p, resp in zip(problems, responses[1:])])
    assert count_verdicts(shifted)["correct"] < 100  # distinct golds are not scored equal


def test_no_box_is_unparsed_even_with_the_right_number():
    verdict = check_answer(Check("7", "Okay, let me compute 3+4 = 7 and then multiply by"))
    assert verdict.status == "unparsed" and verdict.extracted is None
    assert check_answer(Check("7", "The answer is \\boxed{}.")).status == "unparsed"


def test_last_box_is_the_answer_and_equivalent_forms_match():
    assert check_answer(Check("2", "\\boxed{3} ... actually \\boxed{2}")).status == "correct"
    assert check_answer(Check("\\frac{1}{2}", "</think> so \\boxed{0.5}")).status == "correct"
    wrong = check_answer(Check("\\frac{1}{2}", "\\boxed{0.25}"))
    assert wrong.status == "wrong" and wrong.extracted is not None


@pytest.mark.parametrize("response, verdict, extracted", [
    # several boxes: the last one is the answer, an intermediate one is not scored with it
    ("so \\boxed{1} item, and in all \\boxed{72}", "correct", "72"),
    ("in all \\boxed{72}, or per day \\boxed{1}", "wrong", "1"),
    ("\\boxed{72} ... \\boxed{72}", "correct", "72"),
    # a box nested in the last one belongs to it
    ("\\boxed{\\boxed{72}}", "correct", "72"),
    ("\\boxed{1} then \\boxed{\\boxed{72}}", "correct", "72"),
    # a box inside \text counts where it stands; \text inside a box is its content
    ("\\boxed{1} \\text{so the total is \\boxed{72}}", "correct", "72"),
    ("\\text{first \\boxed{72}} and finally \\boxed{9}", "wrong", "9"),
    ("\\boxed{\\text{72}}", "correct", "\\text{72}"),
    # cut off inside the last box: unparsed, not the earlier box
    ("\\boxed{72} ... no wait, \\boxed{7", "unparsed", None),
])
def test_only_the_last_box_is_scored(response, verdict, extracted):
    got = check_answer(Check("72", response))
    assert got.status == verdict, got
    if extracted is not None:
        assert got.extracted == extracted


def test_last_boxed_matches_braces():
    assert last_boxed("a \\boxed{\\frac{1}{2}} b \\boxed{x^{2}} c") == "\\boxed{x^{2}}"
    assert last_boxed("\\boxed{\\boxed{1} + 2}") == "\\boxed{\\boxed{1} + 2}"
    assert last_boxed("\\boxed{\\}}") == "\\boxed{\\}}"
    assert last_boxed("no box") is None and last_boxed("\\boxed{1} \\boxed{2") is None


def test_choice_answers_compare_letters():
    assert check_answer(Check("C", "... \\boxed{C}", "choice")).status == "correct"
    assert check_answer(Check("C", "... \\boxed{A}", "choice")).status == "wrong"


def test_unparseable_gold_is_an_error_not_a_wrong_answer():
    verdict = check_answer(Check("", "\\boxed{3}"))
    assert verdict.status == "error" and "gold" in verdict.message


def test_pathological_answer_times_out_and_the_pool_recovers():
    with VerifierPool(workers=1, timeout_s=1.5) as p:
        verdicts = p.check_all([Check("2", HANGS), Check("72", "\\boxed{72}"), Check("5", "no box")])
        assert [v.status for v in verdicts] == ["timed_out", "correct", "unparsed"]
        assert "1.5 s" in verdicts[0].message
        assert p.replaced == 1
        assert p.check_all([Check("4", "\\boxed{4}")])[0].status == "correct"


def test_exception_in_a_worker_is_an_error_verdict_with_its_message(pool):
    landed = []
    verdicts = pool.check_all([Check("1", "\\boxed{1}", "no-such-type"), Check("1", "\\boxed{1}")],
                              on_verdict=lambda i, v: landed.append(i))
    assert verdicts[0].status == "error" and "ValueError" in verdicts[0].message
    assert verdicts[1].status == "correct"
    assert sorted(landed) == [0, 1]
    assert count_verdicts(verdicts) == {"correct": 1, "wrong": 0, "unparsed": 0, "timed_out": 0, "error": 1}


def test_math500_task_golds_are_the_answer_field():
    problems = MATH500(MATH500.Config()).problems()
    assert problems[0].gold == read_jsonl(data_file("math500/test.jsonl"))[0]["answer"]
