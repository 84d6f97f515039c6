"""Sources and targets in the report: per target, frozen and fine-tuned top-1 against n beside the target's own
base network; which target gains most at which depth; one many-target figure in Chen et al.'s style, with Chen's
T per block once `benchbridge analyze` has written it (the report reads analysis.json; it computes no weights)."""

from __future__ import annotations

from dataclasses import dataclass
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


def pair_rows(grid: Grid) -> list[dict[str, Any]]:
    """Per pair and n: top-1 of every transfer condition, absolute and relative to the target's base network."""
    rows = []
    for p in grid_pairs(grid):
        base = grid.base_stat(p.label)
        ns = sorted({n for c, _ in COLUMNS for n in grid.ns(p.label, c)})
        for n in ns:
            rows.append({"pair": p.label, "source": p.source, "target": p.target, "n": n,
                         "base": None if base is None else base.mean,
                         "top1": {c: _mean(grid, p.label, c, n) for c, _ in COLUMNS},
                         "relative": {c: _mean(grid, p.label, c, n, True) for c, _ in COLUMNS},
                         "unhealthy": [c for c, _ in COLUMNS if grid.unhealthy(p.label, c, n)]})
    return rows


def gains(grid: Grid, condition: str) -> list[dict[str, Any]]:
    """Per n: each pair's gain over its target's base network (relative top-1 - 1), and the pair that gains most."""
    rows = []
    ns = sorted({n for p in grid_pairs(grid) for n in grid.ns(p.label, condition)})
    for n in ns:
        by_pair = {p.label: v - 1 for p in grid_pairs(grid)
                   if (v := _mean(grid, p.label, condition, n, True)) is not None}
        top = max(by_pair.values(), default=None)
        leaders = [k for k, v in by_pair.items() if v == top]
        best = leaders[0] if len(leaders) == 1 else None  # a tie names no pair
        rows.append({"n": n, "condition": condition, "gains": by_pair, "best": best})
    return rows


def t_metric(grid: Grid) -> dict[str, Any] | None:
    """Chen et al.'s T as `benchbridge analyze` wrote it for this grid (per pair and seed: T per block, the mean,
    theta_r's init_origin, or the reason there is none); None until `benchbridge analyze RUN_DIR` has run."""
    data = analysis.read(grid.path)
    return data.get("t_metric") if data is not None else None


def chen_t_per_block(grid: Grid) -> dict[str, dict[int, float]] | None:
    """Chen et al.'s T per block (pair label -> block -> T, the mean over seeds) of each pair's fine-tuned network
    that copied every block; None without `benchbridge analyze` output (the figure then plots relative top-1)."""
    t = t_metric(grid)
    found: dict[str, dict[int, list[float]]] = {}
    for row in t["rows"] if t else []:
        for block, v in (row["t_per_block"] or {}).items():
            if v is not None:
                found.setdefault(row["pair"], {}).setdefault(int(block), []).append(v)
    return {p: {b: sum(v) / len(v) for b, v in sorted(blocks.items())} for p, blocks in found.items()} or None


def summary(grid: Grid) -> dict[str, Any]:
    """What the report's sources-and-targets section shows, as data (the JSON report carries it too)."""
    return {"pairs": [p.__dict__ for p in grid_pairs(grid)], "rows": pair_rows(grid),
            "gains": {"frozen": gains(grid, FROZEN), "fine-tuned": gains(grid, FINETUNED)},
            "t_metric": t_metric(grid), "transferability": chen_t_per_block(grid)}


@dataclass(frozen=True)
class Line:
    label: str
    xs: list[int]
    ys: list[float]


def _lines(grid: Grid, condition: str) -> list[Line]:
    out = []
    for p in grid_pairs(grid):
        ns = [n for n in grid.ns(p.label, condition) if _mean(grid, p.label, condition, n, True) is not None]
        if ns:
            out.append(Line(p.label, ns, [_mean(grid, p.label, condition, n, True) for n in ns]))  # type: ignore[misc]
    return out


def many_target_figure(grid: Grid, out: Path) -> Figure | None:
    """One line per (source, target): Chen's T per block (when `benchbridge analyze` wrote it), then top-1 relative
    to the target's base network against n, fine-tuned and frozen."""
    t_values = chen_t_per_block(grid)
    panels = [(FINETUNED, "fine-tuned: the source's first n blocks trained on"),
              (FROZEN, "frozen: the source's first n blocks kept")]
    if not any(_lines(grid, c) for c, _ in panels) and not t_values:
        return None
    charts = [(_lines(grid, c), title) for c, title in panels]
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
