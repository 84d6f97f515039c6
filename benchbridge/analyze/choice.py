"""The two questions a grid of several sources and targets is for, each against a stated baseline and test:

- *which source to pick for a target*: per target and seed, does a score of the source network's own features on
  the target's images, computed before any fine-tuning (a series that reads net A alone: LogME, H-score, LEEP, NCE,
  the linear probe), order the sources by their fine-tuned top-1 on that target better than the sources' own top-1
  on their own tasks does?
- *which targets gain most from a source*: per source and seed, do the scores order the targets by the gain of
  fine-tuning over each target's own base network better than that base network's top-1 does (the lower, the more
  room to gain)?

A group (one pair and seed, as `measure.py` writes it) names its `source` and `target`. "Fine-tuned" is AnB+ at the
deepest n the group has (every block copied, where the grid has it). A score is the series' value at its deepest cut
point with a value (the top layer for LEEP and NCE, the last block's features for the others); with `--proxy`, the
proxy grid's own fine-tuned top-1 is scored too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchbridge.analyze import verdict
from benchbridge.analyze.questions import Predictor

FINETUNED = "AnB+"
BOOTSTRAP = 10_000
"""Resamples of the units for the 95% interval of the mean difference (seeded: the same numbers every time)."""
CI_TEXT = (f"95% interval: percentile bootstrap ({BOOTSTRAP} seeded resamples of the units) of the mean per-unit "
           "difference (rho of the measurement - rho of the baseline)")

Group = dict[str, Any]


def before_finetuning(needs: dict[str, tuple[str, ...]]) -> set[str]:
    """The series that read the source network (net A) alone: scores one can compute before training anything."""
    return {name for name, nets in needs.items() if tuple(nets) == ("A",)}


def _deepest(values: dict[str, float | None]) -> float | None:
    found = [(int(n), v) for n, v in values.items() if v is not None]
    return max(found)[1] if found else None


def finetuned_top1(g: Group) -> float | None:
    return _deepest(g["measured"].get(FINETUNED, {}))


def _units(groups: list[Group], by: str) -> dict[tuple[str, int], list[Group]]:
    out: dict[tuple[str, int], list[Group]] = {}
    for g in groups:
        out.setdefault((g[by], g["seed"]), []).append(g)
    return out


def _ci(values: list[float]) -> list[float] | None:
    if len(values) < 2:
        return None
    rng = np.random.default_rng(0)
    data = np.asarray(values, dtype=np.float64)
    means = data[rng.integers(0, len(data), size=(BOOTSTRAP, len(data)))].mean(axis=1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def _score(groups: list[Group], p: Predictor, by: str, measure: Callable[[Group], float | None],
           baseline: Callable[[Group], float | None]) -> dict[str, Any]:
    """Per unit (a target or a source, and a seed): rho of the predictor and of the baseline with the measured
    value across the unit's groups; their difference sign-tested over units, with a bootstrap interval."""
    per_unit = []
    for (name, seed), gs in _units(groups, by).items():
        rows = [(v, m, b) for g in gs if (v := _deepest(p.values(g, FINETUNED))) is not None
                and (m := measure(g)) is not None and (b := baseline(g)) is not None]
        r = verdict.rho([x[0] for x in rows], [x[1] for x in rows])
        base = verdict.rho([x[2] for x in rows], [x[1] for x in rows])
        diff = None if r is None or base is None else r - base
        per_unit.append({by: name, "seed": seed, "points": len(rows), "rho": r, "baseline_rho": base,
                         "difference": diff})
    diffs = [u["difference"] for u in per_unit if u["difference"] is not None]
    return {"measurement": p.name, "source": p.source, "per_group": per_unit, "groups": len(diffs),
            "pooled_rho": verdict.fisher_pool([u["rho"] for u in per_unit]),
            "pooled_baseline_rho": verdict.fisher_pool([u["baseline_rho"] for u in per_unit]),
            "mean_difference": float(np.mean(diffs)) if diffs else None, "ci95": _ci(diffs),
            **verdict.sign_test([u["difference"] for u in per_unit]).to_dict()}


def _widest(groups: list[Group], by: str) -> int:
    return max((len(gs) for gs in _units(groups, by).values()), default=0)


@dataclass(frozen=True)
class Question:
    """One many-target question: ranked across the groups of one `by` (and seed), `measure` against `baseline`."""

    question: str
    by: str  # the unit: "target" (rank its sources) or "source" (rank its targets)
    ranked: str  # what the unit's groups are ("sources", "targets")
    target: str
    baseline: str
    measure: Callable[[Group], float | None]
    base: Callable[[Group], float | None]

    def answer(self, groups: list[Group], predictors: list[Predictor]) -> dict[str, Any]:
        most = _widest(groups, self.by)
        return {"question": self.question, "target": self.target, "baseline": self.baseline,
                "needs": f"{verdict.MIN_POINTS} or more {self.ranked} per {self.by} (rank correlation over two "
                         f"{self.ranked} is always +-1); this grid has at most {most}",
                "applies": most >= verdict.MIN_POINTS,
                "test": f"{verdict.SIGN_TEST}; units: ({self.by}, seed). {CI_TEXT}",
                "measurements": [_score(groups, p, self.by, self.measure, self.base) for p in predictors]}


def _gain(g: Group) -> float | None:
    tuned, base = finetuned_top1(g), g["measured"].get("baseB")
    return None if tuned is None or base is None else tuned - base


def _minus_base(g: Group) -> float | None:
    base = g["measured"].get("baseB")
    return None if base is None else -base


SOURCE_CHOICE = Question(
    "Which source to pick for a target?", "target", "trained sources",
    f"{FINETUNED} top-1 on the target at the deepest n, ranked across the sources of one target and seed",
    "the source network's own top-1 on its own task (a checkpoint source has none and is left out), scored the "
    "same way", finetuned_top1, lambda g: g["source_top1"])
TARGET_GAIN = Question(
    "Which targets gain most from a source?", "source", "targets",
    f"gain = {FINETUNED} top-1 at the deepest n minus the target's own base network's top-1, ranked across the "
    "targets of one source and seed",
    "minus the target's base network top-1 (the worse a target learns alone, the more it gains), scored the same "
    "way", _gain, _minus_base)


def source_choice(groups: list[Group], predictors: list[Predictor]) -> dict[str, Any]:
    """Per target and seed: does the score order the sources by their fine-tuned top-1 on that target?"""
    return SOURCE_CHOICE.answer(groups, predictors)


def target_gain(groups: list[Group], predictors: list[Predictor]) -> dict[str, Any]:
    """Per source and seed: does the score order the targets by the gain of fine-tuning over their base networks?"""
    return TARGET_GAIN.answer(groups, predictors)


def answer(groups: list[Group], predictors: list[Predictor]) -> dict[str, Any]:
    return {"source_choice": source_choice(groups, predictors), "target_gain": target_gain(groups, predictors)}
