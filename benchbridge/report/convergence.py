"""Did the base networks converge? A base still rising over the last quarter of training is flagged.

The curve judged is the holdout curve (held-out training images, `evaluation.holdout`) when the run recorded one,
else the validation curve."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchbridge.report.grid import Grid

RISE = 0.01
"""Top-1 gained over the last quarter of training above which a base network counts as still rising."""


@dataclass(frozen=True)
class Rise:
    """Top-1 gained over the last quarter of training, whether that is still rising (None: cannot tell), and why."""

    gained: float | None
    still_rising: bool | None
    rule: str


@dataclass(frozen=True)
class BaseCurve:
    """One finished base network: its curve (iteration, top-1), which images it is on, and whether it still rose."""

    id: str
    labels: list[str]
    curve: list[tuple[int, float]]
    on: str  # holdout or validation
    health: str | None
    stop_reason: str | None
    rise: Rise

    @property
    def still_rising(self) -> bool | None:
        return self.rise.still_rising

    def to_dict(self) -> dict[str, Any]:
        """As the JSON report has it: everything but the curve."""
        return {"id": self.id, "labels": self.labels, "on": self.on, "health": self.health,
                "stop_reason": self.stop_reason, "rise": self.rise.gained, "still_rising": self.rise.still_rising,
                "rule": self.rise.rule}


def base_curves(grid: Grid) -> list[BaseCurve]:
    """Each finished base network's validation curve and whether it was still rising at the end."""
    out = []
    for res in grid.results:
        if res.record is None or not res.run.condition.startswith("base"):
            continue
        curve = [p.model_dump() for p in res.record.curve]
        key = curve_key(curve)
        labels = [f"{c} {s} s{res.run.seed}" for s, c in res.labels]
        out.append(BaseCurve(res.run.id, labels, [(p["iteration"], p[key]) for p in curve],
                             "holdout" if key == HOLDOUT else "validation", res.health, res.record.stop_reason,
                             rise(curve, key)))
    return out


HOLDOUT = "holdout_top1"


def curve_key(curve: list[dict[str, Any]]) -> str:
    """holdout_top1 when every evaluation has it, else top1 (the validation images)."""
    return HOLDOUT if curve and all(p.get(HOLDOUT) is not None for p in curve) else "top1"


def rise(curve: list[dict[str, Any]], key: str = "top1") -> Rise:
    """`key` (top-1) at the end minus at the last evaluation before the final quarter of iterations."""
    if len(curve) < 2:
        return Rise(None, None, "fewer than two evaluations: cannot tell")
    total = curve[-1]["iteration"]
    before = [p for p in curve[:-1] if p["iteration"] <= 0.75 * total] or curve[:1]
    anchor = before[-1]
    gained = curve[-1][key] - anchor[key]
    what = "holdout top-1" if key == HOLDOUT else "top-1"
    rule = (f"{what} {anchor[key]:.3f} at iteration {anchor['iteration']} -> {curve[-1][key]:.3f} at "
            f"{total}: {gained:+.3f} (still rising if > +{RISE:.2f})")
    return Rise(gained, gained > RISE, rule)


def unconverged(grid: Grid) -> list[BaseCurve]:
    return [c for c in base_curves(grid) if c.still_rising]


PITFALL = ("Base networks still rising at the end of training: a transferred network's copied layers have been "
           "trained twice, so BnB, BnB+ and AnB+ can beat baseB for reasons that have nothing to do with transfer, "
           "and the co-adaptation dip can disappear. Findings 2, 3 and 4 are unreliable at this budget; "
           "compare AnB+ with BnB+ (equal total training), and train longer.")
