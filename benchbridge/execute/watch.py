"""A run's health while it trains: a non-finite loss stops it at once; `abort_if_no_learning` stops one that shows
no learning; at the end, the verdict (the rules themselves are in `health`)."""

from __future__ import annotations

import math
from typing import Any

from benchbridge.execute import health
from benchbridge.results.record import CurvePoint


class HealthWatch:
    """The training losses seen so far and what they, and the evaluations, say about the run."""

    def __init__(self, classes: int, total: int, abort_after: float | None, frozen: int) -> None:
        self.classes, self.total, self.abort_after, self.frozen = classes, total, abort_after, frozen
        self.losses: list[float] = []  # training loss of every iteration (the no_learning check reads the end)
        self.abort_checked = False
        self.reason: str | None = None  # why the run diverged or was aborted
        self.unchanged: float | None = None  # at the end: the share of predictions its starting point made too

    def loss(self, value: float, it: int) -> bool:
        """Record iteration `it`'s training loss; False (and the run diverged) when it is not finite."""
        self.losses.append(value)
        if math.isfinite(value):
            return True
        self.reason = f"training loss became {value} at iteration {it} of {self.total}"
        return False

    def abort_due(self, it: int) -> bool:
        """True once, at the first iteration past training.abort_if_no_learning (never for frozen blocks)."""
        frac = self.abort_after
        if frac is None or self.frozen or self.abort_checked or not math.ceil(frac * self.total) <= it < self.total:
            return False
        self.abort_checked = True
        return True

    def abort(self, point: CurvePoint, it: int) -> bool:
        """Judge the evaluation `point` at iteration `it`; True (with the reason kept) when the run must stop."""
        held = point.holdout_top1 is not None and point.holdout_images is not None
        top1 = point.holdout_top1 if held else point.top1
        images = point.holdout_images if held else point.val_images
        why = health.no_learning(top1, images, self.classes, self.losses)
        if why:
            self.reason = (f"{why}; stopped by training.abort_if_no_learning after {it} of {self.total} "
                           f"iterations (on the {'holdout' if held else 'validation'} images)")
        return why is not None

    def verdict(self, stop_reason: str, final: CurvePoint) -> tuple[str, str | None]:
        """(health, reason) of the finished run, from how it stopped and its final evaluation."""
        if stop_reason in (health.DIVERGED, health.NO_LEARNING):
            return stop_reason, self.reason
        state, why = health.judge(None, final.top1, final.val_images, self.classes, self.losses)
        still = health.unchanged(self.unchanged)
        if still:
            state, why = health.NO_LEARNING, f"{why}; {still}" if state == health.NO_LEARNING else still
        if state == health.NO_LEARNING and self.frozen:  # e.g. random frozen layers: what the condition measures
            return health.OK, f"{why}; with {self.frozen} frozen blocks this is a measurement, not a failure"
        return state, why

    def state(self) -> dict[str, Any]:
        return {"losses": self.losses, "abort_checked": self.abort_checked}

    def restore(self, state: dict[str, Any]) -> None:
        self.losses, self.abort_checked = state.get("losses", []), state.get("abort_checked", False)
