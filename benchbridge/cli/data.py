"""`benchbridge data`: prepare datasets as WebDataset shards and inspect prepared ones."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

from benchbridge.data.base import DatasetSource
from benchbridge.data.imagefolder import convert_imagefolder, count_images
from benchbridge.data.imagenet import convert_imagenet, count_imagenet
from benchbridge.data.shards import DEFAULT_SHARD_SIZE, open_dataset
from benchbridge.data.synthetic import prepare_synthetic
from benchbridge.data.verify import verify_dataset

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


def _encoding_options(size_default: int | None, quality_default: int) -> Callable[[Callable], Callable]:
    """--size, --resize, --quality, --shard-size, --workers."""
    def wrap(f: Callable) -> Callable:
        size_help = ("Resize so the shorter side is SIZE pixels (or SIZE x SIZE with --resize square)" +
                     (f"; default {size_default}." if size_default else "; default: keep (JPEGs are copied)."))
        for option in reversed([
            click.option("--size", type=click.IntRange(min=8), default=size_default, help=size_help),
            click.option("--resize", type=click.Choice(["shorter", "square"]), default="shorter",
                         show_default=True, help="shorter: keep the aspect ratio; square: SIZE x SIZE (the paper's "
                         "256x256)."),
            click.option("--quality", type=click.IntRange(1, 100), default=quality_default, show_default=True,
                         help="JPEG quality of re-encoded images."),
            click.option("--shard-size", default=DEFAULT_SHARD_SIZE, show_default=True,
                         type=click.IntRange(min=1), help="Samples per shard."),
            click.option("--workers", type=click.IntRange(min=1), default=None,
                         help="Processes writing shards (default: every core)."),
        ]):
            f = option(f)
        return f
    return wrap


@contextmanager
def _shard_progress(totals: dict[str, int]) -> Iterator[Callable[[str, int], None]]:
    """A rich progress bar per split (with rate and time left); yields (split, samples written) callback."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=stderr, transient=False) as progress:
        tasks = {split: progress.add_task(f"writing {split}", total=n) for split, n in totals.items()}
        yield lambda split, n: progress.advance(tasks[split], n)


@prepare.command("imagefolder")
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--attributes", type=click.Path(dir_okay=False, path_type=Path),
              help='JSON or YAML file mapping class folder names to attributes, e.g. '
                   '{"cat": {"domain": "natural"}, "truck": {"domain": "manmade"}}.')
@click.option("--name", default=None, help="Dataset name (default: the SRC folder name).")
@_encoding_options(None, 95)
def prepare_imagefolder_cmd(src: Path, out: Path, attributes: Path | None, name: str | None, size: int | None,
                            resize: str, quality: int, shard_size: int, workers: int | None) -> None:
    """Convert SRC (train/<class>/*, val/<class>/* or test/<class>/*) into shards in OUT.

    Class indices follow the sorted class folder names. Non-JPEG images are re-encoded as JPEG. Shards are
    written in parallel; run it again after an interruption and complete shards are kept.
    """
    totals = count_images(src)
    with _shard_progress(totals) as advance:
        source = convert_imagefolder(src, out, attributes=attributes, shard_size=shard_size, size=size,
                                     name=name, resize=resize, quality=quality,  # type: ignore[arg-type]
                                     workers=workers, on_progress=advance)
    _done(source)


@prepare.command("imagenet")
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--names", type=click.Path(dir_okay=False, path_type=Path),
              help="Class names file, e.g. LOC_synset_mapping.txt ('n01440764 tench, Tinca tinca' per line).")
@click.option("--val-labels", type=click.Path(dir_okay=False, path_type=Path),
              help="Labels of flat val/ images: LOC_val_solution.csv, or a text file of 'filename wnid' lines "
                   "(default: LOC_val_solution.csv next to SRC when present).")
@click.option("--devkit", type=click.Path(file_okay=False, path_type=Path),
              help="ILSVRC2012_devkit_t12 folder: labels of flat val/ images from its ground truth and meta.mat.")
@click.option("--attributes", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON or YAML file mapping wnids to attributes (for attribute splits).")
@_encoding_options(256, 90)
def prepare_imagenet_cmd(src: Path, out: Path, names: Path | None, val_labels: Path | None, devkit: Path | None,
                         attributes: Path | None, size: int | None, resize: str, quality: int, shard_size: int,
                         workers: int | None) -> None:
    """Convert ILSVRC-2012 at SRC (train/<wnid>/*.JPEG; val/<wnid>/ or flat val/) into shards in OUT.

    Class index = position of the wnid in sorted order. The paper used --size 256 --resize square.
    """
    totals = count_imagenet(src, val_labels, devkit)
    with _shard_progress(totals) as advance:
        source = convert_imagenet(src, out, names=names, attributes=attributes, val_labels=val_labels,
                                  devkit=devkit, shard_size=shard_size, size=size,
                                  resize=resize, quality=quality,  # type: ignore[arg-type]
                                  workers=workers, on_progress=advance)
    _done(source)


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
