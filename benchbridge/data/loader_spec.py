"""What one loader reads and how: the typed spec that the torch loader and the DALI pipeline both take."""

from __future__ import annotations

import math

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import torch

from benchbridge.data.augment import PRESETS

SHUFFLE_BUFFER = 2000
Keep = Callable[[str, int], bool]
B = TypeVar("B", bound=tuple)
"""A hashable sample filter: (sample key, original class) -> kept (e.g. `data.holdout.Holdout`)."""


@dataclass(frozen=True)
class LoaderSpec:
    """One pass over `split` restricted to `classes` (relabelled 0..k-1 in ascending order of original index).

    What: `images_per_class` keeps the first k training samples of each class in file order (training only);
    `keep(key, original_class)` drops the samples it rejects after the epoch is shared out, and its
    `expected_fraction`, if any, scales the sample count. Order: `train` shuffles shards and samples, seeded by
    (`seed`, `epoch`), and augments; evaluation reads every sample once in file order. Shape: `batch_size` is per
    rank; `mean`/`std` normalise the batches (None: uint8 batches, for the consumer to normalise on its device).
    Where: this process is `rank` of `world_size`, with `num_workers` DataLoader workers (the DALI pipeline: that
    many threads, at least one); `cache` keeps decoded images in memory (one process, no workers); `decode` is
    "cpu" or "gpu" (torchvision.io.decode_jpeg on `device`); `skip_corrupt` skips and counts bad samples and short
    shards instead of stopping. `drop_last`: the pass ends with its last full batch (training drops the partial
    one, as common PyTorch recipes do: no step on a few images, no BatchNorm step on one).
    """

    split: str
    classes: tuple[int, ...]
    batch_size: int
    train: bool
    seed: int
    epoch: int
    input_size: int
    augmentation: str = "paper"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    images_per_class: int | None = None
    keep: Keep | None = None
    rank: int = 0
    world_size: int = 1
    num_workers: int = 0
    cache: bool = False
    decode: str = "cpu"
    device: torch.device | str | None = None
    skip_corrupt: bool = False
    shuffle_buffer: int = SHUFFLE_BUFFER
    drop_last: bool = False

    def batches(self, samples: int) -> int:
        """Batches in a pass over `samples` samples: the last partial one is dropped with `drop_last`."""
        return samples // self.batch_size if self.drop_last else math.ceil(samples / self.batch_size)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise the sequences callers pass to tuples once
        set_(self, "classes", tuple(int(c) for c in self.classes))
        for name in ("mean", "std"):
            value = getattr(self, name)
            set_(self, name, None if value is None else tuple(float(v) for v in value))
        if self.batch_size < 1 or not 0 <= self.rank < self.world_size:
            raise ValueError("need batch_size >= 1 and 0 <= rank < world_size")
        if self.augmentation not in PRESETS or self.decode not in ("cpu", "gpu"):
            raise ValueError(f"augmentation must be one of {PRESETS} and decode 'cpu' or 'gpu'")
        if (self.mean is None) != (self.std is None):
            raise ValueError("give both mean and std (normalised batches) or neither (uint8 batches)")

    @property
    def per_class(self) -> int | None:
        """The first-k cap per class: `images_per_class` when training, else none."""
        return self.images_per_class if self.train else None


def drop_partial_last(batches: Iterator[B], batch_size: int) -> Iterator[B]:
    """`batches` ((images, labels) pairs) but the last one when it holds fewer than `batch_size` images: one batch
    of look-ahead, so a short batch in the middle (a corrupt sample skipped) is still yielded."""
    held = None
    for batch in batches:
        if held is not None:
            yield held
        held = batch
    if held is not None and len(held[1]) == batch_size:
        yield held
