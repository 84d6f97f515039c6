"""What an analysis plugin registers through `register_analyses`, and what it is given to measure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel

from benchbridge.analyze.features import Features

Series = dict[int, float]
"""One measurement over the cut points: n (1 = output of the first block) -> value."""


@dataclass
class FinetunedWeights:
    """The T-metric's three versions of one architecture: per block, the list of its parameter arrays."""

    condition: str  # "AnB+" or "BnB+": the fine-tuned network's condition
    n: int  # its first n blocks started from the pre-trained network
    random: list[list[np.ndarray]]  # the fine-tuned run's own random initialisation
    pretrained: list[list[np.ndarray]]  # net A (AnB+) or net B (BnB+)
    finetuned: list[list[np.ndarray]]


@dataclass
class Context:
    """One split and seed: features of net A, net B and a random net ("A", "B", "random") on half B's images."""

    split: str
    seed: int
    cut_points: list[str]
    train: dict[str, Features]  # half B's training images (the probe's fitting set; CKA, LogME, H-score, LEEP, NCE)
    val: dict[str, Features]  # half B's validation images (the probe's test set)
    train_labels: np.ndarray  # 0..k-1 over half B's classes
    val_labels: np.ndarray
    weights: FinetunedWeights | None  # None when the grid has no finished AnB+ or BnB+ network to compare


class AnalysisPlugin(Protocol):
    """A measurement at the cut points; `measure` returns named series (names unique across analyses)."""

    name: str
    Options: type[BaseModel]

    def measure(self, ctx: Context, options: Any) -> dict[str, Series]: ...
