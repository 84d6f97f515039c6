"""Batches from a prepared dataset: a WebDataset pipeline that filters classes before decoding.

Training: seeded shard shuffle and sample shuffle buffer (deterministic per (seed, epoch)), augmentation preset
(see `augment`). Evaluation: every sample once, in file order, centre crop, last partial batch kept.

Several ranks and workers (DDP: `make_loader(..., rank=r, world_size=n, num_workers=w)`, `batch_size` per rank)
share one plan (`plan_epoch`): the kept samples of the split, in the order of the (seed, epoch)-shuffled shard list
(file order for evaluation), form one sequence whose length the index's per-shard class counts give without
reading a shard. Rank r takes the r-th contiguous slice of it (sizes differ by at most one); its workers take
contiguous pieces of that slice, cut at whole batches, so the DataLoader's round-robin yields the rank's batches
in order, all full but the last. Each sample is therefore read and decoded by exactly one (rank, worker).
Training pads every rank to ceil(total / n) samples (a short rank decodes one sample twice), so every rank runs
ceil(ceil(total / n) / batch_size) steps; evaluation does not pad: every sample exactly once over all ranks
(combine per-rank sums with an all-reduce).
`images_per_class=k` keeps the first k training samples of each class in file order (a fixed random subset,
computed from the index's per-shard class counts, the same for every rank/worker split).
`skip_corrupt=True` skips undecodable samples and counts them in `ShardLoader.skipped`; otherwise a corrupt
sample raises a UserError naming the shard and the key. `ShardLoader.decoded` counts the images decoded during
the last pass (cached passes decode none). `decode="gpu"` yields JPEG bytes from the workers and decodes, crops
and mirrors whole batches with torchvision.io.decode_jpeg on `device`. `normalise=False` yields uint8 NCHW
batches (a quarter of the bytes across process boundaries) for the consumer to normalise on its device with
`augment.normalise`, which gives the same float values bit for bit.
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

from benchbridge.data.augment import PRESETS, BatchAugment, CpuAugment, normalise_
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


@dataclass(frozen=True)
class Span:
    """A run of one shard's kept samples: skip the first `skip`, then take `take`."""

    shard: str
    skip: int
    take: int


def kept_counts(source: DatasetSource, split: str, classes: Sequence[int], quota: Quota | None) -> list[int] | None:
    """Kept samples per shard (class filter and quota applied), from the index; None if it has no per-shard counts."""
    entry = _split_entry(source, split)
    per_shard = entry.get("shard_class_counts")
    if per_shard is None:
        return None
    if quota is None:
        return [sum(counts[c] for c in classes) for counts in per_shard]
    return [sum(quota[str(source.root / name)].values()) for name in entry["shards"]]


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
    runs = [(lo + first, lo + min(end, own))] if first < own else []
    if end > own:  # padding: the samples after this rank's slice, wrapping round the sequence
        runs += [((lo + p) % total, (lo + p) % total + 1) for p in range(max(first, own), end)]
    return _spans(shards, kept, runs)


def _spans(shards: Sequence[str], kept: Sequence[int], runs: list[tuple[int, int]]) -> list[Span]:
    """Global position ranges [a, b) of the kept-sample sequence as per-shard spans."""
    starts = np.cumsum([0, *kept]).tolist()
    out: list[Span] = []
    for a, b in runs:
        for i, shard in enumerate(shards):
            lo, hi = max(a, starts[i]), min(b, starts[i + 1])
            if lo < hi:
                out.append(Span(shard, lo - starts[i], hi - lo))
    return out


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
    """Samples skipped as corrupt, and images decoded, since the last batch (one per process)."""

    def __init__(self) -> None:
        self.n = 0
        self.decoded = 0

    def take(self) -> tuple[int, int]:
        taken, self.n, self.decoded = (self.n, self.decoded), 0, 0
        return taken


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
        sample["label"], sample["__class__"] = self.label_of[original], original
        return sample

    def passes(self, sample: dict) -> bool:
        """The `keep` filter, applied after a rank's share is cut, so that the shares stay disjoint and aligned."""
        return self.keep is None or self.keep(str(sample.get("__key__", "")), sample["__class__"])


