"""`validate`, `schema` and `plan`: check a manifest and show what it would run, without training."""

from __future__ import annotations

from collections import Counter

import click
from rich.table import Table

from benchbridge.cli._console import err_console, out_console, manifest_argument, overrides_argument, print_json
from benchbridge.manifest import json_schema, load_manifest
from benchbridge.plan import make_plan, plan_to_json


@click.command()
@manifest_argument
@overrides_argument
@click.option("--show", is_flag=True, help="Print the resolved manifest (every default filled in).")
def validate(manifest: str, overrides: tuple[str, ...], show: bool) -> None:
    """Check MANIFEST (and KEY=VALUE overrides) against the schema and every plugin's options."""
    m = load_manifest(manifest, list(overrides))
    if show:
        click.echo(m.to_yaml())
    err_console.print(f"[green]OK[/] {manifest}: valid.")


@click.command()
def schema() -> None:
    """Print the manifest's JSON schema (each plugin's options: `benchbridge plugins --json`)."""
    print_json(json_schema())


@click.command()
@manifest_argument
@overrides_argument
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON to stdout.")
def plan(manifest: str, overrides: tuple[str, ...], as_json: bool) -> None:
    """Show every network MANIFEST would train, with its id and the runs it depends on."""
    runs = make_plan(load_manifest(manifest, list(overrides)))
    if as_json:
        print_json(plan_to_json(runs))
        return
    table = Table("id", "condition", "n", "split", "seed", "depends on", title=f"{len(runs)} runs")
    for r in runs:
        table.add_row(r.id, r.condition, str(r.n), r.split, str(r.seed), ", ".join(r.depends_on))
    out_console.print(table)
    counts = Counter(r.condition for r in runs)
    out_console.print(", ".join(f"{c}: {k}" for c, k in counts.items()))


COMMANDS = [validate, schema, plan]
