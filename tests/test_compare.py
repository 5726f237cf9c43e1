"""repro compare: paper tables read from the data files, seeds aggregated, tables rendered from
small real runs (WebShop oracle episodes, a tiny-model math eval), CLI errors, plots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from repro.cli.main import app
from repro.errors import ReproError
from repro.results.compare import build_comparison, expand_run_dirs, load_run, mean_std, write_claim
from repro.results.reproduce import plan
from repro.results.tables import load_paper_table, parse_paper_cell, render


def _repro(*args: str, cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", "repro", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def webshop_runs(tmp_path_factory) -> Path:
    """Two seeds of the WebShop oracle on 3 goals: a real eval run pair."""
    root = tmp_path_factory.mktemp("runs")
    for seed in (0, 1):
        _repro("eval", "--env", "webshop", "--policy", "oracle", "--split", "test", "--limit", "3",
               "--run-name", f"ws-oracle-s{seed}", "--seed", str(seed), f"results_dir={root}", cwd=root)
    return root


@pytest.fixture(scope="module")
def math_run(tmp_path_factory, tiny_model_dir) -> Path:
    root = tmp_path_factory.mktemp("math")
    _repro("eval", "--env", "gsm8k", "--model", "tiny", "--limit", "2", "--run-name", "gsm-tiny",
           "sampling.max_new_tokens=16", "model.device=cpu", f"results_dir={root}", cwd=root)
    return root / "gsm-tiny"


def test_paper_cells_match_the_research_notes():
    gigpo = load_paper_table("gigpo-table1")
    small = {r.id: r for r in gigpo.blocks["Qwen2.5-1.5B-Instruct"]}
    large = {r.id: r for r in gigpo.blocks["Qwen2.5-7B-Instruct"]}
    assert small["gigpo-std"].cells["all"] == parse_paper_cell("86.7±1.7")  # gigpo.md §6.1
    assert small["gigpo-nostd"].cells["webshop_succ"].std == pytest.approx(4.5)
    assert large["ppo"].cells["pick"].mean == pytest.approx(92.3)  # gigpo.md §6.2
    assert large["prompting"].cells["webshop_score"].std is None
    sgrpo = load_paper_table("sgrpo-table1")
    r1_7b = {r.id: r for r in sgrpo.blocks["DeepSeek-R1-Distill-Qwen-7B"]}
    assert r1_7b["sgrpo"].cells["aime2024_tok"].mean == 7377  # sgrpo.md §3.1
    assert r1_7b["concise-sft"].cells["amc2023_acc"] is None  # "–" in the paper
    assert r1_7b["vanilla"].cells["overall_acc"].mean == pytest.approx(70.02)  # printed, not recomputed
    ablation = {r.id: r for r in load_paper_table("sgrpo-table2").blocks["Qwen3-8B"]}
    assert ablation["shortest-1"].cells["aime2024_acc"].mean == pytest.approx(69.6)  # sgrpo.md §3.2
    assert ablation["grpo"].cells == {r.id: r for r in sgrpo.blocks["Qwen3-8B"]}["grpo"].cells


def test_unknown_table_and_bad_cell():
    with pytest.raises(ReproError, match="did you mean 'gigpo-table1'"):
        load_paper_table("gigpo-tabel1")
    with pytest.raises(ReproError, match="not a number"):
        parse_paper_cell("n/a")


def test_mean_std_over_seeds_is_the_sample_std():
    v = mean_std([0.2, 0.4, 0.9])
    assert v.mean == pytest.approx(0.5)
    assert v.std == pytest.approx(0.36055512754639896)  # sqrt(((-.3)^2 + (-.1)^2 + .4^2) / 2)
    assert v.n == 3
    assert mean_std([0.7]).std is None


def test_table_from_real_webshop_runs(webshop_runs):
    runs = [load_run(p) for p in expand_run_dirs([webshop_runs])]
    assert sorted(r.seed for r in runs) == [0, 1]
    assert {r.row for r in runs} == {"scripted-oracle"}
    assert all(r.episodes == 3 and r.commit and r.cell_hash == runs[0].cell_hash for r in runs)
    for p in (webshop_runs / "ws-oracle-s0", webshop_runs / "ws-oracle-s1"):  # claim a paper row
        write_claim(p, "gigpo-table1", "prompting", "Qwen2.5-7B-Instruct")
    runs = [load_run(p) for p in expand_run_dirs([webshop_runs])]
    cmp = build_comparison(runs, "gigpo-table1", command="repro compare test")
    mine = [r for r in cmp.rows if r.our_model]
    assert len(mine) == 1 and mine[0].block == "Qwen2.5-7B-Instruct" and mine[0].row_id == "prompting"
    results = [json.loads((p.path / "results.json").read_text()) for p in runs]
    expected = sum(r["metrics"]["success_rate"] for r in results) / 2 * 100
    assert mine[0].ours["webshop_succ"].mean == pytest.approx(expected)
    assert mine[0].ours["webshop_succ"].n == 2
    assert mine[0].paper["webshop_succ"].mean == pytest.approx(7.8)
    assert mine[0].diff("webshop_succ") == pytest.approx(expected - 7.8)
    assert [c.id for c in cmp.columns] == ["webshop_score", "webshop_succ"]
    md = render(cmp, "md")
    assert md.splitlines()[2] == "Produced by: `repro compare test`"
    assert f"{expected:,.1f} (n=2)" in md and "| 7.8 |" in md and "CPU (" in md
    records = json.loads(render(cmp, "json"))["cells"]
    cell = next(r for r in records if r["row"] == "prompting" and r["column"] == "webshop_succ"
                and r["our_model"] == "scripted")
    assert cell["seeds"] == [0, 1] and cell["episodes"] == 3 and cell["config_hash"] == runs[0].cell_hash
    assert "prompting" in render(cmp, "csv")


def test_math_run_fills_the_sgrpo_columns(math_run):
    run = load_run(math_run)
    assert run.kind == "eval" and run.row == "vanilla" and run.episodes == 2
    results = json.loads((math_run / "results.json").read_text())
    assert results["config_sha256"] and results["elapsed_s"] > 0
    cmp = build_comparison([run], "sgrpo-table1")
    row = next(r for r in cmp.rows if r.our_model == "tiny")
    assert row.block == "DeepSeek-R1-Distill-Qwen-7B"  # no block named like the model: the first one
    assert row.ours["gsm8k_tok"].mean == pytest.approx(results["metrics"]["mean_tokens"]["value"])
    assert row.ours["gsm8k_acc"].mean == pytest.approx(100 * results["metrics"]["accuracy"]["value"])
    assert row.ours["overall_acc"] is None  # only one of the five benchmarks ran
    assert row.paper["gsm8k_acc"].mean == pytest.approx(92.4)
    with pytest.raises(ReproError, match="no column in gigpo-table1"):
        build_comparison([run], "gigpo-table1")


def test_cli_compare_writes_the_table_and_rejects_bad_input(webshop_runs, tmp_path):
    runner = CliRunner()
    out = tmp_path / "t.csv"
    result = runner.invoke(app, ["compare", str(webshop_runs), "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("table,paper_model,row")
    for args, message in ((["compare", str(webshop_runs), "--paper", "sgrpo-tabel1"], "did you mean 'sgrpo-table1'"),
                          (["compare", str(tmp_path)], "not a run directory"),
                          (["compare", str(tmp_path / "missing")], "is not a directory"),
                          (["compare", str(webshop_runs), "--format", "mdx"], "did you mean 'md'")):
        proc = subprocess.run([sys.executable, "-m", "repro", *args], capture_output=True, text=True)
        assert proc.returncode == 2
        assert proc.stderr.strip().startswith("error:") and message in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_reproduce_plan_covers_the_claimed_rows():
    runs, without = plan("cpu")
    names = {r.name for r in runs}
    for row in ("rloo", "grpo", "gigpo-std", "gigpo-nostd"):
        for env in ("alfworld", "webshop"):
            assert {f"gigpo-table1/qwen2.5-1.5b-instruct/{row}-{env}-seed{s}" for s in (0, 1, 2)} <= names
    assert all(r.estimate_s for r in runs)
    assert sum(r.estimate_s for r in runs) < 60 * 60
    assert "gigpo-table1/7b/grpo.yaml" in without
    paper_runs, _ = plan("paper")
    assert any(r.model == "Qwen2.5-7B-Instruct" and r.row == "gigpo-nostd" for r in paper_runs)
    with pytest.raises(ReproError, match="unknown scale"):
        plan("gpu")


@pytest.mark.slow
def test_plots_from_real_training_runs(tmp_path, tiny_model_dir):
    """Two seeds of a 2-iteration GiGPO run on real WebShop pages: curves and the §5.5 figure."""
    from repro.results.plots import bucket_fractions, write_plots

    config = Path(__file__).resolve().parent.parent / "benchmarks" / "gigpo" / "cpu" / "webshop_gigpo_std.yaml"
    for seed in (0, 1):
        _repro("train", "-c", str(config), "iterations=2", "eval_every=2", f"seed={seed}",
               f"run_name=g{seed}", f"results_dir={tmp_path}", cwd=tmp_path)
    runs = [load_run(p) for p in expand_run_dirs([tmp_path])]
    assert {r.kind for r in runs} == {"train"} and {r.steps for r in runs} == {2}
    assert {r.row for r in runs} == {"gigpo-std"} and len({r.cell_hash for r in runs}) == 1
    pngs = write_plots(runs, tmp_path)
    assert [p.name for p in pngs] == ["training_curves.png", "step_group_sizes.png"]
    assert all(p.stat().st_size > 10_000 for p in pngs)
    assert bucket_fractions({"1": 1, "8": 2, "60": 1}).tolist() == [0.25, 0.0, 0.5, 0.0, 0.25]
