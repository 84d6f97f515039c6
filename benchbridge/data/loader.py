"""Batches from a prepared dataset: a WebDataset pipeline that filters classes before decoding.

Training: seeded shard shuffle and sample shuffle buffer (deterministic per (seed, epoch)), augmentation preset
(see `augment`), the last partial batch dropped with `drop_last` (the trainer sets it). Evaluation: every sample
once, in file order, centre crop, last partial batch kept. Several ranks
and workers share one epoch plan (see `epoch_plan`). The parts: `loader_spec` (what to read), `epoch_plan` (which
samples, from the index), `reading` (tar shards), `decoding` (CPU or batched device decode), `image_cache`,
`collate`; this module assembles them.

`ShardLoader.skipped` counts the corrupt samples skipped (`skip_corrupt`) and `decoded` the images decoded during
the last pass (cached passes decode none). With `mean`/`std` None the loader yields uint8 NCHW batches (a quarter
of the bytes across process boundaries) for the consumer to normalise on its device with `augment.normalise`,
which gives the same float values bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import torch
import webdataset as wds

from benchbridge.data import image_cache
from benchbridge.data.augment import BatchAugment, CpuAugment
from benchbridge.data.source import DatasetSource
from benchbridge.data.collate import Collate, batches
from benchbridge.data.decoding import Batch, CpuDecode, GpuDecode, raw
from benchbridge.data.epoch_plan import EpochSetup, count_samples, mix_seed, rank_samples, setup_epoch
from benchbridge.data.loader_spec import LoaderSpec, drop_partial_last
from benchbridge.data.reading import Counters, PlanSource, SampleReader
from benchbridge.errors import UserError

__all__ = ["LoaderSpec", "ShardLoader", "count_samples", "make_loader"]


class ShardLoader:
    """An iterable of (images, labels) batches; iterate it once per epoch (it replays the same order).

    `skipped` counts the corrupt samples skipped and `decoded` the images decoded during the last pass.
    """

    def __init__(self, pipeline: wds.DataPipeline, num_samples: int, batch_size: int, num_workers: int,
                 gpu: GpuDecode | None = None, num_batches: int | None = None) -> None:
        self.pipeline = pipeline
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.gpu = gpu
        self.num_batches = num_batches
        self.skipped = 0
        self.decoded = 0
        self.drop_last = False  # the last batch is not yielded when it is partial

    def __len__(self) -> int:
        """Batches per pass (exact unless corrupt samples are skipped)."""
        return self.num_batches if self.num_batches is not None else math.ceil(self.num_samples / self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        self.skipped = self.decoded = 0
        if self.drop_last:
            yield from drop_partial_last(self._batches(), self.batch_size)
        else:
            yield from self._batches()

    def _batches(self) -> Iterator[Batch]:
        if self.num_workers == 0:
            items: Iterable = self.pipeline
        else:
            items = torch.utils.data.DataLoader(self.pipeline, batch_size=None, num_workers=self.num_workers,
                                                persistent_workers=False, prefetch_factor=4)
        for item in items:
            skipped, decoded = item[-1]
            self.skipped += int(skipped)
            self.decoded += int(decoded)
            if item[0] is None:
                continue
            if self.gpu is None:
                yield item[0], item[1]
                continue
            before = self.gpu.decoded
            batch, skipped = self.gpu(*item[:4])
            self.skipped += skipped
            self.decoded += self.gpu.decoded - before
            if len(batch[1]):
                yield batch


def make_loader(source: DatasetSource, spec: LoaderSpec) -> ShardLoader:
    """This rank's batches of `spec.split` from `source` (see `LoaderSpec`)."""
    setup = setup_epoch(source, spec)
    if setup.kept is None and spec.world_size * max(1, spec.num_workers) > 1:
        raise UserError("this dataset's index has no per-shard class counts (needed to share it out over "
                        "ranks or workers).", file=str(source.root),
                        hint="Prepare it again with this version of `benchbridge data`, or use one process "
                             "without workers.")
    counters = Counters()
    reader = SampleReader(setup, spec.skip_corrupt, counters, spec.keep)
    use_cache = spec.cache and spec.world_size == 1 and spec.num_workers == 0
    stages = _cached(source, spec, setup, reader) if use_cache else _streamed(spec, setup, reader)
    gpu = None
    if spec.decode == "gpu" and not use_cache:
        device = torch.device(spec.device) if spec.device is not None else torch.device("cuda")
        augment = BatchAugment(spec.augmentation, spec.input_size, spec.train, spec.mean, spec.std or ())
        gpu = GpuDecode(augment, device, mix_seed(spec.seed, spec.epoch, spec.rank, 2), spec.skip_corrupt)
        stages += [raw, batches(spec.batch_size, None, counters)]
    else:
        decode = CpuDecode(CpuAugment(spec.augmentation, spec.input_size, spec.train),
                           mix_seed(spec.seed, spec.epoch, spec.rank, 1), spec.skip_corrupt, counters)
        stages += [decode, batches(spec.batch_size, Collate(spec.mean, spec.std), counters)]
    per_rank = rank_samples(setup.total, spec.rank, spec.world_size, spec.train)
    loader = ShardLoader(wds.DataPipeline(*stages), per_rank, spec.batch_size, spec.num_workers, gpu,
                         spec.batches(per_rank))
    loader.drop_last = spec.drop_last
    return loader


def _cached(source: DatasetSource, spec: LoaderSpec, setup: EpochSetup, reader: SampleReader) -> list[Any]:
    """The pipeline's source over the decoded-image cache."""
    key = (str(source.root), spec.split, tuple(setup.label_of), spec.per_class, spec.keep)
    items = image_cache.decoded(key, reader)
    return [image_cache.from_memory(items, setup.order_seed if spec.train else None)]


def _streamed(spec: LoaderSpec, setup: EpochSetup, reader: SampleReader) -> list[Any]:
    """The pipeline's source over the shards: this (rank, worker)'s spans, then training's shuffle buffer."""
    stages: list[Any] = [PlanSource(reader, spec.train, spec.rank, spec.world_size, spec.batch_size)]
    if spec.train:
        buffer_seed = setup.order_seed if spec.rank == 0 else mix_seed(spec.seed, spec.epoch, spec.rank)
        stages.append(wds.shuffle(spec.shuffle_buffer, initial=spec.shuffle_buffer, seed=buffer_seed))
    return stages
