"""`report`: figures, tables and a verdict on each of the paper's findings, for one grid or several compared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from benchbridge.cli._console import err_console, out_console, print_json, say
from benchbridge.errors import UserError
from benchbridge.results import broken

UNHEALTHY_MARK = "⚠"  # as in the report
VERDICT_STYLE = {"holds": "green", "does not hold": "red", "inconclusive": "yellow", "not measured": "dim"}


def print_table(run_dir: str | Path, title: str) -> None:
    """One table per split family: conditions down, n across (base networks at n=0), mean top-1 as the report has it."""
    from benchbridge.report.grid import load_grid
    from benchbridge.report.tables import grid_table

    grid = load_grid(run_dir)
    rows = grid_table(grid)
    ns = sorted({c.n for c in rows})
    out_console.print(title, highlight=False)
    for family in grid.families:
        table = Table("condition", *[f"n={n}" for n in ns], title=f"split {family}", title_justify="left")
        mine = [c for c in rows if c.family == family]
        for condition in dict.fromkeys(c.condition for c in mine):
            top1 = {c.n: c.top1.mean for c in mine if c.condition == condition and c.top1}
            sick = {c.n for c in mine if c.condition == condition and c.unhealthy}
            table.add_row(condition, *[f"{top1[n]:.3f}" + (f" {UNHEALTHY_MARK}" if n in sick else "")
                                       if n in top1 else "" for n in ns])
        out_console.print(table)
    if any(c.unhealthy for c in rows):
        out_console.print(f"{UNHEALTHY_MARK}: a network of this cell, or the one it copies from, diverged or did not "
                          "learn: not a result.", highlight=False)
    done = sum(r.record is not None for r in grid.results)
    if done < len(grid.results):
        err_console.print(f"{len(grid.results) - done} of {len(grid.results)} runs have no results yet "
                          "(`benchbridge status` lists them).")


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), help="Report folder (default: RUN_DIR/report, or "
              "FIRST_RUN_DIR/compare with --compare).")
@click.option("--reference", type=click.Choice(["yosinski2014"]), help="Overlay published numbers.")
@click.option("--compare", is_flag=True, help="One report with all RUN_DIRS on shared axes.")
@click.option("--tolerance", type=float, default=0.02, show_default=True,
              help="With a single split/seed (no CI): the fraction of baseB that counts as 'at baseB'.")
@click.option("--format", "formats", multiple=True, default=("html", "markdown"), show_default=True,
              help="Reporter plugins to run (repeat the option; `benchbridge plugins` lists reporters).")
@click.option("--json", "as_json", is_flag=True, help="Print the report's numbers and verdicts as JSON to stdout.")
def report(run_dirs: tuple[str, ...], out: str | None, reference: str | None, compare: bool, tolerance: float,
           formats: tuple[str, ...], as_json: bool) -> None:
    """Write a report folder (HTML, Markdown, PNG/SVG figures) for each RUN_DIR, or one comparing them."""
    from benchbridge.report import write_reports
    from benchbridge.report.reference import load_reference

    _check_tolerance(tolerance)
    ref = load_reference(reference) if reference else None
    outputs = write_reports(list(run_dirs), out, formats=formats, reference=ref, compare=compare, tolerance=tolerance)
    for rep in outputs:
        for g in rep.grids:
            for message in broken(g.grid.results):
                say("warning:", "yellow", message)
    if not as_json:
        for rep in outputs:
            _print_summary(rep)
    if as_json:
        data = [r.to_dict() for r in outputs]
        print_json(data[0] if len(data) == 1 else data)


def _print_summary(rep: Any) -> None:
    """The verdicts, warnings and where the files are, for the terminal."""
    for g in rep.grids:
        out_console.print(f"\n[bold]{g.grid.name}[/]: {g.grid.describe()}, {g.grid.n_cuts} cut points", highlight=False)
        out_console.print(_findings(g))
        if g.pairs is not None:
            out_console.print(_gains(g))
        if g.health:
            err_console.print(f"[red]unhealthy:[/] {len(g.health)} run(s) diverged, did not learn or were blocked "
                              "by one: their numbers are not results (see the report's Run health section).")
        rising = [c for c in g.convergence if c.still_rising]
        if rising:
            err_console.print(f"[yellow]warning:[/] {len(rising)} of {len(g.convergence)} base networks still rising "
                              "at the end of training: findings 2-4 are unreliable (small-budget pitfall).")
        c = g.cost
        err_console.print(f"{c.done} of {c.runs} runs done; {c.wall_time_s:.0f} s wall time, "
                          f"{c.device_hours:.3f} device-hours on {', '.join(c.devices) or '-'}", highlight=False)
        if c.missing:
            err_console.print(f"[yellow]partial grid:[/] {len(c.missing)} runs missing (listed in the report).")
        if c.blocked:
            err_console.print(f"{len(c.blocked)} runs not trained: blocked by an unhealthy source (see Run health).")
    for name, path in rep.files.items():
        err_console.print(f"{name}: {path}", highlight=False)
    for fig in [f for g in rep.grids for f in g.figures] + rep.figures:
        err_console.print(f"figure: {fig.png}", highlight=False)


def _findings(g: Any) -> Table:
    table = Table("#", "finding", "verdict", "numbers", title="the paper's findings on this grid",
                  title_justify="left", show_lines=True)
    for f in g.findings:
        style = VERDICT_STYLE.get(f.verdict, "")
        table.add_row(str(f.number), f.claim, f"[{style}]{f.verdict}[/]", f"rule: {f.rule}\n" + "\n".join(f.evidence))
    return table


def _gains(g: Any) -> Table:
    """Sources and targets: per n, the pair whose transfer gains most over its target's own base network."""
    table = Table("n", "frozen: gains most", "fine-tuned: gains most", title="sources and targets: top-1 relative "
                  "to each target's base network, minus 1", title_justify="left")
    best = {kind: {r.n: r for r in rows} for kind, rows in g.pairs.gains.items()}
    for n in sorted({n for rows in best.values() for n in rows}):
        cells = []
        for kind in ("frozen", "fine-tuned"):
            r = best[kind].get(n)
            cells.append(f"{r.best} ({r.gains[r.best]:+.3f})" if r and r.best else "")
        table.add_row(str(n), *cells)
    return table


def _check_tolerance(value: float) -> None:
    if not 0 <= value < 1:
        raise UserError(f"--tolerance {value} is out of range.", key="--tolerance", hint="Use a fraction such as 0.02.")


COMMANDS = [report]
