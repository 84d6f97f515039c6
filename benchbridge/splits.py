"""A task split: the dataset's classes cut into a source half A and a target half B."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from benchbridge.data.base import ClassInfo


@dataclass(frozen=True)
class Split:
    """Original class indices of each half, ascending. Inside a half, label i is the i-th class of the list."""

    label: str  # e.g. "random-s0", "manmade->natural"
    A: tuple[int, ...]
    B: tuple[int, ...]

    def __post_init__(self) -> None:
        if set(self.A) & set(self.B):
            raise ValueError(f"split {self.label}: halves overlap")


def relabel(classes: tuple[int, ...]) -> dict[int, int]:
    """Original class index -> label 0..k-1 in ascending class order."""
    return {c: i for i, c in enumerate(sorted(classes))}


class SplitPlugin(Protocol):
    """What a split plugin registers through `register_splits`."""

    name: str
    Options: type[BaseModel]

    def split(self, options: Any, classes: list[ClassInfo]) -> Split: ...
