"""Did a run learn? `ok`, `diverged` (a non-finite training loss) or `no_learning` (chance-level result)."""

from __future__ import annotations

import math
from collections.abc import Sequence

OK, DIVERGED, NO_LEARNING = "ok", "diverged", "no_learning"
HEALTHS = (OK, DIVERGED, NO_LEARNING)
ALPHA = 0.01
"""One-sided significance level of the test 'top-1 above chance'."""
LOSS_BAND = 0.02
"""A training loss within this fraction of ln C (the loss of a uniform guess) counts as 'at chance'."""
LAST_FRACTION = 0.1
"""The loss criterion looks at this last fraction of the iterations."""


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed exactly in log space."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0 or p >= 1.0:
        return 0.0 if p <= 0.0 else 1.0
    lp, lq = math.log(p), math.log1p(-p)
    base = math.lgamma(n + 1)
    logs = [base - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq for i in range(k, n + 1)]
    top = max(logs)
    return min(1.0, math.exp(top) * sum(math.exp(v - top) for v in logs))


def chance_p_value(top1: float, images: int, classes: int) -> float:
    """One-sided p-value of a top-1 of `top1` on `images` images against guessing among `classes` classes."""
    return binomial_tail(round(top1 * images), images, 1.0 / classes)


def loss_at_chance(losses: Sequence[float], classes: int) -> bool:
    """Every training loss of the last tenth of `losses` within LOSS_BAND of ln C."""
    if not losses or classes < 2:
        return False
    tail = losses[-max(1, math.ceil(LAST_FRACTION * len(losses))):]
    chance = math.log(classes)
    return all(abs(v - chance) <= LOSS_BAND * chance for v in tail)


def no_learning(top1: float, images: int, classes: int, losses: Sequence[float]) -> str | None:
    """Why the run shows no learning, or None when it learned (the two criteria of the health check)."""
    if classes < 2:
        return None
    if images > 0:
        p = chance_p_value(top1, images, classes)
        if p >= ALPHA:
            return (f"top-1 {top1:.3f} on {images} images is not significantly above chance 1/{classes} = "
                    f"{1 / classes:.3f} (one-sided binomial test p = {p:.3g} >= {ALPHA})")
    if loss_at_chance(losses, classes):
        tail = max(1, math.ceil(LAST_FRACTION * len(losses)))
        return (f"training loss stayed within {LOSS_BAND:.0%} of ln {classes} = {math.log(classes):.3f} over the "
                f"last {tail} iterations")
    return None


def judge(diverged: str | None, top1: float, images: int, classes: int,
          losses: Sequence[float]) -> tuple[str, str | None]:
    """(health, reason) of a finished run; `diverged` is the reason it diverged, if it did."""
    if diverged:
        return DIVERGED, diverged
    why = no_learning(top1, images, classes, losses)
    return (NO_LEARNING, why) if why else (OK, None)
