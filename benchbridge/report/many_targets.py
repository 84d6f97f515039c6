"""Sources and targets in the report: per target, frozen and fine-tuned top-1 against n beside the target's own
base network; which target gains most at which depth; one many-target figure in Chen et al.'s style, with Chen's
T per block once `benchbridge analyze` has written it (the report reads analysis.json; it computes no weights)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from benchbridge.pairs import Pair, pairs_of  # noqa: E402
from benchbridge.report import analysis  # noqa: E402
from benchbridge.report.figures import PALETTE, Figure, _save  # noqa: E402
from benchbridge.report.grid import Grid  # noqa: E402

FROZEN, FINETUNED = "AnB", "AnB+"  # in a sources-and-targets grid: the source's first n blocks, frozen or tuned
COLUMNS = (("AnB", "frozen"), ("AnB+", "fine-tuned"), ("BnB", "selffer frozen"), ("BnB+", "selffer fine-tuned"),
           ("random_frozen", "random frozen"))


def grid_pairs(grid: Grid) -> list[Pair]:
    """The grid's named (source, target) pairs that have results or runs, in the manifest's order (a split's halves
    have no names of their own: none)."""
    return [p for p in pairs_of(grid.manifest) if p.label in grid.families]


def _mean(grid: Grid, label: str, condition: str, n: int, relative: bool = False) -> float | None:
    stat = grid.stat(label, condition, n, relative)
    return None if stat is None else stat.mean


@dataclass(frozen=True)
class PairRow:
    """One (source, target) pair at n: each transfer condition's mean top-1, absolute and relative to the target's
    own base network, and the conditions whose networks are unhealthy."""

    pair: str
    source: str
    target: str
    n: int
    base: float | None  # the target's own base network's mean top-1
    top1: dict[str, float | None]  # condition (COLUMNS) -> mean top-1
    relative: dict[str, float | None]  # condition -> mean top-1 relative to the target's base network
    unhealthy: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Gain:
    """At one n and condition: each pair's gain over its target's base network (relative top-1 - 1), and the pair
    that gains most (None: a tie)."""

    n: int
    condition: str
    gains: dict[str, float]
    best: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TRow:
    """Chen et al.'s T of one pair and seed as `benchbridge analyze` wrote it: T per copied block (block -> T), the
    mean, theta_r's origin, or the reason there is none."""

    pair: str
    source: str
    target: str
    seed: int
    n: int | None
    condition: str | None
    run_id: str | None
    source_run_id: str | None
    init_origin: str | None
    theta_r: str | None
    t_per_block: dict[str, float | None] | None
    t_mean: float | None
    nulls: dict[str, str]
    reason: str | None
    health: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TMetric:
    """Chen et al.'s T per pair and seed (analysis.json's `t_metric`), and which weights it compares."""

    weights_compared: str
    rows: list[TRow]

    def to_dict(self) -> dict[str, Any]:
        return {"weights_compared": self.weights_compared, "rows": [r.to_dict() for r in self.rows]}


@dataclass(frozen=True)
class PairsSection:
    """The report's sources-and-targets section: the pairs, per pair and n their top-1, the gains per depth, and
    Chen et al.'s T once `benchbridge analyze` has written it."""

    pairs: list[Pair]
    rows: list[PairRow]
    gains: dict[str, list[Gain]]  # "frozen" (AnB), "fine-tuned" (AnB+) -> per n
    t_metric: TMetric | None
    transferability: dict[str, dict[int, float]] | None  # pair -> block -> T, the mean over seeds

    def to_dict(self) -> dict[str, Any]:
        return {"pairs": [asdict(p) for p in self.pairs], "rows": [r.to_dict() for r in self.rows],
                "gains": {k: [g.to_dict() for g in rows] for k, rows in self.gains.items()},
                "t_metric": None if self.t_metric is None else self.t_metric.to_dict(),
                "transferability": self.transferability}


def pair_rows(grid: Grid) -> list[PairRow]:
    """Per pair and n: top-1 of every transfer condition, absolute and relative to the target's base network."""
    rows = []
    for p in grid_pairs(grid):
        base = grid.base_stat(p.label)
        ns = sorted({n for c, _ in COLUMNS for n in grid.ns(p.label, c)})
        for n in ns:
            rows.append(PairRow(p.label, p.source, p.target, n, None if base is None else base.mean,
                                {c: _mean(grid, p.label, c, n) for c, _ in COLUMNS},
                                {c: _mean(grid, p.label, c, n, True) for c, _ in COLUMNS},
                                [c for c, _ in COLUMNS if grid.unhealthy(p.label, c, n)]))
    return rows


def gains(grid: Grid, condition: str) -> list[Gain]:
    """Per n: each pair's gain over its target's base network (relative top-1 - 1), and the pair that gains most."""
    rows = []
    ns = sorted({n for p in grid_pairs(grid) for n in grid.ns(p.label, condition)})
    for n in ns:
        by_pair = {p.label: v - 1 for p in grid_pairs(grid)
                   if (v := _mean(grid, p.label, condition, n, True)) is not None}
        top = max(by_pair.values(), default=None)
        leaders = [k for k, v in by_pair.items() if v == top]
        best = leaders[0] if len(leaders) == 1 else None  # a tie names no pair
        rows.append(Gain(n, condition, by_pair, best))
    return rows


