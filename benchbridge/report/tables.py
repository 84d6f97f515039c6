"""The report's tables: the grid, Table 1 (boost of AnB+), the transfer gap per depth, cost and run health, each row
typed until a renderer writes it (`to_dict` for JSON)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from statistics import mean
from typing import Any

from benchbridge.report.grid import RANDOM, Grid
from benchbridge.report.stats import Stat, summarize
from benchbridge.results import Result


@dataclass(frozen=True)
class Cell:
    """One (family, condition, n) of the grid: top-1 and top-1 relative to baseB, the values behind them, and why
    any of them is not a result. Typed until a renderer writes it (`to_dict` for JSON)."""

    family: str
    condition: str
    n: int
    depth: float
    top1: Stat | None
    relative: Stat | None  # None for baseA: the source's own task is not the target's
    values: list[float]
    unhealthy: list[str]

    def stat(self, relative: bool) -> Stat | None:
        return self.relative if relative else self.top1

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "condition": self.condition, "n": self.n, "depth": self.depth,
                "top1": self.top1.to_dict() if self.top1 else None,
                "relative": self.relative.to_dict() if self.relative else None,
                "values": self.values, "unhealthy": self.unhealthy}


def grid_table(grid: Grid) -> list[Cell]:
    """One cell per (family, condition, n): top-1 and top-1 relative to baseB, mean and 95% CI."""
    return [Cell(family, condition, n, n / grid.n_cuts, grid.stat(family, condition, n),
                 grid.stat(family, condition, n, relative=True), grid.values(family, condition, n),
                 grid.unhealthy(family, condition, n))
            for family in grid.families for condition in grid.conditions(family)
            for n in grid.ns(family, condition)]


def table1_ranges(n_cuts: int) -> list[tuple[int, int]]:
    """The paper's ranges 1-7, 3-7, 5-7, scaled to a model with `n_cuts` cut points."""
    starts = [1, max(1, round(3 * n_cuts / 7)), max(1, round(5 * n_cuts / 7))]
    return list(dict.fromkeys((s, n_cuts) for s in starts))


@dataclass(frozen=True)
class Boost:
    """AnB+ minus a reference, averaged over a range of n per split and seed, then over those; the n it used."""

    stat: Stat
    n_used: list[int]

    def to_dict(self) -> dict[str, Any]:
        return {**self.stat.to_dict(), "n_used": self.n_used}


@dataclass(frozen=True)
class Table1Row:
    """One range of n of Table 1: the boost of AnB+ over baseB and over BnB+ (None: no pairs to average)."""

    family: str
    layers: str
    over_baseB: Boost | None
    over_BnBplus: Boost | None

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "layers": self.layers,
                "over_baseB": self.over_baseB.to_dict() if self.over_baseB else None,
                "over_BnB+": self.over_BnBplus.to_dict() if self.over_BnBplus else None}


@dataclass(frozen=True)
class GapRow:
    """AnB relative to baseB minus 1 for one family and n of one grid (negative: transfer lost accuracy)."""

    grid: str
    family: str
    n: int
    depth: float
    gap: Stat

    def to_dict(self) -> dict[str, Any]:
        return {"grid": self.grid, "family": self.family, "n": self.n, "depth": self.depth, "gap": self.gap.to_dict()}


@dataclass(frozen=True)
class RunRef:
    """One planned run by its id and its own label."""

    id: str
    condition: str
    n: int
    pair: str
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BrokenRun(RunRef):
    """A run whose record cannot be read, and why."""

    reason: str


@dataclass(frozen=True)
class RunCost(RunRef):
    """What one finished run cost."""

    wall_time_s: float
    device_hours: float


@dataclass(frozen=True)
class HealthRow(RunRef):
    """A run that is not healthy (diverged, no_learning) or was blocked by one, and why."""

    health: str
    reason: str


@dataclass(frozen=True)
class ConditionCost:
    """Finished runs of one condition: how many, their wall time and device-hours."""

    runs: int
    wall_time_s: float
    device_hours: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Cost:
    """Wall time and device-hours per condition and for the grid; which runs are done, missing, blocked, broken."""

    runs: int
    done: int
    missing: list[RunRef]
    blocked: list[RunRef]
    broken: list[BrokenRun]
    per_run: list[RunCost]
    wall_time_s: float
    device_hours: float
    devices: list[str]
    by_condition: dict[str, ConditionCost]

    def to_dict(self) -> dict[str, Any]:
        return {"runs": self.runs, "done": self.done, "missing": [r.to_dict() for r in self.missing],
                "blocked": [r.to_dict() for r in self.blocked], "broken": [r.to_dict() for r in self.broken],
                "per_run": [r.to_dict() for r in self.per_run], "wall_time_s": self.wall_time_s,
                "device_hours": self.device_hours, "devices": self.devices,
                "by_condition": {k: v.to_dict() for k, v in self.by_condition.items()}}


