"""Which samples one loader reads, from the index alone: the kept classes, the first-k quotas, the epoch plan.

Several ranks and workers share one plan (`plan_epoch`): the kept samples of the split, in the order of the
(seed, epoch)-shuffled shard list (file order for evaluation), form one sequence whose length the index's
per-shard class counts give without reading a shard. Rank r takes the r-th contiguous slice of it (sizes differ by
at most one); its workers take contiguous pieces of that slice, cut at whole batches, so the DataLoader's
round-robin yields the rank's batches in order, all full but the last. Each sample is therefore read and decoded by
exactly one (rank, worker). Training pads every rank to ceil(total / n) samples (a short rank decodes one sample
twice), so every rank reads ceil(ceil(total / n) / batch_size) batches (the trainer's `drop_last` leaves out the
last when it is partial); evaluation does not pad: every sample exactly
once over all ranks (combine per-rank sums with an all-reduce).
`images_per_class=k` keeps the first k training samples of each class in file order (a fixed random subset,
computed from the index's per-shard class counts, the same for every rank/worker split).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from benchbridge.data.source import DatasetSource
from benchbridge.data.loader_spec import LoaderSpec
from benchbridge.errors import UserError

Quota = dict[str, dict[int, int]]  # shard path -> original class -> samples of it to keep from that shard


def index_entry(source: DatasetSource, split: str) -> dict[str, Any]:
    """The index's entry for `split`, or a UserError naming the splits it has."""
    splits = source.index.get("splits", {})
    if split not in splits:
        raise UserError(f"dataset '{source.name}' has no split '{split}' (it has: {', '.join(splits)}).",
                        file=str(source.root))
    return splits[split]


def mix_seed(*parts: int) -> int:
    """One 63-bit seed from several integers (stable across runs and platforms)."""
    return int(np.random.SeedSequence([p & 0xFFFFFFFF for p in parts]).generate_state(2, np.uint64)[0] >> 1)


def relabel(classes: Sequence[int], num_classes: int) -> dict[int, int]:
    """Original class -> label: the kept classes numbered 0..k-1 in ascending order of original index."""
    wanted = sorted(set(classes))
    if not wanted or wanted[0] < 0 or wanted[-1] >= num_classes:
        raise ValueError(f"classes must be a non-empty subset of 0..{num_classes - 1}")
    return {c: i for i, c in enumerate(wanted)}


def admit(original: int, label_of: dict[int, int], left: dict[int, int] | None) -> bool:
    """Whether a shard's next sample of class `original` is kept: class filter, then the quota `left` (updated)."""
    if original not in label_of:
        return False
    if left is not None:
        if left[original] <= 0:
            return False
        left[original] -= 1
    return True


def count_samples(source: DatasetSource, split: str, classes: Sequence[int],
                  images_per_class: int | None = None) -> int:
    """Samples of `split` whose class is in `classes` (at most `images_per_class` each), from the index."""
    counts = index_entry(source, split)["class_counts"]
    cap = images_per_class if images_per_class is not None else math.inf
    return sum(int(min(counts[c], cap)) for c in set(classes))


def shard_counts(source: DatasetSource, split: str) -> dict[str, int]:
    """Shard path -> the samples the index says it holds (empty if the index has no per-shard counts)."""
    entry = index_entry(source, split)
    counts = entry.get("shard_counts")
    if counts is None and entry.get("shard_class_counts") is not None:
        counts = [sum(c) for c in entry["shard_class_counts"]]
    if counts is None:
        return {}
    return {str(source.root / name): int(n) for name, n in zip(entry["shards"], counts)}


def class_quota(source: DatasetSource, split: str, classes: Sequence[int], images_per_class: int) -> Quota:
    """Per shard, how many samples of each class to keep so that the first k of each class (file order) remain."""
    entry = index_entry(source, split)
    per_shard = entry.get("shard_class_counts")
    if per_shard is None:
        raise UserError("this dataset's index has no per-shard class counts (needed for images_per_class).",
                        file=str(source.root), hint="Prepare it again with this version of `benchbridge data`.")
    before = dict.fromkeys(classes, 0)
    quota: Quota = {}
    for name, counts in zip(entry["shards"], per_shard):
        quota[str(source.root / name)] = {c: max(0, min(counts[c], images_per_class - before[c])) for c in classes}
        for c in classes:
            before[c] += counts[c]
    return quota


def kept_counts(source: DatasetSource, split: str, classes: Sequence[int], quota: Quota | None) -> list[int] | None:
    """Kept samples per shard (class filter and quota applied), from the index; None if it has no per-shard counts."""
    entry = index_entry(source, split)
    per_shard = entry.get("shard_class_counts")
    if per_shard is None:
        return None
    if quota is None:
        return [sum(counts[c] for c in classes) for counts in per_shard]
    return [sum(quota[str(source.root / name)].values()) for name in entry["shards"]]


