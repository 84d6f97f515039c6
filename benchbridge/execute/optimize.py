"""The optimiser and its learning rate: one place computes the rate of every step (schedule x plateau drops)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from benchbridge.manifest import Training


def make_optimizer(groups: list[dict[str, Any]], t: Training) -> torch.optim.Optimizer:
    """SGD or AdamW over the strategy's parameter groups; each group keeps its `lr_mult`."""
    params = [{"params": g["params"], "lr": t.lr * g["lr_mult"], "lr_mult": g["lr_mult"]} for g in groups]
    if t.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)
    return torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)


def lr_factor(t: Training, it: int, total: int, iters_per_epoch: int) -> float:
    """The schedule's factor at iteration `it` (plateau: 1; its drops are `Plateau.scale`)."""
    s = t.schedule
    if s.name in ("constant", "plateau"):
        return 1.0
    if s.name == "cosine":
        return 0.5 * (1 + math.cos(math.pi * it / total))
    unit = 1 if t.iterations is not None else iters_per_epoch
    step = (s.step_size or max(1, total // (3 * unit))) * unit
    return s.gamma ** (it // step)


@dataclass
class Plateau:
    """The plateau schedule's state: best holdout top-1, evaluations since it improved, drops so far."""

    best: float = -math.inf
    since: int = 0
    drops: int = 0
    scale: float = 1.0  # learning-rate multiplier after the drops

    def update(self, top1: float, factor: float, patience: int, min_delta: float, max_drops: int) -> bool:
        """Take one holdout evaluation; True when training should stop (a plateau after the last drop)."""
        if top1 > self.best + min_delta:
            self.best, self.since = top1, 0
            return False
        self.since += 1
        if self.since < patience:
            return False
        if self.drops >= max_drops:
            return True
        self.drops, self.scale, self.since = self.drops + 1, self.scale * factor, 0
        return False


class LearningRate:
    """The base learning rate of every step: the schedule's factor times the plateau's drops."""

    def __init__(self, t: Training, total: int, iters_per_epoch: int) -> None:
        self.t, self.total, self.iters_per_epoch = t, total, iters_per_epoch
        self.plateau = Plateau()

    def factor(self, it: int) -> float:
        """The multiplier of training.lr at step `it`: the schedule's factor times the plateau's drops."""
        return lr_factor(self.t, it, self.total, self.iters_per_epoch) * self.plateau.scale

    def at(self, it: int) -> float:
        """Base rate of step `it` (before per-group multipliers), as logged and kept in the curve."""
        return self.t.lr * self.factor(it)

    def apply(self, opt: torch.optim.Optimizer, it: int) -> None:
        """Set every parameter group's rate for step `it` (training.lr x the group's multiplier x the factor)."""
        factor = self.factor(it)
        for g in opt.param_groups:
            g["lr"] = self.t.lr * g["lr_mult"] * factor

    def holdout(self, top1: float) -> bool:
        """The plateau schedule takes a holdout evaluation; True when training should stop."""
        s = self.t.schedule
        if s.name != "plateau":
            return False
        return self.plateau.update(top1, s.factor, s.patience, s.min_delta, s.drops)  # type: ignore[arg-type]