def paired_boost(grid: Grid, family: str, over: str, lo: int, hi: int) -> Boost | None:
    """AnB+ minus `over` (baseB or BnB+), averaged over n in lo..hi per split and seed, then over those."""
    per_unit: dict[tuple[str, int], list[float]] = defaultdict(list)
    index = {(s.pair, s.seed, s.condition, s.n): s.top1 for s in grid.samples if s.family == family}
    used: set[int] = set()
    for (split, seed, condition, n), top1 in index.items():
        if condition != "AnB+" or not lo <= n <= hi:
            continue
        ref = index.get((split, seed, "baseB", 0) if over == "baseB" else (split, seed, over, n))
        if ref is not None:
            per_unit[(split, seed)].append(top1 - ref)
            used.add(n)
    if not per_unit:
        return None
    return Boost(summarize([mean(v) for v in per_unit.values()]), sorted(used))


def table1(grid: Grid, family: str = RANDOM) -> list[Table1Row]:
    """Boost of AnB+ over baseB and over BnB+ (top-1 difference), averaged over each range of n."""
    return [Table1Row(family, f"{lo}-{hi}", paired_boost(grid, family, "baseB", lo, hi),
                      paired_boost(grid, family, "BnB+", lo, hi))
            for lo, hi in table1_ranges(grid.n_cuts)]


def transfer_gap(grid: Grid) -> list[GapRow]:
    """AnB relative to baseB minus 1, per family and n (negative: transfer lost accuracy)."""
    rows = []
    for family in grid.families:
        for n in grid.ns(family, "AnB"):
            vals = [v - 1 for v in grid.values(family, "AnB", n, relative=True)]
            if vals:
                rows.append(GapRow(grid.name, family, n, n / grid.n_cuts, summarize(vals)))
    return rows


def _labels(r: Result) -> tuple[str, str, int, str, int]:
    """A run's id, condition, n, split and seed: the fields of a `RunRef`."""
    return r.run.id, r.run.condition, r.run.n, r.run.pair, r.run.seed


def cost(grid: Grid) -> Cost:
    """Wall time and device-hours per condition and for the grid; what is done, blocked, broken and missing."""
    runs: dict[str, int] = {}
    wall: dict[str, float] = {}
    hours: dict[str, float] = {}
    devices: set[str] = set()
    for res in grid.results:
        if res.record is None:
            continue
        k = res.run.condition
        runs[k] = runs.get(k, 0) + 1
        wall[k] = wall.get(k, 0.0) + res.record.wall_time_s
        hours[k] = hours.get(k, 0.0) + res.record.hours()
        devices.add(res.record.device or "?")
    by_condition = {k: ConditionCost(runs[k], wall[k], hours[k]) for k in runs}
    # not finished: blocked (a source is unhealthy: in the health table), broken (unreadable record), or missing
    blocked = [RunRef(*_labels(r)) for r in grid.results if r.record is None and r.run.id in grid.blocked
               and not r.broken]
    broken = [BrokenRun(*_labels(r), r.broken) for r in grid.results if r.broken]
    missing = [RunRef(*_labels(r)) for r in grid.results
               if r.record is None and r.run.id not in grid.blocked and not r.broken]
    per_run = [RunCost(*_labels(r), r.record.wall_time_s, r.record.hours()) for r in grid.results
               if r.record is not None]
    return Cost(len(grid.results), len(per_run), missing, blocked, broken, per_run,
                sum(c.wall_time_s for c in by_condition.values()), sum(c.device_hours for c in by_condition.values()),
                sorted(devices), by_condition)


def health(grid: Grid) -> list[HealthRow]:
    """Every run whose health is not ok, and every run not trained because a run it copies from is unhealthy."""
    rows = []
    for r in grid.results:
        state = r.health
        if state is None and r.run.id in grid.blocked:
            b = grid.blocked[r.run.id]
            state, reason = "blocked", f"not trained: copies from {b['blocked_by']}, which is {b.get('health')}"
        elif state in (None, "ok"):
            continue
        else:
            reason = (r.record.health_reason if r.record else None) or ""
        rows.append(HealthRow(*_labels(r), state, reason))
    return rows
