"""Resumable checkpoints of a run in training (atomic), and the signals that ask for one before the process ends."""

from __future__ import annotations

import random
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchbridge.results.record import CurvePoint

import numpy as np
import torch

from benchbridge.results import store

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


@dataclass
class LoopState:
    """Where the loop stands: iteration, epoch, batches of that epoch consumed, images seen."""

    it: int = 0
    epoch: int = 0
    step: int = 0  # batches of `epoch` already consumed
    images: int = 0
    last_loss: float = float("nan")
    wall_s: float = 0.0  # wall time of earlier attempts (a resumed run adds it)


@dataclass
class TrainLog:
    """What the loop has measured so far: the evaluation curve, time spent, samples skipped and decoded."""

    curve: list[CurvePoint] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=lambda: {"data_s": 0.0, "compute_s": 0.0, "eval_s": 0.0})
    skipped: int = 0
    decoded: int = 0  # images decoded by this rank's loaders, over every attempt


@dataclass
class TrainState:
    """A resumable checkpoint: weights, optimizer, loop position, measurements, health and RNG states."""

    net: dict[str, Any]
    opt: dict[str, Any]
    loop: LoopState
    log: TrainLog
    loss: tuple[float, int]  # sum and count of the last batch's training loss
    health: dict[str, Any]  # the health watch's and the plateau schedule's state
    rng: dict[str, Any] = field(default_factory=lambda: rng_state())
    world_size: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"net": self.net, "opt": self.opt, "loop": asdict(self.loop),
                "curve": [p.model_dump() for p in self.log.curve],
                "timing": dict(self.log.timing), "loss": self.loss, "rng": self.rng, "world_size": self.world_size,
                "decoded": self.log.decoded, "health": self.health}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainState":
        log = TrainLog([CurvePoint.model_validate(p) for p in d["curve"]], d["timing"], 0, d.get("decoded", 0))
        return cls(d["net"], d["opt"], LoopState(**d["loop"]), log, tuple(d["loss"]),  # type: ignore[arg-type]
                   d.get("health", {}), d["rng"], d.get("world_size", 1))


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


def save(path: Path, state: TrainState) -> None:
    """Write the checkpoint atomically: a kill during the write leaves the previous one intact."""
    data = state.to_dict()
    store.atomic_write(path, lambda p: torch.save(data, p))


def load(path: Path) -> TrainState | None:
    """The run's checkpoint, or None when it has none."""
    if not path.is_file():
        return None
    return TrainState.from_dict(torch.load(path, map_location="cpu", weights_only=False))


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
