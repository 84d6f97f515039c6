"""Tests for few points: pooling rho over groups, an exact sign test, an exact permutation test of rank correlation.

A verdict is `True` (beats the baseline at ALPHA), `False` (does not), or `None` with a reason (not enough groups or
points to test). Nothing here mixes raw values of different groups.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from benchbridge.analyze.metrics import spearman

ALPHA = 0.05
"""One-sided significance level of every verdict."""

MIN_GROUPS = 5
"""Fewer groups than this cannot reach ALPHA: an exact sign test over 4 groups has p >= 1/16."""

MIN_POINTS = 3
"""Fewer points than this give no rho (two points always rank-correlate at +-1)."""

EXACT_PERMUTATIONS = 7
"""Up to this many groups the permutation test enumerates every permutation; above it, RANDOM_PERMUTATIONS draws."""

RANDOM_PERMUTATIONS = 20_000
FISHER_CLIP = 0.999
"""|rho| is clipped to this before atanh, so rho = +-1 gives a large finite z."""

SIGN_TEST = (f"exact one-sided sign test over groups of the per-group difference (measurement - baseline); ties "
             f"(difference 0) dropped; beats the baseline when p < {ALPHA}; needs at least {MIN_GROUPS} untied groups")
PERMUTATION_TEST = (f"exact one-sided permutation test over splits (every permutation of the measurement's values "
                    f"between splits up to {EXACT_PERMUTATIONS} splits, else {RANDOM_PERMUTATIONS} seeded draws) of "
                    f"Spearman's rho across splits, each split the mean over its seeds; beats chance (rho = 0) when "
                    f"p < {ALPHA}; needs at least {MIN_GROUPS} splits")


@dataclass
class Verdict:
    beats_baseline: bool | None
    p_value: float | None
    reason: str | None  # why there is no verdict (beats_baseline None)

    def to_dict(self) -> dict[str, object]:
        return {"beats_baseline": self.beats_baseline, "p_value": self.p_value, "reason": self.reason}


def rho(x: list[float], y: list[float]) -> float | None:
    """Spearman's rho of paired values; None with fewer than MIN_POINTS pairs or a constant side."""
    if len(x) < MIN_POINTS:
        return None
    r = spearman(x, y)
    return r if math.isfinite(r) else None


def fisher_pool(rhos: list[float | None]) -> float | None:
    """Mean of per-group rho through Fisher's z: tanh(mean(atanh(rho))), |rho| clipped at FISHER_CLIP."""
    z = [math.atanh(max(-FISHER_CLIP, min(FISHER_CLIP, r))) for r in rhos if r is not None]
    return math.tanh(sum(z) / len(z)) if z else None


def sign_test(differences: list[float | None]) -> Verdict:
    """One-sided exact sign test that differences are > 0 more often than not (zeros and Nones dropped)."""
    untied = [d for d in differences if d is not None and d != 0]
    if len(untied) < MIN_GROUPS:
        return Verdict(None, None, f"not enough groups: {len(untied)} untied of {len(differences)} "
                                   f"(needs {MIN_GROUPS})")
    wins = sum(1 for d in untied if d > 0)
    p = sum(math.comb(len(untied), k) for k in range(wins, len(untied) + 1)) / 2 ** len(untied)
    return Verdict(p < ALPHA, p, None)


def permutation_test(predicted: list[list[float]], measured: list[list[float]]) -> tuple[float | None, Verdict]:
    """Mean over the columns (e.g. cut points) of Spearman's rho across groups, and its one-sided permutation test.

    `predicted[g]` and `measured[g]` are group g's values, one per column; permuting the groups moves whole rows, so
    the columns' dependence is kept.
    """
    groups = len(predicted)
    if groups < MIN_GROUPS:
        return None, Verdict(None, None, f"not enough groups: {groups} (needs {MIN_GROUPS})")
    P, M = np.asarray(predicted, dtype=np.float64), np.asarray(measured, dtype=np.float64)

    def statistic(order: tuple[int, ...] | np.ndarray) -> float | None:
        rhos = [rho(list(P[list(order), c]), list(M[:, c])) for c in range(M.shape[1])]
        kept = [r for r in rhos if r is not None]
        return sum(kept) / len(kept) if kept else None

    observed = statistic(tuple(range(groups)))
    if observed is None:
        return None, Verdict(None, None, "no rank correlation: a side is constant across groups")
    if groups <= EXACT_PERMUTATIONS:
        orders: list[tuple[int, ...] | np.ndarray] = list(itertools.permutations(range(groups)))
    else:
        rng = np.random.default_rng(0)
        orders = [tuple(range(groups))] + [rng.permutation(groups) for _ in range(RANDOM_PERMUTATIONS - 1)]
    stats = [statistic(o) for o in orders]
    at_least = sum(1 for s in stats if s is not None and s >= observed - 1e-12)
    p = at_least / len(orders)
    return observed, Verdict(p < ALPHA, p, None)
