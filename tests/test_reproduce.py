"""make reproduce-tables (repro.reproduce): the plan over benchmarks/tables/, and a real
end-to-end reproduction of two small rows (a maze RL row from a shared SFT warm start, an S-GRPO
row whose suite evaluates the model its training run exported) into tables and plots."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from repro.errors import ReproError
from repro.io import read_jsonl
from repro.results.plots import curve_value
from repro.reproduce import check_configs, execute, is_done, plan, regenerate


# The mechanism studies' planned single-run minutes (their rows' estimates plus their warm start; the
# estimates sit 1.3-1.5x above what this machine measures: single-run sums 20.6 / 51.1 / 28.3 min). Issue 15's
# budget is 90 min for all three of `make reproduce-tables` on the 2-core machine, which runs two
# single-threaded runs at once: measured 54.5 min (README, "Mechanism studies"); recorded here so that no
# study grows unnoticed.
STUDY_MINUTES = {"gigpo-efficiency": 27, "gigpo-horizon": 76, "sgrpo-earlyexit": 42}
STUDY_WARM_STARTS = {"gigpo-efficiency": "shared/wander-sft", "gigpo-horizon": "shared/horizon-sft",
                     "sgrpo-earlyexit": "shared/arith-sft"}


def test_plan_covers_the_claimed_rows():
    runs, without = plan("cpu")
    names = {r.name for r in runs}
    for row in ("ppo", "rloo", "grpo", "gigpo-std", "gigpo-nostd", "prompting"):
        for env in ("alfworld", "webshop"):
            assert {f"gigpo-table1/qwen2.5-1.5b-instruct/{row}-{env}-seed{s}" for s in (0, 1, 2)} <= names
    by_name = {r.name: r for r in runs}
    for row in ("vanilla", "grpo", "length-penalty", "sgrpo"):
        assert f"sgrpo-table1/qwen3-8b/{row}-suite-seed1" in names
    for row in ("shortest-1", "all-1"):
        suite = by_name[f"sgrpo-table2/qwen3-8b/{row}-suite-seed2"]
        assert suite.model_from == f"sgrpo-table2/qwen3-8b/{row}-gsm8k-seed2"  # the same seed's training run
    assert by_name["sgrpo-table1/qwen3-8b/sgrpo-gsm8k-seed0"].tables == ("sgrpo-table1", "sgrpo-table2")
    # the learning study starts from one shared warm start, planned before everything that needs it
    assert runs[0].name == "shared/maze-sft" and runs[0].seed is None
    assert by_name["learning-maze/tiny-format-sft/grpo-maze-seed2"].model_from == "shared/maze-sft"
    assert all(r.estimate_s for r in runs)
    # the acceptance is < 60 min on this machine kind for the paper tables' and the learning study's rows
    in_study = {r.name for r in runs if set(r.tables) & set(STUDY_MINUTES)} | set(STUDY_WARM_STARTS.values())
    assert sum(r.estimate_s for r in runs if r.name not in in_study) < 45 * 60
    # issue 15 asks <= 90 min for all the mechanism studies together, two runs at once on the 2-core machine;
    # no study may grow past its recorded figure unnoticed
    for study, minutes in STUDY_MINUTES.items():
        own = [r.estimate_s for r in runs if study in r.tables or r.name == STUDY_WARM_STARTS[study]]
        assert sum(own) <= minutes * 60, study
    assert sum(STUDY_MINUTES.values()) / 2 <= 90
    assert "gigpo-table1/7b/grpo.yaml" in without
    # S-GRPO's early-exit study draws two exit curves, each of one seed: the warm start's and a trained model's
    assert {r.name: r.model_from for r in runs if r.command == "exit_curve"} == {
        "sgrpo-earlyexit/tiny-arith-sft/sft-start-exitcurve-seed0": "shared/arith-sft",
        "sgrpo-earlyexit/tiny-arith-sft/sgrpo-exitcurve-seed0": "sgrpo-earlyexit/tiny-arith-sft/sgrpo-arith-seed0"}
    paper_runs, _ = plan("paper")
    assert any(r.model == "Qwen2.5-7B-Instruct" and r.row == "gigpo-nostd" for r in paper_runs)
    # the only paper-scale warm starts: the S-GRPO models S-GRPO Fig. 3 evaluates at every budget
    assert {r.name for r in paper_runs if r.name.startswith("shared/")} == {
        "shared/sgrpo-qwen3-8b", "shared/sgrpo-deepseek-r1-distill-qwen-7b"}
    paper_names = {r.name for r in paper_runs}
    for size in ("1.5b", "7b"):  # ReAct and Reflexion, both model sizes
        for row in ("react", "reflexion"):
            assert f"gigpo-table1/qwen2.5-{size}-instruct/{row}-alfworld-seed2" in paper_names
    assert {r.row for r in paper_runs if r.tables == ("gigpo-table5",)} == {
        f"omega-{w}" for w in ("0.0", "0.2", "0.4", "0.6", "0.8", "1.0", "1.2", "1.4")}
    assert by_name["gigpo-table1/qwen2.5-1.5b-instruct/gigpo-nostd-alfworld-seed0"].tables == (
        "gigpo-table1", "gigpo-fig4", "gigpo-groups")
    fig3 = {r.name: r for r in paper_runs if r.tables == ("sgrpo-fig3",)}
    assert len(fig3) == 2 * 2 * 5 * 2  # models x methods x budgets x (GSM8K, AIME 2024)
    assert fig3["sgrpo-fig3/qwen3-8b/sgrpo-32k-aime2024-seed0"].model_from == "shared/sgrpo-qwen3-8b"
    only, _ = plan("cpu", only="learning-maze/grpo.yaml")
    assert [r.name for r in only] == ["shared/maze-sft"] + [f"learning-maze/tiny-format-sft/grpo-maze-seed{s}"
                                                            for s in (0, 1, 2)]
    with pytest.raises(ReproError, match="unknown scale"):
        plan("gpu")
    with pytest.raises(ReproError, match="matches no row file"):
        plan("cpu", only="nothing/*")
    # several studies in one invocation (so --jobs can pack them): each glob must match, each warm start once
    studies, _ = plan("cpu", only="gigpo-efficiency/*, sgrpo-earlyexit/*")
    assert {r.tables[0] for r in studies if r.tables} == {"gigpo-efficiency", "sgrpo-earlyexit"}
    assert [r.name for r in studies if not r.tables] == ["shared/wander-sft", "shared/arith-sft"]
    with pytest.raises(ReproError, match="'nothing/\\*' matches no row file"):
        plan("cpu", only="gigpo-efficiency/*,nothing/*")


@pytest.mark.parametrize("scale", ["cpu", "paper"])
def test_every_planned_run_has_a_valid_config(scale, tmp_path):
    runs, _ = plan(scale)
    assert len(runs) > 20
    check_configs(runs, tmp_path)  # raises ReproError naming the run on any bad key or value


def _write_rows(rows_dir: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (rows_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (rows_dir / name).write_text(textwrap.dedent(text))


def test_bad_row_files_are_one_line_errors(tmp_path):
    _write_rows(tmp_path, {"t/a.yaml": """
        table: learning-maze
        row: grpo
        model: tiny
        seeds: [0]
        scales: {cpu: {runs: [{command: train, config: benchmarks/learning/maze_grpo.yaml, model_from: nowhere}]}}
        """})
    with pytest.raises(ReproError, match="model_from 'nowhere' is neither"):
        plan("cpu", tmp_path)
    _write_rows(tmp_path, {"t/a.yaml": """
        table: learning-maze
        row: grpo
        model: tiny
        seeds: [0]
        scales: {cpu: {runs: [{command: trian}]}}
        """})
    with pytest.raises(ReproError, match="command must be one of"):
        plan("cpu", tmp_path)
    _write_rows(tmp_path, {"t/a.yaml": """
        table: learning-maze
        row: scripted-random
        model: scripted
        seeds: [0]
        scales: {cpu: {runs: [{command: eval, config: benchmarks/learning/maze_eval.yaml, overrides: [limt=4]}]}}
        """})
    with pytest.raises(ReproError, match=r"^learning-maze/scripted/scripted-random-maze-seed0: .*did you mean 'limit'"):
        check_configs(plan("cpu", tmp_path)[0], tmp_path)


SCRIPTED_ROWS = {
    "study/random.yaml": """
        table: learning-maze
        row: scripted-random
        label: random actions (scripted)
        model: scripted
        seeds: [0]
        scales: {cpu: {runs: [{command: eval, config: benchmarks/learning/maze_eval.yaml, overrides: [policy=random, limit=4]}]}}
        """,
    "study/expert.yaml": """
        table: learning-maze
        row: scripted-expert
        label: follow the hint (scripted)
        model: scripted
        seeds: [0]
        scales: {cpu: {runs: [{command: eval, config: benchmarks/learning/maze_eval.yaml, overrides: [policy=expert, limit=4]}]}}
        """,
}


def test_parallel_runs_wait_for_their_source_and_skip_it_when_it_failed(tmp_path):
    """jobs=2: a warm start that fails (its model is not there) leaves both runs that start from it
    unattempted, and the independent row beside them still runs to its results."""
    from repro.console import make_console

    _write_rows(tmp_path / "rows", {
        "_shared.yaml": """
            cpu:
              broken-sft: {command: sft, config: benchmarks/learning/maze_sft.yaml, overrides: [model.path=/nonexistent]}
            """,
        "study/grpo.yaml": """
            table: learning-maze
            row: grpo
            model: tiny-format-sft
            seeds: [0, 1]
            scales: {cpu: {runs: [{command: train, config: benchmarks/learning/maze_grpo.yaml, model_from: broken-sft}]}}
            """,
        "study/random.yaml": SCRIPTED_ROWS["study/random.yaml"],
    })
    runs, _ = plan("cpu", tmp_path / "rows")
    results_dir = tmp_path / "results"
    failed = execute(make_console(), runs, results_dir, jobs=2)
    assert sorted(failed) == ["learning-maze/tiny-format-sft/grpo-maze-seed0", "learning-maze/tiny-format-sft/grpo-maze-seed1",
                              "shared/broken-sft"]
    assert not (results_dir / "learning-maze/tiny-format-sft").exists()  # never started
    assert is_done(next(r for r in runs if r.row == "scripted-random"), results_dir)
    with pytest.raises(ReproError, match="--jobs must be at least 1"):
        execute(make_console(), runs, results_dir, jobs=0)


@pytest.mark.slow
def test_small_reproduction_end_to_end(tmp_path, tiny_model_dir):
    """Real subprocess runs: a 20-step maze SFT shared by a 1-iteration GRPO row, a labelled scripted
    eval row, and a 1-iteration S-GRPO row on GSM8K whose suite evaluates the exported model and whose
    exit curve is drawn; then tables, plots, claims, resume."""
    from repro.console import make_console

    rows_dir, results_dir, tables_dir = tmp_path / "rows", tmp_path / "results", tmp_path / "tables"
    _write_rows(rows_dir, {
        "_shared.yaml": """
            cpu:
              maze-sft: {command: sft, config: benchmarks/learning/maze_sft.yaml, overrides: [steps=20, episodes=8]}
            """,
        "study/grpo.yaml": """
            table: learning-maze
            row: grpo
            model: tiny-format-sft
            seeds: [0, 1]
            scales:
              cpu:
                runs:
                  - {command: train, config: benchmarks/learning/maze_grpo.yaml, model_from: maze-sft,
                     overrides: [iterations=1, eval_every=1, tasks_per_iteration=2, group_size=2, validation.episodes=4]}
            """,
        "study/random.yaml": SCRIPTED_ROWS["study/random.yaml"],
        "sgrpo/sgrpo.yaml": """
            tables: [sgrpo-table1, sgrpo-table2]
            row: sgrpo
            model: Qwen3-8B
            seeds: [0]
            scales:
              cpu:
                runs:
                  - {id: train, command: train, config: benchmarks/sgrpo/cpu/gsm8k_sgrpo.yaml, overrides: [iterations=1, eval_every=1, validation.episodes=2]}
                  - {command: suite, model_from: train, overrides: [model.device=cpu, model.num_threads=1, limit=1, samples=1, sampling.max_new_tokens=8]}
                  - {command: exit_curve, model_from: train, seeds: [0], overrides: [env.name=gsm8k, model.device=cpu, model.num_threads=1, limit=2, sampling.max_new_tokens=8, exit_curve.answer_max_tokens=4]}
            """,
    })
    runs, _ = plan("cpu", rows_dir)
    console = make_console()
    # two at once, as on a 2-core machine: each run still waits for the run whose model it starts from
    assert execute(console, runs, results_dir, jobs=2) == []
    assert all(is_done(r, results_dir) for r in runs)

    suite = results_dir / "sgrpo-table1/qwen3-8b/sgrpo-suite-seed0"
    trained = results_dir / "sgrpo-table1/qwen3-8b/sgrpo-gsm8k-seed0" / "model"
    assert (trained / "config.json").is_file()
    for bench in ("gsm8k", "aime2024", "amc2023", "math500"):
        assert yaml.safe_load((suite / bench / "config.yaml").read_text())["model"]["path"] == str(trained)
        assert json.loads((suite / bench / "claim.json").read_text())["row"] == "sgrpo"
    # the S-GRPO curves plot the full response (what the eval measures), not the rows' mix of full and exits
    line = read_jsonl(results_dir / "sgrpo-table1/qwen3-8b/sgrpo-gsm8k-seed0/metrics.jsonl")[0]
    assert curve_value(line, "mean_tokens") == line["full_tokens_mean"] != line["response_tokens"] / line["rows"]
    assert curve_value(line, "accuracy") == line["full_accuracy"]
    sft_model = results_dir / "shared/maze-sft/model"
    grpo_run = results_dir / "learning-maze/tiny-format-sft/grpo-maze-seed1"
    assert yaml.safe_load((grpo_run / "config.yaml").read_text())["model"]["path"] == str(sft_model)

    command = "make reproduce-tables SCALE=cpu"
    written = regenerate(console, runs, results_dir, tables_dir, "cpu", command,
                         notes={"learning-maze": "What the study's numbers are."})
    names = sorted(p.name for p in written)
    assert names == ["learning-maze-cpu-training_curves.png", "learning-maze-cpu.md",
                     "sgrpo-table1-cpu-exit_curves.png", "sgrpo-table1-cpu-training_curves.png", "sgrpo-table1-cpu.md",
                     "sgrpo-table2-cpu-exit_curves.png", "sgrpo-table2-cpu-training_curves.png", "sgrpo-table2-cpu.md"]
    for table in ("learning-maze", "sgrpo-table1", "sgrpo-table2"):
        text = (tables_dir / f"{table}-cpu.md").read_text()
        assert f"Produced by: `{command}`" in text.splitlines()[2]
    study = (tables_dir / "learning-maze-cpu.md").read_text()
    assert study.splitlines()[4] == "What the study's numbers are."
    assert "What the study's" not in (tables_dir / "sgrpo-table1-cpu.md").read_text()  # one note per table
    assert "| GRPO | " in study and "(n=2)" in study
    assert "| random actions (scripted) | scripted | " in study  # the row file's label: no paper names the row
    # the exit curve is a section of the table, not a cell, and does not hide the run it draws from
    table1 = (tables_dir / "sgrpo-table1-cpu.md").read_text()
    curve = json.loads((results_dir / "sgrpo-table1/qwen3-8b/sgrpo-exitcurve-seed0/exit_curve.json").read_text())
    assert "## Early-exit curves" in table1 and "**sgrpo (seed 0)** (2 responses, test split)" in table1
    assert f"| full response | {100 * curve['full']['accuracy']:.1f} | {curve['full']['mean_tokens']:.1f} | – |" in table1
    table2 = (tables_dir / "sgrpo-table2-cpu.md").read_text()
    ours = [line for line in table2.splitlines() if line.startswith("| S-GRPO | ") and "(n=1)" in line]
    assert len(ours) == 1 and ours[0].split(" | ")[1] == "tiny after sgrpo"  # the suite of the exported model
    provenance = [line.split(" | ") for line in table2.splitlines() if line.startswith("| S-GRPO | ") and "CPU" in line]
    assert sorted(p[1] for p in provenance) == ["aime2024", "amc2023", "gsm8k", "math500"]
    assert {p[3] for p in provenance} == {"1"}  # steps: the training run's iterations behind the model

    # a second invocation runs nothing: every log stays as it was
    logs = {p: p.stat().st_mtime_ns for p in results_dir.rglob("*.log")}
    assert execute(console, runs, results_dir) == []
    assert {p: p.stat().st_mtime_ns for p in results_dir.rglob("*.log")} == logs


def _lines_of(text: str, label: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f"| {label} |")]


def test_a_partial_reproduction_merges_into_the_tables_and_keeps_the_other_rows(tmp_path):
    """`make reproduce-tables ONLY=...` on a fresh clone (the committed tables, none of their runs):
    the rows it ran are replaced, the others keep their cells and provenance; a table without a
    record of its runs is left alone rather than cut down to the rows that ran."""
    from repro.console import make_console

    console = make_console()
    rows_dir, tables_dir = tmp_path / "rows", tmp_path / "tables"
    _write_rows(rows_dir, SCRIPTED_ROWS)
    everything, _ = plan("cpu", rows_dir)
    first = tmp_path / "first"
    assert execute(console, everything, first) == []
    regenerate(console, everything, first, tables_dir, "cpu", "make reproduce-tables SCALE=cpu")
    table = tables_dir / "learning-maze-cpu.md"
    before = table.read_text()
    assert len(_lines_of(before, "follow the hint (scripted)")) == 2  # its cell and its provenance
    assert (tables_dir / "learning-maze-cpu.runs.json").is_file()

    # a fresh clone runs one row only: that row is replaced, the other kept as it was
    clone = tmp_path / "clone"
    only, _ = plan("cpu", rows_dir, only="study/random*")
    assert execute(console, only, clone) == []
    regenerate(console, everything, clone, tables_dir, "cpu", "make reproduce-tables SCALE=cpu",
               tables={"learning-maze"})
    after = table.read_text()
    assert _lines_of(after, "follow the hint (scripted)") == _lines_of(before, "follow the hint (scripted)")
    assert len(_lines_of(after, "random actions (scripted)")) == 2
    record = json.loads((tables_dir / "learning-maze-cpu.runs.json").read_text())["runs"]
    random_run, expert_run = "learning-maze/scripted/scripted-random-maze-seed0", "learning-maze/scripted/scripted-expert-maze-seed0"
    assert sorted(record) == [expert_run, random_run]
    sha = {name: json.loads((root / name / "results.json").read_text())["provenance"]["config_sha256"]
           for root, name in ((clone, random_run), (first, expert_run))}
    assert {name: record[name]["config_sha256"] for name in record} == sha  # the new random run, the old expert run

    # without the record a partial run cannot know the other rows' cells: the table stays as it is
    (tables_dir / "learning-maze-cpu.runs.json").unlink()
    again = tmp_path / "again"
    assert execute(console, only, again) == []
    regenerate(console, everything, again, tables_dir, "cpu", "make reproduce-tables SCALE=cpu",
               tables={"learning-maze"})
    assert table.read_text() == after


def test_make_clean_leaves_the_committed_tables(tmp_path):
    import shutil
    import subprocess

    shutil.copy(Path(__file__).resolve().parents[1] / "Makefile", tmp_path / "Makefile")
    for path in ("results/tables/t-cpu.md", "results/tables/t-cpu.runs.json", "results/run/results.json",
                 "results/reproduce/cpu/x.log", ".venv/bin/repro"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    done = subprocess.run(["make", "clean"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    kept = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert kept == ["Makefile", "results/tables/t-cpu.md", "results/tables/t-cpu.runs.json"]


# the row files of issue 20 that have a cpu scale (GiGPO Table 1's ReAct/Reflexion, the maze ω sweep and
# ablation, S-GRPO Fig. 3's budget sweep), shrunk to a smoke: first seed, one task, one iteration
ISSUE_20_ROWS = ("gigpo-table1/1.5b/react.yaml", "gigpo-table1/1.5b/reflexion.yaml", "gigpo-table5-maze/*",
                 "gigpo-fig4-maze/*", "sgrpo-fig3/cpu/*")
SMOKE = {"maze-sft": ["steps=20", "episodes=8"],
         "maze": ["iterations=1", "eval_every=1", "tasks_per_iteration=2", "group_size=2", "validation.episodes=4"],
         "agent": ["limit=1", "env.max_steps=2", "sampling.max_new_tokens=8"],
         "math": ["limit=1", "samples=1"]}


def _smoke(run):
    import dataclasses

    if run.name.startswith("shared/"):
        kind = "maze-sft"
    elif run.command == "train":
        kind = "maze"
    else:
        kind = "math" if run.tables == ("sgrpo-fig3",) else "agent"
    return dataclasses.replace(run, overrides=run.overrides + tuple(SMOKE[kind]))


@pytest.mark.slow
def test_the_new_rows_run_at_cpu_scale_into_their_tables(tmp_path):
    from repro.console import make_console

    runs: dict[str, object] = {}
    for pattern in ISSUE_20_ROWS:
        for r in plan("cpu", only=pattern)[0]:
            if r.seed in (None, 0):
                runs.setdefault(r.name, _smoke(r))
    runs = list(runs.values())
    assert {r.tables[0] for r in runs if r.tables} == {"gigpo-table1", "gigpo-table5-maze", "gigpo-fig4-maze", "sgrpo-fig3"}
    results_dir, tables_dir = tmp_path / "results", tmp_path / "tables"
    console = make_console()
    assert execute(console, runs, results_dir, jobs=2) == []
    regenerate(console, runs, results_dir, tables_dir, "cpu", "make reproduce-tables SCALE=cpu")

    table1 = (tables_dir / "gigpo-table1-cpu.md").read_text()
    for label in ("ReAct", "Reflexion"):
        (row,) = [line for line in table1.splitlines() if line.startswith(f"| {label} | tiny |")]
        assert "(n=1)" in row  # ours beside the paper's printed value
    samples = read_jsonl(results_dir / "gigpo-table1/qwen2.5-1.5b-instruct/reflexion-webshop-seed0/samples.jsonl")
    assert [t["trial"] for t in samples[0]["trace"] if t["turn"] == "reflection"] == [0, 1]  # 3 trials, none won
    sweep = (tables_dir / "gigpo-table5-maze-cpu.md").read_text()
    sft = str(results_dir / "shared/maze-sft/model")
    assert all(f"| {label} | {sft} | " in sweep for label in ("ω = 0.0 (A^E only)", "ω = 0.4", "ω = 1.4"))
    ablation = (tables_dir / "gigpo-fig4-maze-cpu.md").read_text()
    assert all(f"| {label} |" in ablation for label in ("ω = 1.0 (A^E + A^S)", "w/o A^E (A^S only)"))
    step_only = yaml.safe_load((results_dir / "gigpo-fig4-maze/tiny-format-sft/step-only-maze-seed0/config.yaml").read_text())
    assert step_only["advantage"]["components"] == "step"
    fig3 = (tables_dir / "sgrpo-fig3-cpu.md").read_text()
    assert "## Rows of the paper's Qwen3-8B block" in fig3
    for tokens in (16, 32, 64):
        (row,) = [line for line in fig3.splitlines() if line.startswith(f"| Vanilla, {tokens}-token budget (tiny model) | tiny |")]
        assert row.count("| 0.0 (n=1) |") == 2  # GSM8K and AIME 2024: a random model never answers correctly


def test_repro_validate_checks_a_row_file_at_each_of_its_scales(tmp_path):
    import subprocess
    import sys

    from repro.reproduce import ROWS_DIR, validate_row_file

    # every row's configs are checked by test_every_planned_run_has_a_valid_config; here the per-file entry point
    assert validate_row_file(ROWS_DIR / "sgrpo-fig3/qwen3-8b/sgrpo-2k.yaml") == {"paper": 3}  # 2 evals + the shared S-GRPO model
    assert validate_row_file(ROWS_DIR / "gigpo-table1/1.5b/reflexion.yaml") == {"paper": 6, "cpu": 6}
    _write_rows(tmp_path, {"t/bad.yaml": """
        table: gigpo-table5
        row: omega-0.2
        model: Qwen2.5-1.5B-Instruct
        seeds: [0]
        scales: {paper: {runs: [{command: train, config: benchmarks/gigpo/webshop_gigpo_nostd.yaml, overrides: [advantage.omga=0.2]}]}}
        """})
    out = subprocess.run([sys.executable, "-m", "repro", "validate", str(tmp_path / "t/bad.yaml")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "did you mean 'advantage.omega'" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run([sys.executable, "-m", "repro", "validate", str(ROWS_DIR / "gigpo-fig4-maze/step-only.yaml")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "is a valid table row file (cpu: 2 runs)" in out.stderr
