"""Batches from a prepared dataset: a WebDataset pipeline that filters classes before decoding.

Training: seeded shard shuffle and sample shuffle buffer (deterministic per (seed, epoch)), random crop and
mirror. Evaluation: every sample once, in file order, centre crop, last partial batch kept.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

import numpy as np
import torch
import webdataset as wds
from PIL import Image
from webdataset.tariterators import group_by_keys

from benchbridge.data.base import DatasetSource
from benchbridge.data.shards import iter_tar_members
from benchbridge.errors import UserError

SHUFFLE_BUFFER = 2000
Batch = tuple[torch.Tensor, torch.Tensor]


def count_samples(source: DatasetSource, split: str, classes: Sequence[int]) -> int:
    """Samples of `split` whose class is in `classes`, from the index's class counts."""
    counts = _split_entry(source, split)["class_counts"]
    return sum(int(counts[c]) for c in set(classes))


def _split_entry(source: DatasetSource, split: str) -> dict[str, Any]:
    splits = source.index.get("splits", {})
    if split not in splits:
        raise UserError(f"dataset '{source.name}' has no split '{split}' (it has: {', '.join(splits)}).",
                        file=str(source.root))
    return splits[split]


def _mix_seed(*parts: int) -> int:
    """One 63-bit seed from several integers (stable across runs and platforms)."""
    return int(np.random.SeedSequence([p & 0xFFFFFFFF for p in parts]).generate_state(2, np.uint64)[0] >> 1)


def _split_by_rank(rank: int, world_size: int) -> Callable[[Iterable[Any]], Iterator[Any]]:
    def split(src: Iterable[Any]) -> Iterator[Any]:
        return islice(src, rank, None, world_size)
    return split


def _tar_samples(src: Iterable[dict]) -> Iterator[dict]:
    """Samples of each shard ({"url": path}), grouped by key with webdataset's grouper."""
    return group_by_keys(_tar_files(src))


def _tar_files(src: Iterable[dict]) -> Iterator[dict]:
    for item in src:
        url = item["url"]
        try:
            with open(url, "rb") as stream:
                for name, data in iter_tar_members(stream):
                    yield {"fname": name, "data": data, "__url__": url}
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read shard: {exc}.", file=url,
                            hint="Prepare the dataset again with `benchbridge data prepare`.") from None
        yield {}  # end of shard: keeps samples of different shards apart


def _keep_classes(label_of: dict[int, int]) -> Callable[[Iterable[dict]], Iterator[dict]]:
    """Drop samples of other classes (before any decoding) and attach the new label."""
    def stage(src: Iterable[dict]) -> Iterator[dict]:
        for sample in src:
            raw = sample.get("cls")
            try:
                original = int(raw)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise _corrupt(sample, f"missing or bad class label {raw!r}") from None
            if original in label_of:
                sample["label"] = label_of[original]
                yield sample
    return stage


def _corrupt(sample: dict, why: str) -> UserError:
    return UserError(f"corrupt sample '{sample.get('__key__')}': {why}.", file=str(sample.get("__url__")),
                     hint="Prepare the dataset again with `benchbridge data prepare`.")


def decode_image(data: bytes) -> np.ndarray:
    """Decode image bytes to a uint8 HWC RGB array."""
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def _decode(sample: dict) -> np.ndarray:
    if "jpg" not in sample:
        raise _corrupt(sample, "no jpg image")
    try:
        return decode_image(sample["jpg"])
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise _corrupt(sample, f"cannot decode its image ({exc})") from None


CACHE_BYTES = 1 << 30
_cache: dict[tuple[str, str, tuple[int, ...]], list[dict]] = {}


def _decoded(shards: list[str], split_key: tuple[str, str], label_of: dict[int, int]) -> list[dict]:
    """The kept samples of a split, decoded once per process and kept in memory (oldest entries evicted)."""
    key = (*split_key, tuple(label_of))
    if key not in _cache:
        stages = [wds.SimpleShardList(shards), _tar_samples, _keep_classes(label_of)]
        items = [{"image": _decode(s), "label": s["label"], "__key__": s.get("__key__")}
                 for s in wds.DataPipeline(*stages)]
        _cache[key] = items
        while sum(it["image"].nbytes for v in _cache.values() for it in v) > CACHE_BYTES and len(_cache) > 1:
            del _cache[next(iter(_cache))]
    return _cache[key]


def _from_memory(items: list[dict], order_seed: int | None) -> Callable[[], Iterator[dict]]:
    """A pipeline source over cached samples: a seeded permutation for training, file order otherwise."""
    def source() -> Iterator[dict]:
        order = list(range(len(items)))
        if order_seed is not None:
            random.Random(order_seed).shuffle(order)
        return (items[i] for i in order)
    return source


