"""`report`: the top-1 table of a results directory (figures and verdicts come with the full report)."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from benchbridge.cli._console import err_console, out_console, print_json
from benchbridge.results import Result, load_results, top1_table


def print_table(results: list[Result], title: str) -> None:
    """One table per split: conditions down, n across (base networks at n=0)."""
    rows = top1_table(results)
    ns = sorted({n for row in rows for n in row["top1"]})
    out_console.print(title, highlight=False)
    for split in dict.fromkeys(row["split"] for row in rows):
        table = Table("condition", *[f"n={n}" for n in ns], title=f"split {split}", title_justify="left")
        for row in (r for r in rows if r["split"] == split):
            table.add_row(row["condition"], *[f"{row['top1'][n]:.3f}" if n in row["top1"] else "" for n in ns])
        out_console.print(table)
    done = sum(r.metrics is not None for r in results)
    if done < len(results):
        err_console.print(f"{len(results) - done} of {len(results)} runs have no results yet "
                          "(`benchbridge status` lists them).")


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON to stdout.")
def report(run_dir: str, as_json: bool) -> None:
    """Print top-1 on the target half for each condition and n of RUN_DIR."""
    results = load_results(run_dir)
    if as_json:
        print_json(_json_rows(top1_table(results)))
        return
    print_table(results, title=f"top-1 on the target half: {run_dir}")


def _json_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**row, "top1": {str(n): v for n, v in row["top1"].items()},
             "count": {str(n): v for n, v in row["count"].items()}} for row in rows]


COMMANDS = [report]
