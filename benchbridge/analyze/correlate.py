"""How well each measurement predicts the grid: Spearman's rho with AnB / baseB over n, and what it cost."""

from __future__ import annotations

from typing import Any

from benchbridge.analyze.metrics import spearman

MIN_POINTS = 3
"""Fewer points than this give no rho (two points always rank-correlate at +-1)."""

TARGET = "AnB/baseB"


def _pairs(group: dict[str, Any], series: str) -> list[tuple[float, float]]:
    measured = group["measured"][TARGET]
    values = group["series"].get(series, {})
    return [(values[n], measured[n]) for n in values if n in measured and values[n] is not None]


def _rho(pairs: list[tuple[float, float]]) -> dict[str, Any]:
    rho = spearman([p[0] for p in pairs], [p[1] for p in pairs]) if len(pairs) >= MIN_POINTS else None
    return {"rho": None if rho is None or rho != rho else rho, "points": len(pairs)}


def series_names(groups: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(name for g in groups for name in g["series"]))


def correlations(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per series: rho per split/seed over n, and pooled over every split/seed's points."""
    rows = []
    for name in series_names(groups):
        per = [{"split": g["split"], "seed": g["seed"], **_rho(_pairs(g, name))} for g in groups]
        pooled = _rho([p for g in groups for p in _pairs(g, name)])
        analysis = next(g["series_analysis"][name] for g in groups if name in g["series"])
        rows.append({"series": name, "analysis": analysis, "target": TARGET, "per_group": per, "pooled": pooled})
    return rows


def costs(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """Seconds spent: feature extraction, each analysis, and the AnB training runs they stand in for."""
    analyses = list(dict.fromkeys(a for g in groups for a in g["analysis_s"]))
    return {"features_s": sum(g["features_s"] for g in groups),
            "analysis_s": {a: sum(g["analysis_s"].get(a, 0.0) for g in groups) for a in analyses},
            "train_s": {c: sum(g["train_s"][c] for g in groups) for c in ("AnB", "baseA", "baseB")}}