def rank_samples(total: int, rank: int, world_size: int, train: bool) -> int:
    """Samples one rank reads per pass: training pads every rank to ceil(total / n); evaluation does not pad."""
    if train:
        return math.ceil(total / world_size)
    return total // world_size + (rank < total % world_size)


def shard_order(count: int, seed: int | None) -> list[int]:
    """The epoch's order of `count` shards: seeded shuffle (training), or file order (`seed` None)."""
    order = list(range(count))
    if seed is not None:
        random.Random(seed).shuffle(order)
    return order


@dataclass(frozen=True)
class Span:
    """A run of one shard's kept samples: skip the first `skip`, then take `take` (-1: all of them).

    `pad`: a padding sample (a repeat of another rank's), not part of this rank's own slice.
    """

    shard: str
    skip: int
    take: int
    pad: bool = False


def plan_epoch(shards: Sequence[str], kept: Sequence[int], rank: int, world_size: int, worker: int, workers: int,
               batch_size: int, pad: bool) -> list[Span]:
    """The spans one (rank, worker) reads, in order: see the module docstring. `shards` in epoch order."""
    total = sum(kept)
    base, extra = divmod(total, world_size)
    own = base + (rank < extra)
    lo = rank * base + min(rank, extra)
    positions = math.ceil(total / world_size) if pad and total else own
    batches = math.ceil(positions / batch_size)
    first, end = 0, 0
    for w in range(workers):
        count = len(range(w, batches, workers)) * batch_size
        if batches and (batches - 1) % workers == w:
            count -= batches * batch_size - positions  # this worker holds the last (partial) batch
        first, end = end, end + count
        if w == worker:
            break
    else:
        return []
    spans = _spans(shards, kept, [(lo + first, lo + min(end, own))] if first < own else [], False)
    if end > own:  # padding: the samples after this rank's slice, wrapping round the sequence
        wrapped = [((lo + p) % total, (lo + p) % total + 1) for p in range(max(first, own), end)]
        spans += _spans(shards, kept, wrapped, True)
    return spans


def _spans(shards: Sequence[str], kept: Sequence[int], runs: list[tuple[int, int]], pad: bool) -> list[Span]:
    """Global position ranges [a, b) of the kept-sample sequence as per-shard spans."""
    starts = np.cumsum([0, *kept]).tolist()
    out: list[Span] = []
    for a, b in runs:
        for i, shard in enumerate(shards):
            lo, hi = max(a, starts[i]), min(b, starts[i + 1])
            if lo < hi:
                out.append(Span(shard, lo - starts[i], hi - lo, pad))
    return out


@dataclass(frozen=True)
class EpochSetup:
    """What both pipelines derive from a spec and the index before reading a byte.

    `kept` (per shard, in index order; None: the index has no per-shard counts) and `total` (over all ranks,
    scaled by the keep filter's expected fraction) count the samples the class filter and quota keep;
    `expected` is each shard's sample count in the index, which the readers check.
    """

    shards: list[str]
    label_of: dict[int, int]
    quota: Quota | None
    kept: list[int] | None
    total: int
    order_seed: int
    expected: dict[str, int]

    def order(self, train: bool) -> list[int]:
        """This epoch's shard order (indices into `shards`): seeded for training, file order otherwise."""
        return shard_order(len(self.shards), self.order_seed if train else None)

    def finishes(self, span: Span) -> bool:
        """Whether `span` holds its shard's last kept sample in a rank's own slice (then its reader checks the
        shard's count to the end, once over all ranks and workers)."""
        if span.take < 0:
            return True
        if span.pad or self.kept is None:
            return False
        return span.skip + span.take == self.kept_of[span.shard]

    @cached_property
    def kept_of(self) -> dict[str, int]:
        """Shard path -> kept samples (empty without per-shard counts)."""
        return dict(zip(self.shards, self.kept or []))


def setup_epoch(source: DatasetSource, spec: LoaderSpec) -> EpochSetup:
    """The shared set-up of the torch loader and the DALI pipeline for `spec` (see `EpochSetup`)."""
    label_of = relabel(spec.classes, source.num_classes)
    wanted = list(label_of)
    shards = source.shards(spec.split) if index_entry(source, spec.split)["shards"] else []
    per_class = spec.per_class
    quota = class_quota(source, spec.split, wanted, per_class) if per_class is not None else None
    total = count_samples(source, spec.split, wanted, per_class)
    if spec.keep is not None:
        total = max(1, round(total * getattr(spec.keep, "expected_fraction", 1.0)))
    return EpochSetup(shards, label_of, quota, kept_counts(source, spec.split, wanted, quota), total,
                      mix_seed(spec.seed, spec.epoch), shard_counts(source, spec.split))
