"""A results directory as the report sees it: samples per (family, condition, n), with their statistics."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchbridge import store
from benchbridge.manifest import condition_key
from benchbridge.report.stats import Stat, summarize
from benchbridge.results import Result, load_results

RANDOM = "random"


def family_of(split: str) -> str:
    """Random splits ("random-s0", "random-s1", ...) pool into one family; every other split is its own."""
    return RANDOM if split.startswith("random") else split


def is_dissimilar(family: str) -> bool:
    return "->" in family


@dataclass(frozen=True)
class Sample:
    """One finished network under one of its labels."""

    run_id: str
    split: str
    seed: int
    condition: str
    n: int
    top1: float
    relative: float | None  # top1 / baseB's top1 of the same split and seed


@dataclass
class Grid:
    """One results directory: its samples and what defines it."""

    name: str
    path: Path
    results: list[Result]
    manifest: dict[str, Any]
    n_cuts: int
    samples: list[Sample] = field(default_factory=list)

    @property
    def families(self) -> list[str]:
        return list(dict.fromkeys(family_of(r.run.split) for r in self.results))

    def values(self, family: str, condition: str, n: int, relative: bool = False) -> list[float]:
        out = []
        for s in self.samples:
            if family_of(s.split) == family and s.condition == condition and s.n == n:
                v = s.relative if relative else s.top1
                if v is not None:
                    out.append(v)
        return out

    def stat(self, family: str, condition: str, n: int, relative: bool = False) -> Stat | None:
        vals = self.values(family, condition, n, relative)
        return summarize(vals) if vals else None

    def ns(self, family: str, condition: str) -> list[int]:
        return sorted({s.n for s in self.samples if family_of(s.split) == family and s.condition == condition})

    def conditions(self, family: str) -> list[str]:
        found = {s.condition for s in self.samples if family_of(s.split) == family}
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
    manifest_file = path / store.MANIFEST_FILE
    manifest = yaml.safe_load(manifest_file.read_text()) if manifest_file.is_file() else {}
    name = manifest.get("name") or path.name
    grid = Grid(name, path, results, manifest, num_cut_points(results))
    grid.samples = make_samples(results)
    return grid


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
    for res in results:
        if res.record is None:
            continue
        top1 = res.record.top1
        for split, condition in res.labels:
            b = base.get((split, res.run.seed))
            rel = top1 / b if b else None
            samples.append(Sample(res.run.id, split, res.run.seed, condition, res.run.n, top1, rel))
    return samples
