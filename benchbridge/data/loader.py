"""Batches from a prepared dataset: a WebDataset pipeline that filters classes before decoding.

Training: seeded shard shuffle and sample shuffle buffer (deterministic per (seed, epoch)), augmentation preset
(see `augment`). Evaluation: every sample once, in file order, centre crop, last partial batch kept.

Several ranks and workers (for DDP: `make_loader(..., rank=r, world_size=n, num_workers=w)`):
- each (rank, worker) is a *slot*, numbered rank * workers + worker (`slot_count`, `slot_of`);
- evaluation (`train=False`): every sample exactly once across all slots -- whole shards per slot when there
  are at least as many shards as slots, else every slot reads all shards and keeps every n-th sample;
  combine per-rank sums (correct, seen) with an all-reduce;
- training with `world_size > 1` (or `resample=True`): a fixed epoch length of `rank_share(total, r, n)`
  samples per rank (`ceil(total / n)`, so every rank runs the same number of steps), each rank drawing from
  its own disjoint share of a (seed, epoch)-shuffled shard list, cycling through it when short; with fewer
  shards than slots each slot resamples shards at random, seeded by (seed, epoch, slot).
`images_per_class=k` keeps the first k training samples of each class in file order (a fixed random subset,
computed from the index's per-shard class counts, the same for every rank/worker split).
`skip_corrupt=True` skips undecodable samples and counts them in `ShardLoader.skipped`; otherwise a corrupt
sample raises a UserError naming the shard and the key. `decode="gpu"` yields JPEG bytes from the workers and
decodes, crops and mirrors whole batches with torchvision.io.decode_jpeg on `device`.
"""

from __future__ import annotations

import io
import math
import random
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

import numpy as np
import torch
import webdataset as wds
from PIL import Image
from webdataset.tariterators import group_by_keys

from benchbridge.data.augment import PRESETS, BatchAugment, CpuAugment, normalise
from benchbridge.data.base import DatasetSource
from benchbridge.data.shards import iter_tar_members
from benchbridge.errors import UserError

SHUFFLE_BUFFER = 2000
JPEG_MAGIC = b"\xff\xd8\xff"
Batch = tuple[torch.Tensor, torch.Tensor]


def count_samples(source: DatasetSource, split: str, classes: Sequence[int],
                  images_per_class: int | None = None) -> int:
    """Samples of `split` whose class is in `classes` (at most `images_per_class` each), from the index."""
    counts = _split_entry(source, split)["class_counts"]
    cap = images_per_class if images_per_class is not None else math.inf
    return sum(int(min(counts[c], cap)) for c in set(classes))


def _split_entry(source: DatasetSource, split: str) -> dict[str, Any]:
    splits = source.index.get("splits", {})
    if split not in splits:
        raise UserError(f"dataset '{source.name}' has no split '{split}' (it has: {', '.join(splits)}).",
                        file=str(source.root))
    return splits[split]


def _mix_seed(*parts: int) -> int:
    """One 63-bit seed from several integers (stable across runs and platforms)."""
    return int(np.random.SeedSequence([p & 0xFFFFFFFF for p in parts]).generate_state(2, np.uint64)[0] >> 1)


def slot_count(world_size: int, num_workers: int) -> int:
    """Reading slots: one per (rank, worker); a rank without workers is one slot."""
    return world_size * max(1, num_workers)


def slot_of(rank: int) -> tuple[int, int, int]:
    """(slot, worker id, workers) of the calling process (a DataLoader worker or the main process) on `rank`."""
    info = torch.utils.data.get_worker_info()
    worker, workers = (info.id, info.num_workers) if info else (0, 1)
    return rank * workers + worker, worker, workers


def rank_share(total: int, rank: int, world_size: int) -> int:
    """Training samples per rank and epoch under DDP: the same for every rank (ceil(total / world_size))."""
    del rank  # every rank gets the same fixed length, so every rank runs the same number of steps
    return math.ceil(total / world_size)


