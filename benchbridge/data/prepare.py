"""Prepare image files as shards in parallel: resize, re-encode as JPEG, one process per shard, resumable.

A preparation is planned first (every split's files in a fixed shuffled order, cut into shards of `shard_size`),
so each shard's content depends only on the plan: any number of workers writes byte-identical shards, and a
rerun with the same plan keeps the shards that are already complete (a shard appears under its final name only
once fully written). The plan's fingerprint is kept in `.prepare.json` until the index is written.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from benchbridge.data.parallel_write import in_processes
from benchbridge.data.source import ClassInfo, DatasetSource
from benchbridge.data.shard_files import (DEFAULT_SHARD_SIZE, OnProgress, clear_previous, finish_dataset, shard_name,
                                     split_entry, write_shard)
from benchbridge.errors import UserError

PLAN_FILE = ".prepare.json"
JPEG_MAGIC = b"\xff\xd8\xff"
ORDER_SEED = 20140  # samples are written in a fixed shuffled order so every shard mixes classes
Files = list[tuple[Path, int]]


@dataclass(frozen=True)
class Encoding:
    """How each image is stored: resized (shorter side or square) and re-encoded at a JPEG quality."""

    size: int | None = None
    resize: Literal["shorter", "square"] = "shorter"
    quality: int = 95


class EncodingOptions(BaseModel):
    """Options of a preparation that writes image files as shards: the `Encoding` and how to write it."""

    model_config = ConfigDict(extra="forbid")

    size: int | None = Field(None, ge=8, description="Resize so the shorter side is SIZE pixels (or SIZE x SIZE "
                             "with --resize square); default: keep (JPEGs are copied).")
    resize: Literal["shorter", "square"] = Field("shorter", description="shorter: keep the aspect ratio; square: "
                                                 "SIZE x SIZE (the paper's 256x256).")
    quality: int = Field(95, ge=1, le=100, description="JPEG quality of re-encoded images.")
    shard_size: int = Field(DEFAULT_SHARD_SIZE, ge=1, description="Samples per shard.")
    workers: int | None = Field(None, ge=1, description="Processes writing shards (default: every core).")

    def encoding(self) -> Encoding:
        return Encoding(self.size, self.resize, self.quality)


def resize_image(image: Image.Image, size: int, mode: str = "shorter") -> Image.Image:
    """Scale so the shorter side is `size` pixels ("shorter"), or to exactly size x size ("square")."""
    w, h = image.size
    if mode == "square":
        new = (size, size)
    else:
        scale = size / min(w, h)
        new = (max(1, round(w * scale)), max(1, round(h * scale)))
    if new == (w, h):
        return image
    image.draft("RGB", (new[0], new[1]))  # JPEG: decode at a reduced scale when it is at least twice as big
    return image.convert("RGB").resize(new, Image.BICUBIC)


def shrink_to_jpeg(image: Image.Image, size: int | None, quality: int) -> bytes:
    """The image (in its own mode, L or RGB) as JPEG, shrunk first so its shorter side is `size` pixels (never
    enlarged; None: as it is)."""
    if size is not None and min(image.size) > size:
        scale = size / min(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.BICUBIC)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def encode_file(path: Path, enc: Encoding) -> bytes:
    """The stored JPEG of one image file: a JPEG kept as-is when no resize is asked, else re-encoded."""
    data = path.read_bytes()
    if enc.size is None and data.startswith(JPEG_MAGIC):
        return data
    try:
        with Image.open(io.BytesIO(data)) as im:
            image = resize_image(im, enc.size, enc.resize) if enc.size else im
            image = image.convert("RGB")
            buf = io.BytesIO()
            image.save(buf, "JPEG", quality=enc.quality)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UserError(f"cannot read this image: {exc}.", file=str(path),
                        hint="Remove or replace the file, then prepare again (complete shards are kept).") from None
    return buf.getvalue()


def shuffled(files: Files) -> Files:
    """The files in the fixed shuffled order they are written in."""
    order = np.random.default_rng(ORDER_SEED).permutation(len(files))
    return [files[i] for i in order]


@dataclass(frozen=True)
class _Job:
    out: str
    split: str
    number: int
    first: int  # global sample number of the shard's first sample
    files: list[tuple[str, int]]
    enc: Encoding
    num_classes: int


def _write_shard(job: _Job) -> tuple[str, int, str | None]:
    """Encode and write one shard (see shards.write_shard); (split, count, error)."""
    samples = ((encode_file(Path(path), job.enc), cls) for path, cls in job.files)
    try:
        write_shard(Path(job.out), job.split, job.number, job.first, samples, job.num_classes)
    except UserError as exc:
        return job.split, 0, str(exc)
    return job.split, len(job.files), None


def _fingerprint(files: dict[str, Files], params: dict[str, Any]) -> str:
    h = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for split, items in sorted(files.items()):
        h.update(split.encode())
        for path, cls in items:
            h.update(f"{path}\0{cls}\n".encode())
    return h.hexdigest()


def _start(out: Path, fingerprint: str) -> None:
    """Mark `out` as in preparation; keep complete shards only when they come from the same plan."""
    try:
        same = json.loads((out / PLAN_FILE).read_text()).get("fingerprint") == fingerprint
    except (OSError, ValueError):
        same = False
    clear_previous(out, keep_shards=same)
    (out / PLAN_FILE).write_text(json.dumps({"fingerprint": fingerprint}) + "\n")


def _jobs(out: Path, files: dict[str, Files], shard_size: int, enc: Encoding, num_classes: int) -> list[_Job]:
    jobs = []
    for split, items in files.items():
        for number, first in enumerate(range(0, len(items), shard_size)):
            chunk = [(str(p), c) for p, c in items[first:first + shard_size]]
            jobs.append(_Job(str(out), split, number, first, chunk, enc, num_classes))
    return jobs


def prepare_files(  # noqa: PLR0913 -- the dataset, then keyword-only writing options that every preparation passes
        out: Path, name: str, classes: list[ClassInfo], files: dict[str, Files], params: dict[str, Any],
        *, shard_size: int, enc: Encoding, workers: int | None = None,
        on_progress: OnProgress | None = None) -> DatasetSource:
    """Write `files` (split -> (path, class index), already in write order) as shards, then the index."""
    if shard_size < 1:
        raise ValueError("shard_size must be >= 1")
    out = Path(out).expanduser()
    params = {**params, "shard_size": shard_size, **asdict(enc)}
    _start(out, _fingerprint(files, params))
    jobs = _jobs(out, files, shard_size, enc, len(classes))
    complete = [(out / shard_name(j.split, j.number)).is_file() for j in jobs]
    todo = [j for j, done in zip(jobs, complete) if not done]
    if on_progress:
        for j, done in zip(jobs, complete):
            if done:
                on_progress(j.split, len(j.files))
    _run_jobs(todo, workers or os.cpu_count() or 1, on_progress)
    splits = {split: split_entry(split, [[c for _, c in j.files] for j in jobs if j.split == split], len(classes))
              for split in files}
    source = finish_dataset(out, name, classes, splits, {**params, "resumed_shards": len(jobs) - len(todo)})
    (out / PLAN_FILE).unlink(missing_ok=True)
    return source


def _run_jobs(jobs: list[_Job], workers: int, on_progress: OnProgress | None) -> None:
    def done(split: str, count: int, error: str | None) -> None:
        if error:
            raise UserError(error)
        if on_progress:
            on_progress(split, count)

    in_processes(_write_shard, [(job,) for job in jobs], workers, done)
