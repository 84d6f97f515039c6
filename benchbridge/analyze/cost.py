"""Full costs: per measurement, what it needs trained, its own time, and the grid training it replaces.

Training seconds come from each run's record (`wall_time_s`); a network that stands for several splits (or serves
several groups) is counted once, by run id.
"""

from __future__ import annotations

from typing import Any

NETWORKS = {"A": "baseA", "B": "baseB"}
"""What a measurement's `needs` names, as the grid's conditions ("finetuned" is the T-metric's AnB+ or BnB+)."""

DEFAULT_NEEDS = ("A", "B")
"""An analysis that does not declare its needs is charged for both base networks (their features are extracted)."""

TARGETS = {"AnB/baseB": ("baseA", "baseB", "AnB"), "AnB+/baseB": ("baseA", "baseB", "AnB+")}
"""The grid runs that each question's target is measured with."""


def _runs(groups: list[dict[str, Any]], pick: Any) -> dict[str, float]:
    """Run id -> training seconds of the runs `pick(group, run)` selects, each run once."""
    return {r["run_id"]: r["train_s"] for g in groups for r in g["runs"] if pick(g, r)}


def needed(groups: list[dict[str, Any]], needs: tuple[str, ...]) -> dict[str, float]:
    """The runs a measurement needs trained: base networks by half, and the T-metric's fine-tuned network."""
    conditions = {NETWORKS[x] for x in needs if x in NETWORKS}
    finetuned = {(g.get("t_metric_network") or {}).get("run_id") for g in groups} if "finetuned" in needs else set()
    return _runs(groups, lambda g, r: r["condition"] in conditions or r["run_id"] in finetuned)


def grid_runs(groups: list[dict[str, Any]], target: str) -> dict[str, float]:
    return _runs(groups, lambda g, r: r["condition"] in TARGETS[target])


def measurement_costs(groups: list[dict[str, Any]], owners: dict[str, str], needs: dict[str, tuple[str, ...]],
                      analysis_s: dict[str, float], features_s: float) -> list[dict[str, Any]]:
    """One row per series: needs (run ids, seconds), own seconds, and what it replaces per target."""
    rows = []
    for series, analysis in owners.items():
        runs = needed(groups, needs.get(series, DEFAULT_NEEDS))
        own = features_s + analysis_s.get(analysis, 0.0)
        rows.append({"measurement": series, "analysis": analysis, "needs": list(needs.get(series, DEFAULT_NEEDS)),
                     "needs_runs": len(runs), "needs_train_s": sum(runs.values()), "own_s": own,
                     "own_s_note": "feature extraction of every network (shared by all measurements) + this "
                                   "analysis's time",
                     "total_s": sum(runs.values()) + own, "replaces": _replaces(groups, runs)})
    return rows


def _replaces(groups: list[dict[str, Any]], runs: dict[str, float]) -> dict[str, Any]:
    """Per target: the grid's training seconds for it, less the runs the predictor needs anyway."""
    out = {}
    for target in TARGETS:
        grid = grid_runs(groups, target)
        out[target] = {"grid_runs": len(grid), "grid_train_s": sum(grid.values()),
                       "replaced_runs": len(set(grid) - set(runs)),
                       "replaced_train_s": sum(s for rid, s in grid.items() if rid not in runs)}
    return out


def proxy_cost(groups: list[dict[str, Any]], proxy_runs: dict[str, float]) -> dict[str, Any]:
    """The proxy grid's own training against the full grid's, per target."""
    return {"measurement": "proxy grid", "analysis": "proxy", "needs": ["the proxy grid"],
            "needs_runs": len(proxy_runs), "needs_train_s": sum(proxy_runs.values()), "own_s": 0.0,
            "total_s": sum(proxy_runs.values()), "replaces": _replaces(groups, {})}


def summary(groups: list[dict[str, Any]], features_s: float, analysis_s: dict[str, float]) -> dict[str, Any]:
    """Totals: feature extraction, each analysis, and the grid's training by condition (each run once)."""
    conditions = list(dict.fromkeys(r["condition"] for g in groups for r in g["runs"]))
    return {"features_s": features_s, "analysis_s": analysis_s,
            "train_s": {c: sum(_runs(groups, lambda g, r, c=c: r["condition"] == c).values()) for c in conditions},
            "train_runs": {c: len(_runs(groups, lambda g, r, c=c: r["condition"] == c)) for c in conditions}}
