"""A generated image dataset with shared low-level primitives and two dissimilar class domains.

Every class is a *recipe*: a background plus 2-3 parts, each part a primitive from a common bank (strokes,
frames, boxes, checkers, stripes, blobs, rings, arcs, dot and wave textures) with a colour, place, size and
orientation. `manmade` classes use straight shapes, grids, axis-aligned orientations and saturated flat
colours; `natural` classes use blobs, curves, organic textures and earthy/green palettes. Each image jitters
the recipe (shift, scale, rotation, colour, dropped parts, a distractor, background noise, mirror).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from benchbridge.data.source import ClassInfo, DatasetSource
from benchbridge.data.shard_files import DEFAULT_SHARD_SIZE, OnProgress, write_dataset

GENERATOR_VERSION = 1
"""Bumped whenever the images a seed produces change, so cached datasets are regenerated."""
JPEG_QUALITY = 95
CHUNK = 128  # images generated at once; bounds memory for large image sizes

DOMAINS = ("natural", "manmade")
MANMADE_SHAPES = ("bar", "frame", "box", "checker", "stripes", "cross")
NATURAL_SHAPES = ("blob", "ring", "arc", "dots", "waves", "spot")
SHAPES = MANMADE_SHAPES + NATURAL_SHAPES

PALETTES = {
    "manmade": np.array([[.9, .1, .1], [.1, .3, .9], [.95, .85, .1], [.95, .95, .95], [.08, .08, .08],
                         [.1, .85, .9], [.9, .2, .8], [1., .55, .05]], np.float32),
    "natural": np.array([[.45, .3, .15], [.35, .45, .15], [.15, .4, .15], [.5, .6, .3], [.8, .7, .45],
                         [.75, .55, .2], [.55, .65, .75], [.6, .3, .2]], np.float32),
}
BACKGROUNDS = {
    "manmade": np.array([[.6, .6, .6], [.85, .85, .8], [.55, .7, .9], [.3, .3, .35]], np.float32),
    "natural": np.array([[.3, .45, .2], [.55, .45, .3], [.45, .55, .6], [.65, .6, .4]], np.float32),
}


@dataclass(frozen=True)
class Part:
    """One primitive of a class recipe, in coordinates where the image spans [-1, 1]."""

    shape: str
    colour: int
    cx: float
    cy: float
    scale: float
    angle: float
    freq: float


@dataclass(frozen=True)
class Recipe:
    """What every image of one class is made of."""

    domain: str
    background: int
    parts: tuple[Part, ...]


def class_domain(index: int) -> str:
    """Domains alternate so any class count >= 2 has both: even indices natural, odd ones manmade."""
    return DOMAINS[index % 2]


def class_infos(num_classes: int) -> list[ClassInfo]:
    """Class names and attributes, e.g. `natural_00`, `manmade_01`."""
    return [ClassInfo(i, f"{class_domain(i)}_{i:02d}", {"domain": class_domain(i)}) for i in range(num_classes)]


def make_recipe(seed: int, index: int) -> Recipe:
    """The recipe of class `index`; depends only on the seed and the index."""
    rng = np.random.default_rng([seed, index, 7919])
    domain = class_domain(index)
    bank = MANMADE_SHAPES if domain == "manmade" else NATURAL_SHAPES
    background = int(rng.integers(len(BACKGROUNDS[domain])))
    colours = rng.permutation(len(PALETTES[domain]))
    slots = rng.permutation(9)  # distinct cells of a 3x3 layout
    parts = []
    for k in range(int(rng.integers(2, 4))):
        if domain == "manmade":
            angle = float(rng.integers(4)) * np.pi / 4
        else:
            angle = float(rng.uniform(0, np.pi))
        parts.append(Part(shape=str(rng.choice(bank)), colour=int(colours[k]),
                          cx=float(slots[k] % 3 - 1) * 0.45, cy=float(slots[k] // 3 - 1) * 0.45,
                          scale=float(rng.uniform(0.3, 0.55)), angle=angle, freq=float(rng.choice([2.0, 3.0]))))
    return Recipe(domain, background, tuple(parts))


# ---- primitives: each maps local coordinates (u, v) (object extent ~1) to a mask in [0, 1] ----------------

def _inside(d: np.ndarray, aa: np.ndarray) -> np.ndarray:
    """Anti-aliased mask of the region where the signed distance `d` (local units) is negative."""
    return np.clip(0.5 - d / aa, 0.0, 1.0)


def _square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(u), np.abs(v)) - 1.0


def _radius(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.sqrt(u * u + v * v)


def _bar(u, v, f, aa):
    return _inside(np.maximum(np.abs(u) - 1.0, np.abs(v) - 0.2), aa)


def _frame(u, v, f, aa):
    return _inside(np.abs(np.maximum(np.abs(u), np.abs(v)) - 0.85) - 0.15, aa)


def _box(u, v, f, aa):
    return _inside(np.maximum(np.abs(u) - 0.9, np.abs(v) - 0.55), aa)


def _checker(u, v, f, aa):
    tex = np.sin(np.pi * f * u) * np.sin(np.pi * f * v)
    return _inside(_square(u, v), aa) * _inside(-tex, aa * 4)


def _stripes(u, v, f, aa):
    return _inside(_square(u, v), aa) * _inside(-np.sin(np.pi * f * u), aa * 4)


def _cross(u, v, f, aa):
    return np.maximum(_bar(u, v, f, aa), _bar(v, u, f, aa))


def _blob(u, v, f, aa):
    theta = np.arctan2(v, u)
    return _inside(_radius(u, v / 0.65) - (0.9 + 0.12 * np.sin(3 * theta + f)), aa)


def _ring(u, v, f, aa):
    return _inside(np.abs(_radius(u, v) - 0.75) - 0.18, aa)


def _arc(u, v, f, aa):
    return _ring(u, v, f, aa) * _inside(-v - 0.1, aa)


def _dots(u, v, f, aa):
    tex = np.cos(np.pi * f * u) + np.cos(np.pi * f * v)
    return _inside(_radius(u, v) - 1.0, aa) * _inside(1.0 - tex, aa * 4)


def _waves(u, v, f, aa):
    tex = np.sin(np.pi * f * u + 1.5 * np.sin(np.pi * 1.5 * v))
    return _inside(_radius(u, v) - 1.0, aa) * _inside(-tex, aa * 4)


def _spot(u, v, f, aa):
    return _inside(_radius(u, v) - 0.45, aa)


PRIMITIVES: dict[str, Callable[..., np.ndarray]] = {
    "bar": _bar, "frame": _frame, "box": _box, "checker": _checker, "stripes": _stripes, "cross": _cross,
    "blob": _blob, "ring": _ring, "arc": _arc, "dots": _dots, "waves": _waves, "spot": _spot,
}


# ---- rendering -------------------------------------------------------------------------------------------

def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    return axis[None, :].repeat(size, 0), axis[:, None].repeat(size, 1)


def _smooth_noise(rng: np.random.Generator, n: int, size: int, cells: int, channels: int) -> np.ndarray:
    """Low-frequency noise (n, size, size, channels): a random `cells` x `cells` grid, bilinearly upsampled."""
    coarse = rng.normal(0, 1, (n, cells, cells, channels)).astype(np.float32)
    pos = np.linspace(0, cells - 1, size, dtype=np.float32)
    lo = np.minimum(pos.astype(int), cells - 2)
    w = pos - lo
    up = np.zeros((size, cells), np.float32)
    up[np.arange(size), lo] = 1 - w
    up[np.arange(size), lo + 1] = w
    planes = up @ coarse.transpose(0, 3, 1, 2) @ up.T  # (n, channels, size, size)
    return planes.transpose(0, 2, 3, 1)


def _paint(img: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> None:
    m = mask[..., None]
    img *= 1 - m
    img += m * colour[:, None, None, :]


def _render_part(img, rng, part: Part, domain: str, shift, x, y, aa) -> None:
    n = img.shape[0]
    cx = part.cx + shift[:, 0] + rng.normal(0, 0.07, n)
    cy = part.cy + shift[:, 1] + rng.normal(0, 0.07, n)
    scale = part.scale * rng.uniform(0.8, 1.2, n)
    angle = part.angle + rng.normal(0, 0.12 if domain == "manmade" else 0.35, n)
    mask = _primitive(part.shape, x, y, cx, cy, scale, angle, part.freq, aa)
    keep = rng.random(n) >= 0.12  # sometimes a part is missing
    colour = PALETTES[domain][part.colour] + rng.normal(0, 0.07, (n, 3))
    _paint(img, mask * keep[:, None, None], colour.astype(np.float32))


def _primitive(shape, x, y, cx, cy, scale, angle, freq, aa) -> np.ndarray:  # noqa: PLR0913 -- a vectorised kernel
    c = np.cos(angle)[:, None, None].astype(np.float32)
    s = np.sin(angle)[:, None, None].astype(np.float32)
    sc = scale[:, None, None].astype(np.float32)
    dx = x[None] - cx[:, None, None].astype(np.float32)
    dy = y[None] - cy[:, None, None].astype(np.float32)
    u = (dx * c + dy * s) / sc
    v = (-dx * s + dy * c) / sc
    return PRIMITIVES[shape](u, v, freq, aa / sc).astype(np.float32)


def _background(rng, recipe: Recipe, n: int, size: int) -> np.ndarray:
    base = BACKGROUNDS[recipe.domain][recipe.background] + rng.normal(0, 0.05, (n, 3))
    img = np.empty((n, size, size, 3), np.float32)
    img[:] = base[:, None, None, :]
    amount = 0.12 if recipe.domain == "natural" else 0.04
    noise = _smooth_noise(rng, n, size, 4, 2)
    img += amount * noise[..., :1] + (amount / 3) * noise[..., 1:] * np.float32([1, 0, -1])  # mostly brightness
    return img


def _distractor(img, rng, x, y, aa) -> None:
    """A small random primitive of any domain in a random place on ~30% of the images."""
    n = img.shape[0]
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    mask = _primitive(shape, x, y, rng.uniform(-0.7, 0.7, n), rng.uniform(-0.7, 0.7, n),
                      rng.uniform(0.15, 0.3, n), rng.uniform(0, np.pi, n), 2.0, aa)
    colour = rng.uniform(0, 1, (n, 3)).astype(np.float32)
    _paint(img, mask * (rng.random(n) < 0.3)[:, None, None], colour)


def render(recipe: Recipe, n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """`n` jittered images of one class as uint8 (n, size, size, 3)."""
    x, y = _grid(size)
    aa = np.float32(2.0 / size)
    img = _background(rng, recipe, n, size)
    shift = rng.uniform(-0.2, 0.2, (n, 2))
    for part in recipe.parts:
        _render_part(img, rng, part, recipe.domain, shift, x, y, aa)
    _distractor(img, rng, x, y, aa)
    img *= rng.uniform(0.8, 1.2, (n, 1, 1, 1)).astype(np.float32)
    img += rng.normal(0, 0.04, (n, 1, 1, 3)).astype(np.float32)
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(0.05)
    flip = rng.random(n) < 0.5
    img[flip] = img[flip, :, ::-1]
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def encode_jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """JPEG bytes of one uint8 HWC RGB image (4:4:4 so small colour details survive)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=quality, subsampling=0)
    return buf.getvalue()


