"""The decoded-image cache (`cache=True`, one process, no workers): the first pass decodes the kept samples of a
split into memory, later passes reuse them in a seeded permutation. For small datasets trained many times over.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Iterator

from benchbridge.data.decoding import decode_sample
from benchbridge.data.reading import PlanSource, SampleReader
from benchbridge.errors import UserError

CACHE_BYTES = 1 << 30
_cache: dict[Hashable, list[dict]] = {}


def decoded(key: Hashable, reader: SampleReader) -> list[dict]:
    """The kept samples of a split, decoded once per process and kept in memory (oldest entries evicted)."""
    if key not in _cache:
        items = []
        for s in PlanSource(reader, False, 0, 1, 1, whole=True)():
            reader.counters.decoded += 1
            try:
                items.append({"image": decode_sample(s), "label": s["label"], "__key__": s.get("__key__")})
            except UserError:
                if not reader.skip:
                    raise
                reader.counters.n += 1
        _cache[key] = items
        while sum(it["image"].nbytes for v in _cache.values() for it in v) > CACHE_BYTES and len(_cache) > 1:
            del _cache[next(iter(_cache))]
    return _cache[key]


def from_memory(items: list[dict], order_seed: int | None) -> Callable[[], Iterator[dict]]:
    """A pipeline source over cached samples: a seeded permutation for training, file order otherwise."""
    def source() -> Iterator[dict]:
        order = list(range(len(items)))
        if order_seed is not None:
            random.Random(order_seed).shuffle(order)
        return (items[i] for i in order)
    return source
