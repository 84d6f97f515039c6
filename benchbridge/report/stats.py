"""Means and 95% t-intervals over splits and seeds."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import mean, stdev

# Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom.
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042]


def t975(df: int) -> float:
    """The 97.5% quantile of Student's t with `df` degrees of freedom (Cornish-Fisher beyond 30)."""
    if df < 1:
        raise ValueError("a t-interval needs at least one degree of freedom")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


@dataclass(frozen=True)
class Stat:
    """Mean of `count` values and, with two or more, the half-width of their 95% t-interval."""

    mean: float
    count: int
    half_width: float | None  # None with a single value: no interval is invented

    @property
    def low(self) -> float | None:
        return None if self.half_width is None else self.mean - self.half_width

    @property
    def high(self) -> float | None:
        return None if self.half_width is None else self.mean + self.half_width

    def to_dict(self) -> dict[str, float | int | None]:
        return {"mean": self.mean, "count": self.count, "ci95_half_width": self.half_width,
                "ci95_low": self.low, "ci95_high": self.high}

    def text(self, digits: int = 3) -> str:
        if self.half_width is None:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.half_width:.{digits}f}"


def summarize(values: list[float]) -> Stat:
    """Mean and 95% t-interval (none for a single value)."""
    if not values:
        raise ValueError("no values to summarize")
    if len(values) == 1:
        return Stat(values[0], 1, None)
    sd = stdev(values)
    return Stat(mean(values), len(values), t975(len(values) - 1) * sd / math.sqrt(len(values)))
