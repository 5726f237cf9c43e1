"""Math evaluation: sample ``samples`` responses per problem, check the boxed answers, report
accuracy (pass@1 averaged over samples) and mean generated tokens (docs/sgrpo.md §2.10)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from repro.console import make_console
from repro.envs import ENVS
from repro.envs.math import MathProblem, MathTask
from repro.seeding import derive_seed
from repro.envs.verify import VERDICTS, Check, VerifierPool, count_verdicts
from repro.errors import ReproError
from repro.eval.config import EvalConfig
from repro.policy import load_policy
from repro.progress import Counter
from repro.results.run_dir import RunDir, default_run_name
from repro.results.schema import RESPONSES, Metric, ModelInfo, Results, model_info
from repro.results.stats import mean_and_stderr


def batch_seed(run_seed: int, sampling_seed: int, batch_index: int) -> int:
    """Each generate() call gets its own seed, so a batch's samples do not depend on how many
    batches ran before it in this process."""
    return derive_seed(run_seed, sampling_seed, batch_index)


def per_problem_metrics(problems: list[MathProblem], rows: list[dict[str, Any]]) -> dict[str, Metric]:
    """accuracy and mean_tokens averaged within each problem first, so the standard error is over
    problems (the samples of one problem are not independent draws of the benchmark)."""
    by_problem: dict[str, list[dict[str, Any]]] = {p.id: [] for p in problems}
    for row in rows:
        by_problem[row["problem_id"]].append(row)
    accuracy = [float(np.mean([r["verdict"] == "correct" for r in rs])) for rs in by_problem.values()]
    tokens = [float(np.mean([r["generated_tokens"] for r in rs])) for rs in by_problem.values()]
    out = {}
    for name, values in (("accuracy", accuracy), ("mean_tokens", tokens)):
        mean, stderr = mean_and_stderr(values)
        out[name] = Metric(mean, stderr if len(values) > 1 else None)
    return out


def model_provenance(policy: Any, cfg: EvalConfig) -> ModelInfo:
    return model_info(cfg.model.path, getattr(policy, "model_dir", None), cfg.model.backend)


def sample_all(policy: Any, prompts: list[list[int]], cfg: EvalConfig, console: Any) -> list[Any]:
    batch = cfg.model.batch_size
    generations = []
    with Counter(f"sampling {cfg.env.name}", len(prompts), "responses", console) as counter:
        for b, start in enumerate(range(0, len(prompts), batch)):
            sampling = dataclasses.replace(cfg.sampling, seed=batch_seed(cfg.seed, cfg.sampling.seed, b))
            generations += policy.sample(prompts[start:start + batch], sampling)
            tokens = sum(len(g.response_ids) for g in generations)
            counter.advance(len(prompts[start:start + batch]), note=f"{tokens:,} tokens")
    return generations


def verify_all(pool: Any, checks: list[Check], console: Any) -> list[Any]:
    with Counter("verifying", len(checks), "answers", console) as counter:
        return pool.check_all(checks, on_verdict=lambda i, v: counter.advance())


def _print_table(console: Any, cfg: EvalConfig, n_problems: int, metrics: dict, counts: dict) -> None:
    from rich.table import Table

    table = Table(title=f"{cfg.env.name} ({n_problems} problems x {cfg.samples} samples)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("± stderr", justify="right")
    acc, tok = metrics["accuracy"], metrics["mean_tokens"]
    table.add_row("accuracy (pass@1)", f"{100 * acc.value:.2f}%", "-" if acc.stderr is None else f"{100 * acc.stderr:.2f}")
    table.add_row("mean tokens", f"{tok.value:.1f}", "-" if tok.stderr is None else f"{tok.stderr:.1f}")
    for status in VERDICTS:
        table.add_row(status, str(counts[status]), "")
    table.add_row("truncated (hit max_new_tokens)", str(counts["truncated"]), "")
    console.print(table)


def prepare_math_run(cfg: EvalConfig, policy: Any, kind: str) -> tuple[MathTask, list, Any, RunDir, dict]:
    """The start every math driver shares: task, its problems (split/limit), the policy (loaded
    unless given), the run directory, and each problem's chat-prompt ids."""
    if cfg.policy != "model":
        raise ReproError(f"math envs are evaluated with --policy model only, got '{cfg.policy}'")
    task: MathTask = ENVS.get(cfg.env.name)(cfg.env, cfg.data_dir)
    problems = task.problems(cfg.split or cfg.env.split)[: cfg.limit]
    policy = policy or load_policy(cfg.model)
    run = RunDir.create(cfg.results_dir, cfg.run_name or default_run_name(kind, cfg.env.name), cfg)
    prompt_ids = {p.id: policy.chat_prompt(task.messages(p)) for p in problems}
    return task, problems, policy, run, prompt_ids


def run_math_eval(cfg: EvalConfig, policy: Any = None) -> Path:
    """``policy``: an already loaded policy for ``cfg.model`` (the sgrpo suite loads it once)."""
    console = make_console()
    start = time.perf_counter()
    task, problems, policy, run, prompt_ids = prepare_math_run(cfg, policy, "eval")
    split = cfg.split or cfg.env.split

    # Sample-major within a problem: its samples share a prompt length, so batches pad little.
    requests = [p for p in problems for _ in range(cfg.samples)]
    generations = sample_all(policy, [prompt_ids[p.id] for p in requests], cfg, console)
    sampling_s = time.perf_counter() - start

    checks = [Check(p.gold, g.text, p.answer_type) for p, g in zip(requests, generations)]
    with VerifierPool(cfg.env.verify_workers or None, cfg.env.verify_timeout_s) as pool:
        verdicts = verify_all(pool, checks, console)

    prompt_text = {pid: policy.tokenizer.decode(ids, skip_special_tokens=False) for pid, ids in prompt_ids.items()}
    sample_index: dict[str, int] = {}
    rows = []
    for p, g, v in zip(requests, generations, verdicts):
        k = sample_index[p.id] = sample_index.get(p.id, -1) + 1
        rows.append({
            "problem_id": p.id, "sample": k, "prompt": prompt_text[p.id], "response": g.text,
            "gold": p.gold, "extracted_answer": v.extracted, "verdict": v.status,
            "verdict_message": v.message, "generated_tokens": len(g.response_ids),
            "finish_reason": g.finish_reason,
        })
    metrics = per_problem_metrics(problems, rows)
    counts = {**count_verdicts(verdicts), "truncated": sum(g.finish_reason == "length" for g in generations)}
    run.write_samples(rows)
    results_path = run.write_results(Results(
        kind="eval", env=cfg.env.name, policy=cfg.policy, split=split, metrics=metrics,
        model=model_provenance(policy, cfg), sampling=dataclasses.asdict(cfg.sampling),
        seeds={"seed": cfg.seed, "sampling.seed": cfg.sampling.seed,
               "derivation": "each generate() batch: SeedSequence([seed, sampling.seed, batch_index])"},
        unit=RESPONSES, counts={"problems": len(problems), "samples_per_problem": cfg.samples, "responses": len(rows), **counts},
        details={"verifier": {"extraction": "last \\boxed{} only (math-verify 0.9.0)",
                              "timeout_s": cfg.env.verify_timeout_s, "workers": pool.n_workers,
                              "workers_replaced": pool.replaced},
                 "wall_time_s": {"sampling": round(sampling_s, 3), "total": round(time.perf_counter() - start, 3)}},
    ))
    _print_table(console, cfg, len(problems), metrics, counts)
    console.print(f"results: {results_path}")
    return results_path
