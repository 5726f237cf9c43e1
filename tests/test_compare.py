"""repro compare: paper tables read from the data files, seeds aggregated, tables rendered from
small real runs (WebShop oracle episodes, a tiny-model math eval, a tiny S-GRPO suite, short maze
training runs from a small format SFT), CLI errors, plot labels and bands."""

from __future__ import annotations

import dataclasses
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from repro.cli.main import app
from repro.errors import ReproError
from repro.io import read_jsonl
from repro.results.compare import (HEADLINE_METRICS, build_comparison, default_table, expand_run_dirs, load_run,
                                   mean_std, write_claim)
from repro.results.tables import load_paper_table, parse_paper_cell, render

LEARNING = Path(__file__).resolve().parent.parent / "benchmarks" / "learning"
MAZE_ALGOS = ("gigpo", "grpo")


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


@pytest.fixture(scope="module")
def maze_runs(tmp_path_factory) -> Path:
    """Two seeds each of GiGPO and GRPO on the 3x3 maze: 2 iterations from a 150-step format SFT of the
    tiny model (benchmarks/learning, shrunk), validated after each iteration on 32 episodes at T = 1
    (at the study's T = 0.4 this barely trained model rarely succeeds, and equal seeds test no std)."""
    import torch

    from repro.trainer.config import build_train_config
    from repro.trainer.run import run_train
    from repro.trainer.sft import build_sft_config, run_sft

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("maze")
    sft = build_sft_config(None, LEARNING / "maze_sft.yaml",
                           [f"results_dir={root / 'sft'}", "run_name=sft", "steps=150", "episodes=128"])
    model = run_sft(sft, show_progress=False) / "model"
    for algo in MAZE_ALGOS:
        for seed in (0, 1):
            run_train(build_train_config(algo, None, LEARNING / f"maze_{algo}.yaml", [
                f"model.path={model}", f"results_dir={root / 'runs'}", f"run_name=maze-{algo}-s{seed}", f"seed={seed}",
                "iterations=2", "eval_every=1", "validation.episodes=32", "validation.sampling.temperature=1.0",
                "tasks_per_iteration=4", "group_size=2"]), fresh=True)
    return root / "runs"


@pytest.fixture(scope="module")
def sgrpo_suite(tmp_path_factory, tiny_model_dir) -> Path:
    """`repro eval --suite sgrpo` of the tiny model on 2 problems per benchmark (GPQA-D data is not shipped)."""
    root = tmp_path_factory.mktemp("suite")
    _repro("eval", "--suite", "sgrpo", "--model", "tiny", "--limit", "2", "--samples", "1", "--run-name", "s0",
           "model.num_threads=1", "sampling.max_new_tokens=8", f"results_dir={root}", cwd=root)
    return root / "s0"


def test_paper_cells_match_the_research_notes():
    gigpo = load_paper_table("gigpo-table1")
    small = {r.id: r for r in gigpo.blocks["Qwen2.5-1.5B-Instruct"]}
    large = {r.id: r for r in gigpo.blocks["Qwen2.5-7B-Instruct"]}
    assert small["gigpo-std"].cells["all"] == parse_paper_cell("86.7±1.7")  # docs/gigpo.md §6.1
    assert small["gigpo-nostd"].cells["webshop_succ"].std == pytest.approx(4.5)
    assert large["ppo"].cells["pick"].mean == pytest.approx(92.3)  # docs/gigpo.md §6.2
    assert large["prompting"].cells["webshop_score"].std is None
    sgrpo = load_paper_table("sgrpo-table1")
    r1_7b = {r.id: r for r in sgrpo.blocks["DeepSeek-R1-Distill-Qwen-7B"]}
    assert r1_7b["sgrpo"].cells["aime2024_tok"].mean == 7377  # docs/sgrpo.md §3.1
    assert r1_7b["concise-sft"].cells["amc2023_acc"] is None  # "–" in the paper
    assert r1_7b["vanilla"].cells["overall_acc"].mean == pytest.approx(70.02)  # printed, not recomputed
    ablation = {r.id: r for r in load_paper_table("sgrpo-table2").blocks["Qwen3-8B"]}
    assert ablation["shortest-1"].cells["aime2024_acc"].mean == pytest.approx(69.6)  # docs/sgrpo.md §3.2
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
    expected = sum(r["metrics"]["success_rate"]["value"] for r in results) / 2 * 100
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
    # the hash a table shows is each seed's results.json config_sha256, and it says so
    shas = [r["provenance"]["config_sha256"] for r in sorted(results, key=lambda r: r["seeds"]["seed"])]
    assert cell["config_sha256"] == shas
    assert "results.json config_sha256 (per seed)" in md and f"{shas[0][:8]} {shas[1][:8]}" in md
    assert "prompting" in render(cmp, "csv")


