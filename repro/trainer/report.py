"""Optional experiment trackers (``report_to: [tensorboard, wandb]``): every numeric metric of
each metrics.jsonl line, by iteration. metrics.jsonl stays the record; trackers are views."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from repro.errors import ReproError


def numeric_items(line: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Flatten a metrics line to {"timing/rollout_s": 1.2, ...}, keeping numbers only."""
    out: dict[str, float] = {}
    for key, value in line.items():
        if isinstance(value, dict):
            out.update(numeric_items(value, f"{prefix}{key}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and key != "iteration":
            out[f"{prefix}{key}"] = float(value)
    return out


class Trackers:
    def __init__(self, names: list[str], run_dir: Path, run_name: str, config: dict[str, Any]):
        self.tensorboard = None
        self.wandb = None
        if "tensorboard" in names:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ReproError("report_to: tensorboard is not installed (pip install tensorboard)") from None
            self.tensorboard = SummaryWriter(log_dir=str(run_dir / "tensorboard"))
        if "wandb" in names:
            try:
                import wandb
            except ImportError:
                raise ReproError("report_to: wandb is not installed (pip install wandb)") from None
            # the run name is the id, so a resumed run continues the same W&B run
            self.wandb = wandb.init(project="repro", name=run_name, id=run_name, resume="allow",
                                    dir=str(run_dir), config=config)

    def log(self, line: dict[str, Any]) -> None:
        values = numeric_items(line)
        if self.tensorboard is not None:
            for key, value in values.items():
                self.tensorboard.add_scalar(key, value, line["iteration"])
            self.tensorboard.flush()
        if self.wandb is not None:
            self.wandb.log(values, step=line["iteration"])

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
        if self.wandb is not None:
            self.wandb.finish()
