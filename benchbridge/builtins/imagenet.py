"""ILSVRC-2012 as the paper used it: 1000 classes in sorted-wnid order, read from prepared shards.

Also the preparation `benchbridge data prepare imagenet SRC OUT`, which converts ILSVRC-2012 into those shards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from benchbridge.api import (INDEX_FILE, ClassInfo, DatasetSource, EncodingOptions, OnProgress, UserError,
                             convert_imagenet, count_imagenet, hookimpl)

NUM_CLASSES = 1000


class ImageNetOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="Directory of ILSVRC-2012 shards made by `benchbridge data prepare imagenet`.")


class ImageNet:
    """ILSVRC-2012 (1000 classes); plans without the data, trains from the user's prepared shards."""

    name = "imagenet"
    Options = ImageNetOptions
    description = "ILSVRC-2012 from prepared shards (1000 classes, sorted-wnid order)"

    def describe(self, options: ImageNetOptions) -> list[ClassInfo]:
        root = Path(options.path)
        if (root / INDEX_FILE).is_file():
            return self._load(root).classes
        return [ClassInfo(i, f"class_{i:03d}") for i in range(NUM_CLASSES)]

    def open(self, options: ImageNetOptions) -> DatasetSource:
        root = Path(options.path)
        if not (root / INDEX_FILE).is_file():
            raise UserError(
                f"no prepared ImageNet shards at '{root}' ({INDEX_FILE} is missing).", key="path",
                hint="Convert ILSVRC-2012 once with `benchbridge data prepare imagenet ILSVRC2012_DIR "
                     f"{root} --names LOC_synset_mapping.txt` (train/<wnid>/*.JPEG; val/ in <wnid>/ folders, or flat "
                     "with LOC_val_solution.csv or --devkit), then run again; `benchbridge data verify` checks it.")
        return self._load(root)

    def _load(self, root: Path) -> DatasetSource:
        source = DatasetSource.load(root, "imagenet")
        if source.num_classes != NUM_CLASSES:
            raise UserError(f"'{root}' holds {source.num_classes} classes, not ImageNet's 1000.", key="path",
                            hint="Point path at ILSVRC-2012 shards, or use the `shards` dataset.")
        return source


@hookimpl
def register_datasets(register: Any) -> None:
    register(ImageNet())


class PrepareOptions(EncodingOptions):
    """Options of `benchbridge data prepare imagenet`."""

    src: Path = Field(description="ILSVRC-2012 folder (train/<wnid>/*.JPEG; val/<wnid>/ or flat val/)")
    out: Path = Field(description="folder to write dataset.json and the shards to")
    names: Path | None = Field(None, description="Class names file, e.g. LOC_synset_mapping.txt "
                               "('n01440764 tench, Tinca tinca' per line).")
    val_labels: Path | None = Field(None, description="Labels of flat val/ images: LOC_val_solution.csv, or a text "
                                    "file of 'filename wnid' lines (default: LOC_val_solution.csv next to SRC when "
                                    "present).")
    devkit: Path | None = Field(None, description="ILSVRC2012_devkit_t12 folder: labels of flat val/ images from its "
                                "ground truth and meta.mat.")
    attributes: Path | None = Field(None, description="JSON or YAML file mapping wnids to attributes (for attribute "
                                    "splits).")
    size: int | None = Field(256, ge=8, description="Resize so the shorter side is SIZE pixels (or SIZE x SIZE with "
                             "--resize square).")
    quality: int = Field(90, ge=1, le=100, description="JPEG quality of re-encoded images.")


class ImageNetPreparation:
    """Convert ILSVRC-2012 at SRC (train/<wnid>/*.JPEG; val/<wnid>/ or flat val/) into shards in OUT.

    Class index = position of the wnid in sorted order. The paper used --size 256 --resize square.
    """

    name = "imagenet"
    description = "Convert ILSVRC-2012 (train/<wnid>/*.JPEG; val/<wnid>/ or flat val/) into shards for `imagenet`."
    Options = PrepareOptions
    arguments = ("src", "out")

    def totals(self, options: PrepareOptions) -> dict[str, int]:
        return count_imagenet(options.src, options.val_labels, options.devkit)

    def prepare(self, options: PrepareOptions, on_progress: OnProgress) -> DatasetSource:
        return convert_imagenet(options.src, options.out, names=options.names, attributes=options.attributes,
                                val_labels=options.val_labels, devkit=options.devkit, shard_size=options.shard_size,
                                size=options.size, resize=options.resize, quality=options.quality,
                                workers=options.workers, on_progress=on_progress)


@hookimpl
def register_preparations(register: Any) -> None:
    register(ImageNetPreparation())
