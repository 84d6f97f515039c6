"""One figure: per split and seed, the measured AnB / baseB curve, the depth baseline -n and every measurement,
each rescaled to [0, 1] over n.

Top-layer scores (one point per split and seed, such as LEEP and NCE) have no curve to rescale: they are left out.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from benchbridge.results import store  # noqa: E402
from benchbridge.analyze import FIGURE_NAME  # noqa: E402
from benchbridge.analyze.questions import DEPTH_BASELINE  # noqa: E402

TARGET = "AnB/baseB"


def series_names(groups: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(name for g in groups for name in g["series"]))


def rescale(values: dict[str, float | None]) -> dict[int, float]:
    """Min-max to [0, 1] (a constant series sits at 0.5); keys as ints; missing values left out."""
    values = {n: v for n, v in values.items() if v is not None and math.isfinite(v)}
    finite = list(values.values())
    if not finite:
        return {}
    lo, hi = min(finite), max(finite)
    return {int(n): (v - lo) / (hi - lo) if hi > lo else 0.5 for n, v in values.items()}


def draw(groups: list[dict[str, Any]], out: Path) -> dict[str, str]:
    """Draw the figure into out/analysis.png and .svg (atomically); returns their paths."""
    names = series_names(groups)
    cols = min(2, len(groups))
    rows = math.ceil(len(groups) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 4.2 * rows), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, g in zip(axes.flat, groups):
        measured = rescale(g["measured"][TARGET])
        ax.plot(list(measured), list(measured.values()), color="black", linewidth=3, marker="o",
                label=f"measured {TARGET}")
        depth = rescale(g["baseline"][DEPTH_BASELINE])
        ax.plot(list(depth), list(depth.values()), color="grey", linestyle="--", linewidth=2,
                label=f"baseline {DEPTH_BASELINE}")
        for i, name in enumerate(names):
            points = rescale(g["series"].get(name, {}))
            if len(points) > 1:
                ax.plot(list(points), list(points.values()), color=cmap(i % 10), marker=".", label=name)
        ax.set_title(f"split {g['split']}, seed {g['seed']}")
        ax.set_xlabel("n (cut point)")
        ax.set_ylabel("rescaled to [0, 1]")
        ax.set_ylim(-0.05, 1.05)
    for ax in list(axes.flat)[len(groups):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small")
    fig.tight_layout()
    paths = {}
    for ext in ("png", "svg"):
        path = out / f"{FIGURE_NAME}.{ext}"
        store.atomic_write(path, lambda p, e=ext: fig.savefig(p, format=e, dpi=150, bbox_inches="tight"))
        paths[ext] = str(path)
    plt.close(fig)
    return paths
