"""``repro advantages``: run an estimator on a JSONL dump of step rows or serial groups."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from repro.algos import ALGOS
from repro.config import load_config
from repro.errors import ReproError
from repro.io import atomic_write_text
from repro.registry import did_you_mean

HELP = (
    "Compute advantages on a JSONL file and print the same objects, in the same order, with the "
    "computed fields added (or write them atomically to --out).\n\n"
    "Input fields per line. gigpo/grpo/rloo: group (id), traj (id), step (int, 1-based), anchor "
    "(any JSON), reward (number: the env reward of that step), valid (bool). sgrpo: group (id), "
    "exit_index (int; the full rollout has the largest), correct (bool). An id is a string or an integer.\n\n"
    "`repro train ... dump_rows=true` writes exactly these rows, one file per iteration "
    "(<run>/rows/iter_N.jsonl, with the trainer's own advantage to compare against).\n\n"
    "Output adds advantage; gigpo also episode_advantage, step_advantage, step_return; sgrpo also reward.\n\n"
    "Options as KEY=VALUE. gigpo: mode=mean_norm|mean_std_norm gamma omega invalid_penalty "
    "episode_stats=rows|trajectories anchor_match=exact|similarity similarity_threshold. grpo: "
    "norm_by_std invalid_penalty. rloo: invalid_penalty. sgrpo: reward=decay|shortest_one|all_one."
)

# the estimators the command runs -> the fields of their result it writes
OUTPUT_FIELDS = {"gigpo": ("advantage", "episode_advantage", "step_advantage", "step_return"),
                 "grpo": ("advantage",), "rloo": ("advantage",), "sgrpo": ("reward", "advantage")}
CLI_ALGOS = tuple(OUTPUT_FIELDS)
ID = "id"  # a field kind: a string or an integer (the trainer's dumps use integers)
STEP_FIELDS = {"group": ID, "traj": ID, "step": int, "anchor": object, "reward": float, "valid": bool}
SERIAL_FIELDS = {"group": ID, "exit_index": int, "correct": bool}
EPISODE_FIELDS = ("trace", "episode_return")  # a samples file's episode records (not step rows)


def _check_field(obj: dict, name: str, kind: Any, where: str) -> Any:
    if name not in obj:
        if all(f in obj for f in EPISODE_FIELDS):
            raise ReproError(f"{where}: an episode record (a samples file), not a step row; dump a training run's "
                             f"step rows with `repro train ... dump_rows=true` (<run>/rows/iter_N.jsonl)")
        raise ReproError(f"{where}: missing field '{name}'")
    value = obj[name]
    if kind is object:
        return value
    if kind == ID:
        if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise ReproError(f"{where}: field '{name}' must be a string or an integer, got {json.dumps(value)[:60]}")
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        expected = "a finite number"
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        expected = "an integer"
    elif kind is bool:
        ok = isinstance(value, bool)
        expected = "true or false"
    else:
        ok = isinstance(value, str)
        expected = "a string"
    if not ok:
        raise ReproError(f"{where}: field '{name}' must be {expected}, got {json.dumps(value)[:60]}")
    return value


def read_rows(path: Path, fields: dict[str, Any]) -> tuple[list[dict], list[int], dict[str, list]]:
    """(objects, their line numbers, one column per field); any malformed line is a one-line error."""
    if not path.is_file():
        raise ReproError(f"rows file {path} does not exist")
    objects, lines = [], []
    columns: dict[str, list] = {name: [] for name in fields}
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            where = f"{path}:{number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ReproError(f"{where}: not UTF-8 text (byte {raw[e.start]:#04x} at column {e.start + 1})") from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ReproError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(obj, dict):
                raise ReproError(f"{where}: expected a JSON object, got {type(obj).__name__}")
            for name, kind in fields.items():
                columns[name].append(_check_field(obj, name, kind, where))
            objects.append(obj)
            lines.append(number)
    return objects, lines, columns


def compute_fields(algo: str, cfg: Any, columns: dict[str, list]) -> dict[str, list]:
    """Output field -> one value per input row."""
    from repro.algos.rows import SerialRows, StepRows

    algorithm = ALGOS.get(algo)
    if algorithm.inputs is SerialRows:
        inputs = SerialRows.from_columns(columns["group"], columns["exit_index"], columns["correct"])
    else:
        inputs = StepRows.from_columns(columns["group"], columns["traj"], columns["step"], columns["reward"],
                                       columns["valid"], columns["anchor"])
    result = algorithm.estimate(inputs, cfg)
    return {name: getattr(result, name).tolist() for name in OUTPUT_FIELDS[algo]}


def advantages_command(
    overrides: Annotated[Optional[list[str]], typer.Argument(help="Estimator options KEY=VALUE (e.g. mode=mean_std_norm gamma=0.95).", show_default=False)] = None,
    algo: Annotated[Optional[str], typer.Option("--algo", help=f"Estimator: {' | '.join(CLI_ALGOS)}.")] = None,
    rows: Annotated[Optional[Path], typer.Option("--rows", help="JSONL file, one row object per line.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the result here (atomically; missing parent directories are created) instead of stdout.")] = None,
) -> None:
    from repro.algos.rows import RowsError, SerialRows

    if algo is None:
        raise ReproError(f"--algo is required: one of {', '.join(CLI_ALGOS)}")
    if algo not in CLI_ALGOS:
        raise ReproError(f"unknown algo '{algo}'{did_you_mean(algo, list(CLI_ALGOS))}; choose from {', '.join(CLI_ALGOS)}")
    if rows is None:
        raise ReproError("--rows FILE.jsonl is required")

    cfg = load_config(ALGOS.get(algo).config(), None, list(overrides or []))
    fields = SERIAL_FIELDS if ALGOS.get(algo).inputs is SerialRows else STEP_FIELDS
    objects, lines, columns = read_rows(rows, fields)
    import numpy as np

    try:
        with np.errstate(all="ignore"):  # an overflow is reported below, as one line, not as numpy warnings
            computed = compute_fields(algo, cfg, columns)
    except RowsError as e:
        raise ReproError(f"{rows}:{lines[e.row]}: {e}") from None
    for name, values in computed.items():
        bad = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)
        if bad is not None:  # JSON has no infinities: it would be written as -Infinity, which no reader takes
            raise ReproError(f"{rows}:{lines[bad]}: {name} is {values[bad]} (the rewards overflow float64 in the "
                             f"estimator); scale them down")
    for i, obj in enumerate(objects):
        for name, values in computed.items():
            obj[name] = values[i]
    text = "".join(json.dumps(obj, ensure_ascii=False) + "\n" for obj in objects)
    if out is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(out, text)
        typer.echo(f"wrote {len(objects)} rows to {out}", err=True)