@dataclass(frozen=True)
class _Transform:
    """Decode, resize when too small, crop (random or centre), mirror; output uint8 HWC and the label."""

    size: int
    train: bool
    seed: int

    def __call__(self, src: Iterable[dict]) -> Iterator[tuple[np.ndarray, int]]:
        info = torch.utils.data.get_worker_info()
        rng = random.Random(_mix_seed(self.seed, info.id if info else 0))
        for sample in src:
            image = sample["image"] if "image" in sample else _decode(sample)
            yield self._crop(self._ensure_size(image), rng), sample["label"]

    def _ensure_size(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        if min(h, w) >= self.size:
            return image
        scale = self.size / min(h, w)
        new = (max(self.size, round(w * scale)), max(self.size, round(h * scale)))
        return np.asarray(Image.fromarray(image).resize(new, Image.BILINEAR))

    def _crop(self, image: np.ndarray, rng: random.Random) -> np.ndarray:
        h, w = image.shape[:2]
        if self.train:
            top, left = rng.randint(0, h - self.size), rng.randint(0, w - self.size)
        else:
            top, left = (h - self.size) // 2, (w - self.size) // 2
        image = image[top:top + self.size, left:left + self.size]
        if self.train and rng.random() < 0.5:
            image = image[:, ::-1]
        return image


@dataclass(frozen=True)
class _Collate:
    """Stack uint8 HWC crops into a normalised float32 NCHW batch and int64 labels."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __call__(self, items: list[tuple[np.ndarray, int]]) -> Batch:
        images = torch.from_numpy(np.stack([im for im, _ in items])).permute(0, 3, 1, 2)
        labels = torch.tensor([lab for _, lab in items], dtype=torch.int64)
        x = images.to(torch.float32, memory_format=torch.contiguous_format)
        shift = torch.tensor(self.mean, dtype=torch.float32).view(-1, 1, 1) * 255.0
        scale = torch.tensor(self.std, dtype=torch.float32).view(-1, 1, 1) * 255.0
        return x.sub_(shift).div_(scale), labels


def _batches(batch_size: int, collate: _Collate) -> Callable[[Iterable], Iterator[Batch]]:
    def stage(src: Iterable) -> Iterator[Batch]:
        it = iter(src)
        while chunk := list(islice(it, batch_size)):
            yield collate(chunk)
    return stage


class ShardLoader:
    """An iterable of (images, labels) batches; iterate it once per epoch (it replays the same order)."""

    def __init__(self, pipeline: wds.DataPipeline, num_samples: int, batch_size: int, num_workers: int) -> None:
        self.pipeline = pipeline
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.num_workers = num_workers

    def __len__(self) -> int:
        """Batches per pass (exact for one process with at most one worker)."""
        return math.ceil(self.num_samples / self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        if self.num_workers == 0:
            return iter(self.pipeline)
        loader = torch.utils.data.DataLoader(self.pipeline, batch_size=None, num_workers=self.num_workers)
        return iter(loader)


def make_loader(source: DatasetSource, split: str, classes: Sequence[int], *, batch_size: int, train: bool,
                seed: int, epoch: int, input_size: int, mean: Sequence[float], std: Sequence[float],
                num_workers: int = 0, rank: int = 0, world_size: int = 1,
                shuffle_buffer: int = SHUFFLE_BUFFER, cache: bool = False) -> ShardLoader:
    """Batches of `split` restricted to `classes`, relabelled 0..k-1 in ascending order of original index.

    With `cache` (one process, no workers), the first pass decodes the kept samples into memory and later
    passes reuse them, shuffled by a seeded permutation: for small datasets trained many times over.
    """
    wanted = sorted(set(classes))
    if not wanted or wanted[0] < 0 or wanted[-1] >= source.num_classes:
        raise ValueError(f"classes must be a non-empty subset of 0..{source.num_classes - 1}")
    if batch_size < 1 or not 0 <= rank < world_size:
        raise ValueError("need batch_size >= 1 and 0 <= rank < world_size")
    shards = source.shards(split) if _split_entry(source, split)["shards"] else []
    order_seed = _mix_seed(seed, epoch)
    label_of = {c: i for i, c in enumerate(wanted)}
    if cache and world_size == 1 and num_workers == 0:
        items = _decoded(shards, (str(source.root), split), label_of)
        stages: list[Any] = [_from_memory(items, order_seed if train else None)]
    else:
        stages = [wds.SimpleShardList(shards, seed=order_seed if train else None) if shards else []]
        if world_size > 1:
            stages.append(_split_by_rank(rank, world_size))
        stages += [wds.split_by_worker, _tar_samples, _keep_classes(label_of)]
        if train:
            stages.append(wds.shuffle(shuffle_buffer, initial=shuffle_buffer, seed=order_seed))
    stages += [_Transform(input_size, train, _mix_seed(seed, epoch, rank, 1)),
               _batches(batch_size, _Collate(tuple(map(float, mean)), tuple(map(float, std))))]
    pipeline = wds.DataPipeline(*stages)
    return ShardLoader(pipeline, _per_rank(count_samples(source, split, wanted), rank, world_size),
                       batch_size, num_workers)


def _per_rank(total: int, rank: int, world_size: int) -> int:
    """Approximate share of one rank (exact when world_size is 1)."""
    return total if world_size == 1 else math.ceil(total / world_size)
