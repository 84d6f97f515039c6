"""Dataset plugin `shards`: a dataset prepared beforehand with `benchbridge data prepare ...`."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from benchbridge.api import ClassInfo, DatasetSource, hookimpl, open_shards


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