SPLIT_IDS = {"train": 0, "val": 1}


def class_images(seed: int, index: int, split: str, count: int, size: int) -> Iterator[np.ndarray]:
    """The `count` images of class `index` in `split`, in chunks; deterministic in all arguments."""
    recipe = make_recipe(seed, index)
    for chunk, start in enumerate(range(0, count, CHUNK)):
        rng = np.random.default_rng([seed, index, SPLIT_IDS[split], chunk])
        yield render(recipe, min(CHUNK, count - start), size, rng)


def generate_split(seed: int, num_classes: int, split: str, per_class: int, size: int) -> list[tuple[bytes, int]]:
    """All (jpeg, class) samples of one split, in a seeded shuffled order so every shard mixes classes."""
    samples = [(encode_jpeg(im), c) for c in range(num_classes)
               for chunk in class_images(seed, c, split, per_class, size) for im in chunk]
    order = np.random.default_rng([seed, SPLIT_IDS[split], 104729]).permutation(len(samples))
    return [samples[i] for i in order]


def prepare_params(num_classes: int, image_size: int, train_per_class: int, val_per_class: int,
                   seed: int) -> dict[str, object]:
    """The parameters recorded in the index; a cached dataset is reused only when they match."""
    return {"generator": "synthetic", "version": GENERATOR_VERSION, "classes": num_classes,
            "image_size": image_size, "train_per_class": train_per_class, "val_per_class": val_per_class,
            "seed": seed}


def prepare_synthetic(out: Path, *, num_classes: int = 20, image_size: int = 32, train_per_class: int = 300,
                      val_per_class: int = 50, seed: int = 0, shard_size: int = DEFAULT_SHARD_SIZE,
                      on_progress: OnProgress | None = None) -> DatasetSource:
    """Generate the dataset and write it as shards under `out`."""
    if num_classes < 2 or image_size < 8 or train_per_class < 1 or val_per_class < 1:
        raise ValueError("need classes >= 2, image_size >= 8 and at least one image per class and split")
    samples = {"train": generate_split(seed, num_classes, "train", train_per_class, image_size),
               "val": generate_split(seed, num_classes, "val", val_per_class, image_size)}
    params = dict(prepare_params(num_classes, image_size, train_per_class, val_per_class, seed),
                  shard_size=shard_size)
    return write_dataset(out, f"synthetic-{num_classes}", class_infos(num_classes), samples, params,
                         shard_size=shard_size, on_progress=on_progress)
