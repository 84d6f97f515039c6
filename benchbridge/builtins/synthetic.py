"""Dataset plugin `synthetic`: a generated dataset, prepared on first use and cached on disk.

Also the preparation `benchbridge data prepare synthetic OUT`, which writes it to a folder of the user's choice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from benchbridge.api import (DEFAULT_SHARD_SIZE, ClassInfo, DatasetSource, OnProgress, hookimpl, open_shards,
                             prepare_synthetic, read_index, synthetic_classes, synthetic_params)

try:
    import fcntl
except ImportError:  # not on POSIX: no lock; preparing is still atomic, only possibly done twice
    fcntl = None  # type: ignore[assignment]


class GeneratorOptions(BaseModel):
    """What the generated images are: the same options give byte-identical shards."""

    model_config = ConfigDict(extra="forbid")

    classes: int = Field(20, ge=2, description="number of classes (even indices natural, odd ones manmade)")
    image_size: int = Field(32, ge=8, le=512, description="image side in pixels")
    train_per_class: int = Field(300, ge=1, description="training images per class")
    val_per_class: int = Field(50, ge=1, description="validation images per class")
    seed: int = Field(0, description="generator seed: the same seed gives byte-identical shards")
    shard_size: int = Field(DEFAULT_SHARD_SIZE, ge=1, description="samples per shard")


class SyntheticOptions(GeneratorOptions):
    """Options of the generated dataset."""

    root: Path | None = Field(None, description="where to cache it; default data/synthetic-<hash> in the cwd")


def default_root(options: SyntheticOptions) -> Path:
    """`data/synthetic-<short hash of the other options>`, relative to the working directory."""
    fields = options.model_dump(exclude={"root"})
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]
    return Path("data") / f"synthetic-{digest}"


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Hold an exclusive lock next to `root` so concurrent runs prepare the data once."""
    root.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    with open(root.parent / f".{root.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class SyntheticDataset:
    """Generated shapes-and-textures images with `natural` and `manmade` class domains."""

    name = "synthetic"
    description = "Generated images: shared primitives, classes differ in composition; natural vs manmade domains."
    Options = SyntheticOptions

    def describe(self, options: SyntheticOptions) -> list[ClassInfo]:
        return synthetic_classes(options.classes)

    def open(self, options: SyntheticOptions) -> DatasetSource:
        root = Path(options.root).expanduser() if options.root else default_root(options)
        wanted = dict(synthetic_params(options.classes, options.image_size, options.train_per_class,
                                     options.val_per_class, options.seed), shard_size=options.shard_size)
        with _locked(root):
            index = read_index(root)
            if index is None or index.get("prepare") != wanted:
                generate(root, options)
        return open_shards(root, "synthetic")


def generate(root: Path, options: GeneratorOptions, on_progress: OnProgress | None = None) -> DatasetSource:
    """Write the generated dataset under `root`."""
    return prepare_synthetic(root, num_classes=options.classes, image_size=options.image_size,
                             train_per_class=options.train_per_class, val_per_class=options.val_per_class,
                             seed=options.seed, shard_size=options.shard_size, on_progress=on_progress)


class PrepareOptions(GeneratorOptions):
    """Options of `benchbridge data prepare synthetic`."""

    out: Path = Field(description="folder to write dataset.json and the shards to")


class SyntheticPreparation:
    """Generate the synthetic natural/manmade dataset into OUT."""

    name = "synthetic"
    description = "Generate the synthetic natural/manmade dataset (the `synthetic` dataset's images) into OUT."
    Options = PrepareOptions
    arguments = ("out",)

    def totals(self, options: PrepareOptions) -> dict[str, int]:
        return {"train": options.classes * options.train_per_class, "val": options.classes * options.val_per_class}

    def prepare(self, options: PrepareOptions, on_progress: OnProgress) -> DatasetSource:
        return generate(options.out, options, on_progress)


@hookimpl
def register_datasets(register) -> None:  # type: ignore[no-untyped-def]
    register(SyntheticDataset())


@hookimpl
def register_preparations(register) -> None:  # type: ignore[no-untyped-def]
    register(SyntheticPreparation())
