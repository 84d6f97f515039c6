"""Resumable checkpoints of a run in training (atomic), and the signals that ask for one before the process ends."""

from __future__ import annotations

import random
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchbridge import store

CHECKPOINT_FILE = "checkpoint.pt"
PREEMPT_SIGNALS = tuple(s for s in (signal.SIGTERM, getattr(signal, "SIGUSR1", None),
                                    getattr(signal, "SIGUSR2", None)) if s is not None)


class Preempted(Exception):
    """Training stopped on a signal after saving its checkpoint; running again resumes it."""

    def __init__(self, run_id: str, signum: int, finished: bool = False) -> None:
        name = signal.Signals(signum).name
        super().__init__(f"stopped by signal {name} after run {run_id} finished; run the manifest again to go on."
                         if finished else f"run {run_id} stopped by signal {name}; its checkpoint is saved, "
                         "run the manifest again to resume it.")
        self.signum = signum


def path_of(output_dir: Path, run_id: str) -> Path:
    return store.run_dir(output_dir, run_id) / CHECKPOINT_FILE


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: Path, state: dict[str, Any]) -> None:
    """Write the checkpoint atomically: a kill during the write leaves the previous one intact."""
    store.atomic_write(path, lambda p: torch.save(state, p))


def load(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


class StopFlag:
    """Records the first preemption signal received while installed (signals already handled are left alone)."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def _handle(self, signum: int, frame: Any) -> None:
        self.signum = self.signum or signum

    @contextmanager
    def installed(self) -> Iterator["StopFlag"]:
        previous: dict[int, Any] = {}
        try:
            for sig in PREEMPT_SIGNALS:
                if signal.getsignal(sig) in (signal.SIG_DFL, None):
                    previous[sig] = signal.signal(sig, self._handle)
        except ValueError:  # not the main thread: signals stay as they are
            pass
        try:
            yield self
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
