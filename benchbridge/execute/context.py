"""What a run in training reports to and what its executor may ask of it: handed to executors and the trainer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from benchbridge.execute import distributed


class RunContext:
    """One run's link between its executor and its trainer: progress, loggers, rank, and `checkpoint_now()`."""

    def __init__(self, run: Any, events: Any = None, loggers: list[Any] | None = None) -> None:
        self.run = run
        self.events = events
        self.loggers = list(loggers or [])
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

    def log_record(self, record: Any) -> None:
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
