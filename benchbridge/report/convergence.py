"""Did the base networks converge? A base still rising over the last quarter of training is flagged.

The curve judged is the holdout curve (held-out training images, `evaluation.holdout`) when the run recorded one,
else the validation curve."""

from __future__ import annotations

from typing import Any

from benchbridge.report.grid import Grid

RISE = 0.01
"""Top-1 gained over the last quarter of training above which a base network counts as still rising."""


def base_curves(grid: Grid) -> list[dict[str, Any]]:
    """Each finished base network's validation curve and whether it was still rising at the end."""
    out = []
    for res in grid.results:
        if res.record is None or not res.run.condition.startswith("base"):
            continue
        curve = [p.model_dump() for p in res.record.curve]
        key = curve_key(curve)
        labels = [f"{c} {s} s{res.run.seed}" for s, c in res.labels]
        out.append({"id": res.run.id, "labels": labels, "curve": [(p["iteration"], p[key]) for p in curve],
                    "on": "holdout" if key == HOLDOUT else "validation", "health": res.health,
                    "stop_reason": res.record.stop_reason, **rise(curve, key)})
    return out


HOLDOUT = "holdout_top1"


def curve_key(curve: list[dict[str, Any]]) -> str:
    """holdout_top1 when every evaluation has it, else top1 (the validation images)."""
    return HOLDOUT if curve and all(p.get(HOLDOUT) is not None for p in curve) else "top1"


def rise(curve: list[dict[str, Any]], key: str = "top1") -> dict[str, Any]:
    """`key` (top-1) at the end minus at the last evaluation before the final quarter of iterations."""
    if len(curve) < 2:
        return {"rise": None, "still_rising": None, "rule": "fewer than two evaluations: cannot tell"}
    total = curve[-1]["iteration"]
    before = [p for p in curve[:-1] if p["iteration"] <= 0.75 * total] or curve[:1]
    anchor = before[-1]
    gained = curve[-1][key] - anchor[key]
    what = "holdout top-1" if key == HOLDOUT else "top-1"
    rule = (f"{what} {anchor[key]:.3f} at iteration {anchor['iteration']} -> {curve[-1][key]:.3f} at "
            f"{total}: {gained:+.3f} (still rising if > +{RISE:.2f})")
    return {"rise": gained, "still_rising": gained > RISE, "rule": rule}


def unconverged(grid: Grid) -> list[dict[str, Any]]:
    return [c for c in base_curves(grid) if c["still_rising"]]


PITFALL = ("Base networks still rising at the end of training: a transferred network's copied layers have been "
           "trained twice, so BnB, BnB+ and AnB+ can beat baseB for reasons that have nothing to do with transfer, "
           "and the co-adaptation dip can disappear. Findings 2, 3 and 4 are unreliable at this budget; "
           "compare AnB+ with BnB+ (equal total training), and train longer.")
