"""The Rich live view of a training run: where it is, and the last iterations' key numbers."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from repro.console import make_console

# (metrics key, column title, format); a missing key shows as "-"
COLUMNS = [
    ("iteration", "iter", "{}"),
    ("success_rate", "succ", "{:.2f}"),
    ("mean_return", "return", "{:.2f}"),
    ("invalid_action_rate", "invalid", "{:.2f}"),
    ("loss", "loss", "{:.4f}"),
    ("kl", "kl", "{:.1e}"),
    ("entropy", "entropy", "{:.2f}"),
    ("clip_fraction", "clip", "{:.2f}"),
    ("logprob_mismatch_max", "lpΔ", "{:.0e}"),
    ("val_success_rate", "val", "{:.2f}"),
]
TIMING = [("rollout_s", "roll s", "{:.1f}"), ("update_s", "upd s", "{:.1f}")]
SHOWN_ROWS = 8


def _cell(source: dict[str, Any], key: str, fmt: str) -> str:
    value = source.get(key)
    return "-" if value is None else fmt.format(value)


class LiveView:
    def __init__(self, cfg, name: str, start: int):
        self.total = cfg.iterations
        self.name = name
        self.status = f"resumed after iteration {start}" if start else "starting"
        self.lines: list[dict[str, Any]] = []
        self.console = make_console(stderr=True)
        self.live = Live(self._render(), console=self.console, refresh_per_second=2, transient=False)

    def _render(self) -> Group:
        table = Table(box=None, header_style="bold")
        for _, title, _ in COLUMNS + TIMING:
            table.add_column(title, justify="right")
        for line in self.lines[-SHOWN_ROWS:]:
            table.add_row(*[_cell(line, k, f) for k, _, f in COLUMNS], *[_cell(line["timing"], k, f) for k, _, f in TIMING])
        return Group(Text(f"repro train · {self.name} · {self.status}", style="bold"), table)

    def phase(self, iteration: int, phase: str) -> None:
        self.status = f"iteration {iteration}/{self.total}: {phase}"
        self.live.update(self._render())

    def record(self, line: dict[str, Any]) -> None:
        self.lines.append(line)
        self.status = f"iteration {line['iteration']}/{self.total} done"
        self.live.update(self._render())

    def __enter__(self) -> "LiveView":
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.__exit__(*exc)
        if not self.console.is_terminal:
            self.console.line()  # a non-terminal Live leaves its last line open


class QuietView:
    """What ranks other than 0 show under torchrun: nothing."""

    def phase(self, iteration: int, phase: str) -> None:
        pass

    def record(self, line: dict[str, Any]) -> None:
        pass

    def __enter__(self) -> "QuietView":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


SUMMARY_KEYS = ["success_rate", "mean_return", "mean_task_score", "invalid_action_rate", "mean_steps", "loss", "kl",
                "entropy", "clip_fraction", "logprob_mismatch_max", "val_success_rate"]


def summary_table(results: dict[str, Any], run_dir: str) -> Table:
    """What a finished ``repro train`` measured (its last iteration) and where its outputs are."""
    final = results.get("final", {})
    table = Table(title=f"repro train {results['algo']} on {results['env']}: iteration {final.get('iteration', 0)}",
                  show_header=False)
    table.add_column("", style="bold")
    table.add_column("", justify="right")
    for key in SUMMARY_KEYS:
        if key in final:
            table.add_row(key, f"{final[key]:.4g}")
    table.add_row("run directory", run_dir)
    table.add_row("checkpoint", str(results.get("checkpoint")))
    if results.get("model_dir"):
        table.add_row("model (model.path=)", results["model_dir"])
    return table
