"""A strategy's training plan: its phases (which parameters train, at which learning-rate multipliers, for which
share of the run's iterations), how the manifest's schedule runs across them, and an optional regulariser that
sees the source weights. The trainer asks the plan which phase iteration i is in; it knows no strategy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch

ParamGroups = list[dict[str, Any]]  # torch optimizer param groups with an extra "lr_mult" (and optional "weight_decay")
Regulariser = Callable[[], torch.Tensor]  # a term added to each step's loss (it may keep the source weights)


@dataclass
class Phase:
    """One phase of training: the parameter groups that train in it (`{"params", "lr_mult"}`, optionally
    `"weight_decay"` to override training.weight_decay for the group); every other parameter is frozen (no gradient,
    no update) while it lasts. `fraction`: its share of the run's iterations (the last phase takes the rest);
    `frozen_prefix`: blocks that run without autograd and keep their BatchNorm statistics from this phase on (None:
    as they are when it starts, i.e. as the strategy's `prepare` left them for the first phase)."""

    groups: ParamGroups
    fraction: float | None = None
    frozen_prefix: int | None = None
    name: str = "train"


@dataclass
class StrategyPlan:
    """What a strategy's `prepare` returns: one or more phases, in order; `schedule` says how the manifest's
    learning-rate schedule runs across them: `continue` (one schedule over all the iterations, as if there were one
    phase) or `restart` (each phase runs the whole schedule compressed into its own iterations: a step schedule
    decays at the same fractions of each phase as of the run); `regulariser`, if any, is
    added to the loss of every step."""

    phases: list[Phase]
    schedule: Literal["continue", "restart"] = "continue"
    regulariser: Regulariser | None = None

    def __post_init__(self) -> None:
        if not self.phases:
            raise ValueError("a strategy plan needs at least one phase")
        shares = [p.fraction for p in self.phases[:-1]]
        if any(f is None or not 0 < f < 1 for f in shares) or sum(f or 0 for f in shares) >= 1:
            raise ValueError(f"every phase but the last needs a fraction in (0, 1), summing below 1; got {shares}")
        if self.schedule not in ("continue", "restart"):
            raise ValueError(f"schedule must be 'continue' or 'restart', not {self.schedule!r}")

    @property
    def multi_phase(self) -> bool:
        return len(self.phases) > 1

    def bounds(self, total: int) -> list[tuple[int, int]]:
        """(start, stop) iterations of every phase, for a run of `total` iterations."""
        out, start, share = [], 0, 0.0
        for phase in self.phases[:-1]:
            share += phase.fraction or 0.0
            stop = min(total, max(start, round(share * total)))
            out.append((start, stop))
            start = stop
        return [*out, (start, total)]

    def phase_at(self, it: int, total: int) -> int:
        """The index of the phase iteration `it` (0-based) belongs to."""
        for k, (_, stop) in enumerate(self.bounds(total)):
            if it < stop:
                return k
        return len(self.phases) - 1

    def windows(self, total: int) -> list[tuple[int, int]]:
        """The spans the learning-rate schedule runs over: the whole run, or each phase (restart)."""
        return self.bounds(total) if self.schedule == "restart" else [(0, total)]


def as_plan(prepared: ParamGroups | StrategyPlan) -> StrategyPlan:
    """A strategy's `prepare` result as a plan: a list of parameter groups is one phase over every iteration."""
    return prepared if isinstance(prepared, StrategyPlan) else StrategyPlan([Phase(list(prepared))])


def optimizer_groups(plan: StrategyPlan) -> ParamGroups:
    """The optimizer's parameter groups: for a one-phase plan, its groups as they are; otherwise every parameter of
    any phase, grouped so that a group's parameters share their multiplier in every phase (`phase_mults`, 0 where
    they are frozen) and their weight decay."""
    if not plan.multi_phase:
        return [dict(g) for g in plan.phases[0].groups]
    first: dict[int, torch.nn.Parameter] = {}
    mults: dict[int, list[float]] = {}
    decay: dict[int, Any] = {}
    for k, phase in enumerate(plan.phases):
        for g in phase.groups:
            for p in g["params"]:
                first.setdefault(id(p), p)
                mults.setdefault(id(p), [0.0] * len(plan.phases))[k] = float(g["lr_mult"])
                decay.setdefault(id(p), g.get("weight_decay"))
    grouped: dict[tuple[Any, ...], list[torch.nn.Parameter]] = {}
    for pid, p in first.items():
        grouped.setdefault((tuple(mults[pid]), decay[pid]), []).append(p)
    out = []
    for (phase_mults, wd), params in grouped.items():
        group: dict[str, Any] = {"params": params, "lr_mult": phase_mults[0], "phase_mults": list(phase_mults)}
        if wd is not None:
            group["weight_decay"] = wd
        out.append(group)
    return out


def trained_in(phase: Phase) -> set[int]:
    """ids of the parameters that train in `phase`."""
    return {id(p) for g in phase.groups for p in g["params"]}
