"""`benchbridge data`: prepare datasets as WebDataset shards and inspect prepared ones."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from benchbridge.data.base import DatasetSource
from benchbridge.data.imagefolder import convert_imagefolder, count_images
from benchbridge.data.shards import DEFAULT_SHARD_SIZE, open_dataset
from benchbridge.data.synthetic import prepare_synthetic

stderr = Console(stderr=True)


@contextmanager
def _progress(totals: dict[str, int]) -> Iterator[Callable[[str], None]]:
    """A rich progress bar per split on stderr; yields the per-sample callback."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr, transient=False) as progress:
        tasks = {split: progress.add_task(f"writing {split}", total=n) for split, n in totals.items()}
        yield lambda split: progress.advance(tasks[split])


def _done(source: DatasetSource) -> None:
    counts = ", ".join(f"{s} {source.num_samples(s)}" for s in source.index["splits"])
    stderr.print(f"Prepared {source.root}: {source.num_classes} classes, {counts} images.")


@click.group("data")
def data() -> None:
    """Prepare datasets (WebDataset shards + dataset.json) and inspect them."""


@data.group("prepare")
def prepare() -> None:
    """Write a dataset as shards that the `shards` dataset plugin can load."""


@prepare.command("synthetic")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--classes", default=20, show_default=True, type=click.IntRange(min=2),
              help="Number of classes; even indices are natural, odd ones manmade.")
@click.option("--image-size", default=32, show_default=True, type=click.IntRange(8, 512), help="Image side.")
@click.option("--train-per-class", default=300, show_default=True, type=click.IntRange(min=1))
@click.option("--val-per-class", default=50, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int, help="Same seed, byte-identical shards.")
@click.option("--shard-size", default=DEFAULT_SHARD_SIZE, show_default=True, type=click.IntRange(min=1),
              help="Samples per shard.")
def prepare_synthetic_cmd(out: Path, classes: int, image_size: int, train_per_class: int,
                          val_per_class: int, seed: int, shard_size: int) -> None:
    """Generate the synthetic natural/manmade dataset into OUT."""
    totals = {"train": classes * train_per_class, "val": classes * val_per_class}
    with _progress(totals) as advance:
        source = prepare_synthetic(out, num_classes=classes, image_size=image_size,
                                   train_per_class=train_per_class, val_per_class=val_per_class,
                                   seed=seed, shard_size=shard_size, on_sample=advance)
    _done(source)


@prepare.command("imagefolder")
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--attributes", type=click.Path(dir_okay=False, path_type=Path),
              help='JSON or YAML file mapping class folder names to attributes, e.g. '
                   '{"cat": {"domain": "natural"}, "truck": {"domain": "manmade"}}.')
@click.option("--shard-size", default=DEFAULT_SHARD_SIZE, show_default=True, type=click.IntRange(min=1),
              help="Samples per shard.")
@click.option("--size", type=click.IntRange(min=8), default=None,
              help="Resize so the shorter side is SIZE pixels (default: keep; JPEG files are copied as-is).")
@click.option("--name", default=None, help="Dataset name (default: the SRC folder name).")
def prepare_imagefolder_cmd(src: Path, out: Path, attributes: Path | None, shard_size: int, size: int | None,
                            name: str | None) -> None:
    """Convert SRC (train/<class>/*, val/<class>/* or test/<class>/*) into shards in OUT.

    Class indices follow the sorted class folder names. Non-JPEG images are re-encoded as JPEG.
    """
    totals = count_images(src)
    with _progress(totals) as advance:
        source = convert_imagefolder(src, out, attributes=attributes, shard_size=shard_size, size=size,
                                     name=name, on_sample=advance)
    _done(source)


def describe(source: DatasetSource) -> dict[str, Any]:
    """A summary of a prepared dataset: classes and per-split sample and shard counts."""
    return {
        "name": source.name, "path": str(source.root), "num_classes": source.num_classes,
        "classes": [{"index": c.index, "name": c.name, "attributes": c.attributes} for c in source.classes],
        "splits": {s: {"num_samples": e["num_samples"], "num_shards": len(e["shards"])}
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
    attrs = sorted({k for c in summary["classes"] for k in c["attributes"]})
    for key in attrs:
        values: dict[str, int] = {}
        for c in summary["classes"]:
            value = c["attributes"].get(key, "-")
            values[value] = values.get(value, 0) + 1
        click.echo(f"  attribute {key}: " + ", ".join(f"{v} ({n})" for v, n in sorted(values.items())))