def worker_share(quota: int, worker: int, workers: int) -> int:
    """One worker's part of a rank's samples (the remainder goes to the first workers)."""
    return quota // workers + (1 if worker < quota % workers else 0)


def _corrupt(sample: dict, why: str) -> UserError:
    return UserError(f"corrupt sample '{sample.get('__key__')}': {why}.", file=str(sample.get("__url__")),
                     hint="Run `benchbridge data verify DIR`, prepare the dataset again, or set "
                          "data.skip_corrupt: true in the manifest to skip such samples.")


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


class _Skips:
    """Samples skipped as corrupt since the last batch (one per process)."""

    def __init__(self) -> None:
        self.n = 0

    def take(self) -> int:
        n, self.n = self.n, 0
        return n


Quota = dict[str, dict[int, int]]  # shard path -> original class -> samples of it to keep from that shard


def class_quota(source: DatasetSource, split: str, classes: Sequence[int], images_per_class: int) -> Quota:
    """Per shard, how many samples of each class to keep so that the first k of each class (file order) remain."""
    entry = _split_entry(source, split)
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


@dataclass
class _Reader:
    """Samples of one shard, grouped by key, of kept classes only (undecoded), labelled; within the quota."""

    label_of: dict[int, int]
    quota: Quota | None
    skip: bool
    skips: _Skips
    keep: Callable[[str, int], bool] | None = None  # (sample key, original class) -> kept

    def samples(self, url: str) -> Iterator[dict]:
        left = dict(self.quota[url]) if self.quota is not None else None
        try:
            with open(url, "rb") as stream:
                members = ({"fname": n, "data": d, "__url__": url} for n, d in iter_tar_members(stream))
                for sample in group_by_keys(members):
                    kept = self._keep(sample, left)
                    if kept is not None:
                        yield kept
        except (OSError, ValueError) as exc:
            if not self.skip:
                raise UserError(f"cannot read shard: {exc}.", file=url,
                                hint="Run `benchbridge data verify DIR` and prepare the dataset again.") from None
            self.skips.n += 1

    def _keep(self, sample: dict, left: dict[int, int] | None) -> dict | None:
        raw = sample.get("cls")
        try:
            original = int(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            if self.skip:
                self.skips.n += 1
                return None
            raise _corrupt(sample, f"missing or bad class label {raw!r}") from None
        if original not in self.label_of:
            return None
        if left is not None:
            if left[original] <= 0:
                return None
            left[original] -= 1
        if self.keep is not None and not self.keep(str(sample.get("__key__", "")), original):
            return None
        sample["label"] = self.label_of[original]
        return sample


@dataclass
class _Source:
    """The samples of one slot: see the module docstring for the three modes."""

    shards: list[str]
    reader: _Reader
    mode: str  # "eval" (exactly once), "epoch" (shuffled shards split by slot), "fixed" (fixed length per rank)
    seed: int | None
    rank: int
    world_size: int
    rank_samples: int = 0

    def __call__(self) -> Iterator[dict]:
        slot, worker, workers = slot_of(self.rank)
        n = self.world_size * workers
        shards = list(self.shards)
        if self.seed is not None:
            random.Random(self.seed).shuffle(shards)
        if self.mode == "fixed":
            return self._fixed(shards, slot, n, worker_share(self.rank_samples, worker, workers))
        if self.mode == "eval" and len(shards) < n:
            return islice(self._all(shards), slot, None, n)
        return self._all(shards[slot::n])

    def _all(self, shards: list[str]) -> Iterator[dict]:
        for url in shards:
            yield from self.reader.samples(url)

    def _fixed(self, shards: list[str], slot: int, n: int, quota: int) -> Iterator[dict]:
        rng = random.Random(_mix_seed(self.seed or 0, slot, 3))
        mine = shards[slot::n] if len(shards) >= n else []
        done = empty = 0
        while done < quota and empty < max(100, 2 * len(shards)) and shards:
            if mine:
                order = rng.sample(mine, len(mine))
            else:
                order = [rng.choice(shards)]  # resampled: too few shards for a disjoint share
            got = 0
            for sample in islice(self._all(order), quota - done):
                got += 1
                yield sample
            done += got
            if mine and got == 0:
                mine = []  # no kept sample in this share: resample from every shard
            empty = 0 if got else empty + 1


@dataclass(frozen=True)
class _Decode:
    """Decode (CPU) and augment each sample to a uint8 crop (HWC array or CHW tensor); corrupt: skip or raise.

    JPEGs for the paper/none presets are decoded by torchvision straight to CHW and cropped as tensor views.
    """

    augment: CpuAugment
    seed: int
    skip: bool
    skips: _Skips

    def __call__(self, src: Iterable[dict]) -> Iterator[tuple[np.ndarray | torch.Tensor, int]]:
        info = torch.utils.data.get_worker_info()
        rng = random.Random(_mix_seed(self.seed, info.id if info else 0))
        fast = self.augment.preset in ("paper", "none")
        for sample in src:
            try:
                if "image" in sample:
                    yield self.augment(sample["image"], rng), sample["label"]
                    continue
                chw = decode_jpeg_chw(sample["jpg"]) if fast and "jpg" in sample else None
                if chw is not None and min(chw.shape[-2:]) >= self.augment.size:
                    yield self._crop(chw, rng), sample["label"]
                    continue
                image = chw.permute(1, 2, 0).numpy() if chw is not None else _decode(sample)
            except UserError:
                if not self.skip:
                    raise
                self.skips.n += 1
                continue
            yield self.augment(image, rng), sample["label"]

    def _crop(self, image: torch.Tensor, rng: random.Random) -> torch.Tensor:
        """The paper preset on a CHW tensor (same random draws as CpuAugment, so the same crops)."""
        size, (h, w) = self.augment.size, image.shape[-2:]
        if self.augment.train and self.augment.preset == "paper":
            top, left = rng.randint(0, h - size), rng.randint(0, w - size)
            crop = image[:, top:top + size, left:left + size]
            return crop.flip(-1) if rng.random() < 0.5 else crop
        top, left = (h - size) // 2, (w - size) // 2
        return image[:, top:top + size, left:left + size]


def decode_jpeg_chw(data: bytes) -> torch.Tensor | None:
    """A JPEG decoded to uint8 CHW RGB with torchvision (libjpeg-turbo, no HWC->CHW copy); None if not a JPEG."""
    if not data.startswith(JPEG_MAGIC):
        return None
    try:
        return _decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8), "cpu")
    except RuntimeError:
        return None  # let PIL decode it, or report it as corrupt


