"""Protocols of the objects that executors, reporters and loggers register (models, datasets, splits and
strategies keep theirs beside the types they exchange)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

if TYPE_CHECKING:
    from benchbridge.execute.job import Job
    from benchbridge.plan import Run
    from benchbridge.report.build import Report
    from benchbridge.results.record import RunRecord


class ExecutorPlugin(Protocol):
    """What an executor registers through `register_executors`."""

    name: str
    Options: type[BaseModel]

    def execute(self, job: Job, options: Any) -> None:
        """Train `job.pending()` in dependency order: `job.run_one(run, job.context(run))` where each run goes."""
        ...

    def supports_torchrun(self, options: Any) -> bool:
        """Optional (default False): True if each run may train on several processes launched by torchrun."""
        ...


class RunLogger(Protocol):
    """One run's session with an experiment tracker, as a logger plugin's `start` returns it."""

    def log_step(self, iteration: int, values: dict[str, float]) -> None:
        """After each optimizer step: {"train_loss": ..., "lr": ...} (called only when a logger is configured)."""
        ...

    def log_evaluation(self, point: dict[str, Any]) -> None:
        """After each evaluation: iteration, epoch, train_loss, lr, top1, top5, val_loss, val_images."""
        ...

    def log_record(self, record: RunRecord) -> None:
        """Once, after metrics.json is written: the run's record."""
        ...

    def close(self) -> None:
        """The run is over (or failed): flush and release."""
        ...


class LoggerPlugin(Protocol):
    """What a logger (experiment tracker) registers through `register_loggers`."""

    name: str
    Options: type[BaseModel]

    def start(self, run: Run, run_dir: Path, manifest: dict[str, Any], options: Any) -> RunLogger:
        """Open a session for `run` (main process only); `manifest` is the resolved manifest, as saved."""
        ...


class ReporterPlugin(Protocol):
    """What a reporter registers through `register_reporters`."""

    name: str
    Options: type[BaseModel]

    def report(self, report: Report, out: Path, options: Any) -> Path:
        """Write one file (or folder) for the report into `out` and return its path."""
        ...
