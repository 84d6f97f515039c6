"""A third-party dataset plugin written against `benchbridge.api` alone, with its own `data prepare` command."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from benchbridge.api import ClassInfo, DatasetSource, OnProgress, hookimpl, open_shards, write_dataset

BENCHBRIDGE_HOOK_API = 1


def _jpeg(value: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (value, 255 - value, 128)).save(buf, "JPEG")
    return buf.getvalue()


class ColoursPrepareOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    out: Path = Field(description="folder to write the shards to")
    classes: int = Field(3, ge=2, description="number of colours")
    per_class: int = Field(2, ge=1, description="images per colour and subset")


class ColoursPreparation:
    """Write one flat colour per class into OUT."""

    name = "ex_colours"
    description = "Flat colours, one per class."
    Options = ColoursPrepareOptions
    arguments = ("out",)

    def totals(self, options: ColoursPrepareOptions) -> dict[str, int]:
        return {subset: options.classes * options.per_class for subset in ("train", "val")}

    def prepare(self, options: ColoursPrepareOptions, on_progress: OnProgress) -> DatasetSource:
        classes = [ClassInfo(i, f"colour{i}") for i in range(options.classes)]
        samples = {subset: [(_jpeg(40 * c), c) for c in range(options.classes) for _ in range(options.per_class)]
                   for subset in ("train", "val")}
        return write_dataset(options.out, "ex_colours", classes, samples, {"generator": "ex_colours"},
                             shard_size=2, on_progress=on_progress)


class ColoursOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: Path = Field(description="folder written by `benchbridge data prepare ex_colours`")


class Colours:
    """The flat colours, read from what `benchbridge data prepare ex_colours` wrote."""

    name = "ex_colours"
    Options = ColoursOptions

    def describe(self, options: ColoursOptions) -> list[ClassInfo]:
        return self.open(options).classes

    def open(self, options: ColoursOptions) -> DatasetSource:
        return open_shards(options.path)


@hookimpl
def register_datasets(register: Any) -> None:
    register(Colours())


@hookimpl
def register_preparations(register: Any) -> None:
    register(ColoursPreparation())
