"""Decoding and augmenting samples: per sample on the CPU (PIL, or torchvision for JPEGs), or per batch with
torchvision.io.decode_jpeg on a device (`decode="gpu"`). A corrupt image is skipped and counted
(`skip_corrupt`) or raises a UserError naming the shard and the key.
"""

from __future__ import annotations

import io
import random
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from benchbridge.data.augment import BatchAugment, CpuAugment
from benchbridge.data.epoch_plan import mix_seed
from benchbridge.data.reading import Counters, corrupt
from benchbridge.errors import UserError

JPEG_MAGIC = b"\xff\xd8\xff"
Batch = tuple[torch.Tensor, torch.Tensor]


def decode_image(data: bytes) -> np.ndarray:
    """Decode image bytes to a uint8 HWC RGB array."""
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def decode_sample(sample: dict) -> np.ndarray:
    """A sample's image as a uint8 HWC RGB array, or a UserError naming it."""
    if "jpg" not in sample:
        raise corrupt(sample, "no jpg image")
    try:
        return decode_image(sample["jpg"])
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise corrupt(sample, f"cannot decode its image ({exc})") from None


def decode_jpeg_chw(data: bytes) -> torch.Tensor | None:
    """A JPEG decoded to uint8 CHW RGB with torchvision (libjpeg-turbo, no HWC->CHW copy); None if not a JPEG."""
    if not data.startswith(JPEG_MAGIC):
        return None
    try:
        return decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8), "cpu")
    except RuntimeError:
        return None  # let PIL decode it, or report it as corrupt


def decode_jpeg(data: torch.Tensor | list[torch.Tensor], device: torch.device | str) -> Any:
    """torchvision.io.decode_jpeg to RGB, without its deprecation warning (torchcodec will replace it)."""
    from torchvision.io import ImageReadMode
    from torchvision.io import decode_jpeg as tv_decode_jpeg
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return tv_decode_jpeg(data, mode=ImageReadMode.RGB, device=device)


@dataclass(frozen=True)
class CpuDecode:
    """Decode (CPU) and augment each sample to a uint8 crop (HWC array or CHW tensor); corrupt: skip or raise.

    JPEGs for the paper/none presets are decoded by torchvision straight to CHW and cropped as tensor views.
    """

    augment: CpuAugment
    seed: int
    skip: bool
    counters: Counters

    def __call__(self, src: Iterable[dict]) -> Iterator[tuple[np.ndarray | torch.Tensor, int]]:
        info = torch.utils.data.get_worker_info()
        rng = random.Random(mix_seed(self.seed, info.id if info else 0))
        fast = self.augment.preset in ("paper", "none")
        for sample in src:
            try:
                if "image" in sample:
                    yield self.augment(sample["image"], rng), sample["label"]
                    continue
                self.counters.decoded += 1
                chw = decode_jpeg_chw(sample["jpg"]) if fast and "jpg" in sample else None
                if chw is not None and min(chw.shape[-2:]) >= self.augment.size:
                    yield self._crop(chw, rng), sample["label"]
                    continue
                image = chw.permute(1, 2, 0).numpy() if chw is not None else decode_sample(sample)
            except UserError:
                if not self.skip:
                    raise
                self.counters.n += 1
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


def raw(src: Iterable[dict]) -> Iterator[tuple[bytes, int, str, str]]:
    """Undecoded samples for the GPU decode path: (jpeg bytes, label, key, shard)."""
    for sample in src:
        yield sample.get("jpg", b""), sample["label"], str(sample.get("__key__")), str(sample.get("__url__"))


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
            images = decode_jpeg(tensors, self.device)
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
            return decode_jpeg(tensor, self.device)
        except RuntimeError:
            pass
        try:  # not a JPEG (e.g. PNG stored under jpg): PIL on the CPU
            return torch.from_numpy(decode_image(data).copy()).permute(2, 0, 1).to(self.device)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            if self.skip:
                return None
            raise corrupt({"__key__": key, "__url__": url}, f"cannot decode its image ({exc})") from None
