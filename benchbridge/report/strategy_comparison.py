"""Transfer strategies compared in the report: per target (a split family or a source->target pair) and n, each
strategy's top-1 relative to plain fine-tuning (AnB+) of the same split and seed, its 95% t-interval over seeds and a
stated test, the best strategy per target; and one figure of the same numbers. Shown when a grid has AnB+ and at
least one condition of its own (a strategy beyond the paper's, e.g. `{name: surgical-3, strategy: surgical}`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from benchbridge.manifest import CONDITION_ORDER  # noqa: E402
from benchbridge.report.figures import Figure, _save  # noqa: E402
from benchbridge.report.grid import Grid  # noqa: E402
from benchbridge.report.stats import Stat, summarize  # noqa: E402

REFERENCE = "AnB+"  # plain fine-tuning of the source's first n blocks
TEST = ("per split and seed, the strategy's top-1 divided by plain fine-tuning's (AnB+, same target, n and seed); "
        "mean and 95% t-interval of those ratios; test: two-sided one-sample t-test of the ratios against 1 at 5% "
        "(▲ better, ▼ worse than fine-tuning: the interval excludes 1), no correction for the number of strategies "
        "compared: with k strategies on m targets about 0.05·k·m such marks are expected by chance alone")
BETTER, WORSE, SAME, UNTESTED = "better", "worse", "no difference shown", "one seed: no test"
MARK = {BETTER: " ▲", WORSE: " ▼", SAME: "", UNTESTED: ""}


def strategy_conditions(grid: Grid) -> list[str]:
    """The conditions compared with fine-tuning: every condition but the base networks and AnB+, the manifest's
    own (custom) ones in the manifest's order after the paper's."""
    listed = [c if isinstance(c, str) else c.get("name") for c in grid.manifest.get("conditions") or []]
    found = {s.condition for s in grid.samples} - {"baseA", "baseB", REFERENCE}
    paper = [c for c in CONDITION_ORDER if c in found]
    custom = [c for c in listed if c in found and c not in paper]
    return paper + custom + sorted(found - set(paper) - set(custom))


def applies(grid: Grid) -> bool:
    """AnB+ and at least one condition beyond the paper's."""
    found = {s.condition for s in grid.samples}
    return REFERENCE in found and any(c not in CONDITION_ORDER for c in found)


def _verdict(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return UNTESTED
    return BETTER if low > 1 else WORSE if high < 1 else SAME


@dataclass(frozen=True)
class StrategyCell:
    """One strategy on one target at n: its per-seed top-1 ratios to fine-tuning (AnB+) summarised and tested."""

    family: str
    n: int
    condition: str
    relative: Stat  # the ratios to AnB+ of the same split and seed
    top1: float  # mean top-1 of the strategy's networks
    seeds: int
    verdict: str  # BETTER, WORSE, SAME or UNTESTED
    unhealthy: bool  # a network of it, or its source, is unhealthy: not a result

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "n": self.n, "condition": self.condition, "relative": self.relative.to_dict(),
                "top1": self.top1, "seeds": self.seeds, "verdict": self.verdict, "unhealthy": self.unhealthy}


@dataclass(frozen=True)
class BestStrategy:
    """The strategy with the highest mean ratio to fine-tuning on one target at n (AnB+ when none is above 1)."""

    family: str
    n: int
    best: str
    relative: float
    verdict: str
    reference_top1: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Strategies:
    """The strategies section: every strategy on every target and n against fine-tuning, the best ones, the test."""

    reference: str
    conditions: list[str]
    rows: list[StrategyCell]
    best: list[BestStrategy]
    test: str

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "conditions": self.conditions, "rows": [r.to_dict() for r in self.rows],
                "best": [b.to_dict() for b in self.best], "test": self.test}


def _cell(grid: Grid, family: str, n: int, condition: str) -> StrategyCell | None:
    """One strategy on one target at n: its per-seed ratios to AnB+ summarised and tested."""
    index = {(s.condition, s.pair, s.seed): s for s in grid.samples if s.family == family and s.n == n}
    ratios, top1, unhealthy = [], [], False
    for (cond, split, seed), s in index.items():
        ref = index.get((REFERENCE, split, seed))
        if cond != condition or ref is None or not ref.top1:
            continue
        ratios.append(s.top1 / ref.top1)
        top1.append(s.top1)
        unhealthy = unhealthy or bool(s.unhealthy or ref.unhealthy)
    if not ratios:
        return None
    stat = summarize(ratios)
    return StrategyCell(family, n, condition, stat, sum(top1) / len(top1), stat.count, _verdict(stat.low, stat.high),
                        unhealthy)


