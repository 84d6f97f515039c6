"""Sources and targets in the report: per target, frozen and fine-tuned top-1 against n beside the target's own
base network; which target gains most at which depth; one many-target figure in Chen et al.'s style."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from benchbridge.pairs import Pair, pairs_of  # noqa: E402
from benchbridge.report.figures import PALETTE, Figure, _save  # noqa: E402
from benchbridge.report.grid import Grid  # noqa: E402

FROZEN, FINETUNED = "AnB", "AnB+"  # in a sources-and-targets grid: the source's first n blocks, frozen or tuned
COLUMNS = (("AnB", "frozen"), ("AnB+", "fine-tuned"), ("BnB", "selffer frozen"), ("BnB+", "selffer fine-tuned"),
           ("random_frozen", "random frozen"))


def is_pair_grid(grid: Grid) -> bool:
    """A grid of sources and targets (not of the paper's splits)."""
    return bool(grid.manifest.get("targets"))


def grid_pairs(grid: Grid) -> list[Pair]:
    """The grid's (source, target) pairs that have results or runs, in the manifest's order."""
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


def chen_t_per_block(grid: Grid) -> dict[str, dict[int, float]] | None:
    """HOOK for Chen et al.'s T per block (pair label -> n -> T), once `benchbridge analyze` writes it for sources
    and targets; None until then, and the many-target figure plots relative top-1 per n instead."""
    return None


def summary(grid: Grid) -> dict[str, Any]:
    """What the report's sources-and-targets section shows, as data (the JSON report carries it too)."""
    return {"pairs": [p.__dict__ for p in grid_pairs(grid)], "rows": pair_rows(grid),
            "gains": {"frozen": gains(grid, FROZEN), "fine-tuned": gains(grid, FINETUNED)},
            "transferability": chen_t_per_block(grid)}


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
    """One line per (source, target): Chen's T per block when available, else relative top-1 against n, with
    fine-tuned (left) and frozen (right) transfer."""
    t_values = chen_t_per_block(grid)
    panels = [(FINETUNED, "fine-tuned: the source's first n blocks trained on"),
              (FROZEN, "frozen: the source's first n blocks kept")]
    if not any(_lines(grid, c) for c, _ in panels) and not t_values:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    for ax, (condition, title) in zip(axes, panels):
        lines = ([Line(k, sorted(v), [v[n] for n in sorted(v)]) for k, v in t_values.items()]
                 if t_values and condition == FINETUNED else _lines(grid, condition))
        for i, line in enumerate(lines):
            ax.plot(line.xs, line.ys, marker="o", color=PALETTE[i % len(PALETTE)], linewidth=2, label=line.label)
        ax.axhline(1.0, color="black", linestyle=":", linewidth=0.8)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("n: blocks taken from the source (cut point)")
        ax.set_xticks(range(1, grid.n_cuts + 1))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("transferability T" if t_values else "top-1 relative to the target's base network")
    axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="source->target")
    what = "Chen et al.'s T per block" if t_values else "top-1 relative to each target's own base network"
    return _save(fig, out, "many_targets", "Transfer to every target",
                 f"One line per source->target pair: {what} against the cut point n; fine-tuned (left) and frozen "
                 "(right); 1 = the target's base network.")
