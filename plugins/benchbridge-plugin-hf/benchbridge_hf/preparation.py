"""The preparation `benchbridge data prepare hf SRC OUT`: a Hugging Face dataset on disk as prepared shards, its
image and label columns chosen by option, class names from the label's ClassLabel feature."""

from __future__ import annotations

import functools
import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from benchbridge.api import DEFAULT_SHARD_SIZE, ClassInfo, DatasetSource, OnProgress, UserError, hookimpl, \
    shrink_to_jpeg, write_dataset_parallel
from benchbridge_hf.reading import open_splits

IMAGE_COLUMNS = ("image", "img", "pixel_values")
LABEL_COLUMNS = ("label", "labels", "fine_label", "coarse_label")
VAL_SPLITS = ("test", "validation")
ORDER_SEED = 20140  # the fixed shuffled write order of every preparation: each shard mixes classes
BATCH = 256
JPEG_MAGIC = b"\xff\xd8\xff"
CACHE = ".hf-arrow"  # parquet converted to memory-mapped arrow while preparing, removed afterwards


class HfOptions(BaseModel):
    """Options of `benchbridge data prepare hf`."""

    model_config = ConfigDict(extra="forbid")

    src: Path = Field(description="a save_to_disk folder (Dataset or DatasetDict), a folder of parquet files, or "
                      "one parquet file")
    out: Path = Field(description="folder to write dataset.json and the shards to")
    image_column: str | None = Field(None, description="The image column (default: the first of "
                                     f"{', '.join(IMAGE_COLUMNS)}, else the first Image feature).")
    label_column: str | None = Field(None, description="The label column (default: the first of "
                                     f"{', '.join(LABEL_COLUMNS)}, else the first ClassLabel feature).")
    train_split: str = Field("train", description="The split written as train.")
    val_split: str | None = Field(None, description="The split written as val (default: test, else validation; "
                                  "with neither, --holdout of train is held out).")
    holdout: float = Field(0.2, gt=0, lt=1, description="Without a val split: the fraction of each class's "
                           "training images held out as val (recorded in dataset.json).")
    holdout_seed: int = Field(0, description="Seed of the held-out images' draw.")
    size: int | None = Field(None, ge=8, description="Shrink so the shorter side is SIZE pixels (never enlarged); "
                             "default: keep (JPEGs are copied).")
    quality: int = Field(95, ge=1, le=100, description="JPEG quality of re-encoded images.")
    shard_size: int = Field(DEFAULT_SHARD_SIZE, ge=1, description="Samples per shard.")
    workers: int | None = Field(None, ge=1, description="Processes writing shards (default: every core); the "
                                "shards are the same bytes whatever the number.")
    name: str | None = Field(None, description="Dataset name (default: the SRC folder or file name).")


def _pick(given: str | None, features: Any, names: tuple[str, ...], kind: str, option: str) -> str:
    columns = list(features)
    if given is not None:
        if given not in columns:
            raise UserError(f"no column '{given}'; the columns are {', '.join(columns)}.", key=option)
        return given
    typed = [c for c, f in features.items() if type(f).__name__ == kind]
    found = next((c for c in names if c in columns), typed[0] if typed else None)
    if found is None:
        raise UserError(f"no {kind} column found among {', '.join(columns)}.", key=option,
                        hint=f"Name it with --{option.replace('_', '-')}.")
    return found


def columns(ds: Any, options: HfOptions) -> tuple[str, str]:
    """The image and label columns of a split."""
    return (_pick(options.image_column, ds.features, IMAGE_COLUMNS, "Image", "image_column"),
            _pick(options.label_column, ds.features, LABEL_COLUMNS, "ClassLabel", "label_column"))


def classes(feature: Any, values: list[Any]) -> tuple[list[str], dict[Any, int]]:
    """Class names and label value -> index: a ClassLabel's names; else 0..max of integer labels, or the sorted
    distinct string labels."""
    if type(feature).__name__ == "ClassLabel":
        return list(feature.names), {i: i for i in range(len(feature.names))}
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        top = max(values, default=-1)
        return [str(i) for i in range(top + 1)], {i: i for i in range(top + 1)}
    if all(isinstance(v, str) for v in values):
        names = sorted(set(values))
        return names, {n: i for i, n in enumerate(names)}
    raise UserError("the label column holds neither class indices nor class names.", key="label_column",
                    hint="Pick a ClassLabel, integer or string column with --label-column.")