def summary(grid: Grid) -> Strategies | None:
    """Per target and n: each strategy relative to fine-tuning, and the best strategy; None when not applicable."""
    if not applies(grid):
        return None
    conditions = strategy_conditions(grid)
    rows: list[StrategyCell] = []
    best: list[BestStrategy] = []
    for family in dict.fromkeys(s.family for s in grid.samples):
        for n in grid.ns(family, REFERENCE):
            cells = [c for cond in conditions if (c := _cell(grid, family, n, cond)) is not None]
            ref = grid.stat(family, REFERENCE, n)
            rows += cells
            if cells and ref is not None:
                top = max(cells, key=lambda c: c.relative.mean)
                winner = top if top.relative.mean > 1 else None
                best.append(BestStrategy(family, n, winner.condition if winner else REFERENCE,
                                         winner.relative.mean if winner else 1.0,
                                         winner.verdict if winner else "the reference", ref.mean))
    return Strategies(REFERENCE, conditions, rows, best, TEST)


def _text(cell: StrategyCell | None) -> str:
    if cell is None:
        return ""
    rel = cell.relative
    text = f"{rel.mean:.3f}" + ("" if rel.half_width is None else f" ± {rel.half_width:.3f}")
    return text + MARK[cell.verdict] + (" ⚠" if cell.unhealthy else "")


def tables(data: Strategies) -> list[tuple[list[str], list[list[str]], str]]:
    """Per n: (header, rows, caption): one row per strategy, one column per target, then the best strategy."""
    out = []
    for n in sorted({r.n for r in data.rows}):
        families = list(dict.fromkeys(r.family for r in data.rows if r.n == n))
        cells = {(r.family, r.condition): r for r in data.rows if r.n == n}
        best = {b.family: b for b in data.best if b.n == n}
        body = [[f"{REFERENCE} (fine-tuning)"] + [f"1 (top-1 {best[f].reference_top1:.3f})" if f in best else ""
                                                  for f in families]]
        body += [[c] + [_text(cells.get((f, c))) for f in families] for c in data.conditions
                 if any((f, c) in cells for f in families)]
        body.append(["best"] + [_best_text(best.get(f)) for f in families])
        unhealthy = " ⚠: a network of the cell, or its source, is unhealthy (see Run health): not a result;" \
            if any(r.unhealthy for r in cells.values()) else ""
        out.append((["strategy", *families], body,
                     f"n = {n}: top-1 relative to plain fine-tuning (AnB+ = 1); {data.test}.{unhealthy} best: the "
                     "highest mean (AnB+ when no strategy's mean is above 1)"))
    return out


def _best_text(b: BestStrategy | None) -> str:
    if b is None:
        return ""
    if b.best == REFERENCE:
        return REFERENCE
    shown = {BETTER: "shown above fine-tuning", UNTESTED: UNTESTED}.get(b.verdict, "not shown above fine-tuning")
    return f"{b.best} ({b.relative:.3f}; {shown})"


def figure(data: Strategies, out: Path) -> Figure | None:
    """One panel per target and n: each strategy's mean relative top-1 with its 95% interval, AnB+ at 1."""
    panels = list(dict.fromkeys((r.family, r.n) for r in data.rows))
    if not panels:
        return None
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    height = 0.35 * len(data.conditions) + 1.5
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, height * rows), squeeze=False, sharey=True)
    labels = data.conditions
    for ax, (family, n) in zip(axes.flat, panels):
        cells = {r.condition: r for r in data.rows if r.family == family and r.n == n}
        for y, cond in enumerate(labels):
            cell = cells.get(cond)
            if cell is None:
                continue
            err = cell.relative.half_width  # None with one seed: a point without a bar
            color = {BETTER: "#2e8b57", WORSE: "#c0392b"}.get(cell.verdict, "#1f4e9c")
            ax.errorbar(cell.relative.mean, y, xerr=err, fmt="o", color=color, capsize=3,
                        mfc="none" if cell.unhealthy else color)  # hollow: not a result (unhealthy)
        ax.axvline(1.0, color="black", linestyle=":", linewidth=1)
        best = next((b.best for b in data.best if (b.family, b.n) == (family, n)), None)
        ax.set_title(f"{family}, n = {n}" + (f"\nbest: {best}" if best else ""), fontsize=10)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set_xlabel("top-1 / fine-tuning's (AnB+)")
        ax.grid(alpha=0.3, axis="x")
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    axes[0][0].invert_yaxis()
    fig.tight_layout()
    return _save(fig, out, "strategies", "Strategies relative to fine-tuning",
                 "Per target and n: each strategy's top-1 divided by plain fine-tuning's (AnB+) of the same seed, "
                 "mean and 95% t-interval over seeds; green: interval above 1, red: below 1 (two-sided t-test at "
                 "5%, uncorrected); hollow: a network of it, or its source, is unhealthy (not a result).")
