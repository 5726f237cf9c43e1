"""GiGPO paper §5.5's step-group shares as table metrics (repro.results.step_groups) and the gigpo-groups table."""

from __future__ import annotations

import pytest

from repro.results.step_groups import SINGLETON_ROW_SHARE, our_iteration, share_metric, share_metrics, singleton_row_share
from repro.results.tables import load_paper_table


def test_a_paper_iteration_is_read_at_the_same_fraction_of_our_training():
    assert [our_iteration(p, 150) for p in (10, 75, 140)] == [10, 75, 140]
    assert [our_iteration(p, 8) for p in (10, 75, 140)] == [1, 4, 7]  # 0.53, 4.0, 7.47 rounded
    assert [our_iteration(p, 1) for p in (10, 75, 140)] == [1, 1, 1]


def test_shares_by_hand():
    # iteration 1: groups of sizes 1, 8, 8, 60 -> 1: 1/4, 6-9: 2/4, >=50: 1/4; iteration 4: sizes 3, 12;
    # iteration 7 logged no step groups: no metric for paper iteration 140
    lines = [{"iteration": 1, "step_group_size_counts": {"1": 1, "8": 2, "60": 1}},
             {"iteration": 2, "step_group_size_counts": {"2": 5}},
             {"iteration": 4, "step_group_size_counts": {"3": 1, "12": 1}},
             {"iteration": 7}]
    m = share_metrics(lines, 8)
    assert m[share_metric("1", 10)] == 0.25 and m[share_metric("6-9", 10)] == 0.5 and m[share_metric("≥50", 10)] == 0.25
    assert m[share_metric("2-5", 75)] == 0.5 and m[share_metric("10-49", 75)] == 0.5 and m[share_metric("1", 75)] == 0.0
    assert not any(k.endswith("_at140") for k in m)
    assert share_metric("≥50", 140) == "group_share_ge50_at140"


def test_singleton_row_share_is_the_mean_over_the_iterations_that_logged_step_groups():
    lines = [{"iteration": 1, "singleton_row_fraction": 0.5, "step_group_size_counts": {"1": 4, "2": 2}},
             {"iteration": 2, "singleton_row_fraction": 0.1, "step_group_size_counts": {"1": 1, "3": 3}},
             {"iteration": 3}]  # GRPO's lines have no step groups
    assert singleton_row_share(lines) == {SINGLETON_ROW_SHARE: pytest.approx(0.3)}
    assert singleton_row_share([{"iteration": 1}]) == {}


def test_the_groups_table_reads_exactly_these_metrics_and_prints_the_papers_four_shares():
    table = load_paper_table("gigpo-groups")
    lines = [{"iteration": i, "step_group_size_counts": {"1": 1}} for i in range(1, 151)]
    assert {c.metric for c in table.columns} == set(share_metrics(lines, 150))
    (paper,) = table.blocks["Qwen2.5-1.5B-Instruct"]
    printed = {k: v.mean for k, v in paper.cells.items() if v is not None}
    assert printed == {"g10-49_at10": 16.2, "gge50_at10": 5.6, "g10-49_at75": 12.1, "gge50_at75": 3.1}


@pytest.mark.parametrize("name, rows", [("gigpo-table5", 8), ("gigpo-fig4", 3), ("sgrpo-fig3", 10)])
def test_new_paper_tables_load(name, rows):
    table = load_paper_table(name)
    assert all(len(r) == rows for r in table.blocks.values())
    if name == "gigpo-table5":
        (omega_08,) = [r for r in table.blocks["Qwen2.5-1.5B-Instruct"] if r.id == "omega-0.8"]
        assert (omega_08.cells["webshop_score"].mean, omega_08.cells["webshop_succ"].mean) == (84.9, 68.3)
    else:  # plots only: no numbers printed
        assert all(v is None for rs in table.blocks.values() for r in rs for v in r.cells.values())


@pytest.mark.slow
def test_compare_lays_a_real_gigpo_run_out_as_the_groups_table(tmp_path):
    """A 2-iteration GiGPO run of the tiny model on real ALFWorld games, then `repro compare --paper
    gigpo-groups`: its shares at the paper's iterations 10 and 75 (our iteration 1) and 140 (ours 2)."""
    import subprocess
    import sys

    from repro.io import read_jsonl
    from repro.results.compare import build_comparison, load_run
    from repro.results.step_groups import bucket_fractions

    train = [sys.executable, "-m", "repro", "train", "-c", "benchmarks/gigpo/cpu/alfworld_gigpo_nostd.yaml",
             "iterations=2", "eval_every=2", "save_every=0", "validation.episodes=2", "env.max_steps=3",
             "run_name=g", f"results_dir={tmp_path}"]
    done = subprocess.run(train, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = read_jsonl(tmp_path / "g" / "metrics.jsonl")
    run = load_run(tmp_path / "g")
    for paper_iteration, ours in ((10, 1), (75, 1), (140, 2)):
        expected = bucket_fractions(lines[ours - 1]["step_group_size_counts"])
        got = [run.metrics[f"group_share_{b}_at{paper_iteration}"] for b in ("1", "2-5", "6-9", "10-49", "ge50")]
        assert got == pytest.approx(expected.tolist()) and sum(got) == pytest.approx(1.0)
    row = next(r for r in build_comparison([run], "gigpo-groups").rows if r.our_model)
    assert row.label == "GiGPO w/o std" and row.ours["g1_at140"].mean == pytest.approx(100 * run.metrics["group_share_1_at140"])
    out = subprocess.run([sys.executable, "-m", "repro", "compare", str(tmp_path / "g"), "--paper", "gigpo-groups",
                          "--out", str(tmp_path / "groups.md")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    text = (tmp_path / "groups.md").read_text()
    assert "| 10-49 @10 (ours) | 10-49 @10 (paper) |" in text and "| GiGPO, paper §5.5 (variant not stated) | – |" in text
