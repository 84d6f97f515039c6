"""A results directory as the report sees it: samples per (family, condition, n), with their statistics."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from benchbridge.manifest import condition_key
from benchbridge.report.stats import Stat, summarize
from benchbridge.results import Result, blocked_runs, load_results, saved_manifest

RANDOM = "random"
SOURCE_BASE = "baseA"
"""The source's own base network: its top-1 is on the source's task, never divided by the target's."""


def family_of(split: str, kind: str) -> str:
    """Splits whose plugin declared them random pool into one family; every other split is its own."""
    return RANDOM if kind == "random" else split


@dataclass(frozen=True)
class Sample:
    """One finished network under one of its labels."""

    run_id: str
    pair: str
    seed: int
    condition: str
    n: int
    top1: float
    relative: float | None  # top1 / baseB's top1 of the same split and seed (None for baseA: another task)
    family: str = ""
    unhealthy: str | None = None  # why this number is not a result: the network or its source is unhealthy


@dataclass
class Grid:
    """One results directory: its samples and what defines it."""

    name: str
    path: Path
    results: list[Result]
    manifest: dict[str, Any]
    n_cuts: int
    samples: list[Sample] = field(default_factory=list)
    blocked: dict[str, dict[str, Any]] = field(default_factory=dict)  # run id -> blocked.json

    @property
    def families(self) -> list[str]:
        return list(dict.fromkeys(f for r in self.results for f, _ in _family_labels(r)))

    def kind(self, family: str) -> str:
        """The split kind of a family (random, dissimilar, other), as the split plugins declared it."""
        if family == RANDOM:
            return "random"
        kinds = {k for r in self.results for s, k in r.families.items() if s == family}
        return kinds.pop() if len(kinds) == 1 else "other"

    def is_dissimilar(self, family: str) -> bool:
        return self.kind(family) == "dissimilar"

    def problems(self, families: list[str], conditions: tuple[str, ...]) -> list[str]:
        """Why numbers of these conditions on these families are not results: unhealthy or blocked runs."""
        out = []
        for s in self.samples:
            if s.unhealthy and s.family in families and s.condition in conditions:
                out.append(f"{s.condition} n={s.n} {s.pair} s{s.seed}: {s.unhealthy}")
        for res in self.results:
            record = self.blocked.get(res.run.id) if res.record is None else None
            for fam, condition in _family_labels(res) if record else []:
                if fam in families and condition in conditions:
                    out.append(f"{condition} n={res.run.n} {res.run.pair} s{res.run.seed}: not trained, "
                               f"blocked by {record['blocked_by']} ({record.get('health')})")
        return list(dict.fromkeys(out))

    def values(self, family: str, condition: str, n: int, relative: bool = False) -> list[float]:
        out = []
        for s in self.samples:
            if s.family == family and s.condition == condition and s.n == n:
                v = s.relative if relative else s.top1
                if v is not None:
                    out.append(v)
        return out

    def stat(self, family: str, condition: str, n: int, relative: bool = False) -> Stat | None:
        vals = self.values(family, condition, n, relative)
        return summarize(vals) if vals else None

    def ns(self, family: str, condition: str) -> list[int]:
        return sorted({s.n for s in self.samples if s.family == family and s.condition == condition})

    def unhealthy(self, family: str, condition: str, n: int) -> list[str]:
        """Reasons why samples of this cell are not results (empty when every network of it is healthy)."""
        return [s.unhealthy for s in self.samples
                if s.family == family and s.condition == condition and s.n == n and s.unhealthy]

    def conditions(self, family: str) -> list[str]:
        found = {s.condition for s in self.samples if s.family == family}
        return sorted(found, key=condition_key)

    def base_stat(self, family: str, relative: bool = False) -> Stat | None:
        return self.stat(family, "baseB", 0, relative)

    def describe(self) -> str:
        model = self.manifest.get("model", {})
        data = self.manifest.get("dataset", {})
        opts = model.get("options") or {}
        extra = ", ".join(f"{k}={opts[k]}" for k in ("width", "input_size") if k in opts)
        return f"{model.get('name', '?')}" + (f" ({extra})" if extra else "") + f" on {data.get('name', '?')}"


def load_grid(run_dir: str | Path) -> Grid:
    """Read a results directory: plan, metrics and the resolved manifest."""
    path = Path(run_dir)
    results = load_results(path)
    manifest = saved_manifest(path)
    name = manifest.get("name") or path.name
    grid = Grid(name, path, results, manifest, num_cut_points(results), blocked=blocked_runs(path))
    grid.samples = make_samples(results)
    return grid


def _family_labels(res: Result) -> list[tuple[str, str]]:
    """(family, condition) of every label of a network."""
    kinds = res.families
    return [(family_of(split, kinds.get(split, "other")), condition) for split, condition in res.labels]


def health_problem(res: Result, by_id: dict[str, Result]) -> str | None:
    """Why a finished network's number is not a result: it, or the network it copies from, is unhealthy."""
    if res.health not in (None, "ok"):
        return f"{res.health} ({res.record.health_reason if res.record else None})"
    source = by_id.get(res.run.source) if res.run.source else None
    if source is not None and source.health not in (None, "ok"):
        return f"built on {source.run.condition} {source.run.id}, which is {source.health}"
    return None


def num_cut_points(results: list[Result]) -> int:
    """As the runs recorded it; for records from before it was recorded, the deepest n of the plan."""
    recorded = {r.record.cut_points for r in results if r.record is not None and r.record.cut_points}
    if recorded:
        return max(recorded)
    return max((r.run.n for r in results), default=0) or 1


def make_samples(results: list[Result]) -> list[Sample]:
    """One sample per finished network and label; relative to baseB of the same split and seed."""
    base: dict[tuple[str, int], float] = {}
    for res in results:
        if res.record is not None:
            for split, condition in res.labels:
                if condition == "baseB":
                    base[(split, res.run.seed)] = res.record.top1
    samples = []
    by_id = {r.run.id: r for r in results}
    for res in results:
        if res.record is None:
            continue
        top1 = res.record.top1
        problem = health_problem(res, by_id)
        kinds = res.families
        for split, condition in res.labels:
            b = base.get((split, res.run.seed))
            rel = top1 / b if b and condition != SOURCE_BASE else None  # a source's own task is not the target's
            samples.append(Sample(res.run.id, split, res.run.seed, condition, res.run.n, top1, rel,
                                  family_of(split, kinds.get(split, "other")), problem))
    return samples
