"""The DALI input pipeline (`data.pipeline: dali`; `pip install 'benchbridge[dali]'`): the same shards, index,
class filter, rank shares and presets as the torch loader, decoded by nvJPEG on the GPU.

It takes the torch loader's `LoaderSpec` and set-up (`epoch_plan.setup_epoch`). Per pass it writes, for this
rank, DALI index files (wds2idx's v1.2 format) that list only the kept samples of its spans of the epoch plan
(`epoch_plan.plan_epoch` with one worker) that pass the spec's `keep` filter (e.g. the holdout), so DALI's
`fn.readers.webdataset` reads and decodes exactly the samples the torch loader's rank would, and nothing else.
Decoding is `device="mixed"` (nvJPEG, the hardware JPEG decoder where the GPU has one) on CUDA and libjpeg-turbo
on the CPU; the presets run in DALI (paper: random crop + mirror of the image, enlarged first when smaller than
the crop; timm: RandomResizedCrop + mirror, evaluation resize to size/0.875 + centre crop; none: centre crop).
Batches are uint8 NCHW with int64 labels, on the pipeline's device, for the trainer to normalise. Crops are not
the torch loader's for a seed.
"""

from __future__ import annotations

import importlib.util
import math
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from benchbridge.data.augment import CROP_PCT, RATIO, SCALE
from benchbridge.data.source import DatasetSource
from benchbridge.data.epoch_plan import (
    EpochSetup, Span, admit, mix_seed, plan_epoch, rank_samples, setup_epoch)
from benchbridge.data.loader_spec import LoaderSpec, drop_partial_last
from benchbridge.data.reading import ShardCheck
from benchbridge.data.shard_files import iter_tar_entries
from benchbridge.errors import UserError

LABEL_BYTES = 8  # the .cls text of a class index, padded with zero bytes


def available() -> bool:
    """Whether NVIDIA DALI is installed."""
    return importlib.util.find_spec("nvidia.dali") is not None


@dataclass(frozen=True)
class Member:
    """One sample of a shard: its key, class and the data offsets/sizes of its jpg and cls members."""

    key: str
    cls: int
    jpg: tuple[int, int]
    cls_at: tuple[int, int]


def scan_shard(path: str) -> list[Member]:
    """The samples of an uncompressed tar shard, reading headers and class labels only (image data is skipped)."""
    return scan_samples(path)[0]


def scan_samples(path: str) -> tuple[list[Member], int]:
    """`scan_shard`'s samples, and how many samples (keys) the tar holds whole, as the torch loader counts them.

    A member whose data runs past the end of the file (a cut tar) ends the scan.
    """
    found: dict[str, dict[str, tuple[int, int]]] = {}
    labels: dict[str, int] = {}
    order: list[str] = []
    with open(path, "rb") as f:
        end = os.fstat(f.fileno()).st_size
        for name, offset, size in iter_tar_entries(f):
            if offset + size > end:
                raise ValueError(f"truncated tar file (member {name} runs past the end)")
            if "." not in name:
                continue
            key, ext = name.split(".", 1)
            if key not in found:
                found[key] = {}
                order.append(key)
            found[key][ext] = (offset, size)
            if ext == "cls":
                f.seek(offset)
                labels[key] = int(f.read(size))
    members = [Member(k, labels[k], found[k]["jpg"], found[k]["cls"]) for k in order
               if "jpg" in found[k] and k in labels]
    return members, len(order)


def _scan_checked(shard: str, check: ShardCheck, owner: bool) -> tuple[list[Member], int]:
    """The shard's samples and the samples to count as skipped, after checking its count against the index."""
    try:
        members, read = scan_samples(shard)
    except (OSError, ValueError) as exc:
        return [], check.unreadable(shard, exc, 0, owner)
    return members, check.finished(shard, read, owner)


