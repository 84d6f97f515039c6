"""A task split: the dataset's classes cut into a source half A and a target half B."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from benchbridge.data.source import ClassInfo


SplitKind = Literal["random", "dissimilar", "other"]
SPLIT_KINDS: tuple[str, ...] = ("random", "dissimilar", "other")
"""What the halves are to each other: a random cut of the classes, dissimilar groups, or something else.
The report pools random splits into one family and compares dissimilar ones with it (finding 5)."""


@dataclass(frozen=True)
class Split:
    """Original class indices of each half, ascending. Inside a half, label i is the i-th class of the list."""

    label: str  # e.g. "random-s0", "manmade->natural"
    A: tuple[int, ...]
    B: tuple[int, ...]
    kind: SplitKind = "other"

    def __post_init__(self) -> None:
        if set(self.A) & set(self.B):
            raise ValueError(f"split {self.label}: halves overlap")
        if self.kind not in SPLIT_KINDS:
            raise ValueError(f"split {self.label}: kind {self.kind!r} is not one of {', '.join(SPLIT_KINDS)}")


def relabel(classes: tuple[int, ...]) -> dict[int, int]:
    """Original class index -> label 0..k-1 in ascending class order."""
    return {c: i for i, c in enumerate(sorted(classes))}


class SplitPlugin(Protocol):
    """What a split plugin registers through `register_splits`."""

    name: str
    Options: type[BaseModel]

    def split(self, options: Any, classes: list[ClassInfo]) -> Split:
        """The two halves, with their `kind` (random, dissimilar or other)."""
        ...
