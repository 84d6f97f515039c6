"""The generated dataset: deterministic, both domains, learnable but not trivial."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchbridge.data import synthetic_images as synthetic
from benchbridge.data.synthetic_images import class_images, class_infos, prepare_synthetic

SMALL = {"num_classes": 4, "image_size": 16, "train_per_class": 10, "val_per_class": 3}


def _files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir())}


def test_same_seed_gives_byte_identical_shards(tmp_path: Path) -> None:
    prepare_synthetic(tmp_path / "a", seed=3, shard_size=16, **SMALL)
    prepare_synthetic(tmp_path / "b", seed=3, shard_size=16, **SMALL)
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert sorted(a) == ["dataset.json", "train-000000.tar", "train-000001.tar", "train-000002.tar",
                         "val-000000.tar"]
    assert a == b


def test_other_seed_gives_other_images(tmp_path: Path) -> None:
    prepare_synthetic(tmp_path / "a", seed=0, **SMALL)
    prepare_synthetic(tmp_path / "b", seed=1, **SMALL)
    assert (tmp_path / "a" / "train-000000.tar").read_bytes() != (tmp_path / "b" / "train-000000.tar").read_bytes()


def test_classes_alternate_domains() -> None:
    infos = class_infos(5)
    assert [c.name for c in infos] == ["natural_00", "manmade_01", "natural_02", "manmade_03", "natural_04"]
    assert {c.attributes["domain"] for c in class_infos(2)} == {"natural", "manmade"}


def test_recipes_use_their_domain_bank() -> None:
    for index in range(10):
        recipe = synthetic.make_recipe(0, index)
        bank = synthetic.MANMADE_SHAPES if recipe.domain == "manmade" else synthetic.NATURAL_SHAPES
        assert 2 <= len(recipe.parts) <= 3
        assert all(p.shape in bank for p in recipe.parts)


def test_images_shape_and_dtype() -> None:
    images = np.concatenate(list(class_images(0, 1, "train", 130, 24)))
    assert images.shape == (130, 24, 24, 3) and images.dtype == np.uint8
    assert images.std() > 10  # not blank


def test_nearest_class_mean_is_above_chance_but_not_perfect() -> None:
    classes, size = 20, 32
    train = [np.concatenate(list(class_images(0, c, "train", 60, size))).reshape(60, -1) for c in range(classes)]
    val = [np.concatenate(list(class_images(0, c, "val", 25, size))).reshape(25, -1) for c in range(classes)]
    means = np.stack([t.astype(np.float32).mean(0) for t in train])
    x = np.concatenate(val).astype(np.float32)
    y = np.repeat(np.arange(classes), 25)
    dist = (x * x).sum(1, keepdims=True) - 2 * x @ means.T + (means * means).sum(1)
    accuracy = float((dist.argmin(1) == y).mean())
    assert 3 / classes < accuracy < 0.9, accuracy