def kept_members(members: list[Member], setup: EpochSetup, shard: str) -> list[Member]:
    """The shard's samples the torch loader keeps: class in the filter, within the first-k quota."""
    left = dict(setup.quota[shard]) if setup.quota is not None else None
    return [m for m in members if admit(m.cls, setup.label_of, left)]


def write_index(path: Path, members: Sequence[Member]) -> None:
    """A DALI webdataset index (wds2idx v1.2) listing `members` only."""
    lines = [f"v1.2 {len(members)}"]
    lines += [f"jpg {m.jpg[0]} {m.jpg[1]} {m.key}.jpg cls {m.cls_at[0]} {m.cls_at[1]} {m.key}.cls" for m in members]
    path.write_text("\n".join(lines) + "\n")


class DaliLoader:
    """An iterable of (uint8 images NCHW, int64 labels) batches from a DALI pipeline (None: nothing to read); one
    pass per iteration."""

    def __init__(self, pipe: object | None, num_samples: int, batch_size: int, label_map: torch.Tensor) -> None:
        self.pipe, self.num_samples, self.batch_size = pipe, num_samples, batch_size
        self.label_map = label_map
        self.skipped = 0
        self.decoded = 0
        self.drop_last = False  # the last batch is not yielded when it is partial, as in the torch loader

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        from nvidia.dali.plugin.pytorch import DALIGenericIterator, LastBatchPolicy
        self.decoded = 0
        if self.num_samples == 0 or self.pipe is None:
            return
        it = DALIGenericIterator([self.pipe], ["x", "cls"], reader_name="reader",
                                 last_batch_policy=LastBatchPolicy.PARTIAL, auto_reset=False)
        yield from drop_partial_last(self._batches(it), self.batch_size) if self.drop_last else self._batches(it)

    def _batches(self, it: Any) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for out in it:
            x, cls = out[0]["x"], out[0]["cls"].to(torch.int64).cpu()
            digits = torch.where(cls > 0, cls - 48, torch.zeros_like(cls))
            ndigits = (cls > 0).sum(1, keepdim=True)
            powers = 10 ** (ndigits - 1 - torch.arange(cls.shape[1])).clamp(min=0)
            original = (digits * powers * (cls > 0)).sum(1)
            y = self.label_map[original].to(x.device)
            self.decoded += len(y)
            yield x, y


def make_dali_loader(source: DatasetSource, spec: LoaderSpec, index_dir: Path | None = None) -> DaliLoader:
    """This rank's batches of `spec.split` (relabelled as the torch loader does), via DALI on `spec.device`
    (default CUDA), with max(1, `spec.num_workers`) threads. Per pass, index files go to `index_dir` (default: a
    temporary folder removed with the loader)."""
    if not available():
        raise UserError("data.pipeline is dali, but NVIDIA DALI is not installed.",
                        hint="pip install 'benchbridge[dali]' (the CUDA 13 wheel), or set data.pipeline: torch.")
    setup = setup_epoch(source, spec)
    if setup.kept is None:
        raise UserError("this dataset's index has no per-shard class counts (needed by the DALI pipeline).",
                        file=str(source.root), hint="Prepare it again with this version of `benchbridge data`.")
    order = setup.order(spec.train)
    spans = plan_epoch([setup.shards[i] for i in order], [setup.kept[i] for i in order], spec.rank,
                       spec.world_size, 0, 1, spec.batch_size, pad=spec.train)
    folder = Path(index_dir or tempfile.mkdtemp(prefix="bb-dali-"))
    folder.mkdir(parents=True, exist_ok=True)
    paths, indexes, skipped = _write_indexes(spans, setup, spec, folder)
    num = rank_samples(setup.total, spec.rank, spec.world_size, spec.train)
    dev = torch.device(spec.device if spec.device is not None else "cuda")
    label_map = torch.full((source.num_classes,), -1, dtype=torch.int64)
    for c, label in setup.label_of.items():
        label_map[c] = label
    pipe = _pipeline(paths, indexes, spec, dev, mix_seed(spec.seed, spec.epoch, spec.rank, 4) % (2**31)) \
        if paths else None
    loader = DaliLoader(pipe, num, spec.batch_size, label_map)
    loader.drop_last = spec.drop_last
    loader.skipped = skipped
    if index_dir is None:  # a loader per epoch: its temporary index files go with it
        weakref.finalize(loader, shutil.rmtree, folder, True)
    return loader