@dataclass
class _Source:
    """The samples of the calling (rank, worker): its spans of the epoch plan (see `plan_epoch`)."""

    shards: list[str]
    kept: list[int] | None  # per shard, in `shards` order; None: no per-shard counts (one slot only)
    reader: _Reader
    seed: int | None  # shard-order seed (training); None: file order
    rank: int
    world_size: int
    batch_size: int
    pad: bool

    def __call__(self) -> Iterator[dict]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        order = list(range(len(self.shards)))
        if self.seed is not None:
            random.Random(self.seed).shuffle(order)
        shards = [self.shards[i] for i in order]
        if self.kept is None:  # one rank, one worker (checked by make_loader): every shard, whole
            return self._read([Span(s, 0, -1) for s in shards])
        kept = [self.kept[i] for i in order]
        return self._read(plan_epoch(shards, kept, self.rank, self.world_size, worker, workers, self.batch_size,
                                     self.pad))

    def _read(self, spans: list[Span]) -> Iterator[dict]:
        for span in spans:
            samples = self.reader.samples(span.shard)
            stop = None if span.take < 0 else span.skip + span.take
            yield from filter(self.reader.passes, islice(samples, span.skip, stop))
            samples.close()  # type: ignore[attr-defined]


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
                self.skips.decoded += 1
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
        for s in _Source(shards, None, reader, None, 0, 1, 1, False)():
            reader.skips.decoded += 1
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


