"""What a training run shows while it runs and when it ends.

* On a terminal (:class:`LiveView`): a Rich live display with the current phase, progress inside the
  iteration (episodes finished, env steps, generated tokens/s), the overall ETA and the last
  iterations; when the run ends, the full history as a plain table.
* Anywhere else (:class:`LogView`: a file, nohup, Slurm, tee): one flushed line per iteration, an
  estimate after the first, a heartbeat line at most :func:`repro.progress.heartbeat_s` apart, and
  the full history table at the end. Never a live view.

Columns depend on the run kind (:func:`columns_for`: agent runs show success / return / invalid
actions, math runs accuracy / tokens / exits); every column fits 80 characters, and a metric the run
does not compute (KL without a reference, entropy without a bonus, validation between validations)
shows as "-", never as 0.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from repro.console import make_console
from repro.progress import Heartbeat, duration, interactive, log_line


@dataclass(frozen=True)
class Col:
    key: str  # metrics-line key ("timing.x" reads line["timing"]["x"])
    title: str
    fmt: str
    width: int


AGENT_COLUMNS = (
    Col("iteration", "iter", "{:d}", 4), Col("success_rate", "succ", "{:.2f}", 5), Col("mean_return", "return", "{:.2f}", 6),
    Col("invalid_action_rate", "inval", "{:.2f}", 5), Col("loss", "loss", "{:+.4f}", 8), Col("kl", "kl", "{:.1e}", 7),
    Col("entropy", "ent", "{:.2f}", 5), Col("clip_fraction", "clip", "{:.2f}", 4),
    Col("logprob_mismatch_max", "lpΔ", "{:.0e}", 5), Col("val_success_rate", "val", "{:.2f}", 5),
    Col("seconds", "s/it", "{:.1f}", 6),
)
MATH_COLUMNS = (
    Col("iteration", "iter", "{:d}", 4), Col("full_accuracy", "acc", "{:.2f}", 5), Col("full_tokens_mean", "tokens", "{:.0f}", 6),
    Col("exit_accuracy", "exit", "{:.2f}", 5), Col("kept_fraction", "kept", "{:.2f}", 5), Col("loss", "loss", "{:+.4f}", 8),
    Col("clip_fraction", "clip", "{:.2f}", 4), Col("logprob_mismatch_max", "lpΔ", "{:.0e}", 5),
    Col("val_accuracy", "val acc", "{:.2f}", 7), Col("val_mean_tokens", "val tok", "{:.0f}", 7),
    Col("seconds", "s/it", "{:.1f}", 6),
)
ITERATION_SECONDS = ("rollout_s", "advantage_s", "update_s", "validation_s")  # generate/env/verify lie inside rollout
SHOWN_ROWS = 8  # iterations the live display keeps on screen (the end prints them all)


def columns_for(cfg: Any) -> tuple[Col, ...]:
    return MATH_COLUMNS if cfg.math is not None else AGENT_COLUMNS


def iteration_seconds(line: dict[str, Any]) -> float:
    timing = line.get("timing", {})
    return sum(timing.get(k, 0.0) for k in ITERATION_SECONDS)


def cell(line: dict[str, Any], col: Col) -> str:
    value = iteration_seconds(line) if col.key == "seconds" else line.get(col.key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return col.fmt.format(value)


def header(cols: tuple[Col, ...]) -> str:
    return " ".join(f"{c.title:>{c.width}}" for c in cols)


def row(line: dict[str, Any], cols: tuple[Col, ...]) -> str:
    return " ".join(f"{cell(line, c):>{c.width}}" for c in cols)


def history_table(lines: list[dict[str, Any]], cols: tuple[Col, ...]) -> str:
    return "\n".join([header(cols), *(row(line, cols) for line in lines)])


NOT_IN_LOG_LINE = ("iteration", "seconds", "clip_fraction", "logprob_mismatch_max")  # the history table has them


def compact(line: dict[str, Any], cols: tuple[Col, ...]) -> str:
    """One iteration's numbers as ``title value`` pairs (the log line of a non-terminal run)."""
    return "  ".join(f"{c.title} {cell(line, c)}" for c in cols if c.key not in NOT_IN_LOG_LINE)


