"""Augmentation presets, per image on the CPU (numpy/PIL) and per batch in torch (the GPU decode path).

paper: random `size` crop of the stored (256) image and a random mirror; centre crop for evaluation.
timm: RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3) and a random mirror; evaluation resizes the shorter side
to size/0.875 and takes the centre crop. none: centre crop for training and evaluation.
Normalisation (mean/std on 0..1 pixels) is done per batch, by the loader or (uint8 batches) by the trainer
on its device: the same operations, so the same values.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

Preset = Literal["paper", "timm", "none"]
PRESETS: tuple[str, ...] = ("paper", "timm", "none")
CROP_PCT = 0.875
SCALE, RATIO = (0.08, 1.0), (3 / 4, 4 / 3)
Box = tuple[int, int, int, int]  # top, left, height, width


def rrc_box(h: int, w: int, rng: random.Random) -> Box:
    """RandomResizedCrop's box (torchvision's sampling: 10 tries, then the centre crop at a clamped ratio)."""
    area = h * w
    log_ratio = (math.log(RATIO[0]), math.log(RATIO[1]))
    for _ in range(10):
        target = area * rng.uniform(*SCALE)
        aspect = math.exp(rng.uniform(*log_ratio))
        cw, ch = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            return rng.randint(0, h - ch), rng.randint(0, w - cw), ch, cw
    ratio = w / h
    if ratio < RATIO[0]:
        cw, ch = w, round(w / RATIO[0])
    elif ratio > RATIO[1]:
        ch, cw = h, round(h * RATIO[1])
    else:
        cw, ch = w, h
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def centre_box(h: int, w: int, side: float) -> Box:
    """The centre square of `side` pixels at the image's scale (side may exceed the image: then the whole)."""
    ch, cw = min(h, round(side)), min(w, round(side))
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def plan_box(preset: str, h: int, w: int, size: int, train: bool, rng: random.Random) -> tuple[Box, bool]:
    """The source box to crop (then resize to size x size when it differs) and whether to mirror."""
    if preset == "timm":
        if train:
            return rrc_box(h, w, rng), rng.random() < 0.5
        return centre_box(h, w, min(h, w) * CROP_PCT), False
    scale = max(1.0, size / min(h, w))  # images smaller than the crop are enlarged first
    side = size / scale
    if preset == "paper" and train:
        ch, cw = min(h, round(side)), min(w, round(side))
        return (rng.randint(0, h - ch), rng.randint(0, w - cw), ch, cw), rng.random() < 0.5
    return centre_box(h, w, side), False


@dataclass(frozen=True)
class CpuAugment:
    """Per-image augmentation of a uint8 HWC array; returns a uint8 size x size x 3 array."""

    preset: str
    size: int
    train: bool

    def __call__(self, image: np.ndarray, rng: random.Random) -> np.ndarray:
        h, w = image.shape[:2]
        if self.preset == "paper" or (self.preset == "none" and min(h, w) >= self.size):
            return self._paper(image, rng)
        (top, left, ch, cw), flip = plan_box(self.preset, h, w, self.size, self.train, rng)
        crop = Image.fromarray(image).resize((self.size, self.size), Image.BILINEAR,
                                             box=(left, top, left + cw, top + ch))
        out = np.asarray(crop)
        return out[:, ::-1] if flip else out

    def _paper(self, image: np.ndarray, rng: random.Random) -> np.ndarray:
        h, w = image.shape[:2]
        if min(h, w) < self.size:
            scale = self.size / min(h, w)
            new = (max(self.size, round(w * scale)), max(self.size, round(h * scale)))
            image = np.asarray(Image.fromarray(image).resize(new, Image.BILINEAR))
            h, w = image.shape[:2]
        random_crop = self.train and self.preset == "paper"
        if random_crop:
            top, left = rng.randint(0, h - self.size), rng.randint(0, w - self.size)
        else:
            top, left = (h - self.size) // 2, (w - self.size) // 2
        image = image[top:top + self.size, left:left + self.size]
        if random_crop and rng.random() < 0.5:
            image = image[:, ::-1]
        return image


def normalise(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 NCHW -> float32 NCHW, (x/255 - mean) / std."""
    return normalise_(images.to(torch.float32, memory_format=torch.contiguous_format), mean, std)


def normalise_(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """In place on float32 NCHW holding 0..255 values: (x/255 - mean) / std, as `normalise` computes it."""
    shift = torch.tensor(mean, dtype=torch.float32, device=x.device).view(-1, 1, 1) * 255.0
    scale = torch.tensor(std, dtype=torch.float32, device=x.device).view(-1, 1, 1) * 255.0
    return x.sub_(shift).div_(scale)  # as before: results stay bit-identical to earlier versions


@dataclass(frozen=True)
class BatchAugment:
    """The same presets on decoded uint8 CHW tensors (any device): crops, resizes, mirrors, normalises a batch
    (`mean` None: returns the uint8 batch, for the consumer to normalise)."""

    preset: str
    size: int
    train: bool
    mean: tuple[float, ...] | None
    std: tuple[float, ...]

    def __call__(self, images: list[torch.Tensor], rng: random.Random) -> torch.Tensor:
        crops, flips = [], []
        for image in images:
            h, w = image.shape[-2:]
            (top, left, ch, cw), flip = plan_box(self.preset, h, w, self.size, self.train, rng)
            if self.preset == "paper" and min(h, w) < self.size:
                image, (top, left, ch, cw) = self._enlarged(image, top, left, ch, cw)
            crop = image[:, top:top + ch, left:left + cw]
            if (ch, cw) != (self.size, self.size):
                crop = F.interpolate(crop[None].float(), size=(self.size, self.size), mode="bilinear",
                                     antialias=True, align_corners=False)[0].round_().clamp_(0, 255).byte()
            crops.append(crop)
            flips.append(flip)
        batch = torch.stack(crops)
        mirror = torch.tensor(flips, device=batch.device).view(-1, 1, 1, 1)
        batch = torch.where(mirror, batch.flip(-1), batch)
        return batch if self.mean is None else normalise(batch, self.mean, self.std)

    def _enlarged(self, image: torch.Tensor, top: int, left: int, ch: int, cw: int) -> tuple[torch.Tensor, Box]:
        h, w = image.shape[-2:]
        scale = self.size / min(h, w)
        new = (max(self.size, round(h * scale)), max(self.size, round(w * scale)))
        big = F.interpolate(image[None].float(), size=new, mode="bilinear", align_corners=False)[0]
        big = big.round_().clamp_(0, 255).byte()
        top = min(round(top * scale), new[0] - self.size)
        left = min(round(left * scale), new[1] - self.size)
        return big, (top, left, self.size, self.size)


def resolve_preset(requested: str, data_config: dict) -> str:
    """The preset to use: the manifest's choice, or ("auto") the model plugin's default, else "paper"."""
    if requested != "auto":
        return requested
    preset = str(data_config.get("augmentation", "paper"))
    return preset if preset in PRESETS else "paper"
