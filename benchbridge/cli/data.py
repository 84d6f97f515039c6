"""`benchbridge data`: prepare datasets as WebDataset shards and inspect prepared ones."""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import click
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

from benchbridge import registry
from benchbridge.data.source import DatasetSource
from benchbridge.data.shard_files import OnProgress, open_dataset
from benchbridge.data.verify import verify_dataset

stderr = Console(stderr=True)


@contextmanager
def progress_bars(totals: dict[str, int]) -> Iterator[OnProgress]:
    """A rich progress bar per subset on stderr; yields the (subset, samples just written) callback."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=stderr, transient=False) as progress:
        tasks = {split: progress.add_task(f"writing {split}", total=n) for split, n in totals.items()}
        yield lambda split, n: progress.advance(tasks[split], n)


def _done(source: DatasetSource) -> None:
    counts = ", ".join(f"{s} {source.num_samples(s)}" for s in source.index["splits"])
    stderr.print(f"Prepared {source.root}: {source.num_classes} classes, {counts} images.")


@click.group("data")
def data() -> None:
    """Prepare datasets (WebDataset shards + dataset.json) and inspect them."""


def run_preparation(name: str, options: BaseModel) -> DatasetSource:
    """Run the preparation `name` with validated `options`, with progress bars on stderr."""
    prep = registry.get("preparation", name).obj
    with progress_bars(prep.totals(options)) as on_progress:
        source: DatasetSource = prep.prepare(options, on_progress)
    _done(source)
    return source


def _click_type(annotation: Any) -> Any:
    """The click parameter type of a pydantic field's annotation (Optional unwrapped)."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in (Union, UnionType) and len(args) == 1:
        annotation = args[0]
    if get_origin(annotation) is Literal:
        return click.Choice([str(a) for a in get_args(annotation)])
    if annotation is Path:
        return click.Path(path_type=Path)
    return annotation if annotation in (int, float, str, bool) else str


def _params(options: type[BaseModel], arguments: tuple[str, ...]) -> list[click.Parameter]:
    """Click arguments (the fields named in `arguments`) and options (every other field) of an Options model."""
    fields = options.model_fields
    params: list[click.Parameter] = [click.Argument([name], type=_click_type(fields[name].annotation))
                                     for name in arguments]
    for name, field in fields.items():
        if name in arguments:
            continue
        flag, kind = "--" + name.replace("_", "-"), _click_type(field.annotation)
        default = None if field.is_required() else field.default
        decls = [f"{flag}/--no-{flag[2:]}" if kind is bool else flag, name]
        params.append(click.Option(decls, type=None if kind is bool else kind, default=default,
                                   required=field.is_required(), show_default=default is not None,
                                   help=field.description))
    return params


def _validate(options: type[BaseModel], values: dict[str, Any]) -> BaseModel:
    """The Options model of the command's values; a value out of range is a usage error (exit 2)."""
    try:
        return options.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{'--' + '.'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}"
                             for e in exc.errors())
        raise click.UsageError(problems) from None


def preparation_command(entry: registry.Entry) -> click.Command:
    """`benchbridge data prepare NAME ...`, built from the preparation's Options and arguments."""
    prep = entry.obj

    def callback(**values: Any) -> None:
        run_preparation(entry.name, _validate(prep.Options, values))

    doc = inspect.getdoc(prep) or entry.description
    return click.Command(entry.name, callback=callback, params=_params(prep.Options, tuple(prep.arguments)),
                         help=doc, short_help=entry.description)


class PreparationGroup(click.Group):
    """The commands of `benchbridge data prepare`: one per registered preparation."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return registry.names("preparation")

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        entry = registry.entries("preparation").get(name)
        return preparation_command(entry) if entry is not None else None


@data.group("prepare", cls=PreparationGroup, invoke_without_command=True)
@click.pass_context
def prepare(ctx: click.Context) -> None:
    """Write a dataset as shards that a dataset plugin can load: `prepare NAME --help` shows NAME's options.

    Without NAME, list the preparations the installed plugins offer.
    """
    if ctx.invoked_subcommand is not None:
        return
    for entry in sorted(registry.entries("preparation").values(), key=lambda e: e.name):
        click.echo(f"{entry.name}\t{entry.plugin}\t{entry.description}")


def describe(source: DatasetSource) -> dict[str, Any]:
    """A summary of a prepared dataset: classes and per-split sample and shard counts."""
    return {
        "name": source.name, "path": str(source.root), "num_classes": source.num_classes,
        "classes": [{"index": c.index, "name": c.name, "attributes": c.attributes} for c in source.classes],
        "splits": {s: {"num_samples": e["num_samples"], "num_shards": len(e["shards"]),
                       "class_counts": e.get("class_counts"), "shard_counts": e.get("shard_counts")}
                   for s, e in source.index["splits"].items()},
        "prepare": source.index.get("prepare", {}),
    }


@data.command("info")
@click.argument("directory", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def info(directory: Path, as_json: bool) -> None:
    """Show the classes and split sizes of the prepared dataset in DIR."""
    summary = describe(open_dataset(directory))
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"{summary['name']} ({summary['path']}): {summary['num_classes']} classes")
    for split, entry in summary["splits"].items():
        click.echo(f"  {split}: {entry['num_samples']} samples in {entry['num_shards']} shards")
        counts = entry.get("class_counts") or []
        if counts:
            click.echo(f"    per class: min {min(counts)}, max {max(counts)}, mean {sum(counts) / len(counts):.1f}")
    params = summary["prepare"]
    if params:
        click.echo("  prepared with: " + ", ".join(f"{k}={v}" for k, v in params.items() if k != "source"))
    attrs = sorted({k for c in summary["classes"] for k in c["attributes"]})
    for key in attrs:
        values: dict[str, int] = {}
        for c in summary["classes"]:
            value = c["attributes"].get(key, "-")
            values[value] = values.get(value, 0) + 1
        click.echo(f"  attribute {key}: " + ", ".join(f"{v} ({n})" for v, n in sorted(values.items())))


@data.command("verify")
@click.argument("directory", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Processes (default: every core).")
@click.option("--json", "as_json", is_flag=True, help="Print every problem as JSON on stdout.")
def verify(directory: Path, workers: int | None, as_json: bool) -> None:
    """Decode every sample of the prepared dataset in DIR; list corrupt or truncated ones by shard and key.

    Exits 1 when a problem is found.
    """
    source = open_dataset(directory)
    total = sum(len(e["shards"]) for e in source.index["splits"].values())
    columns = (TextColumn("verifying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=stderr) as progress:
        task = progress.add_task("verify", total=total)
        reports = verify_dataset(source, workers or os.cpu_count() or 1, lambda r: progress.advance(task))
    problems = [(r.split, p) for r in reports for p in r.problems]
    samples = sum(r.samples for r in reports)
    if as_json:
        click.echo(json.dumps({"samples": samples, "shards": len(reports), "problems": [
            {"split": s, "shard": p.shard, "key": p.key, "reason": p.reason} for s, p in problems]}, indent=2))
    else:
        for _split, p in problems:
            click.echo(f"{p.shard}\t{p.key or '-'}\t{p.reason}")
    stderr.print(f"Read {samples} samples in {len(reports)} shards: {len(problems)} problem(s).")
    if problems:
        raise SystemExit(1)
