"""`repro eval --suite sgrpo` (Table 1 layout, paper rows, audit of the paper's Overall column) and
`repro eval --exit-curve`, end to end with the real tiny model on the real benchmark files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from repro.eval.suite import PAPER_TABLE, SGRPO_BENCHMARKS, audit_overall, load_paper_table

ROOT = Path(__file__).resolve().parents[1]


def _repro(*args):
    return subprocess.run([sys.executable, "-m", "repro", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "COLUMNS": "250"}, timeout=600)


def test_suite_sgrpo_tiny_prints_the_table1_layout(tiny_model_dir, tmp_path):
    done = _repro("eval", "--suite", "sgrpo", "--model", "tiny", "--limit", "5", "sampling.max_new_tokens=6",
                  "model.batch_size=32", "env.verify_workers=1", f"results_dir={tmp_path}", "--run-name", "s")
    assert done.returncode == 0, done.stderr[-3000:]
    suite_dir = tmp_path / "s"
    summary = json.loads((suite_dir / "suite.json").read_text())
    by_env = {b["env"]: b for b in summary["benchmarks"]}
    assert [b["env"] for b in summary["benchmarks"]] == [env for env, _ in SGRPO_BENCHMARKS]
    assert by_env["gpqa_diamond"]["status"].startswith("not run: data missing")
    for env, samples in SGRPO_BENCHMARKS[:4]:  # the paper's per-benchmark sample counts, 5 problems each
        results = json.loads((suite_dir / env / "results.json").read_text())
        assert by_env[env]["status"] == "ok" and results["counts"]["samples_per_problem"] == samples == by_env[env]["samples"]
        assert results["counts"]["problems"] == 5 and results["sampling"]["temperature"] == 0.6
        assert results["sampling"]["top_p"] == 0.95 and results["sampling"]["max_new_tokens"] == 6
        assert by_env[env]["mean_tokens"] == results["metrics"]["mean_tokens"]["value"] <= 6
    table = (suite_dir / "table.md").read_text().splitlines()
    assert table[0].startswith("| method | GSM8K acc | GSM8K tok | AIME24 acc")
    ours = table[2].split(" | ")
    assert ours[0] == "| ours · tiny" and ours[9] == "not run" and ours[11].endswith("(4/5)")
    paper_rows = [line for line in table if line.startswith("| paper · ")]
    assert len(paper_rows) == sum(len(b["rows"]) for b in load_paper_table()["blocks"])
    assert "| paper · DeepSeek-R1-Distill-Qwen-7B · S-GRPO | 93.8 | 906 |" in "\n".join(table)
    assert "76.10 (+6.08†)" in "\n".join(table)  # printed +6.08, recomputed +3.92 (docs/sgrpo.md §3.3)
    assert "GSM8K acc" in done.stdout and "not run: data missing" in done.stdout


def test_audit_finds_the_overall_cells_the_paper_got_wrong():
    wrong = {(w["model"], w["row"], w["cell"]): w["recomputed"] for w in audit_overall(load_paper_table())}
    # every slip docs/sgrpo.md §3.3 lists (recomputed independently there)
    assert wrong[("DeepSeek-R1-Distill-Qwen-7B", "Vanilla", "overall_acc")] == "72.18"
    assert wrong[("DeepSeek-R1-Distill-Qwen-7B", "S-GRPO", "acc_delta")] == "+3.92"
    assert wrong[("DeepSeek-R1-Distill-Qwen-7B", "DEER", "acc_delta")] == "+1.60"
    assert wrong[("DeepSeek-R1-Distill-Qwen-7B", "GRPO", "acc_delta")] == "+3.82"
    assert wrong[("DeepSeek-R1-Distill-Qwen-7B", "RL + Length Penalty", "acc_delta")] == "+2.32"
    assert wrong[("DeepSeek-R1-Distill-Qwen-14B", "S-GRPO", "tok_delta")] == "-43.2%"
    assert wrong[("Qwen3-8B", "Vanilla", "overall_acc")] == "81.96"
    assert wrong[("Qwen3-8B", "S-GRPO", "overall_tok")] == "4,900.2"
    assert wrong[("Qwen3-8B", "S-GRPO", "tok_delta")] == "-40.9%"
    assert wrong[("Qwen3-14B", "S-GRPO", "acc_delta")] == "+1.44"
    # consistent rows are left alone
    assert not any(k[0] == "DeepSeek-R1-Distill-Qwen-14B" and k[1] in ("Vanilla", "DEER", "GRPO") for k in wrong)
    assert not any(k[1] == "Vanilla" and k[2] == "overall_tok" for k in wrong)


def test_audit_on_a_consistent_and_a_broken_table():
    raw = yaml.safe_load(PAPER_TABLE.read_text())
    block = {"model": "M", "rows": [
        {"label": "Vanilla", "cells": [90.0, 100, 50.0, 1000, 80.0, 500, 85.0, 400, 45.0, 2000, 70.00, 800]},
        {"label": "X", "cells": [91.0, 50, 52.0, 500, 80.0, 250, 86.0, 200, 46.0, 1000, 71.00, 400],
         "printed_deltas": ["+1.00", "-50.0%"]},
    ]}
    assert audit_overall({**raw, "blocks": [block]}) == []
    block["rows"][1]["cells"][11] = 420
    block["rows"][1]["printed_deltas"] = ["+1.20", "-50.0%"]
    found = {(w["row"], w["cell"]) for w in audit_overall({**raw, "blocks": [block]})}
    assert found == {("X", "overall_tok"), ("X", "acc_delta")}


def test_exit_curve_writes_json_and_png(tiny_model_dir, tmp_path):
    done = _repro("eval", "--env", "gsm8k", "--model", "tiny", "--limit", "3", "--samples", "2", "--exit-curve",
                  "sampling.max_new_tokens=30", "exit_curve.answer_max_tokens=4", "env.verify_workers=1",
                  f"results_dir={tmp_path}", "--run-name", "ec")
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "ec"
    curve = json.loads((run / "exit_curve.json").read_text())
    fractions = [p["fraction"] for p in curve["points"]]
    assert fractions == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert curve["responses"] == 6
    tokens = [p["mean_tokens"] for p in curve["points"]]
    kept = [p["mean_thinking_kept"] for p in curve["points"]]
    assert kept == sorted(kept) and kept[-1] <= 30 and tokens == sorted(tokens)
    assert all(0.0 <= p["accuracy"] <= 1.0 for p in curve["points"])
    assert (run / "exit_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 6 * 11  # 10 forced exits + the full response each
    results = json.loads((run / "results.json").read_text())
    assert results["kind"] == "exit_curve" and results["details"]["exit_curve"]["points"] == curve["points"]
    assert results["metrics"]["full_accuracy"]["value"] == curve["full"]["accuracy"]


def test_exit_curve_labels_points_that_lie_on_each_other_once():
    from repro.results.exit_curves import point_labels

    fractions = [0.1, 0.2, 0.3, 0.4, 0.5]
    # the tiny model: the first three exits at (nearly) the same place, then two apart
    xs, ys = [61.0, 61.2, 61.1, 70.0, 80.0], [0.0, 0.0, 0.0, 0.0, 50.0]
    labels = point_labels(fractions, xs, ys, x_span=19.0, y_span=100.0)
    assert labels == [("10%–30%", 61.0, 0.0), ("40%", 70.0, 0.0), ("50%", 80.0, 50.0)]
    assert point_labels([0.5], [3.0], [20.0], 0.0, 100.0) == [("50%", 3.0, 20.0)]


def test_exit_curve_rejects_agent_envs_and_suite_with_env():
    done = _repro("eval", "--env", "alfworld", "--exit-curve")
    assert done.returncode == 2 and "math env" in done.stderr and "Traceback" not in done.stderr
    done = _repro("eval", "--suite", "sgrpo", "--env", "gsm8k")
    assert done.returncode == 2 and "--suite" in done.stderr
    done = _repro("eval", "--suite", "nope")
    assert done.returncode == 2 and "unknown suite" in done.stderr
