"""Collation: uint8 crops into batches (in shared memory inside a DataLoader worker), tagged with the counts of
skipped and decoded samples since the last batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

import numpy as np
import torch

from benchbridge.data.augment import normalise_
from benchbridge.data.decoding import Batch
from benchbridge.data.reading import Counters


def chw(image: np.ndarray) -> torch.Tensor:
    """A uint8 HWC array as a CHW tensor view (copied only when not C-contiguous and writeable)."""
    return torch.from_numpy(np.require(image, requirements="CW")).permute(2, 0, 1)


def shared_empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An empty tensor, in shared memory inside a DataLoader worker (so handing it over copies nothing)."""
    if torch.utils.data.get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    storage = torch.UntypedStorage._new_shared(math.prod(shape) * dtype.itemsize)
    return torch.empty(0, dtype=dtype).set_(storage).view(shape)


@dataclass(frozen=True)
class Collate:
    """Stack uint8 HWC/CHW crops into a uint8 NCHW batch (`mean` None) or a normalised float32 one; int64 labels.

    Inside a worker the batch is built in shared memory, as torch's default collate does.
    """

    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None

    def __call__(self, items: list[tuple[np.ndarray | torch.Tensor, int]]) -> Batch:
        as_chw = [im if isinstance(im, torch.Tensor) else chw(im) for im, _ in items]
        labels = torch.tensor([lab for _, lab in items], dtype=torch.int64)
        shape = (len(as_chw), *as_chw[0].shape)
        if self.mean is None or self.std is None:
            return torch.stack(as_chw, out=shared_empty(shape, torch.uint8)), labels
        out = shared_empty(shape, torch.float32)
        for i, im in enumerate(as_chw):
            out[i].copy_(im)
        return normalise_(out, self.mean, self.std), labels


def batches(batch_size: int, collate: Callable[[list], Any] | None,
            counters: Counters) -> Callable[[Iterable], Iterator]:
    """Batches tagged with (skipped, decoded) since the last one; a final (None, None, tag) for the rest.

    `collate` None: undecoded batches for the GPU decode path, as lists (bytes, labels, keys, shards).
    """
    def stage(src: Iterable) -> Iterator:
        it = iter(src)
        while chunk := list(islice(it, batch_size)):
            if collate is None:
                yield [c[0] for c in chunk], [c[1] for c in chunk], [c[2] for c in chunk], [c[3] for c in chunk], \
                    counters.take()
            else:
                yield (*collate(chunk), counters.take())
        if counters.n or counters.decoded:
            yield None, None, counters.take()
    return stage
