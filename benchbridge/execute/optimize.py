"""The optimiser and its learning rate: one place computes the rate of every step (schedule x plateau drops)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from benchbridge.manifest import Training
from benchbridge.models.network import Network
from benchbridge.transfer.phases import ParamGroups, StrategyPlan, as_plan, optimizer_groups, trained_in

GROUP_KEYS = ("weight_decay", "phase_mults")  # optional keys a group keeps (its own decay; its multiplier per phase)


def make_optimizer(prepared: ParamGroups | StrategyPlan, t: Training) -> torch.optim.Optimizer:
    """SGD or AdamW over the strategy's parameter groups (of every phase); each group keeps its `lr_mult`."""
    groups = optimizer_groups(as_plan(prepared))
    params = [{"params": g["params"], "lr": t.lr * g["lr_mult"], "lr_mult": g["lr_mult"],
               **{k: g[k] for k in GROUP_KEYS if k in g}} for g in groups]
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
    """The base learning rate of every step: the schedule's factor times the plateau's drops. `windows`: the spans
    (start, stop) that each run the whole schedule, compressed into their iterations (default: one, the whole run; a
    strategy whose phases restart the schedule gives one per phase: a step schedule then decays at the same
    fractions of each phase as of the run)."""

    def __init__(self, t: Training, total: int, iters_per_epoch: int,
                 windows: list[tuple[int, int]] | None = None) -> None:
        self.t, self.total, self.iters_per_epoch = t, total, iters_per_epoch
        self.windows = windows or [(0, total)]
        self.plateau = Plateau()

    def factor(self, it: int) -> float:
        """The multiplier of training.lr at step `it`: the schedule's factor times the plateau's drops."""
        start, stop = next((w for w in self.windows if it < w[1]), self.windows[-1])
        at = it if (start, stop) == (0, self.total) else (it - start) * self.total // max(1, stop - start)
        return lr_factor(self.t, at, self.total, self.iters_per_epoch) * self.plateau.scale

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


def enter_phase(net: Network, opt: torch.optim.Optimizer, plan: StrategyPlan, k: int) -> None:
    """Set the network and the optimizer up for phase k of a multi-phase plan: its parameters train (the others get
    no gradient), its frozen prefix, each optimizer group's multiplier in that phase."""
    phase = plan.phases[k]
    train = trained_in(phase)
    for p in net.parameters():
        p.requires_grad_(id(p) in train)
    net.freeze_prefix(net.frozen_prefix if phase.frozen_prefix is None else phase.frozen_prefix)
    for g in opt.param_groups:
        g["lr_mult"] = g["phase_mults"][k]
