"""ILSVRC-2012 as the paper used it: 1000 classes in sorted-wnid order, read from prepared shards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from benchbridge.api import INDEX_FILE, ClassInfo, DatasetSource, UserError, hookimpl

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