def _decode_jpeg(data: torch.Tensor | list[torch.Tensor], device: torch.device | str) -> Any:
    """torchvision.io.decode_jpeg to RGB, without its deprecation warning (torchcodec will replace it)."""
    from torchvision.io import ImageReadMode, decode_jpeg
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return decode_jpeg(data, mode=ImageReadMode.RGB, device=device)


def _raw(src: Iterable[dict]) -> Iterator[tuple[bytes, int, str, str]]:
    """Undecoded samples for the GPU decode path: (jpeg bytes, label, key, shard)."""
    for sample in src:
        yield sample.get("jpg", b""), sample["label"], str(sample.get("__key__")), str(sample.get("__url__"))


CACHE_BYTES = 1 << 30
_cache: dict[tuple, list[dict]] = {}


def _decoded(shards: list[str], key: tuple, reader: _Reader) -> list[dict]:
    """The kept samples of a split, decoded once per process and kept in memory (oldest entries evicted)."""
    if key not in _cache:
        items = []
        for s in _Source(shards, reader, "eval", None, 0, 1)():
            try:
                items.append({"image": _decode(s), "label": s["label"], "__key__": s.get("__key__")})
            except UserError:
                if not reader.skip:
                    raise
                reader.skips.n += 1
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


def _chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.require(image, requirements="CW")).permute(2, 0, 1)


