"""The report's figures (matplotlib, Agg): the paper's Figure 2 and 3 styles, convergence, comparisons."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402

from benchbridge.report.convergence import base_curves  # noqa: E402
from benchbridge.report.grid import RANDOM, Grid  # noqa: E402
from benchbridge.report.reference import LABEL, Reference  # noqa: E402

STYLE = {"baseB": ("black", "o"), "BnB": ("#1f4e9c", "s"), "BnB+": ("#5aa0e6", "D"), "AnB": ("#c0392b", "^"),
         "AnB+": ("#f08080", "v"), "random_frozen": ("#7f7f7f", "x")}
FIG2 = ["BnB", "BnB+", "AnB", "AnB+"]
PALETTE = ["#c0392b", "#1f4e9c", "#2e8b57", "#8e44ad", "#d35400", "#16a085"]
PUB = "published"


@dataclass(frozen=True)
class Figure:
    """A drawn figure: its name, title and caption, and its PNG and SVG files."""

    name: str
    title: str
    caption: str
    png: str
    svg: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def _save(fig: Any, out: Path, name: str, title: str, caption: str) -> Figure:
    out.mkdir(parents=True, exist_ok=True)
    png, svg = out / f"{name}.png", out / f"{name}.svg"
    fig.savefig(png, dpi=150, bbox_inches="tight")
    fig.savefig(svg, bbox_inches="tight")
    plt.close(fig)
    return Figure(name, title, caption, str(png), str(svg))


def _ylabel(relative: bool) -> str:
    return "top-1 relative to baseB (1 = baseB)" if relative else "top-1 on the target's validation images"


def _xaxis(ax: Any, n_cuts: int) -> None:
    ax.set_xticks(range(0, n_cuts + 1))
    ax.set_xlim(-0.4, n_cuts + 0.4)
    ax.set_xlabel("n: layers copied from the source network (n = 0: baseB)")
    ax.grid(alpha=0.3)


def _ylim(ax: Any) -> None:
    """Fit the y axis to the plotted lines and markers (not to wide CI bands), with a margin."""
    ys = [y for line in ax.lines for y in line.get_ydata()]
    ys += [y for coll in ax.collections if isinstance(coll, PathCollection) for y in coll.get_offsets()[:, 1]]
    ys = [float(y) for y in ys if y == y]
    if ys:
        lo, hi = min(ys), max(ys)
        pad = max(0.08 * (hi - lo), 0.01)
        ax.set_ylim(lo - pad, hi + pad)


def _series(grid: Grid, family: str, condition: str, relative: bool) -> tuple[list[int], list[Any]]:
    ns = grid.ns(family, condition)
    return ns, [grid.stat(family, condition, n, relative) for n in ns]


def _with_base(grid: Grid, family: str, condition: str, relative: bool) -> tuple[list[int], list[float]]:
    """Means of a condition with baseB at n = 0 in front, as the paper draws its lines."""
    ns, stats = _series(grid, family, condition, relative)
    base = grid.base_stat(family, relative)
    xs, ys = ([0], [base.mean]) if base else ([], [])
    return xs + ns, ys + [s.mean for s in stats]


def _points(ax: Any, grid: Grid, family: str, condition: str, relative: bool, offset: float) -> None:
    color, marker = STYLE.get(condition, ("gray", "o"))
    n_seen = 0 if condition == "baseB" else None
    for n in ([n_seen] if n_seen is not None else grid.ns(family, condition)):
        vals = grid.values(family, condition, n, relative)
        face = "white" if condition == "baseB" else color
        ax.scatter([n + offset] * len(vals), vals, marker=marker, s=28, facecolors=face, edgecolors=color,
                   linewidths=1, zorder=3)


def _reference_fig2(ax: Any, ref: Reference, grid: Grid, relative: bool) -> None:
    base = ref.series("fig2", "AnB").get(0, 1.0)
    scale = grid.n_cuts / 7
    for cond in FIG2:
        s = ref.series("fig2", cond)
        xs = [n * scale for n in s]
        ys = [v / base if relative else v for v in s.values()]
        ax.plot(xs, ys, linestyle=":", color=STYLE[cond][0], marker=STYLE[cond][1], markerfacecolor="none",
                markersize=5, linewidth=1.2, alpha=0.8)
    ax.plot([], [], linestyle=":", color="gray", marker="o", markerfacecolor="none", label=LABEL + _rescaled(grid))


def _rescaled(grid: Grid) -> str:
    return "" if grid.n_cuts == 7 else f",\nn rescaled from 7 to {grid.n_cuts} cut points"


def figure2(grid: Grid, out: Path, relative: bool, ref: Reference | None = None) -> Figure | None:
    """Top: one marker per split/seed and a line through the means; bottom: the means with 95% CIs."""
    family = RANDOM if RANDOM in grid.families else grid.families[0]
    conds = [c for c in FIG2 if grid.ns(family, c)]
    if not conds or grid.base_stat(family) is None:
        return None
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 9), sharex=True)
    errorbars: list[tuple[list[tuple[float, float, float]], str]] = []
    _points(top, grid, family, "baseB", relative, 0.0)
    top.scatter([], [], marker="o", facecolors="white", edgecolors="black", label="baseB")
    for i, cond in enumerate(conds):
        color, marker = STYLE[cond]
        _points(top, grid, family, cond, relative, (i - 1.5) * 0.09)
        top.plot(*_with_base(grid, family, cond, relative), color=color, marker=marker, markersize=0,
                 linewidth=1.4, label=cond)
        xs, ys = _with_base(grid, family, cond, relative)
        bottom.plot(xs, ys, color=color, marker=marker, markersize=6, linewidth=2, label=cond)
        ns, stats = _series(grid, family, cond, relative)
        bars = [(n + (i - 1.5) * 0.06, s.mean, s.half_width) for n, s in zip(ns, stats) if s.half_width]
        errorbars.append((bars, color))
    base = grid.base_stat(family, relative)
    for ax in (top, bottom):
        ax.axhline(base.mean, color="black", linestyle="--", linewidth=0.8)
        ax.set_ylabel(_ylabel(relative))
        if ref is not None:
            _reference_fig2(ax, ref, grid, relative)
        _xaxis(ax, grid.n_cuts)
        _ylim(ax)  # fitted to the data: wide intervals run off the axes rather than squash the lines
    for bars, color in errorbars:
        if bars:
            bx, by, be = zip(*bars)
            bottom.errorbar(bx, by, yerr=be, fmt="none", ecolor=color, elinewidth=1, capsize=3, alpha=0.7)
    if base.half_width:
        for y in (base.low, base.high):
            bottom.axhline(y, color="black", linestyle=":", linewidth=0.8)
    top.set_xlabel("")
    single = base.count == 1
    top.set_title(f"{grid.name}: {family} split{'s' if base.count > 1 else ''} "
                  f"({base.count} split/seed pair{'s' if base.count > 1 else ''} per point)", fontsize=11)
    bottom.set_title("means" + (" (single split/seed: no confidence interval)" if single else
                                f" with 95% confidence intervals (t, {base.count - 1} degrees of freedom; "
                                "dotted: baseB's)"), fontsize=10)
    top.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    kind = "relative" if relative else "absolute"
    caption = (f"Figure 2 style, {kind} top-1: baseB (white circles, dashed line) and the four transfer "
               f"conditions against n; top: one marker per split/seed, bottom: the means"
               + ("" if single else " with 95% CI error bars") + (f"; dotted: {LABEL}" if ref else "") + ".")
    return _save(fig, out, f"fig2_{kind}", f"Figure 2 style ({kind} top-1)", caption)


def figure3(grid: Grid, out: Path, relative: bool, ref: Reference | None = None) -> Figure | None:
    """Left: AnB on the random vs the dissimilar splits; right: random frozen layers vs transferred ones."""
    fams = [f for f in grid.families if grid.ns(f, "AnB") and grid.base_stat(f)]
    rf_fams = [f for f in grid.families if grid.ns(f, "random_frozen") and grid.base_stat(f)]
    if not any(grid.is_dissimilar(f) for f in fams) and not rf_fams:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), sharey=relative)
    for i, fam in enumerate(fams):
        label = "random splits" if fam == RANDOM else f"{grid.kind(fam)}: {fam}"
        left.plot(*_with_base(grid, fam, "AnB", relative), color=PALETTE[i % len(PALETTE)], marker="^",
                  linewidth=2, label=f"AnB, {label}")
    for fam in rf_fams:
        where = "random splits" if fam == RANDOM else fam
        right.plot(*_with_base(grid, fam, "random_frozen", relative), color="#7f7f7f", marker="x", linewidth=2,
                   label=f"random frozen, {where}")
        if grid.ns(fam, "AnB"):
            right.plot(*_with_base(grid, fam, "AnB", relative), color=STYLE["AnB"][0], marker="^", linewidth=2,
                       label=f"AnB (transferred, frozen), {where}")
    if ref is not None:
        _reference_fig3(left, right, ref, grid, relative)
    left.set_title("transfer from random vs dissimilar halves (AnB)", fontsize=11)
    right.set_title("control: first n layers random and frozen", fontsize=11)
    for ax in (left, right):
        ax.set_ylabel(_ylabel(relative) + (" of the same split" if relative else ""))
        ax.tick_params(labelleft=True)
        _xaxis(ax, grid.n_cuts)
        if ax.lines:
            ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1)
    kind = "relative" if relative else "absolute"
    caption = (f"Figure 3 style, {kind} top-1: frozen transfer (AnB) from a random vs a dissimilar half, and the "
               f"random-frozen control" + (f"; dotted: {LABEL}" if ref else "") + ".")
    return _save(fig, out, f"fig3_{kind}", f"Figure 3 style ({kind} top-1)", caption)


def _reference_fig3(left: Any, right: Any, ref: Reference, grid: Grid, relative: bool) -> None:
    scale = grid.n_cuts / 7
    for cond, color in (("AnB target=natural", "#2e8b57"), ("AnB target=man-made", "#8e44ad")):
        s = ref.series("fig3", cond)
        ys = [v / s[0] if relative else v for v in s.values()]
        left.plot([n * scale for n in s], ys, linestyle=":", marker="o", markerfacecolor="none", color=color,
                  label=f"{PUB}: {cond.replace('AnB ', '')}{_rescaled(grid)}")
    s = ref.series("fig3", "random-frozen")
    ys = [v / s[0] if relative else v for v in s.values()]
    right.plot([n * scale for n in s], ys, linestyle=":", marker="o", markerfacecolor="none", color="#7f7f7f",
               label=f"{PUB}: random frozen (1000 classes; n ≥ 3 near chance){_rescaled(grid)}")


def convergence_figure(grid: Grid, out: Path) -> Figure | None:
    """Validation top-1 of each base network during training; still-rising ones are drawn solid and named."""
    curves = base_curves(grid)
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(10, 4.5))
    colors = plt.get_cmap("tab10")
    for i, c in enumerate(curves):
        xs, ys = zip(*c.curve) if c.curve else ((), ())
        rising = c.still_rising
        label = " / ".join(c.labels) + (" — still rising" if rising else "")
        ax.plot(xs, ys, marker="o", markersize=3, linewidth=2 if rising else 1.2,
                linestyle="-" if rising else "--", color=colors(i % 10), label=label)
    end = max((x for c in curves for x, _ in c.curve), default=1)
    ax.axvspan(0.75 * end, end, color="orange", alpha=0.1, label="last quarter of training")
    ax.set_xlabel("training iteration")
    ax.set_ylabel("validation top-1 (own half)")
    ax.set_title(f"{grid.name}: convergence of the base networks", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, out, "convergence", "Convergence of the base networks",
                 "Validation top-1 of each base network against training iterations; solid lines gained more than "
                 "the threshold over the last quarter (shaded).")


def compare_figure(grids: list[Grid], out: Path, ref: Reference | None = None) -> Figure | None:
    """AnB and AnB+ relative to baseB for several grids on shared axes, against relative depth n / cut points."""
    fig, ax = plt.subplots(figsize=(8, 5))
    drawn = False
    for i, grid in enumerate(grids):
        color = PALETTE[i % len(PALETTE)]
        for fam in grid.families:
            for cond, style in (("AnB", "-"), ("AnB+", "--")):
                if not grid.ns(fam, cond) or grid.base_stat(fam) is None:
                    continue
                xs, ys = _with_base(grid, fam, cond, relative=True)
                marker = "^" if fam == RANDOM else "s"
                ax.plot([x / grid.n_cuts for x in xs], ys, linestyle=style, marker=marker, color=color,
                        alpha=1.0 if fam == RANDOM else 0.6, label=f"{grid.name} ({grid.n_cuts} cuts) {cond}, {fam}")
                drawn = True
    if not drawn:
        plt.close(fig)
        return None
    if ref is not None:
        base = ref.series("fig2", "AnB")[0]
        for cond, style in (("AnB", "-"), ("AnB+", "--")):
            s = ref.series("fig2", cond)
            ax.plot([n / 7 for n in s], [v / base for v in s.values()], linestyle=style, color="black",
                    marker="o", markerfacecolor="none", alpha=0.5, label=f"{PUB} {cond} (AlexNet, ImageNet)")
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle=":")
    ax.set_xlabel("relative depth: n / number of cut points (0 = baseB)")
    ax.set_ylabel("top-1 relative to baseB (1 = baseB)")
    ax.set_xlim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.set_title("transfer across grids: AnB (solid) and AnB+ (dashed)", fontsize=11)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, out, "compare_relative", "Comparison: AnB and AnB+ relative to baseB",
                 "Each grid's AnB (solid) and AnB+ (dashed) divided by its own baseB, against relative depth.")


def grid_figures(grid: Grid, out: Path, ref: Reference | None = None) -> list[Figure]:
    figs = [figure2(grid, out, False, ref), figure2(grid, out, True, ref), figure3(grid, out, False, ref),
            figure3(grid, out, True, ref), convergence_figure(grid, out)]
    return [f for f in figs if f is not None]