def t_metric(grid: Grid) -> TMetric | None:
    """Chen et al.'s T as `benchbridge analyze` wrote it for this grid (per pair and seed: T per block, the mean,
    theta_r's init_origin, or the reason there is none); None until `benchbridge analyze RUN_DIR` has run."""
    data = analysis.read(grid.path)
    t = data.get("t_metric") if data is not None else None
    if t is None:
        return None
    names = [f.name for f in fields(TRow)]
    return TMetric(t["weights_compared"], [TRow(**{k: row.get(k) for k in names}) for row in t["rows"]])


def chen_t_per_block(t: TMetric | None) -> dict[str, dict[int, float]] | None:
    """Chen et al.'s T per block (pair label -> block -> T, the mean over seeds) of each pair's fine-tuned network
    that copied every block; None without `benchbridge analyze` output (the figure then plots relative top-1)."""
    found: dict[str, dict[int, list[float]]] = {}
    for row in t.rows if t else []:
        for block, v in (row.t_per_block or {}).items():
            if v is not None:
                found.setdefault(row.pair, {}).setdefault(int(block), []).append(v)
    return {p: {b: sum(v) / len(v) for b, v in sorted(blocks.items())} for p, blocks in found.items()} or None


def summary(grid: Grid) -> PairsSection:
    """What the report's sources-and-targets section shows (the JSON report carries it too: `to_dict`)."""
    t = t_metric(grid)
    return PairsSection(grid_pairs(grid), pair_rows(grid), {"frozen": gains(grid, FROZEN),
                                                            "fine-tuned": gains(grid, FINETUNED)},
                        t, chen_t_per_block(t))


@dataclass(frozen=True)
class Line:
    """One line of the many-target figure: a pair's values against n (or block)."""

    label: str
    xs: list[int]
    ys: list[float]


def _lines(section: PairsSection, condition: str) -> list[Line]:
    """Per pair: top-1 relative to the target's base network against n, where the pair has it."""
    out = []
    for p in section.pairs:
        points = [(r.n, v) for r in section.rows if r.pair == p.label and (v := r.relative[condition]) is not None]
        if points:
            out.append(Line(p.label, [n for n, _ in points], [v for _, v in points]))
    return out


def many_target_figure(grid: Grid, section: PairsSection, out: Path) -> Figure | None:
    """One line per (source, target): Chen's T per block (when `benchbridge analyze` wrote it), then top-1 relative
    to the target's base network against n, fine-tuned and frozen."""
    t_values = section.transferability
    panels = [(FINETUNED, "fine-tuned: the source's first n blocks trained on"),
              (FROZEN, "frozen: the source's first n blocks kept")]
    if not any(_lines(section, c) for c, _ in panels) and not t_values:
        return None
    charts = [(_lines(section, c), title) for c, title in panels]
    if t_values:
        charts.insert(0, ([Line(k, sorted(v), [v[b] for b in sorted(v)]) for k, v in t_values.items()],
                          "Chen et al.'s T per block (fine-tuned, every block copied)"))
    colors = {p.label: PALETTE[i % len(PALETTE)] for i, p in enumerate(pairs_of(grid.manifest))}  # same in panels
    charts = [c for c in charts if c[0]]  # a panel without lines (e.g. no frozen runs) is left out
    fig, axes = plt.subplots(1, len(charts), figsize=(6 * len(charts), 4.8), squeeze=False)
    for i, (ax, (lines, title)) in enumerate(zip(axes[0], charts)):
        for line in lines:
            ax.plot(line.xs, line.ys, marker="o", color=colors[line.label], linewidth=2, label=line.label)
        ax.axhline(1.0, color="black", linestyle=":", linewidth=0.8)
        ax.set_title(title, fontsize=10)
        is_t = bool(t_values) and i == 0
        ax.set_xlabel("block" if is_t else "n: blocks taken from the source (cut point)")
        ax.set_ylabel("transferability T" if is_t else "top-1 relative to the target's base network")
        ax.set_xticks(range(1, grid.n_cuts + 1))
        ax.grid(alpha=0.3)
    handles, names = max((ax.get_legend_handles_labels() for ax in axes[0]), key=lambda hl: len(hl[1]))
    axes[0][-1].legend(handles, names, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                       title="source->target")
    what = ("Chen et al.'s T per block of the fine-tuned network that copied every block (left; theta_r = the "
            "source's own initialisation, conv and linear weights), then " if t_values else "")
    return _save(fig, out, "many_targets", "Transfer to every target",
                 f"One line per source->target pair: {what}top-1 relative to each target's own base network against "
                 "the cut point n, fine-tuned and frozen (1 = the target's base network).")