@dataclass(frozen=True)
class _Collate:
    """Stack uint8 HWC crops into a normalised float32 NCHW batch and int64 labels."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __call__(self, items: list[tuple[np.ndarray | torch.Tensor, int]]) -> Batch:
        as_chw = [im if isinstance(im, torch.Tensor) else _chw(im) for im, _ in items]
        images = torch.stack(as_chw)
        labels = torch.tensor([lab for _, lab in items], dtype=torch.int64)
        return normalise(images, self.mean, self.std), labels


def _batches(batch_size: int, collate: Callable[[list], Any] | None, skips: _Skips) -> Callable[[Iterable], Iterator]:
    """Batches tagged with the samples skipped since the last one; a final (None, None, n) for the rest."""
    def stage(src: Iterable) -> Iterator:
        it = iter(src)
        while chunk := list(islice(it, batch_size)):
            if collate is None:
                yield [c[0] for c in chunk], [c[1] for c in chunk], [c[2] for c in chunk], [c[3] for c in chunk], \
                    skips.take()
            else:
                yield (*collate(chunk), skips.take())
        if skips.n:
            yield None, None, skips.take()
    return stage


@dataclass
class GpuDecode:
    """Decode a batch of JPEG bytes with torchvision.io.decode_jpeg on `device`, then augment it as a batch."""

    augment: BatchAugment
    device: torch.device
    seed: int
    skip: bool

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def __call__(self, datas: list[bytes], labels: list[int], keys: list[str], urls: list[str]) -> tuple[Batch, int]:
        tensors = [torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in datas]
        try:
            images = _decode_jpeg(tensors, self.device)
        except RuntimeError:
            images = [self._one(t, d, k, u) for t, d, k, u in zip(tensors, datas, keys, urls)]
        kept = [i for i, im in enumerate(images) if im is not None]
        skipped = len(images) - len(kept)
        if not kept:
            return (torch.empty(0), torch.empty(0, dtype=torch.int64)), skipped
        x = self.augment([images[i] for i in kept], self.rng)
        y = torch.tensor([labels[i] for i in kept], dtype=torch.int64, device=x.device)
        return (x, y), skipped

    def _one(self, tensor: torch.Tensor, data: bytes, key: str, url: str) -> torch.Tensor | None:
        try:
            return _decode_jpeg(tensor, self.device)
        except RuntimeError:
            pass
        try:  # not a JPEG (e.g. PNG stored under jpg): PIL on the CPU
            return torch.from_numpy(decode_image(data).copy()).permute(2, 0, 1).to(self.device)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            if self.skip:
                return None
            raise _corrupt({"__key__": key, "__url__": url}, f"cannot decode its image ({exc})") from None


class ShardLoader:
    """An iterable of (images, labels) batches; iterate it once per epoch (it replays the same order).

    `skipped` counts the corrupt samples skipped during the last pass (with skip_corrupt).
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

    def __len__(self) -> int:
        """Batches per pass (exact for one process with at most one worker, and for fixed-length training)."""
        return self.num_batches if self.num_batches is not None else math.ceil(self.num_samples / self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        self.skipped = 0
        if self.num_workers == 0:
            items: Iterable = self.pipeline
        else:
            items = torch.utils.data.DataLoader(self.pipeline, batch_size=None, num_workers=self.num_workers,
                                                persistent_workers=False, prefetch_factor=4)
        for item in items:
            self.skipped += int(item[-1])
            if item[0] is None:
                continue
            if self.gpu is None:
                yield item[0], item[1]
                continue
            batch, skipped = self.gpu(*item[:4])
            self.skipped += skipped
            if len(batch[1]):
                yield batch


def make_loader(source: DatasetSource, split: str, classes: Sequence[int], *, batch_size: int, train: bool,
                seed: int, epoch: int, input_size: int, mean: Sequence[float], std: Sequence[float],
                num_workers: int = 0, rank: int = 0, world_size: int = 1,
                shuffle_buffer: int = SHUFFLE_BUFFER, cache: bool = False, augmentation: str = "paper",
                decode: str = "cpu", device: torch.device | str | None = None, skip_corrupt: bool = False,
                images_per_class: int | None = None, resample: bool | None = None,
                keep: Callable[[str, int], bool] | None = None) -> ShardLoader:
    """Batches of `split` restricted to `classes`, relabelled 0..k-1 in ascending order of original index.

    With `cache` (one process, no workers), the first pass decodes the kept samples into memory and later
    passes reuse them, shuffled by a seeded permutation: for small datasets trained many times over.
    `images_per_class` applies to training only; `resample` (default: world_size > 1) gives training a fixed
    epoch length of `rank_share` samples per rank. See the module docstring for the multi-rank guarantees.
    `keep(key, original_class)`, a hashable predicate (e.g. `data.holdout.Holdout`), drops the samples it rejects
    (after `images_per_class`); its `expected_fraction`, if any, scales the sample count.
    """
    wanted = sorted(set(classes))
    if not wanted or wanted[0] < 0 or wanted[-1] >= source.num_classes:
        raise ValueError(f"classes must be a non-empty subset of 0..{source.num_classes - 1}")
    if batch_size < 1 or not 0 <= rank < world_size:
        raise ValueError("need batch_size >= 1 and 0 <= rank < world_size")
    if augmentation not in PRESETS or decode not in ("cpu", "gpu"):
        raise ValueError(f"augmentation must be one of {PRESETS} and decode 'cpu' or 'gpu'")
    shards = source.shards(split) if _split_entry(source, split)["shards"] else []
    per_class = images_per_class if train else None
    order_seed = _mix_seed(seed, epoch)
    label_of = {c: i for i, c in enumerate(wanted)}
    skips = _Skips()
    quota = class_quota(source, split, wanted, per_class) if per_class is not None else None
    reader = _Reader(label_of, quota, skip_corrupt, skips, keep)
    total = count_samples(source, split, wanted, per_class)
    if keep is not None:
        total = max(1, round(total * getattr(keep, "expected_fraction", 1.0)))
    fixed = train and (resample if resample is not None else world_size > 1)
    use_cache = cache and world_size == 1 and num_workers == 0
    gpu = None
    if use_cache:
        items = _decoded(shards, (str(source.root), split, tuple(label_of), per_class, keep), reader)
        stages: list[Any] = [_from_memory(items, order_seed if train else None)]
    else:
        mode = "fixed" if fixed else ("epoch" if train else "eval")
        stages = [_Source(shards, reader, mode, order_seed if train else None, rank, world_size,
                          rank_share(total, rank, world_size))]
        if train:
            stages.append(wds.shuffle(shuffle_buffer, initial=shuffle_buffer, seed=order_seed))
    augment_seed = _mix_seed(seed, epoch, rank, 1)
    if decode == "gpu" and not use_cache:
        dev = torch.device(device) if device is not None else torch.device("cuda")
        gpu = GpuDecode(BatchAugment(augmentation, input_size, train, tuple(map(float, mean)),
                                     tuple(map(float, std))), dev, _mix_seed(seed, epoch, rank, 2), skip_corrupt)
        stages += [_raw, _batches(batch_size, None, skips)]
    else:
        stages += [_Decode(CpuAugment(augmentation, input_size, train), augment_seed, skip_corrupt, skips),
                   _batches(batch_size, _Collate(tuple(map(float, mean)), tuple(map(float, std))), skips)]
    per_rank = rank_share(total, rank, world_size) if fixed else _per_rank(total, rank, world_size)
    workers = max(1, num_workers)
    batches = sum(math.ceil(worker_share(per_rank, w, workers) / batch_size) for w in range(workers)) \
        if fixed else None
    return ShardLoader(wds.DataPipeline(*stages), per_rank, batch_size, num_workers, gpu, batches)


def _per_rank(total: int, rank: int, world_size: int) -> int:
    """Approximate share of one rank (exact when world_size is 1)."""
    return total if world_size == 1 else math.ceil(total / world_size)