def test_math_run_fills_the_sgrpo_columns(math_run):
    run = load_run(math_run)
    assert run.kind == "eval" and run.row == "vanilla" and run.episodes == 2
    results = json.loads((math_run / "results.json").read_text())
    assert results["provenance"]["config_sha256"] and results["provenance"]["elapsed_s"] > 0
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


@pytest.mark.slow
def test_plots_from_real_training_runs(tmp_path, tiny_model_dir):
    """Two seeds of a 2-iteration GiGPO run on real WebShop pages: curves and the paper's §5.5 figure."""
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


def test_ours_only_table_from_real_maze_training_runs(maze_runs):
    runs = [load_run(p) for p in expand_run_dirs([maze_runs])]
    assert default_table(runs) == "none"  # maze is in no paper table
    with pytest.raises(ReproError, match="--paper none tabulates our runs alone"):
        build_comparison(runs, "gigpo-table1")
    cmp = build_comparison(runs, "none", command="repro compare maze")
    assert not cmp.table.has_paper and [c.id for c in cmp.columns] == ["maze_success_rate", "maze_mean_steps"]
    assert [r.label for r in cmp.rows] == ["GiGPO w/o std", "GRPO"]  # the papers' labels of gigpo-nostd, grpo
    for algo, row in zip(MAZE_ALGOS, cmp.rows):
        last_val = [[line for line in read_jsonl(maze_runs / f"maze-{algo}-s{seed}" / "metrics.jsonl")
                     if "val_success_rate" in line][-1] for seed in (0, 1)]
        assert {line["iteration"] for line in last_val} == {2}
        rates = [100 * line["val_success_rate"] for line in last_val]
        assert sum(rates) > 0  # a table of zeros would test nothing
        value = row.ours["maze_success_rate"]
        assert value.mean == pytest.approx(statistics.fmean(rates)) and value.n == 2
        assert value.std == pytest.approx(statistics.stdev(rates))
        steps = [line["val_mean_steps"] for line in last_val]  # the efficiency study's headline (issue 15)
        assert row.ours["maze_mean_steps"].mean == pytest.approx(statistics.fmean(steps))
        assert row.paper == {} and row.provenance[0]["steps"] == "2" and row.provenance[0]["seeds"] == [0, 1]
    md = render(cmp, "md")
    assert md.startswith("# Our runs without a paper table: maze") and "## Provenance" in md
    assert "| method | our model | maze success (%) | maze mean steps |\n|---|---|---|---|\n" in md  # no paper or Δ column
    assert f"{cmp.rows[1].ours['maze_success_rate'].text(1)} |" in md
    records = json.loads(render(cmp, "json"))["cells"]
    assert len(records) == 4 and all("paper_mean" not in r and "diff" not in r for r in records)
    assert render(cmp, "csv").splitlines()[0].startswith("table,row,method,column,our_model,ours_mean,ours_std,")


def test_cli_compare_of_maze_runs_defaults_to_ours_only_and_plots(maze_runs):
    result = CliRunner().invoke(app, ["compare", str(maze_runs), "--plots"])
    assert result.exit_code == 0, result.output
    assert (maze_runs / "compare-ours.md").read_text().startswith("# Our runs without a paper table")
    assert "GiGPO w/o std" in result.output and "Δ" not in result.output  # no paper, no paper or Δ column
    assert (maze_runs / "compare-ours-training_curves.png").stat().st_size > 10_000
    assert (maze_runs / "compare-ours-step_group_sizes.png").stat().st_size > 10_000


