"""A prepared dataset: WebDataset shards plus a `dataset.json` index. Every dataset plugin yields one."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any, Protocol

from pydantic import BaseModel

INDEX_FILE = "dataset.json"
FORMAT = "benchbridge-wds/1"


@dataclass(frozen=True)
class ClassInfo:
    """One class of a dataset: its index, its name and attributes such as {"domain": "natural"}."""

    index: int
    name: str
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetSource:
    """An opened, prepared dataset. `root` holds the shards and the index."""

    name: str
    root: Path
    classes: list[ClassInfo]
    index: dict[str, Any]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def shards(self, split: str) -> list[str]:
        """Absolute paths of the shards of `split` ("train" or "val")."""
        return [str(self.root / s) for s in self.index["splits"][split]["shards"]]

    def num_samples(self, split: str) -> int:
        return int(self.index["splits"][split]["num_samples"])

    @classmethod
    def load(cls, root: Path, name: str | None = None) -> DatasetSource:
        index = json.loads((root / INDEX_FILE).read_text())
        classes = [ClassInfo(c["index"], c["name"], dict(c.get("attributes", {}))) for c in index["classes"]]
        return cls(name or index.get("name", root.name), root, classes, index)


class DatasetPlugin(Protocol):
    """What a dataset plugin registers through `register_datasets`."""

    name: str
    Options: type[BaseModel]

    def describe(self, options: Any) -> list[ClassInfo]:
        """The classes (index, name, attributes) without reading or generating any image: used to plan."""
        ...

    def open(self, options: Any) -> DatasetSource:
        """Return the prepared dataset, preparing it first if the plugin can (e.g. generated data)."""
        ...


class PreparationPlugin(Protocol):
    """What a plugin registers through `register_preparations`: the command `benchbridge data prepare NAME`.

    The command's arguments are the `Options` fields named in `arguments` (in order); every other field is an
    option `--field-name` with the field's default and description as its help.
    """

    name: str
    Options: type[BaseModel]
    arguments: tuple[str, ...]

    def totals(self, options: Any) -> dict[str, int]:
        """How many samples `prepare` will write per subset ("train", "val"), cheaply: for progress bars."""
        ...

    def prepare(self, options: Any, on_progress: Callable[[str, int], None]) -> DatasetSource:
        """Write the prepared dataset, calling `on_progress(subset, samples just written)`; return it opened."""
        ...
