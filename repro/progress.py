"""How a long command reports progress: a Rich live display on a terminal; plain, flushed log lines
when stdout is a file, a pipe, nohup or Slurm (never a live view there, whose redraws a log cannot
show), with a heartbeat line whenever nothing was printed for :func:`heartbeat_s` seconds.

Everything goes to stdout (errors alone go to stderr), so ``repro train … > log`` holds the whole
story while it happens.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, Callable, Optional, TextIO

HEARTBEAT_S = 30.0  # the longest a log stays silent during a run
HEARTBEAT_ENV = "REPRO_HEARTBEAT_S"  # a shorter interval (tests, impatient users)


def heartbeat_s() -> float:
    try:
        return min(HEARTBEAT_S, float(os.environ.get(HEARTBEAT_ENV, HEARTBEAT_S)))
    except ValueError:
        return HEARTBEAT_S


def interactive(stream: Optional[TextIO] = None) -> bool:
    """True when ``stream`` (default stdout) is a terminal a live display can redraw."""
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def duration(seconds: Optional[float]) -> str:
    """12 s · 3.4 min · 2.5 h; '?' when unknown."""
    if seconds is None:
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def log_line(text: str, stream: Optional[TextIO] = None) -> None:
    """One timestamped line, flushed at once (a log file shows it while the run goes on)."""
    stream = stream or sys.stdout
    stream.write(f"[{time.strftime('%H:%M:%S')}] {text}\n")
    stream.flush()


def print_plan(lines: list[str]) -> None:
    """A command's plan on stdout, flushed before the (possibly long) work starts."""
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


class Heartbeat:
    """Calls ``status()`` and logs its text from a daemon thread whenever ``interval_s`` have passed
    since the last line (:meth:`touch` marks a line printed by someone else)."""

    def __init__(self, status: Callable[[], str], interval_s: Optional[float] = None,
                 emit: Callable[[str], None] = log_line):
        self.status = status
        self.interval_s = heartbeat_s() if interval_s is None else interval_s
        self.emit = emit
        self.last = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="repro-heartbeat", daemon=True)

    def touch(self) -> None:
        self.last = time.monotonic()

    def _run(self) -> None:
        while not self._stop.wait(min(1.0, self.interval_s / 4)):
            if time.monotonic() - self.last >= self.interval_s:
                self.emit(self.status())
                self.touch()

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


class Counter:
    """Progress of one batch of work (episodes, responses, optimiser steps) for the commands without
    a view of their own (eval, sft): a Rich bar on a terminal, else a line at the start, heartbeats
    while it runs and a line when it is done."""

    def __init__(self, description: str, total: int, unit: str, console: Any = None):
        self.description, self.total, self.unit = description, total, unit
        self.done = 0
        self.note = ""
        self.started = time.monotonic()
        self.live = interactive()
        self._bar: Any = None
        self._heartbeat: Optional[Heartbeat] = None
        self.console = console

    def status(self) -> str:
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done * (self.total - self.done) if self.done else None
        note = f", {self.note}" if self.note else ""
        return (f"{self.description}: {self.done}/{self.total} {self.unit}{note} · {duration(elapsed)} in · "
                f"eta {duration(eta)}")

    def advance(self, n: int = 1, note: str = "") -> None:
        self.done += n
        self.note = note or self.note
        if self._bar is not None:
            progress, task = self._bar
            progress.update(task, advance=n, status=self.note)

    def __enter__(self) -> "Counter":
        if self.live:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            from repro.console import make_console

            progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TextColumn("eta"),
                                TimeRemainingColumn(), console=self.console or make_console())
            progress.__enter__()
            self._bar = (progress, progress.add_task(self.description, total=self.total, status=""))
        else:
            log_line(f"{self.description}: {self.total} {self.unit}")
            self._heartbeat = Heartbeat(self.status).__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar[0].__exit__(*exc)
        if self._heartbeat is not None:
            self._heartbeat.__exit__(*exc)
            if exc[0] is None:
                log_line(self.status().replace(" · eta 0 s", ""))
