"""Everything a report shows, computed once from one or several results directories."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel

from benchbridge import registry
from benchbridge.report import analysis, convergence, figures, findings, many_targets, strategy_comparison, tables
from benchbridge.report.analysis import Analysis
from benchbridge.report.convergence import BaseCurve
from benchbridge.report.figures import Figure
from benchbridge.report.findings import Finding
from benchbridge.report.grid import Grid, load_grid
from benchbridge.report.many_targets import PairsSection
from benchbridge.report.reference import Reference
from benchbridge.report.strategy_comparison import Strategies
from benchbridge.report.tables import Cell, Cost, GapRow, HealthRow, Table1Row


@dataclass
class GridReport:
    """One grid's numbers, verdicts and figures, each section typed until a renderer writes it (`to_dict`)."""

    grid: Grid
    table: list[Cell]
    table1: list[Table1Row]
    gap: list[GapRow]
    cost: Cost
    convergence: list[BaseCurve]
    findings: list[Finding]
    figures: list[Figure] = field(default_factory=list)
    analysis: Analysis | None = None  # `benchbridge analyze` output, when the grid has one
    health: list[HealthRow] = field(default_factory=list)  # runs not ok: diverged, no_learning, blocked
    pairs: PairsSection | None = None  # per named source -> target pair (None: no pairs)
    strategies: Strategies | None = None  # strategies relative to fine-tuning

    def to_dict(self) -> dict[str, Any]:
        g = self.grid
        return {"name": g.name, "path": str(g.path), "model": g.describe(), "cut_points": g.n_cuts,
                "families": g.families, "table": [c.to_dict() for c in self.table],
                "table1": [r.to_dict() for r in self.table1], "transfer_gap": [r.to_dict() for r in self.gap],
                "cost": self.cost.to_dict(), "convergence": [c.to_dict() for c in self.convergence],
                "unconverged_bases": [c.id for c in self.convergence if c.still_rising],
                "findings": [f.to_dict() for f in self.findings], "figures": [f.to_dict() for f in self.figures],
                "analysis": None if self.analysis is None else self.analysis.to_dict(),
                "health": [r.to_dict() for r in self.health],
                "pairs": None if self.pairs is None else self.pairs.to_dict(),
                "strategies": None if self.strategies is None else self.strategies.to_dict()}


@dataclass
class Report:
    """A report on one grid, or a comparison of several."""

    title: str
    out: Path
    grids: list[GridReport]
    reference: Reference | None
    compare: bool = False
    figures: list[Figure] = field(default_factory=list)  # comparison figures
    files: dict[str, str] = field(default_factory=dict)  # reporter name -> file written
    tolerance: float = findings.TOLERANCE

    def to_dict(self) -> dict[str, Any]:
        ref = {"name": self.reference.name, "source": self.reference.source} if self.reference else None
        return {"title": self.title, "out": str(self.out), "compare": self.compare, "tolerance": self.tolerance,
                "reference": ref, "grids": [g.to_dict() for g in self.grids],
                "transfer_gap": [row.to_dict() for g in self.grids for row in g.gap],
                "figures": [f.to_dict() for f in self.figures], "files": self.files}


def grid_report(grid: Grid, tolerance: float) -> GridReport:
    return GridReport(grid, tables.grid_table(grid), tables.table1(grid), tables.transfer_gap(grid),
                      tables.cost(grid), convergence.base_curves(grid), findings.evaluate(grid, tolerance),
                      analysis=analysis.load(grid.path), health=tables.health(grid),
                      pairs=many_targets.summary(grid) if many_targets.grid_pairs(grid) else None,
                      strategies=strategy_comparison.summary(grid))


def build_report(run_dirs: list[str | Path], out: Path, *, reference: Reference | None = None, compare: bool = False,
                 tolerance: float = findings.TOLERANCE, draw: bool = True) -> Report:
    """Load the grids, compute tables and verdicts, and draw the figures into out/figures."""
    grids = [grid_report(load_grid(d), tolerance) for d in run_dirs]
    names = ", ".join(g.grid.name for g in grids)
    title = f"benchbridge comparison: {names}" if compare else f"benchbridge report: {names}"
    report = Report(title, out, grids, reference, compare, tolerance=tolerance)
    if draw:
        fig_dir = out / "figures"
        for i, g in enumerate(grids):
            sub = fig_dir / f"{i}-{_slug(g.grid.name)}" if compare else fig_dir
            g.figures = figures.grid_figures(g.grid, sub, reference)  # each figure drawn where its conditions are
            if g.pairs is not None:
                drawn = many_targets.many_target_figure(g.grid, g.pairs, sub)
                g.figures += [drawn] if drawn is not None else []
            if g.strategies is not None and (fig := strategy_comparison.figure(g.strategies, sub)) is not None:
                g.figures.append(fig)
        if compare:
            fig = figures.compare_figure([g.grid for g in grids], fig_dir, reference)
            report.figures = [fig] if fig else []
    return report


def write_reports(run_dirs: list[str | Path], out: str | Path | None = None, *,
                  formats: tuple[str, ...] | list[str] = ("html", "markdown"), reference: Reference | None = None,
                  compare: bool = False, tolerance: float = findings.TOLERANCE) -> list[Report]:
    """One report per run directory (or one comparing them), each written by every reporter plugin in `formats`.

    Reports go to `out` (several: `out/<run dir name>`), by default RUN_DIR/report or FIRST_RUN_DIR/compare.
    """
    reporters = [registry.get("reporter", f, key="--format") for f in formats]
    options = [registry.validate_options(entry, {}, key="--format") for entry in reporters]
    groups = [list(run_dirs)] if compare else [[d] for d in run_dirs]
    reports = []
    for dirs in groups:
        target = _out_dir(dirs, out, compare, several=len(groups) > 1)
        rep = build_report(dirs, target, reference=reference, compare=compare, tolerance=tolerance)
        for entry, opts in zip(reporters, options):
            rep.files[entry.name] = str(entry.obj.report(rep, target, opts))
        reports.append(rep)
    return reports


def _out_dir(dirs: list[str | Path], out: str | Path | None, compare: bool, several: bool) -> Path:
    if out is None:
        return Path(dirs[0]) / ("compare" if compare else "report")
    return Path(out) / Path(dirs[0]).name if several else Path(out)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


class ReporterPlugin(Protocol):
    """What a reporter registers through `register_reporters`."""

    name: str
    Options: type[BaseModel]

    def report(self, report: Report, out: Path, options: Any) -> Path:
        """Write one file (or folder) for the report into `out` and return its path."""
        ...