def _write_indexes(spans: list[Span], setup: EpochSetup, spec: LoaderSpec,
                   folder: Path) -> tuple[list[str], list[str], int]:
    """One index file per span listing its kept samples that pass `spec.keep` (after the share is cut, as the
    torch loader does, so the shares stay aligned): the shard paths, the index paths, and the samples to count as
    skipped (each shard's count checked as it is scanned)."""
    check, owned = ShardCheck(setup.expected, spec.skip_corrupt), {s.shard for s in spans if setup.finishes(s)}
    paths, indexes, scanned, skipped = [], [], {}, 0
    for i, span in enumerate(spans):
        if span.shard not in scanned:
            members, missing = _scan_checked(span.shard, check, span.shard in owned)
            scanned[span.shard], skipped = kept_members(members, setup, span.shard), skipped + missing
        members = scanned[span.shard][span.skip:span.skip + span.take]
        if spec.keep is not None:
            members = [m for m in members if spec.keep(m.key, m.cls)]
        if members:
            index = folder / f"{spec.rank}-{i}.idx"
            write_index(index, members)
            paths.append(span.shard)
            indexes.append(str(index))
    return paths, indexes, skipped


def _pipeline(paths: list[str], indexes: list[str], spec: LoaderSpec, device: torch.device, seed: int) -> object:
    from nvidia.dali import fn, pipeline_def, types
    from nvidia.dali import math as dmath

    gpu = device.type == "cuda"
    batch_size, train, preset, size = spec.batch_size, spec.train, spec.augmentation, spec.input_size
    num_threads = max(1, spec.num_workers)

    @pipeline_def(batch_size=batch_size, num_threads=num_threads, seed=seed,
                  device_id=(device.index or 0) if gpu else None)
    def pipe():  # type: ignore[no-untyped-def]
        jpg, cls = fn.readers.webdataset(paths=paths, index_paths=indexes, ext=["jpg", "cls"], name="reader",
                                         random_shuffle=train, initial_fill=2000, missing_component_behavior="error")
        images = fn.decoders.image(jpg, device="mixed" if gpu else "cpu", output_type=types.RGB)
        mirror = fn.random.coin_flip(probability=0.5) if train and preset != "none" else 0
        if preset == "timm" and train:
            images = fn.random_resized_crop(images, size=(size, size), random_area=list(SCALE),
                                            random_aspect_ratio=list(RATIO), antialias=True)
            crop_args: dict = {}
        elif preset == "timm":
            images = fn.resize(images, resize_shorter=round(size / CROP_PCT), antialias=True)
            crop_args = {"crop": (size, size)}
        else:
            shape = fn.peek_image_shape(jpg)
            short = dmath.min(shape[0], shape[1])
            images = fn.resize(images, resize_shorter=fn.cast(dmath.max(short, size), dtype=types.FLOAT))
            crop_args = {"crop": (size, size)}
            if train and preset == "paper":
                crop_args.update(crop_pos_x=fn.random.uniform(range=(0.0, 1.0)),
                                 crop_pos_y=fn.random.uniform(range=(0.0, 1.0)))
        x = fn.crop_mirror_normalize(images, dtype=types.UINT8, output_layout="CHW", mirror=mirror, **crop_args)
        label = fn.pad(cls, axes=(0,), shape=(LABEL_BYTES,), fill_value=0)
        return x, label

    p = pipe()
    p.build()
    return p