def test_plots_go_beside_out_one_set_per_compare(maze_runs, tmp_path):
    for name in ("a", "b"):
        result = CliRunner().invoke(app, ["compare", str(maze_runs), "--plots", "--out", str(tmp_path / name / "t.md")])
        assert result.exit_code == 0, result.output
    for name in ("a", "b"):
        assert sorted(p.name for p in (tmp_path / name).iterdir()) == [
            "t-step_group_sizes.png", "t-training_curves.png", "t.md"]
    assert not list(maze_runs.parent.glob("*.png")) and not (Path("results") / "training_curves.png").exists()


def test_training_curves_show_the_validation_points(maze_runs):
    from repro.results.plots import training_curves

    runs = [load_run(p) for p in expand_run_dirs([maze_runs])]
    (success, curves), *_ = training_curves(runs)
    assert success.metric == "success_rate" and [c.label for c in curves] == ["GRPO · maze", "GiGPO w/o std · maze"]
    for curve in curves:
        algo = "grpo" if curve.label.startswith("GRPO") else "gigpo"
        rates = [[line["val_success_rate"] for line in read_jsonl(maze_runs / f"maze-{algo}-s{seed}" / "metrics.jsonl")]
                 for seed in (0, 1)]
        x, mean, std = curve.validation
        assert x.tolist() == [1, 2] and mean.tolist() == pytest.approx(np.mean(rates, axis=0).tolist())
        assert std.tolist() == pytest.approx(np.std(rates, axis=0, ddof=1).tolist())


