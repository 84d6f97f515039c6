"""Protocols of the objects that executors, reporters and loggers register (models, datasets, splits and
strategies keep theirs beside the types they exchange)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from benchbridge.execute.job import Job

if TYPE_CHECKING:
    from benchbridge.report.build import Report


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


class ReporterPlugin(Protocol):
    """What a reporter registers through `register_reporters`."""

    name: str
    Options: type[BaseModel]

    def report(self, report: Report, out: Path, options: Any) -> Path:
        """Write one file (or folder) for the report into `out` and return its path."""
        ...
