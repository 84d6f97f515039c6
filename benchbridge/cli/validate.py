"""`validate`, `schema` and `plan`: check a manifest and show what it would run, without training."""

from __future__ import annotations

from collections import Counter

import click
from rich.table import Table

from benchbridge.cli._console import err_console, out_console, manifest_argument, overrides_argument, print_json, say
from benchbridge import pairs
from benchbridge.data.source import DatasetSource
from benchbridge.errors import UserError
from benchbridge.execute.data_checks import check_task_data
from benchbridge.execute.pair_setup import check_inputs, open_dataset
from benchbridge.manifest import ResolvedManifest, json_schema, load_manifest
from benchbridge.plan import make_plan, plan_to_json


@click.command()
@manifest_argument
@overrides_argument
@click.option("--show", is_flag=True, help="Print the resolved manifest (every default filled in).")
def validate(manifest: str, overrides: tuple[str, ...], show: bool) -> None:
    """Check MANIFEST (and KEY=VALUE overrides) as `run` does before it trains: the schema, every plugin's
    options, the plan (classes, cut points, checkpoint files read and checked) and each prepared dataset's index."""
    m = load_manifest(manifest, list(overrides))
    if show:
        click.echo(m.to_yaml())
    unchecked = check_before_training(m)
    for note in unchecked:
        say("not checked:", "yellow", note)
    err_console.print(f"[green]OK[/] {manifest}: valid" + (" (but for what is not checked above)." if unchecked
                                                             else "."))


def check_before_training(m: ResolvedManifest) -> list[str]:
    """The checks `run` makes before any run trains, writing nothing but generated data: the plan (classes, cut
    points, checkpoint files read and checked), every task's classes in its dataset's index, target image sizes.
    What needs a dataset that cannot be opened yet (not prepared) is left out; the notes say what."""
    notes: list[str] = []
    try:
        runs = make_plan(m)
    except UserError as exc:
        key = exc.key or ""
        if not (key == "dataset" or key.endswith((".dataset", "dataset.options"))):
            raise  # not a dataset that cannot be read yet: a mistake
        pairs.checkpoints(m)  # the checkpoint files need no dataset
        return [f"the plan: {exc}"]

    def open_(task: str | None) -> DatasetSource | None:
        try:
            return open_dataset(m, task)
        except UserError as exc:
            notes.append(f"the classes of {task or 'the dataset'}: {exc}")
            return None

    check_task_data(m, runs, open_)
    if not notes:
        check_inputs(m, runs)
    return list(dict.fromkeys(notes))


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
    table = Table("id", "condition", "n", "pair", "seed", "depends on", title=f"{len(runs)} runs")
    for r in runs:
        table.add_row(r.id, r.condition, str(r.n), r.pair, str(r.seed), ", ".join(r.depends_on))
    out_console.print(table)
    counts = Counter(r.condition for r in runs)
    out_console.print(", ".join(f"{c}: {k}" for c, k in counts.items()))


COMMANDS = [validate, schema, plan]
