"""The ``repro`` command line.

Each command lives in its own module under ``repro/cli/`` and imports heavy libraries (torch,
transformers, environment engines) inside the function body, so ``repro --help`` stays instant.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from repro.errors import ReproError
from repro.paths import git_commit

app = typer.Typer(
    name="repro",
    help="Reproduce GiGPO (multi-turn agent RL) and S-GRPO (early-exit reasoning RL).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib import metadata

        try:
            version = metadata.version("repro")
        except metadata.PackageNotFoundError:
            version = "unknown (not installed)"
        typer.echo(f"repro {version} (commit {git_commit()})")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and the checkout's commit, then exit.")] = False,
) -> None:
    """Reproduce GiGPO (multi-turn agent RL) and S-GRPO (early-exit reasoning RL)."""


def _register() -> None:
    # One line per command; each module keeps its heavy imports inside its functions.
    from repro.cli import advantages, compare, data, doctor, eval as eval_cmd, listing, model, sft, train

    app.command("train", help=train.HELP)(train.train_command)
    app.command("eval", help=eval_cmd.HELP)(eval_cmd.eval_command)
    app.command("sft", help=sft.HELP)(sft.sft_command)
    app.command("compare", help=compare.HELP)(compare.compare_command)
    app.command("advantages", help=advantages.HELP)(advantages.advantages_command)
    app.command("ls", help=listing.LS_HELP)(listing.ls_command)
    app.command("validate", help=listing.VALIDATE_HELP)(listing.validate_command)
    app.command("doctor", help=doctor.HELP)(doctor.doctor_command)
    app.add_typer(data.app, name="data", help=data.HELP)
    app.add_typer(model.app, name="model", help=model.HELP)


_register()


def main() -> None:
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # a log file shows each line as it is printed
    try:
        app()
    except ReproError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except OSError as e:
        from repro.io import SPACE_ERRNOS

        if e.errno not in SPACE_ERRNOS:
            raise
        # a write outside repro.io's helpers (a library's own file) that did not fit
        print(f"error: cannot write {e.filename or 'a file'}: {e.strerror}; free some space and run again", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
