"""Small stand-ins of datasets as their libraries keep them on disk (torchvision's roots, Hugging Face folders, the
Hugging Face hub cache), built by the tests themselves: nothing is downloaded."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from PIL import Image


def class_image(cls: int, i: int, size: int = 16, grey: bool = False) -> Image.Image:
    """An image whose class is visible: a bright square at a class-dependent corner, noise elsewhere."""
    rng = np.random.default_rng(1000 * cls + i)
    pixels = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
    half = size // 2
    y, x = (cls // 2 % 2) * half, (cls % 2) * half
    pixels[y:y + half, x:x + half] = (200 + 20 * (cls % 3), 220 - 30 * (cls // 3 % 3), 230)
    image = Image.fromarray(pixels)
    return image.convert("L") if grey else image


def _idx(path: Path, array: np.ndarray) -> None:
    """An idx (ubyte) file as MNIST ships them: magic, big-endian dimensions, the bytes."""
    path.write_bytes(struct.pack(">I", 0x800 + array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
                     + array.astype(np.uint8).tobytes())


def fashion_mnist(root: Path, train_per_class: int = 3, test_per_class: int = 2, classes: int = 10,
                  name: str = "FashionMNIST") -> Path:
    """ROOT/<name>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte, 28x28 greyscale images."""
    raw = root / name / "raw"
    raw.mkdir(parents=True)
    for prefix, per_class in (("train", train_per_class), ("t10k", test_per_class)):
        labels = np.array([c for c in range(classes) for _ in range(per_class)])
        images = np.stack([np.asarray(class_image(c, i, 28, grey=True)) for i, c in enumerate(labels)])
        _idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return root


def dtd(root: Path, classes: tuple[str, ...] = ("banded", "dotted", "striped"), per_split: int = 2) -> Path:
    """ROOT/dtd/dtd/images/<class>/<name>.jpg and labels/{train,val,test}1.txt, as DTD's archive unpacks."""
    data = root / "dtd" / "dtd"
    (data / "labels").mkdir(parents=True)
    for split_number, split in enumerate(("train", "val", "test")):
        lines = []
        for c, name in enumerate(classes):
            (data / "images" / name).mkdir(parents=True, exist_ok=True)
            for i in range(per_split):
                file = f"{name}_{split_number:01d}{i:03d}.jpg"
                class_image(c, 10 * split_number + i, 24).save(data / "images" / name / file, quality=95)
                lines.append(f"{name}/{file}")
        (data / "labels" / f"{split}1.txt").write_text("\n".join(lines) + "\n")
    return root


def caltech101(root: Path, classes: tuple[str, ...] = ("accordion", "airplanes", "anchor"), per_class: int = 5) -> Path:
    """ROOT/caltech101/101_ObjectCategories/<class>/image_0001.jpg..., with the BACKGROUND_Google folder it drops."""
    base = root / "caltech101" / "101_ObjectCategories"
    for c, name in enumerate(("BACKGROUND_Google", *classes)):
        (base / name).mkdir(parents=True)
        for i in range(per_class):
            class_image(c, i, 20).save(base / name / f"image_{i + 1:04d}.jpg", quality=95)
    return root


def hf_model_cache(cache: Path, repo: str, state: dict, commit: str = "0123456789abcdef0123456789abcdef01234567",
                   filename: str = "model.safetensors") -> Path:
    """The Hugging Face hub cache layout huggingface_hub reads offline: CACHE/models--ORG--NAME/refs/main holding
    the commit, and snapshots/<commit>/FILE (a safetensors file of `state`); returns the file."""
    from safetensors.torch import save_file

    folder = cache / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(snapshot / filename))
    return snapshot / filename
