"""`repro eval` on the math benchmarks with the real tiny model, and its one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from repro.envs.math import MathProblem
from repro.eval.config import build_eval_config
from repro.eval.math import per_problem_metrics, run_math_eval
from repro.io import read_jsonl

FAST = ["sampling.max_new_tokens=12", "model.batch_size=8"]


def _repro(*args, env=None):
    return subprocess.run([sys.executable, "-m", "repro", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def _check_run(results_path, env, n_problems, samples):
    results = json.loads(results_path.read_text())
    assert results["env"] == env and results["counts"]["problems"] == n_problems
    assert results["counts"]["samples_per_problem"] == samples
    assert 0.0 <= results["metrics"]["accuracy"]["value"] <= 1.0
    assert 0 < results["metrics"]["mean_tokens"]["value"] <= 12
    assert "stderr" in results["metrics"]["accuracy"]
    counts = results["counts"]
    assert sum(counts[k] for k in ("correct", "wrong", "unparsed", "timed_out", "error")) == n_problems * samples
    assert len(results["model"]["sha256"]) == 64 and results["provenance"]["git_commit"] and results["provenance"]["hardware"]
    rows = read_jsonl(results_path.parent / "samples.jsonl")
    assert len(rows) == n_problems * samples
    assert {"problem_id", "prompt", "response", "extracted_answer", "verdict", "generated_tokens"} <= set(rows[0])
    assert "put your final answer within \\boxed{}" in rows[0]["prompt"]
    assert (results_path.parent / "config.yaml").is_file()
    return results, rows


def test_cli_eval_gsm8k_tiny(tiny_model_dir, tmp_path):
    done = _repro("eval", "--env", "gsm8k", "--model", "tiny", "--limit", "8", "--samples", "2",
                  f"results_dir={tmp_path}", "--run-name", "g", *FAST)
    assert done.returncode == 0, done.stderr
    assert "accuracy" in done.stdout and "results:" in done.stdout
    _check_run(tmp_path / "g" / "results.json", "gsm8k", 8, 2)


@pytest.mark.parametrize("env", ["math500", "aime2024", "amc2023"])
def test_eval_other_benchmarks_tiny(env, tiny_model_dir, tmp_path):
    cfg = build_eval_config(env, None, ["model.path=tiny", "limit=8", "samples=2", f"results_dir={tmp_path}", *FAST])
    _check_run(run_math_eval(cfg), env, 8, 2)


def test_eval_is_reproducible_for_a_seed(tiny_model_dir, tmp_path):
    def responses(name, seed):
        cfg = build_eval_config("gsm8k", None, ["limit=2", "samples=2", f"results_dir={tmp_path}",
                                                f"run_name={name}", f"seed={seed}", *FAST])
        return [r["response"] for r in read_jsonl(run_math_eval(cfg).parent / "samples.jsonl")]

    first = responses("a", 0)
    assert first == responses("b", 0)
    assert first != responses("c", 1)


def test_metrics_average_within_a_problem_first():
    problems = [MathProblem("p1", "", "1"), MathProblem("p2", "", "2")]
    rows = [{"problem_id": "p1", "verdict": v, "generated_tokens": t}
            for v, t in (("correct", 10), ("wrong", 20), ("correct", 30), ("unparsed", 40))]
    rows += [{"problem_id": "p2", "verdict": "timed_out", "generated_tokens": 100}]
    metrics = per_problem_metrics(problems, rows)
    assert metrics["accuracy"].value == pytest.approx(0.25)  # (2/4 + 0/1) / 2
    assert metrics["accuracy"].stderr == pytest.approx(0.25)
    assert metrics["mean_tokens"].value == pytest.approx((25 + 100) / 2)


@pytest.mark.parametrize("args, env, message", [
    (["--env", "gpqa_diamond"], None, "gpqa_diamond.csv"),
    (["--env", "gsm8k", "data_dir=/nonexistent/data"], None, "/nonexistent/data does not exist"),
    (["--env", "gsm8k"], {"REPRO_DATA": "/nonexistent/data"}, "/nonexistent/data does not exist"),
    (["--env", "gsm8k", "sampling.temprature=1"], None, "did you mean 'sampling.temperature'"),
    (["--env", "gsm9k"], None, "unknown env 'gsm9k' (did you mean 'gsm8k'?)"),
])
def test_bad_input_is_one_line_error(args, env, message, tmp_path):
    done = _repro("eval", *args, "--model", "tiny", "--limit", "1", f"results_dir={tmp_path}", env=env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], done.stderr
    assert "Traceback" not in done.stdout + done.stderr
