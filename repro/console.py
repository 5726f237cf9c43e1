"""One Rich console setting for the whole CLI."""

from __future__ import annotations

from rich.console import Console


def make_console(stderr: bool = False) -> Console:
    """A Rich console; when output goes to a log or CI (not a terminal) it is 120 columns wide
    instead of Rich's 80, so tables are not truncated."""
    console = Console(stderr=stderr)
    return console if console.is_terminal else Console(stderr=stderr, width=120)
