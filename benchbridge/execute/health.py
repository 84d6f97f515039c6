"""Did a run learn? `ok`, `diverged` (a non-finite training loss) or `no_learning`.

`no_learning` is any of four signs, checked on the run's final evaluation and its training losses:
1. top-1 not significantly above chance (one-sided binomial test at ALPHA against 1/C);
2. the training loss pinned at ln C (the loss of a uniform guess): every loss of the last tenth within LOSS_BAND,
   unless top-1 is far above chance (p < LEARNED_ALPHA: the run learned, and its record says why it is ok);
3. the training loss stuck above a uniform guess: the mean loss of the last tenth more than ABOVE_CHANCE x ln C
   above ln C. A network that learned anything predicts its own training images better than a uniform guess; one
   that did not (e.g. a learning rate of 1e-9) keeps its initial loss, which for a randomly initialised network is
   often well above ln C, while its top-1 can pass the binomial test on a draw (a random network's guesses are not
   independent coin flips, so a fixed one can sit above 1/C);
4. at the end of training (not for frozen blocks), the network predicts what its starting point predicted for at
   least UNCHANGED of the validation images: training did not move it. Whatever the head's initialisation, a run at
   lr 1e-9 keeps its draw's predictions (rule 3 misses the draws whose loss sits between 1.02 and 1.15 x ln C).
   Rule 4 costs one more validation pass, so it is not checked when the last tenth's mean training loss, over at
   least LEARNED_LOSS_IMAGES images, is below LEARNED_LOSS x ln C: an untrained network cannot predict its own
   training images better than a uniform guess on average (its outputs do not depend on the labels: by Jensen's
   inequality its expected loss over balanced classes is at least ln C), and the 500 draws measured for the
   README's margins sat at 1.002 x ln C or above.
Rule 3 was set on the quickstart's base networks (1 epoch, seeds 0-2, 12 networks each): at lr 1e-9 the last
tenth's mean loss was 1.42 to 2.64 x ln C at the end (1.44 to 2.71 x after 30% of the iterations, where
training.abort_if_no_learning=0.3 checks); at the recipe's lr 0.01 it was at most 0.95 x ln C at the end (at most
1.02 x after 30%). The "loss has fallen" test (first tenth against last tenth) does not separate them: at lr 1e-9
the noise of the batch losses alone made the loss "fall" by up to 0.34 x ln C.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

OK, DIVERGED, NO_LEARNING = "ok", "diverged", "no_learning"
HEALTHS = (OK, DIVERGED, NO_LEARNING)
ALPHA = 0.01
"""One-sided significance level of the test 'top-1 above chance'."""
LOSS_BAND = 0.02
"""A training loss within this fraction of ln C (the loss of a uniform guess) counts as 'at chance'."""
ABOVE_CHANCE = 0.15
"""A mean training loss more than this fraction above ln C, over the last tenth, counts as 'stuck above chance'."""
LAST_FRACTION = 0.1
"""The loss criteria look at this last fraction of the iterations."""
UNCHANGED = 0.99
"""A trained network that predicts what its starting point predicted on this fraction of the validation images (or
more) did not move: rule 4, never overruled."""
LEARNED_LOSS = 0.9
"""A mean training loss of the last tenth below this fraction of ln C shows learning: rule 4 is not checked."""
LEARNED_LOSS_IMAGES = 500
"""...when that last tenth holds at least this many training images: a few small batches can sit below ln C by
chance (a batch of 4 images of the class an untrained network favours), a mean over hundreds cannot."""
LEARNED_ALPHA = 1e-3
"""A top-1 above chance at this one-sided p overrules rule 2 (the loss pinned at ln C): see `no_learning`."""


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


def last_tenth(losses: Sequence[float]) -> Sequence[float]:
    """The losses of the last LAST_FRACTION of the iterations (at least one)."""
    return losses[-max(1, math.ceil(LAST_FRACTION * len(losses))):]


def loss_at_chance(losses: Sequence[float], classes: int) -> bool:
    """Every training loss of the last tenth of `losses` within LOSS_BAND of ln C."""
    if not losses or classes < 2:
        return False
    chance = math.log(classes)
    return all(abs(v - chance) <= LOSS_BAND * chance for v in last_tenth(losses))


def loss_above_chance(losses: Sequence[float], classes: int) -> float | None:
    """The mean training loss of the last tenth when it is more than ABOVE_CHANCE x ln C above ln C, else None."""
    if not losses or classes < 2:
        return None
    tail = last_tenth(losses)
    mean = sum(tail) / len(tail)
    return mean if mean > (1 + ABOVE_CHANCE) * math.log(classes) else None


def loss_shows_learning(losses: Sequence[float], classes: int, batch: int) -> bool:
    """The mean training loss of the last tenth below LEARNED_LOSS x ln C, over at least LEARNED_LOSS_IMAGES
    images (`batch` per loss): no untrained network gets there."""
    if not losses or classes < 2:
        return False
    tail = last_tenth(losses)
    return len(tail) * batch >= LEARNED_LOSS_IMAGES and sum(tail) / len(tail) < LEARNED_LOSS * math.log(classes)


def learned_by_top1(top1: float, images: int, classes: int) -> float | None:
    """The p-value of a top-1 far above chance (p < LEARNED_ALPHA), else None."""
    if images <= 0 or classes < 2:
        return None
    p = chance_p_value(top1, images, classes)
    return p if p < LEARNED_ALPHA else None


def no_learning(top1: float, images: int, classes: int, losses: Sequence[float]) -> str | None:
    """Why the run shows no learning (every sign that fired, joined), or None when it learned.

    Rule 2 (the loss pinned at ln C) gives way to a top-1 far above chance (`learned_by_top1`): a small target
    trained with dropout and augmentation can keep a training loss near ln C while it classifies its validation
    images far better than guessing. Rule 3 never does: it is what catches lr 1e-9, whose random draw can pass the
    binomial test. The margins are in the README's Reliability section (benchmarks/health_margins.py)."""
    if classes < 2:
        return None
    signs = []
    if images > 0:
        p = chance_p_value(top1, images, classes)
        if p >= ALPHA:
            signs.append(f"top-1 {top1:.3f} on {images} images is not significantly above chance 1/{classes} = "
                         f"{1 / classes:.3f} (one-sided binomial test p = {p:.3g} >= {ALPHA})")
    tail = len(last_tenth(losses))
    above = loss_above_chance(losses, classes)
    if loss_at_chance(losses, classes) and learned_by_top1(top1, images, classes) is None:
        signs.append(f"training loss stayed within {LOSS_BAND:.0%} of ln {classes} = {math.log(classes):.3f} over "
                     f"the last {tail} iterations")
    elif above is not None:
        signs.append(f"mean training loss over the last {tail} iterations is {above:.3f}, more than "
                     f"{ABOVE_CHANCE:.0%} above ln {classes} = {math.log(classes):.3f} (the loss of a uniform guess): "
                     "the network predicts its own training images worse than guessing")
    return "; ".join(signs) or None


def unchanged(fraction: float | None) -> str | None:
    """Rule 4: why a network whose predictions did not change with training shows no learning, or None."""
    if fraction is None or fraction < UNCHANGED:
        return None
    return (f"after training it predicts the same class as its starting point for {fraction:.1%} of the validation "
            f"images (>= {UNCHANGED:.0%}): training did not move it (a learning rate far too small?)")


def judge(diverged: str | None, top1: float, images: int, classes: int,
          losses: Sequence[float]) -> tuple[str, str | None]:
    """(health, reason) of a finished run; `diverged` is the reason it diverged, if it did."""
    if diverged:
        return DIVERGED, diverged
    why = no_learning(top1, images, classes, losses)
    if why:
        return NO_LEARNING, why
    p = learned_by_top1(top1, images, classes)
    if p is not None and loss_at_chance(losses, classes):
        return OK, (f"training loss stayed within {LOSS_BAND:.0%} of ln {classes} over the last "
                    f"{len(last_tenth(losses))} iterations, but top-1 {top1:.3f} on {images} images is far above "
                    f"chance 1/{classes} (p = {p:.2g} < {LEARNED_ALPHA:g}): it learned")
    return OK, None
