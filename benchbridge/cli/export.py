"""`export`: every finished run of one or more results directories as one table (CSV, JSON Lines, Parquet)."""

from __future__ import annotations

import sys

import click

from benchbridge.cli._console import err_console, say
from benchbridge.results.tabular import FORMATS, export
from benchbridge.results import broken, load_results


@click.command("export")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True,
              help="csv, jsonl (one JSON object a line) or parquet (needs benchbridge[parquet]).")
@click.option("--out", type=click.Path(dir_okay=False), help="File to write (default: stdout; parquet needs one).")
def export_command(run_dirs: tuple[str, ...], fmt: str, out: str | None) -> None:
    """One row per finished run of RUN_DIRS, from each run's record (metrics.json)."""
    text = export(list(run_dirs), fmt, out)
    for run_dir in run_dirs:
        for message in broken(load_results(run_dir)):
            say("warning:", "yellow", message)
    if text is not None:
        sys.stdout.write(text)
    else:
        err_console.print(f"{fmt}: {out}", highlight=False)


COMMANDS = [export_command]
