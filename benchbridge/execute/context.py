"""What a run in training reports to and what its executor may ask of it: handed to executors and the trainer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel

from benchbridge.execute import distributed
from benchbridge.plan import Run
from benchbridge.results.record import RunRecord


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


class Events(Protocol):
    """What an executor reports while it works (the CLI shows it with rich)."""

    def started(self, run: Run) -> None: ...
    def progress(self, run: Run, done: int, total: int) -> None: ...
    def finished(self, run: Run, record: RunRecord) -> None: ...
    def blocked(self, run: Run, record: dict[str, Any]) -> None: ...


class NoEvents:
    """Events that go nowhere (a job run from Python, or in a worker process)."""

    def started(self, run: Run) -> None: ...
    def progress(self, run: Run, done: int, total: int) -> None: ...
    def finished(self, run: Run, record: RunRecord) -> None: ...
    def blocked(self, run: Run, record: dict[str, Any]) -> None: ...


class RunContext:
    """One run's link between its executor and its trainer: progress, loggers, rank, and `checkpoint_now()`."""

    def __init__(self, run: Run, events: Events | None = None, loggers: list[RunLogger] | None = None) -> None:
        self.run = run
        self.events = events
        self.loggers: list[RunLogger] = list(loggers or [])
        self._checkpoint: Callable[[], bool] | None = None

    @property
    def rank(self) -> int:
        return distributed.rank()

    @property
    def world_size(self) -> int:
        return distributed.world_size()

    @property
    def logs_steps(self) -> bool:
        """True when a logger wants every iteration's loss and learning rate (costs a device sync per step)."""
        return bool(self.loggers) and self.rank == 0

    def progress(self, done: int, total: int) -> None:
        if self.events is not None:
            self.events.progress(self.run, done, total)

    def log_step(self, iteration: int, values: dict[str, float]) -> None:
        for logger in self.loggers:
            logger.log_step(iteration, values)

    def log_evaluation(self, point: dict[str, Any]) -> None:
        for logger in self.loggers:
            logger.log_evaluation(point)

    def log_record(self, record: RunRecord) -> None:
        for logger in self.loggers:
            logger.log_record(record)

    def close(self) -> None:
        """Close the loggers (the run is over, or failed)."""
        loggers, self.loggers = self.loggers, []
        for logger in loggers:
            logger.close()

    @contextmanager
    def checkpointing(self, save: Callable[[], bool]) -> Iterator[None]:
        """While training: `checkpoint_now()` calls `save` (the trainer's own checkpoint)."""
        self._checkpoint = save
        try:
            yield
        finally:
            self._checkpoint = None

    def checkpoint_now(self) -> bool:
        """Save the run's checkpoint now if it is between steps (e.g. on preemption); False if nothing was saved."""
        return self._checkpoint() if self._checkpoint is not None else False

    def __getstate__(self) -> dict[str, Any]:  # travels with a pickled executor callable, without live objects
        return {"run": self.run, "events": None, "loggers": [], "_checkpoint": None}
