"""The report's tables: the grid, Table 1 (boost of AnB+), the transfer gap per depth, and cost."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from statistics import mean
from typing import Any

from benchbridge.report.grid import RANDOM, Grid
from benchbridge.report.stats import Stat, summarize


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


def paired_boost(grid: Grid, family: str, over: str, lo: int, hi: int) -> dict[str, Any] | None:
    """AnB+ minus `over` (baseB or BnB+), averaged over n in lo..hi per split and seed, then over those."""
    per_unit: dict[tuple[str, int], list[float]] = defaultdict(list)
    index = {(s.split, s.seed, s.condition, s.n): s.top1 for s in grid.samples if s.family == family}
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
    stat = summarize([mean(v) for v in per_unit.values()])
    return {**stat.to_dict(), "n_used": sorted(used)}


def table1(grid: Grid, family: str = RANDOM) -> list[dict[str, Any]]:
    """Boost of AnB+ over baseB and over BnB+ (top-1 difference), averaged over each range of n."""
    rows = []
    for lo, hi in table1_ranges(grid.n_cuts):
        rows.append({"family": family, "layers": f"{lo}-{hi}",
                     "over_baseB": paired_boost(grid, family, "baseB", lo, hi),
                     "over_BnB+": paired_boost(grid, family, "BnB+", lo, hi)})
    return rows


def transfer_gap(grid: Grid) -> list[dict[str, Any]]:
    """AnB relative to baseB minus 1, per family and n (negative: transfer lost accuracy)."""
    rows = []
    for family in grid.families:
        for n in grid.ns(family, "AnB"):
            vals = [v - 1 for v in grid.values(family, "AnB", n, relative=True)]
            if vals:
                rows.append({"grid": grid.name, "family": family, "n": n, "depth": n / grid.n_cuts,
                             "gap": summarize(vals).to_dict()})
    return rows


def cost(grid: Grid) -> dict[str, Any]:
    """Wall time and device-hours per condition and for the grid; what is done, blocked, broken and missing."""
    by_condition: dict[str, dict[str, float]] = {}
    devices: set[str] = set()
    for res in grid.results:
        if res.record is None:
            continue
        c = by_condition.setdefault(res.run.condition, {"runs": 0, "wall_time_s": 0.0, "device_hours": 0.0})
        c["runs"] += 1
        c["wall_time_s"] += res.record.wall_time_s
        c["device_hours"] += res.record.hours()
        devices.add(res.record.device or "?")
    def entry(r: Any) -> dict[str, Any]:
        return {"id": r.run.id, "condition": r.run.condition, "n": r.run.n, "split": r.run.pair, "seed": r.run.seed}

    # not finished: blocked (a source is unhealthy: in the health table), broken (unreadable record), or missing
    blocked = [entry(r) for r in grid.results if r.record is None and r.run.id in grid.blocked and not r.broken]
    broken = [{**entry(r), "reason": r.broken} for r in grid.results if r.broken]
    missing = [entry(r) for r in grid.results
               if r.record is None and r.run.id not in grid.blocked and not r.broken]
    done = sum(r.record is not None for r in grid.results)
    per_run = [{"id": r.run.id, "condition": r.run.condition, "n": r.run.n, "split": r.run.pair, "seed": r.run.seed,
                "wall_time_s": r.record.wall_time_s, "device_hours": r.record.hours()}
               for r in grid.results if r.record is not None]
    return {"runs": len(grid.results), "done": done, "missing": missing, "blocked": blocked, "broken": broken,
            "per_run": per_run,
            "wall_time_s": sum(c["wall_time_s"] for c in by_condition.values()),
            "device_hours": sum(c["device_hours"] for c in by_condition.values()),
            "devices": sorted(devices), "by_condition": by_condition}


def health(grid: Grid) -> list[dict[str, Any]]:
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
        rows.append({"id": r.run.id, "condition": r.run.condition, "n": r.run.n, "split": r.run.pair,
                     "seed": r.run.seed, "health": state, "reason": reason})
    return rows
