"""Logger `tensorboard`: each run's losses, learning rate, evaluations, record and manifest as TensorBoard events."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from benchbridge.api import Run, RunRecord, UserError, hookimpl

FINAL = ("top1", "top5", "top1_best_k", "wall_time_s", "images_per_s", "device_hours")


class TensorBoardOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dir: Path | None = Field(None, description="Folder of the event files, one subfolder per run "
                             "(default: OUTPUT_DIR/tensorboard); point `tensorboard --logdir` at it.")
    every: int = Field(1, ge=1, description="Log the training loss and learning rate every this many iterations.")
    flush_secs: int = Field(30, ge=1, description="Write pending events to disk at least this often.")


def run_name(run: Run) -> str:
    """`<split>/<condition>_n<n>_s<seed>_<id>`, safe as a folder name: TensorBoard groups runs by it."""
    split = re.sub(r"[^A-Za-z0-9_.-]+", "_", run.pair)
    return f"{split}/{run.condition.replace('+', 'plus')}_n{run.n}_s{run.seed}_{run.id}"


class TensorBoardRun:
    """One run's event file."""

    def __init__(self, writer: Any, every: int, manifest: dict[str, Any]) -> None:
        self.writer, self.every = writer, every
        writer.add_text("manifest", f"```yaml\n{yaml.safe_dump(manifest, sort_keys=False)}```", 0)

    def log_step(self, iteration: int, values: dict[str, float]) -> None:
        if iteration % self.every == 0:
            for key, value in values.items():
                self.writer.add_scalar(f"train/{key}", value, iteration)

    def log_evaluation(self, point: dict[str, Any]) -> None:
        it = point["iteration"]
        for key in ("top1", "top5", "val_loss"):
            self.writer.add_scalar(f"val/{key}", point[key], it)

    def log_record(self, record: RunRecord) -> None:
        for key in FINAL:
            value = getattr(record, key)
            if value is not None:
                self.writer.add_scalar(f"final/{key}", value, record.iterations)
        text = json.dumps(record.model_dump(mode="json", exclude={"curve"}), indent=2)
        self.writer.add_text("record", f"```json\n{text}\n```", record.iterations)

    def close(self) -> None:
        self.writer.close()


class TensorBoardLogger:
    """TensorBoard event files (needs the tensorboard package: benchbridge[tensorboard])."""

    name = "tensorboard"
    Options = TensorBoardOptions
    description = "TensorBoard event files: training loss and lr, evaluations, the record and the manifest"

    def start(self, run: Run, run_dir: Path, manifest: dict[str, Any], options: TensorBoardOptions) -> TensorBoardRun:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserError("the tensorboard logger needs the tensorboard package.", key="name",
                            hint="pip install 'benchbridge[tensorboard]' (or pip install tensorboard).") from None
        root = options.dir or run_dir.parent.parent / "tensorboard"  # OUTPUT_DIR/runs/<id> -> OUTPUT_DIR
        writer = SummaryWriter(log_dir=str(Path(root) / run_name(run)), flush_secs=options.flush_secs)
        return TensorBoardRun(writer, options.every, manifest)


@hookimpl
def register_loggers(register: Any) -> None:
    register(TensorBoardLogger())