def _shared_empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An empty tensor, in shared memory inside a DataLoader worker (so handing it over copies nothing)."""
    if torch.utils.data.get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    storage = torch.UntypedStorage._new_shared(math.prod(shape) * dtype.itemsize)
    return torch.empty(0, dtype=dtype).set_(storage).view(shape)


@dataclass(frozen=True)
class _Collate:
    """Stack uint8 HWC/CHW crops into a uint8 NCHW batch (`mean` None) or a normalised float32 one; int64 labels.

    Inside a worker the batch is built in shared memory, as torch's default collate does.
    """

    mean: tuple[float, ...] | None
    std: tuple[float, ...]

    def __call__(self, items: list[tuple[np.ndarray | torch.Tensor, int]]) -> Batch:
        as_chw = [im if isinstance(im, torch.Tensor) else _chw(im) for im, _ in items]
        labels = torch.tensor([lab for _, lab in items], dtype=torch.int64)
        shape = (len(as_chw), *as_chw[0].shape)
        if self.mean is None:
            return torch.stack(as_chw, out=_shared_empty(shape, torch.uint8)), labels
        out = _shared_empty(shape, torch.float32)
        for i, im in enumerate(as_chw):
            out[i].copy_(im)
        return normalise_(out, self.mean, self.std), labels


def _batches(batch_size: int, collate: Callable[[list], Any] | None, skips: _Skips) -> Callable[[Iterable], Iterator]:
    """Batches tagged with (skipped, decoded) since the last one; a final (None, None, tag) for the rest."""
    def stage(src: Iterable) -> Iterator:
        it = iter(src)
        while chunk := list(islice(it, batch_size)):
            if collate is None:
                yield [c[0] for c in chunk], [c[1] for c in chunk], [c[2] for c in chunk], [c[3] for c in chunk], \
                    skips.take()
            else:
                yield (*collate(chunk), skips.take())
        if skips.n or skips.decoded:
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
        self.decoded = 0

    def __call__(self, datas: list[bytes], labels: list[int], keys: list[str], urls: list[str]) -> tuple[Batch, int]:
        tensors = [torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in datas]
        try:
            images = _decode_jpeg(tensors, self.device)
        except RuntimeError:
            images = [self._one(t, d, k, u) for t, d, k, u in zip(tensors, datas, keys, urls)]
        self.decoded += len(images)
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

    def __len__(self) -> int:
        """Batches per pass (exact unless corrupt samples are skipped)."""
        return self.num_batches if self.num_batches is not None else math.ceil(self.num_samples / self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        self.skipped = self.decoded = 0
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


def make_loader(source: DatasetSource, split: str, classes: Sequence[int], *, batch_size: int, train: bool,
                seed: int, epoch: int, input_size: int, mean: Sequence[float], std: Sequence[float],
                num_workers: int = 0, rank: int = 0, world_size: int = 1,
                shuffle_buffer: int = SHUFFLE_BUFFER, cache: bool = False, augmentation: str = "paper",
                decode: str = "cpu", device: torch.device | str | None = None, skip_corrupt: bool = False,
                images_per_class: int | None = None, normalise: bool = True,
                keep: Callable[[str, int], bool] | None = None) -> ShardLoader:
    """Batches of `split` restricted to `classes`, relabelled 0..k-1 in ascending order of original index.

    `batch_size` is per rank (a DDP trainer passes its global batch / world_size). With `cache` (one process, no
    workers), the first pass decodes the kept samples into memory and later passes reuse them, shuffled by a
    seeded permutation: for small datasets trained many times over. `images_per_class` applies to training only.
    `normalise=False`: uint8 batches, to normalise on the device. See the module docstring for several ranks.
    `keep(key, original_class)`, a hashable predicate (e.g. `data.holdout.Holdout`), drops the samples it rejects
    after the epoch is shared out (so each rank keeps its own share of them); its `expected_fraction`, if any,
    scales the sample count.
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
    kept = kept_counts(source, split, wanted, quota)
    if kept is None and world_size * max(1, num_workers) > 1:
        raise UserError("this dataset's index has no per-shard class counts (needed to share it out over "
                        "ranks or workers).", file=str(source.root),
                        hint="Prepare it again with this version of `benchbridge data`, or use one process "
                             "without workers.")
    if keep is not None:
        total = max(1, round(total * getattr(keep, "expected_fraction", 1.0)))
    use_cache = cache and world_size == 1 and num_workers == 0
    norm = (tuple(map(float, mean)), tuple(map(float, std))) if normalise else (None, tuple(map(float, std)))
    gpu = None
    if use_cache:
        items = _decoded(shards, (str(source.root), split, tuple(label_of), per_class, keep), reader)
        stages: list[Any] = [_from_memory(items, order_seed if train else None)]
    else:
        stages = [_Source(shards, kept, reader, order_seed if train else None, rank, world_size, batch_size, train)]
        if train:
            buffer_seed = order_seed if rank == 0 else _mix_seed(seed, epoch, rank)
            stages.append(wds.shuffle(shuffle_buffer, initial=shuffle_buffer, seed=buffer_seed))
    augment_seed = _mix_seed(seed, epoch, rank, 1)
    if decode == "gpu" and not use_cache:
        dev = torch.device(device) if device is not None else torch.device("cuda")
        gpu = GpuDecode(BatchAugment(augmentation, input_size, train, *norm), dev, _mix_seed(seed, epoch, rank, 2),
                        skip_corrupt)
        stages += [_raw, _batches(batch_size, None, skips)]
    else:
        stages += [_Decode(CpuAugment(augmentation, input_size, train), augment_seed, skip_corrupt, skips),
                   _batches(batch_size, _Collate(*norm), skips)]
    per_rank = rank_samples(total, rank, world_size, train)
    return ShardLoader(wds.DataPipeline(*stages), per_rank, batch_size, num_workers, gpu,
                       math.ceil(per_rank / batch_size))


def rank_samples(total: int, rank: int, world_size: int, train: bool) -> int:
    """Samples one rank reads per pass: training pads every rank to ceil(total / n); evaluation does not pad."""
    if train:
        return math.ceil(total / world_size)
    return total // world_size + (rank < total % world_size)
