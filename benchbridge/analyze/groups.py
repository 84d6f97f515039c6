"""A results directory seen as groups (split x seed): their finished runs and measured curves."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchbridge.errors import UserError
from benchbridge.results import Result, load_results


@dataclass
class Group:
    """One split and seed of the grid, with its finished runs by (condition, n)."""

    split: str
    seed: int
    runs: dict[tuple[str, int], Result]

    def base(self, half: str) -> Result | None:
        return self.runs.get((f"base{half}", 0))


def groups(results: list[Result]) -> list[Group]:
    """Finished runs grouped by (split, seed) in plan order; a network with several labels is in each group."""
    found: dict[tuple[str, int], Group] = {}
    for res in results:
        if res.record is None:
            continue
        for split, condition in res.labels:
            g = found.setdefault((split, res.run.seed), Group(split, res.run.seed, {}))
            g.runs[condition, res.run.n] = res
    return list(found.values())


def _curve(g: Group, condition: str) -> dict[str, float]:
    runs = sorted(((n, r) for (c, n), r in g.runs.items() if c == condition), key=lambda kv: kv[0])
    return {str(n): r.record.top1 for n, r in runs if r.record is not None}


def measured(g: Group) -> dict[str, Any]:
    """The grid's AnB and AnB+ curves, baseB, and each curve over baseB at each n."""
    base_b = g.base("B")
    b = base_b.record.top1 if base_b is not None and base_b.record else None
    out: dict[str, Any] = {"baseB": b}
    for condition in ("AnB", "AnB+"):
        curve = _curve(g, condition)
        out[condition] = curve
        out[f"{condition}/baseB"] = {n: v / b for n, v in curve.items()} if b else {}
    return out


def runs(g: Group) -> list[dict[str, Any]]:
    """Every finished run of the group: condition, n, run id and training seconds."""
    return [{"condition": c, "n": n, "run_id": r.run.id, "train_s": r.record.wall_time_s}
            for (c, n), r in g.runs.items() if r.record is not None]


def proxy_curves(proxy_dir: str | Path, wanted: list[tuple[str, int]]) -> tuple[dict[tuple[str, int], Any],
                                                                                dict[str, float]]:
    """The proxy grid's measured curves per (split, seed) among `wanted`, and its training seconds per run id."""
    found = {(g.split, g.seed): g for g in groups(load_results(proxy_dir))}
    common = [key for key in wanted if key in found]
    if not common:
        names = ", ".join(f"{s} seed {d}" for s, d in wanted)
        raise UserError(f"the proxy grid has none of this grid's splits and seeds ({names}).",
                        file=str(proxy_dir), hint="Run the same manifest with a smaller budget, e.g. "
                        "`training.epochs=1 data.images_per_class=200 output_dir=...`, and pass that folder.")
    curves = {key: measured(found[key]) for key in common}
    seconds = {r["run_id"]: r["train_s"] for key in common for r in runs(found[key])}
    return curves, seconds
