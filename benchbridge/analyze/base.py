"""What an analysis plugin registers through `register_analyses`, and what it is given to measure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel

from benchbridge.analyze.features import Features
from benchbridge.analyze.metrics import Undefined

Series = dict[int, float | Undefined]
"""One measurement over the cut points: n (1 = output of the first block) -> value, or Undefined(reason) (a null)."""


@dataclass
class FinetunedWeights:
    """The T-metric's three versions of one architecture: per block, its conv and linear weight tensors.

    Only the `weight` of Conv*d and Linear modules (Chen et al.'s code compares conv and fc weights: no biases, no
    normalisation parameters); a block without such modules has an empty list.
    """

    condition: str  # "AnB+" or "BnB+": the fine-tuned network's condition
    n: int  # its first n blocks started from the pre-trained network
    random: list[list[np.ndarray]]  # theta_r: the initialisation the PRE-TRAINED network itself started from
    pretrained: list[list[np.ndarray]]  # net A (AnB+) or net B (BnB+)
    finetuned: list[list[np.ndarray]]
    random_origin: str = "unknown"  # where theta_r came from: the source's init.pt, or recomputed from its seed
    init_origin: str | None = None  # the source record's init_origin (trained | file | fresh_draw) when it has one


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
    classes: int | None = field(default=None)  # k, half B's number of classes (an empty one gives LogME no value)


class AnalysisPlugin(Protocol):
    """A measurement at the cut points; `measure` returns named series (names unique across analyses).

    A point with no value is `Undefined(reason)` (or a non-finite float): it is written as null with the reason.
    """

    name: str
    Options: type[BaseModel]

    def measure(self, ctx: Context, options: Any) -> dict[str, Series]: ...
