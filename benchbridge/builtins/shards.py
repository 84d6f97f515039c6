"""Dataset plugin `shards`: a dataset prepared beforehand with `benchbridge data prepare ...`.

Also the preparation `benchbridge data prepare imagefolder SRC OUT`, which converts an ImageFolder tree into one.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from benchbridge.api import (ClassInfo, DatasetSource, EncodingOptions, OnProgress, convert_imagefolder, count_images,
                             hookimpl, open_shards)


class ShardsOptions(BaseModel):
    """Options of a prepared dataset."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Field(description="folder holding dataset.json and the shards")
    name: str | None = Field(None, description="display name; default the name in dataset.json")


class ShardsDataset:
    """A prepared WebDataset folder (dataset.json + tar shards)."""

    name = "shards"
    description = "A dataset prepared with `benchbridge data prepare` (dataset.json plus WebDataset shards)."
    Options = ShardsOptions

    def describe(self, options: ShardsOptions) -> list[ClassInfo]:
        return self.open(options).classes

    def open(self, options: ShardsOptions) -> DatasetSource:
        return open_shards(Path(options.path), options.name)


@hookimpl
def register_datasets(register) -> None:  # type: ignore[no-untyped-def]
    register(ShardsDataset())


class ImageFolderOptions(EncodingOptions):
    """Options of `benchbridge data prepare imagefolder`."""

    src: Path = Field(description="folder holding train/<class>/* and val/<class>/* (or test/<class>/*)")
    out: Path = Field(description="folder to write dataset.json and the shards to")
    attributes: Path | None = Field(None, description='JSON or YAML file mapping class folder names to attributes, '
                                    'e.g. {"cat": {"domain": "natural"}, "truck": {"domain": "manmade"}}.')
    name: str | None = Field(None, description="Dataset name (default: the SRC folder name).")


class ImageFolderPreparation:
    """Convert SRC (train/<class>/*, val/<class>/* or test/<class>/*) into shards in OUT.

    Class indices follow the sorted class folder names. Non-JPEG images are re-encoded as JPEG. Shards are
    written in parallel; run it again after an interruption and complete shards are kept.
    """

    name = "imagefolder"
    description = "Convert an ImageFolder tree (train/<class>/*, val/<class>/*) into shards for the `shards` dataset."
    Options = ImageFolderOptions
    arguments = ("src", "out")

    def totals(self, options: ImageFolderOptions) -> dict[str, int]:
        return count_images(options.src)

    def prepare(self, options: ImageFolderOptions, on_progress: OnProgress) -> DatasetSource:
        return convert_imagefolder(options.src, options.out, attributes=options.attributes, name=options.name,
                                   shard_size=options.shard_size, size=options.size, resize=options.resize,
                                   quality=options.quality, workers=options.workers, on_progress=on_progress)


@hookimpl
def register_preparations(register) -> None:  # type: ignore[no-untyped-def]
    register(ImageFolderPreparation())
