"""``repro model build-tiny`` and ``repro model info``."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from repro.config import ModelConfig
from repro.console import make_console

HELP = "Build the tiny local model, or describe a model directory (architecture, tokens, template)."

app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False)


@app.command("build-tiny", help="Build (or reuse) the seeded tiny Qwen3 model under the cache directory.")
def build_tiny_command(
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if the cached build matches the recipe.")] = False,
) -> None:
    from repro.policy.tiny import ensure_tiny, is_current, read_manifest, tiny_dir

    reused = not force and is_current(tiny_dir())
    start = time.perf_counter()
    path = ensure_tiny(force=force)
    manifest = read_manifest(path) or {}
    typer.echo(f"tiny model: {path}")
    what = "reused the cached build" if reused else f"built in {time.perf_counter() - start:.2f} s"
    typer.echo(f"{what} (recipe {manifest.get('recipe_hash')}, {manifest.get('n_params')} parameters)")


@app.command("info", help="Describe a model: 'tiny' or a local Hugging Face model directory.")
def info_command(
    path: Annotated[str, typer.Argument(help="'tiny' or a local Hugging Face model directory.")],
) -> None:
    from rich.table import Table

    from repro.policy.hf import HFPolicy

    policy = HFPolicy.from_config(ModelConfig(path=path, device="cpu"))
    table = Table(title=f"model {path}", show_header=False)
    for key, value in policy.describe().items():
        table.add_row(key, str(value))
    make_console().print(table)