@dataclass
class Progress:
    """Where the current iteration is (fed by the rollout's callbacks)."""

    iteration: int = 0
    phase: str = "starting"
    episodes_total: int = 0  # 0: the phase does not count episodes (math rollouts, the update)
    episodes_done: int = 0
    replies: int = 0  # generated replies = env steps taken (agents)
    tokens: int = 0
    generate_s: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def text(self) -> str:
        parts = [f"iteration {self.iteration}: {self.phase}"]
        if self.episodes_total:
            parts.append(f"{self.episodes_done}/{self.episodes_total} episodes")
        if self.replies and self.episodes_total:
            parts.append(f"{self.replies} env steps")
        if self.tokens:
            rate = f" ({self.tokens / self.generate_s:,.0f} tok/s)" if self.generate_s else ""
            parts.append(f"{self.tokens:,} tokens{rate}")
        return ", ".join(parts)


class Clock:
    """The overall ETA: mean seconds of the iterations finished in this session x those left; inside
    the first iteration, extrapolated from its finished episodes."""

    def __init__(self, start: int, total: int):
        self.start, self.total = start, total
        self.started = time.monotonic()
        self.last = self.started  # when the last iteration ended
        self.done = 0

    def finished_one(self) -> None:
        self.done += 1
        self.last = time.monotonic()

    def remaining_s(self, progress: Optional[Progress] = None) -> Optional[float]:
        left = self.total - self.start - self.done
        if self.done:
            per_iteration = (self.last - self.started) / self.done
            return per_iteration * left - min(time.monotonic() - self.last, per_iteration) if left else 0.0
        if progress is not None and progress.episodes_total and progress.episodes_done and progress.phase == "rollout":
            per_iteration = (time.monotonic() - progress.started) / progress.episodes_done * progress.episodes_total
            return per_iteration * left - (time.monotonic() - progress.started)
        return None

    def eta(self, progress: Optional[Progress] = None) -> str:
        remaining = self.remaining_s(progress)
        return "?" if remaining is None else ("~" if not self.done else "") + duration(max(remaining, 0.0))


class _View:
    """What both views share: the iteration's progress, the history and the clock."""

    def __init__(self, cfg: Any, name: str, start: int):
        self.total = cfg.iterations
        self.name = name
        self.cols = columns_for(cfg)
        self.clock = Clock(start, cfg.iterations)
        self.progress = Progress()
        self.lines: list[dict[str, Any]] = []
        self.episodes_per_iteration = cfg.tasks_per_iteration * cfg.group_size if cfg.math is None else 0

    # -- fed by the trainer ---------------------------------------------------------------------

    def phase(self, iteration: int, phase: str, episodes: Optional[int] = None) -> None:
        """A new phase of an iteration (rollout, update, validation): its counters start at 0."""
        started = self.progress.started if iteration == self.progress.iteration else time.monotonic()
        self.progress = Progress(iteration=iteration, phase=phase, started=started,
                                 episodes_total=self.episodes_per_iteration if episodes is None else episodes)
        self.changed()

    def episode_done(self, record: Any = None) -> None:
        self.progress.episodes_done += 1
        self.changed()

    def sampled(self, replies: int, tokens: int, seconds: float) -> None:
        self.progress.replies += replies
        self.progress.tokens += tokens
        self.progress.generate_s += seconds
        self.changed()

    def record(self, line: dict[str, Any]) -> None:
        self.lines.append(line)
        self.clock.finished_one()

    def changed(self) -> None:
        pass

    def status(self) -> str:
        return f"{self.progress.text()} · eta {self.clock.eta(self.progress)}"

    def history(self) -> str:
        return history_table(self.lines, self.cols)

    def estimate(self) -> Optional[str]:
        """The line after the first iteration of this session: seconds per iteration, time left."""
        if self.clock.done != 1 or self.clock.start + 1 >= self.total:
            return None
        per = self.clock.last - self.clock.started
        left = self.total - self.clock.start - 1
        return (f"estimate: {duration(per)} per iteration, {duration(per * left)} for the {left} iterations left "
                f"(done about {time.strftime('%H:%M', time.localtime(time.time() + per * left))})")


