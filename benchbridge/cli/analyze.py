"""`analyze`: per-layer measurements at every cut point, and how well each predicts the grid's AnB curve."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from benchbridge.analyze import PER_CLASS
from benchbridge.cli._console import err_console, out_console, print_json


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), help="Output folder (default: RUN_DIR/analysis).")
@click.option("--images-per-class", type=click.IntRange(min=1), default=PER_CLASS, show_default=True,
              help="Half B's training and validation images per class that the measurements see.")
@click.option("--json", "as_json", is_flag=True, help="Print every number as JSON to stdout.")
def analyze(run_dir: str, out: str | None, images_per_class: int, as_json: bool) -> None:
    """Per-layer measurements (analysis plugins) at every cut point, ranked against the grid's AnB / baseB curve."""
    from benchbridge.analyze.run import analyze as run_analysis

    result = run_analysis(run_dir, out, per_class=images_per_class,
                          say=lambda text: err_console.print(text, highlight=False))
    if as_json:
        print_json(result)
    else:
        _print(result)


def _print(result: dict[str, Any]) -> None:
    table = Table("measurement", *[f"{g['split']} s{g['seed']}" for g in result["groups"]], "pooled",
                  title=f"Spearman's rho with AnB/baseB over n (points) — {result['run_dir']}", title_justify="left")
    for row in result["correlations"]:
        cells = [_rho(c) for c in row["per_group"]]
        table.add_row(row["series"], *cells, _rho(row["pooled"]))
    out_console.print(table)
    cost = result["cost"]
    spent = cost["features_s"] + sum(cost["analysis_s"].values())
    out_console.print(f"measurements: {spent:.1f} s (features {cost['features_s']:.1f} s); the AnB runs they "
                      f"stand in for trained in {cost['train_s']['AnB']:.0f} s. Figure: {result['figure']['png']}",
                      highlight=False)


def _rho(cell: dict[str, Any]) -> str:
    return f"{cell['rho']:+.2f} ({cell['points']})" if cell["rho"] is not None else f"– ({cell['points']})"
