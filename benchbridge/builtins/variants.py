"""The preparation `benchbridge data prepare variant SRC OUT`: a copy of a prepared dataset in greyscale and/or at a
lower resolution, sample for sample in the same order (so `images_per_class` keeps the same images): targets
that differ from a source's data by a known domain gap (colour, resolution) and nothing else."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from benchbridge.api import DEFAULT_SHARD_SIZE, DatasetSource, OnProgress, UserError, hookimpl, open_shards, \
    shrink_to_jpeg, write_dataset


class VariantOptions(BaseModel):
    """Options of `benchbridge data prepare variant`."""

    model_config = ConfigDict(extra="forbid")

    src: Path = Field(description="a prepared dataset folder (dataset.json and shards) to copy")
    out: Path = Field(description="folder to write the variant's dataset.json and shards to")
    grey: bool = Field(False, description="Store the images in greyscale (networks receive three equal channels).")
    size: int | None = Field(None, ge=4, description="Shrink each image so its shorter side is SIZE pixels (never "
                             "enlarged); the loader enlarges it again to the model's input: a lower resolution.")
    quality: int = Field(95, ge=1, le=100, description="JPEG quality of the re-encoded images.")
    shard_size: int = Field(DEFAULT_SHARD_SIZE, ge=1, description="Samples per shard.")
    name: str | None = Field(None, description="Dataset name (default: the source's name with the changes).")


def _source(options: VariantOptions) -> DatasetSource:
    try:
        return open_shards(Path(options.src).expanduser())
    except (OSError, ValueError, KeyError):
        raise UserError("not a prepared dataset (no readable dataset.json).", file=str(options.src),
                        hint="Give a folder written by `benchbridge data prepare`.") from None


def transform(jpeg: bytes, options: VariantOptions) -> bytes:
    """One stored image in greyscale and/or shrunk, re-encoded as JPEG."""
    with Image.open(io.BytesIO(jpeg)) as im:
        image = im.convert("L" if options.grey else "RGB")
    return shrink_to_jpeg(image, options.size, options.quality)


def samples(source: DatasetSource, split: str, options: VariantOptions) -> Iterator[tuple[bytes, int]]:
    """The split's samples in shard order, transformed."""
    for shard in source.shards(split):
        pending: dict[str, dict[str, bytes]] = {}
        with tarfile.open(shard) as tar:
            for member in tar:
                if not member.isfile():
                    continue
                key, _, ext = member.name.rpartition(".")
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                sample = pending.setdefault(key, {})
                sample[ext] = data
                if "jpg" in sample and "cls" in sample:
                    del pending[key]
                    yield transform(sample["jpg"], options), int(sample["cls"])


class VariantPreparation:
    """Copy a prepared dataset in greyscale and/or at a lower resolution into OUT."""

    name = "variant"
    description = "Copy a prepared dataset (SRC) in greyscale and/or at a lower resolution into OUT, same samples."
    Options = VariantOptions
    arguments = ("src", "out")

    def totals(self, options: VariantOptions) -> dict[str, int]:
        source = _source(options)
        return {split: source.num_samples(split) for split in ("train", "val")}

    def prepare(self, options: VariantOptions, on_progress: OnProgress) -> DatasetSource:
        if options.size is None and not options.grey:
            raise UserError("nothing to change: give --grey and/or --size.", key="options")
        source = _source(options)
        changes = (["grey"] if options.grey else []) + ([f"{options.size}px"] if options.size else [])
        params: dict[str, Any] = {"variant_of": source.index.get("prepare"), "source_name": source.name,
                                  "grey": options.grey, "size": options.size, "quality": options.quality}
        return write_dataset(Path(options.out), options.name or f"{source.name}-{'-'.join(changes)}",
                             source.classes, {split: samples(source, split, options) for split in ("train", "val")},
                             params, shard_size=options.shard_size, on_progress=on_progress)


@hookimpl
def register_preparations(register) -> None:  # type: ignore[no-untyped-def]
    register(VariantPreparation())
