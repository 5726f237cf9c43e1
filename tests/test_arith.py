"""The arith task (repro.envs.arith): generated disjoint splits, golds the real verifier accepts on
the task's own demonstrations, the overthinking shape of those demonstrations, and `repro sft` on
them with the real tiny model (prompts exactly the math trainer's)."""

from __future__ import annotations

import random
import re

import pytest

from repro.config import ModelConfig
from repro.envs import ENVS
from repro.envs.arith import RECHECKS, ArithConfig, operands, triples
from repro.envs.verify import Check, VerifierPool
from repro.errors import ReproError
from repro.policy import load_policy
from repro.trainer.sft import build_sft_config, collect_math_demos, end_of_turn_id, math_demo_rows, run_sft


def _task(**kw):
    return ENVS.get("arith")(ArithConfig(**kw))


def test_splits_are_disjoint_deterministic_and_cover_every_problem():
    task = _task()
    test, train = task.problems("test"), task.problems("train")
    assert len(test) == 128 and len(train) == len(triples(9)) - 128
    assert not {p.id for p in test} & {p.id for p in train}
    assert [p.id for p in task.problems("test")] == [p.id for p in test]  # a pure function of the config
    assert [p.id for p in _task(problem_seed=1).problems("test")] != [p.id for p in test]
    for p in test + train:
        a, b, c = operands(p)
        assert 1 <= min(a, b, c) and max(a, b, c) <= 9 and p.gold == str(a + b - c) and int(p.gold) >= 0
        assert p.problem == f"Compute {a}+{b}-{c}."
    assert task.messages(test[0])[-1]["content"].endswith("within \\boxed{}.")
    with pytest.raises(ReproError, match="arith has no split 'valid'"):
        task.problems("valid")
    with pytest.raises(ReproError, match="rechecks_min <= rechecks_max"):
        ArithConfig(rechecks_min=3, rechecks_max=2).validate()


def test_demonstrations_answer_first_then_overthink_and_verify_correct():
    task = _task()
    problems = task.problems("train")[:40]
    rng = random.Random(0)
    responses = [task.demonstration(p, rng) for p in problems]
    counts = []
    for p, text in zip(problems, responses):
        a, b, c = operands(p)
        thought = text.split("</think>")[0]
        first, *rest = thought.removeprefix("<think>\n").strip().split("\n")
        assert first == f"{a}+{b}={a + b}. {a + b}-{c}={p.gold}. The answer is {p.gold}."  # the answer, early
        sentences = {r.format(a=a, b=b, c=c, s=a + b, r=int(p.gold)) for r in RECHECKS}
        assert all(line in sentences for line in rest)  # then only redundant re-checks and restatements
        counts.append(len(rest))
        assert re.fullmatch(r"<think>\n.*\n</think>\n\n\\boxed\{\d+\}", text, re.S)
    assert set(counts) == {0, 1, 2, 3, 4}  # rechecks_min..rechecks_max, uniform
    with VerifierPool(workers=1) as pool:
        verdicts = pool.check_all([Check(p.gold, t.split("</think>")[1]) for p, t in zip(problems, responses)])
    assert all(v.correct for v in verdicts)
    with pytest.raises(ReproError, match="gsm8k has no demonstration traces"):
        ENVS.get("gsm8k")(ENVS.get("gsm8k").Config()).demonstration(problems[0], rng)


def test_sft_rows_are_the_trainers_prompts_and_the_whole_response(tiny_model_dir, tmp_path):
    cfg = build_sft_config("arith", None, [f"results_dir={tmp_path}", f"model.path={tiny_model_dir}", "episodes=6",
                                           "steps=2", "batch_rows=3", "micro_batch_rows=3", "run_name=warm"])
    demos = collect_math_demos(cfg, ENVS.get("arith"))
    assert demos == collect_math_demos(cfg, ENVS.get("arith"))  # seeded
    policy = load_policy(ModelConfig(path=str(tiny_model_dir), device="cpu"))
    rows = math_demo_rows(demos, policy)
    task = ENVS.get("arith")(cfg.env)
    by_id = {p.id: p for p in task.problems("train")}
    for demo, (prompt, reply) in zip(demos, rows):
        # the prompt the math trainer renders (repro.trainer.sgrpo: chat_prompt(task.messages(problem)))
        assert prompt == policy.chat_prompt(task.messages(by_id[demo["task"]]))
        assert policy.tokenizer.decode(reply[:-1], skip_special_tokens=False) == demo["response"]
        assert reply[-1] == end_of_turn_id(policy)
    path = run_sft(cfg, show_progress=False)
    assert (path / "model" / "config.json").is_file()
    with pytest.raises(ReproError, match="env 'gsm8k' has no demonstrations"):
        build_sft_config("gsm8k", None, [])
