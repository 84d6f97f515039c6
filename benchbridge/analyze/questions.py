"""The questions a user asks of a grid, each answered by every measurement and scored against its own baseline.

A group is one split and seed (a dict as `run.py` writes it: `series`, `measured`, optionally `proxy`). A predictor
is a measurement series, or the proxy grid's own measured curve. Each question gives, per predictor, the points and
groups behind it and a verdict (`beats_baseline`: true, false, or null with a reason).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchbridge.analyze import verdict

Values = dict[str, "float | None"]
"""n (as a string, JSON's key) -> value; None: no value there."""

DEPTH_BASELINE = "-n"
"""The trivial predictor "deeper transfers worse": minus the cut point's index."""


@dataclass
class Predictor:
    """A named source of values per group: `values(group, target)` gives the predictor's values for a target."""

    name: str
    source: str  # the analysis plugin, or "proxy"
    values: Callable[[dict[str, Any], str], Values]


def series_predictor(name: str, analysis: str) -> Predictor:
    return Predictor(name, analysis, lambda g, _target: g["series"].get(name, {}))


def proxy_predictor() -> Predictor:
    """The proxy grid's measured curve for the same target (AnB / baseB, or AnB+ / baseB)."""
    return Predictor("proxy grid", "proxy", lambda g, target: (g.get("proxy") or {}).get(target, {}))


def _finite(values: Values) -> dict[str, float]:
    return {n: float(v) for n, v in values.items() if v is not None}


def _key(g: dict[str, Any]) -> dict[str, Any]:
    return {"split": g["split"], "seed": g["seed"]}


def _paired(g: dict[str, Any], p: Predictor, target: str) -> tuple[dict[str, float], dict[str, float], list[str]]:
    """The group's measured `target` curve, the predictor's values, and the cut points that have both."""
    measured, values = _finite(g["measured"].get(target, {})), _finite(p.values(g, target))
    return measured, values, [n for n in measured if n in values]


# --- 1. depth order: within a group, which cut points transfer best ------------------------------------------------


def depth_order(groups: list[dict[str, Any]], predictors: list[Predictor]) -> dict[str, Any]:
    """Per group, rho over n of the predictor and of -n with AnB / baseB; the per-group difference, sign-tested."""
    target = "AnB/baseB"
    rows = []
    for p in predictors:
        per_group = []
        for g in groups:
            measured, values, points = _paired(g, p, target)
            r = verdict.rho([values[n] for n in points], [measured[n] for n in points])
            base = verdict.rho([-float(n) for n in points], [measured[n] for n in points])
            diff = None if r is None or base is None else r - base
            per_group.append({**_key(g), "points": [int(n) for n in points], "rho": r, "baseline_rho": base,
                              "difference": diff})
        v = verdict.sign_test([c["difference"] for c in per_group])
        rows.append({"measurement": p.name, "source": p.source, "per_group": per_group,
                     "pooled_rho": verdict.fisher_pool([c["rho"] for c in per_group]),
                     "pooled_baseline_rho": verdict.fisher_pool([c["baseline_rho"] for c in per_group]),
                     "groups": sum(1 for c in per_group if c["difference"] is not None), **v.to_dict()})
    return {"question": "Within one split and seed, which cut points transfer best?",
            "target": f"{target} over the grid's n, per group",
            "baseline": f"{DEPTH_BASELINE} (deeper transfers worse), scored the same way",
            "pooling": "per-group rho averaged through Fisher's z (raw values of different groups are never mixed)",
            "test": verdict.SIGN_TEST, "measurements": rows}


# --- 2. at a fixed n, which splits (targets) transfer best --------------------------------------------------------


def _across(groups: list[dict[str, Any]], p: Predictor, target: str,
            value: Callable[[dict[str, float], list[str]], list[float] | None], columns: list[str]) -> dict[str, Any]:
    """Per split, the mean over its seeds of (predicted, measured) over `columns`; the permutation test across splits.

    The unit is the split (the target), not the group: seeds of one split share its classes, so six groups of two
    splits are two units, and treating them as six would make a coin flip look significant.
    """
    if not columns:
        return {"groups": [], "splits": [], "rho": None,
                **verdict.Verdict(None, None, "no cut point where every group has a value").to_dict()}
    used, by_split = [], {}
    for g in groups:
        m, v = value(_finite(g["measured"].get(target, {})), columns), value(_finite(p.values(g, target)), columns)
        if m is not None and v is not None:
            used.append({**_key(g), "predicted": v, "measured": m})
            by_split.setdefault(g["split"], []).append((v, m))
    splits = [{"split": split, "seeds": len(rows), "predicted": _mean([r[0] for r in rows]),
               "measured": _mean([r[1] for r in rows])} for split, rows in by_split.items()]
    if len(splits) < verdict.MIN_GROUPS:
        reason = f"not enough splits: {len(splits)} (needs {verdict.MIN_GROUPS})"
        return {"groups": used, "splits": splits, "rho": None, **verdict.Verdict(None, None, reason).to_dict()}
    stat, v = verdict.permutation_test([s["predicted"] for s in splits], [s["measured"] for s in splits])
    return {"groups": used, "splits": splits, "rho": stat, **v.to_dict()}


def _mean(rows: list[list[float]]) -> list[float]:
    return [sum(col) / len(col) for col in zip(*rows)]


def _at(values: dict[str, float], cols: list[str]) -> list[float] | None:
    return [values[n] for n in cols] if all(n in values for n in cols) else None


def _common(groups: list[dict[str, Any]], target: str) -> list[str]:
    """The n that every group with a measured curve has measured."""
    sets = [set(curve) for g in groups if (curve := _finite(g["measured"].get(target, {})))]
    return sorted(set.intersection(*sets), key=int) if sets else []


def across_groups(groups: list[dict[str, Any]], predictors: list[Predictor]) -> dict[str, Any]:
    """At each n of the grid, rho across groups of the predictor with AnB / baseB; mean over n; permutation test."""
    target = "AnB/baseB"
    columns = _common(groups, target)
    rows = []
    for p in predictors:
        having = [g for g in groups if _finite(p.values(g, target))]
        defined = [n for n in columns if all(_finite(p.values(g, target)).get(n) is not None for g in having)]
        row = _across(having, p, target, _at, defined)
        rows.append({"measurement": p.name, "source": p.source, "columns": [int(n) for n in defined], **row})
    return {"question": "At a fixed n, which splits (targets) transfer best?",
            "target": f"{target} at each n, ranked across splits (each the mean over its seeds); the statistic is the "
                      "mean over n",
            "baseline": f"chance (rho = 0): {DEPTH_BASELINE} is the same in every split at a fixed n, so depth "
                        "order cannot rank splits",
            "test": verdict.PERMUTATION_TEST, "measurements": rows}


# --- 3. which n to fine-tune from --------------------------------------------------------------------------------


def _regret(measured: dict[str, float], chosen: str) -> float:
    return max(measured.values()) - measured[chosen]


def _depth_rule(groups: list[dict[str, Any]], target: str) -> str:
    """The constant-depth rule with the lower total regret over the groups: "shallowest" (argmax of -n) or
    "deepest" (argmax of +n). Chosen once for the whole grid, in the baseline's favour."""
    total = {"shallowest": 0.0, "deepest": 0.0}
    for g in groups:
        measured = _finite(g["measured"].get(target, {}))
        if measured:
            total["shallowest"] += _regret(measured, min(measured, key=int))
            total["deepest"] += _regret(measured, max(measured, key=int))
    return "deepest" if total["deepest"] < total["shallowest"] else "shallowest"


def best_finetune_n(groups: list[dict[str, Any]], predictors: list[Predictor]) -> dict[str, Any]:
    """Per group, the top-1 lost by fine-tuning (AnB+) from the predictor's argmax n instead of the best n."""
    target = "AnB+/baseB"
    rule = _depth_rule(groups, target)
    sign = "-" if rule == "shallowest" else "+"
    rows = []
    for p in predictors:
        per_group = []
        for g in groups:
            measured, values, points = _paired(g, p, target)
            if len(points) < verdict.MIN_POINTS:
                per_group.append({**_key(g), "points": len(points), "chosen_n": None, "regret": None,
                                  "baseline_regret": None, "difference": None})
                continue
            curve = {n: measured[n] for n in points}
            chosen = max(points, key=lambda n: (values[n], -int(n)))  # ties: the shallower cut point
            baseline = (min if rule == "shallowest" else max)(points, key=int)
            mine, base = _regret(curve, chosen), _regret(curve, baseline)
            per_group.append({**_key(g), "points": len(points), "best_n": int(max(points, key=lambda n: curve[n])),
                              "chosen_n": int(chosen), "baseline_n": int(baseline), "regret": mine,
                              "baseline_regret": base, "difference": base - mine})
        v = verdict.sign_test([c["difference"] for c in per_group])
        rows.append({"measurement": p.name, "source": p.source, "per_group": per_group,
                     "groups": sum(1 for c in per_group if c["difference"] is not None), **v.to_dict()})
    return {"question": "Which n is best to fine-tune from (argmax of AnB+)?",
            "target": f"{target}: regret = best AnB+/baseB minus AnB+/baseB at the chosen n, per group",
            "baseline": f"a constant depth: the {rule} n of the grid (argmax of {sign}n), whichever of shallowest "
                        "and deepest has the lower total regret over the groups",
            "baseline_rule": rule,
            "test": verdict.SIGN_TEST + " (difference = baseline regret - regret)", "measurements": rows}


# --- 4. how far AnB falls by the top layer -----------------------------------------------------------------------


def top_layer_fall(groups: list[dict[str, Any]], predictors: list[Predictor]) -> dict[str, Any]:
    """Across groups, rho of the predictor's change from the grid's lowest to its top n with AnB / baseB's."""
    target = "AnB/baseB"
    columns = _common(groups, target)
    ends = [columns[0], columns[-1]] if len(columns) >= 2 else []

    def fall(values: dict[str, float], cols: list[str]) -> list[float] | None:
        return [values[cols[0]] - values[cols[1]]] if cols and all(n in values for n in cols) else None

    rows = [{"measurement": p.name, "source": p.source,
             **_across([g for g in groups if _finite(p.values(g, target))], p, target, fall, ends)}
            for p in predictors]
    return {"question": "How far does AnB fall by the top layer?",
            "target": (f"the fall of {target} from n = {ends[0]} to n = {ends[1]}, ranked across splits (each the "
                       "mean over its seeds)" if ends
                       else f"the fall of {target}: the grid has fewer than 2 cut points in every group"),
            "baseline": f"chance (rho = 0): {DEPTH_BASELINE} falls by the same amount in every split",
            "test": verdict.PERMUTATION_TEST, "measurements": rows}


QUESTIONS: dict[str, Callable[[list[dict[str, Any]], list[Predictor]], dict[str, Any]]] = {
    "depth_order": depth_order, "across_groups": across_groups, "best_finetune_n": best_finetune_n,
    "top_layer_fall": top_layer_fall}


def answer(groups: list[dict[str, Any]], predictors: list[Predictor]) -> dict[str, Any]:
    """Every question, every predictor."""
    return {name: fn(groups, predictors) for name, fn in QUESTIONS.items()}