def test_compare_skips_unusable_runs_with_one_warning_each(webshop_runs, maze_runs, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(webshop_runs / "ws-oracle-s0", root / "ws")
    unfinished = root / "unfinished"  # a training run still going: config and metrics, no results.json
    unfinished.mkdir()
    shutil.copy(maze_runs / "maze-grpo-s0" / "config.yaml", unfinished / "config.yaml")
    shutil.copy(maze_runs / "maze-grpo-s0" / "metrics.jsonl", unfinished / "metrics.jsonl")
    old = root / "old"
    shutil.copytree(webshop_runs / "ws-oracle-s1", old)
    (old / "results.json").write_text(json.dumps({"schema_version": 1, "metrics": {"success_rate": 1.0}}))
    proc = subprocess.run([sys.executable, "-m", "repro", "compare", str(root), "--paper", "gigpo-table1",
                           "--out", str(tmp_path / "t.md")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    warnings = proc.stderr.strip().splitlines()
    assert len(warnings) == 2 and all(w.startswith("warning: skipped: ") for w in warnings)
    assert any("unfinished" in w and "no results.json" in w for w in warnings)
    assert any("schema_version 1" in w for w in warnings)
    assert "(n=1)" in (tmp_path / "t.md").read_text()


def test_paper_model_chooses_the_block_and_the_terminal_table_has_separate_columns(webshop_runs):
    from rich.console import Console

    from repro.results.tables import rich_tables

    runs = [load_run(p) for p in expand_run_dirs([webshop_runs])]
    cmp = build_comparison(runs, "gigpo-table1", paper_model="Qwen2.5-1.5B-Instruct")
    assert {r.block for r in cmp.rows if r.our_model} == {"Qwen2.5-1.5B-Instruct"}
    with pytest.raises(ReproError, match="did you mean 'Qwen2.5-7B-Instruct'"):
        build_comparison(runs, "gigpo-table1", paper_model="Qwen2.5-7b-Instruct")
    console = Console(width=80, record=True)
    for table in rich_tables(cmp)[:1]:
        console.print(table)
    text = console.export_text()
    assert "…" not in text and all(len(line) <= 80 for line in text.splitlines())
    header = next(line for line in text.splitlines() if "ours" in line)
    assert header.index("ours") < header.index("paper") < header.index("Δ")
    row = next(r for r in cmp.rows if r.our_model)
    line = next(line for line in text.splitlines() if "WebShop Succ." in line)
    cells = [c.strip() for c in line.split("│") if c.strip()]
    # ours, the paper's value and the difference on one line, each in its own column
    assert cells[-3:] == [row.ours["webshop_succ"].text(1), f"{row.paper['webshop_succ'].mean:.1f}",
                          f"{row.diff('webshop_succ'):+,.1f}"]


def test_schema_versions_are_written_and_checked(maze_runs, webshop_runs, tmp_path):
    train_run = tmp_path / "train"
    shutil.copytree(maze_runs / "maze-grpo-s0", train_run)
    lines = read_jsonl(train_run / "metrics.jsonl")
    assert lines and all(line["schema_version"] == 1 for line in lines)
    assert json.loads((train_run / "results.json").read_text())["schema_version"] == 2
    load_run(train_run)
    lines[-1]["schema_version"] = 2
    (train_run / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(ReproError, match=r"metrics.jsonl has schema_version 2; this repro reads \[1\]"):
        load_run(train_run)

    eval_run = tmp_path / "eval"
    shutil.copytree(webshop_runs / "ws-oracle-s0", eval_run)
    results = json.loads((eval_run / "results.json").read_text())
    assert results["schema_version"] == 2
    (eval_run / "results.json").write_text(json.dumps(results | {"schema_version": 7}))
    with pytest.raises(ReproError, match=r"results.json has schema_version 7; this repro reads \[2\]"):
        load_run(eval_run)


def test_every_run_kind_writes_the_one_results_schema(maze_runs, webshop_runs, math_run):
    """train, agent eval and math eval: the same typed fields, metrics as {value, stderr}."""
    from repro.results.schema import read_results

    for path in (maze_runs / "maze-gigpo-s0", webshop_runs / "ws-oracle-s0", math_run):
        results = read_results(path)
        assert results.kind in ("train", "eval") and results.env and results.metrics
        assert all(isinstance(m.value, float) for m in results.metrics.values())
        assert results.provenance.git_commit and results.provenance.config_sha256 and results.provenance.hardware
        assert results.counts.get("episodes") or results.counts.get("responses")
        assert results.seeds["seed"] in (0, 1)
    trained = read_results(maze_runs / "maze-gigpo-s0")
    val = read_jsonl(maze_runs / "maze-gigpo-s0" / "metrics.jsonl")[-1]
    assert trained.metrics["success_rate"].value == val["val_success_rate"]
    assert trained.metrics["success_rate"].stderr == pytest.approx(val["val_stderr"]["success_rate"])
    assert trained.model.sha256 and trained.sampling["temperature"] == 1.0 and trained.counts["episodes"] == 32
    assert read_results(math_run).model.sha256 and read_results(math_run).metrics["accuracy"].stderr is not None
    assert read_results(webshop_runs / "ws-oracle-s0").model.path is None  # a scripted policy has no weights


def test_results_name_the_unit_of_their_metrics(maze_runs, webshop_runs, math_run, tmp_path):
    """compare and the training summary read ``unit`` (how many episodes or responses stand behind a
    number, and whether a run is a math run); a file written before the field gets it from its counts."""
    from repro.results.schema import read_results

    trained, math = read_results(maze_runs / "maze-gigpo-s0"), read_results(math_run)
    assert (trained.unit, trained.units) == ("episodes", 32) and load_run(maze_runs / "maze-gigpo-s0").episodes == 32
    assert math.unit == "responses" and math.units == math.counts["responses"] > 0
    older = tmp_path / "older"
    shutil.copytree(webshop_runs / "ws-oracle-s0", older)
    body = json.loads((older / "results.json").read_text())
    assert body.pop("unit") == "episodes"
    (older / "results.json").write_text(json.dumps(body))
    assert read_results(older).unit == "episodes" and load_run(older).episodes == body["counts"]["episodes"]
    body["counts"].pop("episodes")
    (older / "results.json").write_text(json.dumps(body))
    with pytest.raises(ReproError, match="does not name the unit of its metrics"):
        read_results(older)