def holdout(labels: list[Any], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(kept rows, held-out rows): `fraction` of each class (at least one of a class of two or more)."""
    rng = np.random.default_rng(seed)
    by_class: dict[Any, list[int]] = {}
    for i, c in enumerate(labels):
        by_class.setdefault(c, []).append(i)
    kept, held = [], []
    for c in sorted(by_class, key=str):
        rows = [by_class[c][i] for i in rng.permutation(len(by_class[c]))]
        k = min(len(rows) - 1, max(1, round(fraction * len(rows)))) if len(rows) > 1 else 0
        held += rows[:k]
        kept += rows[k:]
    return sorted(kept), sorted(held)


class Plan:
    """What a preparation writes: per subset, a split's dataset and its rows; the columns; the classes."""

    def __init__(self, options: HfOptions) -> None:
        src = Path(options.src).expanduser()
        self.splits = open_splits(src, Path(options.out).expanduser() / CACHE)
        if options.train_split not in self.splits:
            raise UserError(f"no split '{options.train_split}'; the splits are {', '.join(self.splits)}.",
                            key="train_split")
        train = self.splits[options.train_split]
        self.image, self.label = columns(train, options)
        val = options.val_split or next((s for s in VAL_SPLITS if s in self.splits), None)
        if val is not None and val not in self.splits:
            raise UserError(f"no split '{val}'; the splits are {', '.join(self.splits)}.", key="val_split")
        labels = {s: self.splits[s].select_columns([self.label]).with_format("arrow")[:][self.label].to_pylist()
                  for s in {options.train_split, val} - {None}}
        self.names, self.index = classes(train.features[self.label], [v for vs in labels.values() for v in vs])
        if val is None:
            kept, held = holdout(labels[options.train_split], options.holdout, options.holdout_seed)
            self.rows = {"train": (options.train_split, kept), "val": (options.train_split, held)}
            self.params: dict[str, Any] = {"val_split": f"held out: {options.holdout} of each class of "
                                           f"{options.train_split}", "holdout": options.holdout,
                                           "holdout_seed": options.holdout_seed}
        else:
            self.rows = {"train": (options.train_split, list(range(len(train)))),
                         "val": (val, list(range(len(self.splits[val]))))}
            self.params = {"val_split": val}
        self.params.update(generator="hf", source=str(src.resolve()), train_split=options.train_split,
                           image_column=self.image, label_column=self.label)

    def totals(self) -> dict[str, int]:
        return {subset: len(rows) for subset, (_, rows) in self.rows.items()}

    def items(self, subset: str) -> list[tuple[str, int]]:
        """A subset's samples as (split, row), in the fixed shuffled order they are written in."""
        split, rows = self.rows[subset]
        return [(split, rows[i]) for i in np.random.default_rng(ORDER_SEED).permutation(len(rows))]

    def make(self, options: HfOptions) -> functools.partial:
        """The function that makes one shard's samples from its items (run by the process writing the shard)."""
        tables = {s: ds.select_columns([self.image, self.label]).with_format("arrow") for s, ds in self.splits.items()}
        return functools.partial(make_samples, tables, (self.image, self.label), self.index, options)


def make_samples(tables: dict[str, Any], columns: tuple[str, str], index: dict[Any, int], options: HfOptions,
                 items: list[tuple[str, int]]) -> Iterator[tuple[bytes, int]]:
    """One shard's samples as (JPEG, class index); JPEGs kept as they are."""
    image, label = columns
    for start in range(0, len(items), BATCH):
        batch = items[start:start + BATCH]
        split = batch[0][0]  # a subset reads one split
        for row in tables[split][[r for _, r in batch]].to_pylist():
            if row[label] not in index:
                raise UserError(f"label {row[label]!r} of split '{split}' is not one of the {len(index)} classes "
                                "of the train split's label feature.", key="label_column")
            yield jpeg(row[image], options), index[row[label]]


def _bytes(value: Any) -> bytes | None:
    if isinstance(value, dict):  # an Image feature as stored: {"bytes", "path"}
        if value.get("bytes"):
            return bytes(value["bytes"])
        return Path(value["path"]).read_bytes() if value.get("path") else None
    return bytes(value) if isinstance(value, (bytes, bytearray)) else None


def jpeg(value: Any, options: HfOptions) -> bytes:
    """One stored image as JPEG: a JPEG kept as-is unless resized; other encodings or pixel arrays re-encoded."""
    from PIL import Image

    data = _bytes(value)
    if data is not None and options.size is None and data.startswith(JPEG_MAGIC):
        return data
    image = Image.open(io.BytesIO(data)) if data is not None else Image.fromarray(np.asarray(value, dtype=np.uint8))
    image = image.convert("L" if image.mode in ("L", "1", "I;16", "I", "F") else "RGB")
    return shrink_to_jpeg(image, options.size, options.quality)


class HfPreparation:
    """Write a Hugging Face dataset from disk (a save_to_disk folder, a folder of parquet files or one parquet file)
    into OUT, offline.

    Train is the train split; val the test split (else validation; else --holdout of train, stated in
    dataset.json). The label column's ClassLabel feature names the classes. Nothing is downloaded.
    """

    name = "hf"
    description = "Write a Hugging Face dataset from disk (save_to_disk folder or parquet files) as shards, offline."
    Options = HfOptions
    arguments = ("src", "out")

    def totals(self, options: HfOptions) -> dict[str, int]:
        return Plan(options).totals()

    def prepare(self, options: HfOptions, on_progress: OnProgress) -> DatasetSource:
        out = Path(options.out).expanduser()
        try:
            plan = Plan(options)
            src = Path(options.src).expanduser()
            return write_dataset_parallel(out, options.name or src.stem,
                                          [ClassInfo(i, n) for i, n in enumerate(plan.names)],
                                          {s: plan.items(s) for s in ("train", "val")}, plan.make(options),
                                          {**plan.params, "size": options.size, "quality": options.quality},
                                          shard_size=options.shard_size, workers=options.workers,
                                          on_progress=on_progress)
        finally:
            shutil.rmtree(out / CACHE, ignore_errors=True)


@hookimpl
def register_preparations(register) -> None:  # type: ignore[no-untyped-def]
    register(HfPreparation())