class LogView(_View):
    """Plain lines for a log: one per iteration, heartbeats in between, the history at the end."""

    def __enter__(self) -> "LogView":
        self.heartbeat = Heartbeat(self.status).__enter__()
        return self

    def record(self, line: dict[str, Any]) -> None:
        super().record(line)
        log_line(f"iteration {line['iteration']}/{self.total} done in {iteration_seconds(line):.1f} s · "
                 f"eta {self.clock.eta()} · {compact(line, self.cols)}")
        estimate = self.estimate()
        if estimate:
            log_line(estimate)
        self.heartbeat.touch()

    def __exit__(self, *exc: Any) -> None:
        self.heartbeat.__exit__(*exc)
        if self.lines:
            print(self.history(), flush=True)


class LiveView(_View):
    """A Rich live display on a terminal (redrawn in place), the history as plain text at the end."""

    def __init__(self, cfg: Any, name: str, start: int):
        from rich.live import Live

        super().__init__(cfg, name, start)
        self.note = f"resumed after iteration {start}" if start else ""
        self.console = make_console()
        self.live = Live(self._render(), console=self.console, refresh_per_second=4, transient=True)

    def _render(self) -> Any:
        from rich.text import Text

        shown = [header(self.cols), *(row(line, self.cols) for line in self.lines[-SHOWN_ROWS:])]
        estimate = f"\n{self.note}" if self.note else ""
        return Text(f"repro train · {self.name} · {self.status()}{estimate}\n" + "\n".join(shown))

    def changed(self) -> None:
        self.live.update(self._render())

    def record(self, line: dict[str, Any]) -> None:
        super().record(line)
        self.note = self.estimate() or self.note
        self.changed()

    def __enter__(self) -> "LiveView":
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.__exit__(*exc)
        if self.lines:
            self.console.print(f"repro train · {self.name} · iteration {self.lines[-1]['iteration']}/{self.total}",
                               highlight=False)
            self.console.print(self.history(), highlight=False, markup=False)


class QuietView(_View):
    """What ranks other than 0 show under torchrun: nothing."""

    def record(self, line: dict[str, Any]) -> None:
        pass

    def __enter__(self) -> "QuietView":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def make_view(cfg: Any, name: str, start: int, main: bool = True) -> _View:
    if not main:
        return QuietView(cfg, name, start)
    return LiveView(cfg, name, start) if interactive() else LogView(cfg, name, start)


# -- the summary a finished run prints ------------------------------------------------------------

LAST_ITERATION_KEYS = ("success_rate", "mean_return", "invalid_action_rate", "full_accuracy", "full_tokens_mean",
                       "exit_accuracy", "loss", "kl", "entropy", "clip_fraction", "logprob_mismatch_max")


def _value(metric: Any) -> str:
    stderr = f" ± {metric.stderr:.3g}" if metric.stderr is not None else ""
    return f"{metric.value:.4g}{stderr}"


def summary_lines(results: Any, run_dir: str) -> list[str]:
    """A finished run, validation first (what the papers report), then the last training
    iteration, then where its outputs are; plain lines that read at 80 columns."""
    details = results.details
    lines = [f"repro train {results.algo} on {results.env}: {details.get('iterations_done', '?')} iterations"]
    if results.metrics:
        lines.append(f"validation at iteration {details.get('validation_iteration')} "
                     f"({results.units} {results.unit} of {results.split}, "
                     f"T {(results.sampling or {}).get('temperature', '?')}), mean ± stderr:")
        shown = [k for k in results.metrics if k not in ("episodes", "failed_episodes")]
        lines += [f"  {k:<24} {_value(results.metrics[k])}" for k in shown]
    else:
        lines.append("validation: none ran (eval_every=0 or fewer iterations than eval_every)")
    last = details.get("last_iteration") or {}
    lines.append(f"last training iteration ({last.get('iteration', '?')}), from its own rollouts:")
    lines += [f"  {k:<24} {last[k]:.4g}" for k in LAST_ITERATION_KEYS if isinstance(last.get(k), (int, float))]
    lines.append(f"run directory: {run_dir}")
    if details.get("checkpoint"):
        lines.append(f"checkpoint:    {details['checkpoint']}")
    exported = details.get("exported_model")
    if exported:
        lines.append(f"model:         {exported['directory']}  (repro eval --model {exported['directory']})")
    return lines
