"""The shard loader: class filtering before decode, relabelling, eval order, seeded training order."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchbridge.data import decoding
from benchbridge.data.source import ClassInfo, DatasetSource
from benchbridge.data.loader import LoaderSpec, count_samples, make_loader
from benchbridge.data.shard_files import iter_tar_members, write_dataset
from benchbridge.errors import UserError

NUM_CLASSES = 5
CORRUPT_CLASS = 4
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def _jpeg(value: int, size: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (value, value, value)).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def _samples(n: int, size: int) -> list[tuple[bytes, int]]:
    """Class c is a flat grey image of value 40*c; class 4 holds bytes that are not an image."""
    return [(b"not a jpeg" if (i % NUM_CLASSES) == CORRUPT_CLASS else _jpeg(40 * (i % NUM_CLASSES), size),
             i % NUM_CLASSES) for i in range(n)]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> DatasetSource:
    classes = [ClassInfo(i, f"c{i}") for i in range(NUM_CLASSES)]
    out = tmp_path_factory.mktemp("toy")
    return write_dataset(out, "toy", classes, {"train": _samples(200, 12), "val": _samples(53, 12)}, {},
                         shard_size=16)


def _load(source: DatasetSource, split: str = "val", classes=(0, 1, 2, 3), **kw) -> list[tuple]:
    args = {"batch_size": 8, "train": False, "seed": 0, "epoch": 0, "input_size": 10, "mean": MEAN, "std": STD}
    return list(make_loader(source, LoaderSpec(split=split, classes=tuple(classes), **{**args, **kw})))


def _labels(batches: list[tuple]) -> list[int]:
    return [int(v) for _, y in batches for v in y]


def test_batches_are_normalised_float_nchw_with_int64_labels(source: DatasetSource) -> None:
    x, y = _load(source)[0]
    assert x.dtype == torch.float32 and x.shape == (8, 3, 10, 10) and x.is_contiguous()
    assert y.dtype == torch.int64
    grey = 40 * (torch.tensor([0, 1, 2, 3])[y]).float() / 255  # label i is original class i here
    assert torch.allclose(x.mean(dim=(1, 2, 3)), (grey - 0.5) / 0.25, atol=0.05)


def test_other_classes_are_dropped_before_decoding(source: DatasetSource, monkeypatch) -> None:
    calls = []
    real, real_chw = decoding.decode_image, decoding.decode_jpeg_chw
    monkeypatch.setattr(decoding, "decode_image", lambda data: calls.append(1) or real(data))
    monkeypatch.setattr(decoding, "decode_jpeg_chw", lambda data: calls.append(1) or real_chw(data))
    batches = _load(source, classes=(1, 3))
    assert len(calls) == sum(len(y) for _, y in batches) == count_samples(source, "val", [1, 3])


def test_corrupt_image_in_kept_class_names_shard_and_key(source: DatasetSource) -> None:
    with pytest.raises(UserError) as err:
        _load(source, classes=(0, CORRUPT_CLASS))
    message = str(err.value)
    assert "val-000000.tar" in message and "val_00000004" in message


def test_kept_classes_are_relabelled_in_ascending_order(source: DatasetSource) -> None:
    x, y = _load(source, classes=(3, 1), batch_size=100)[0]
    assert set(y.tolist()) == {0, 1}
    grey = x.mean(dim=(1, 2, 3)) * 0.25 + 0.5  # back to 0..1
    assert torch.allclose(grey[y == 0], torch.tensor(40 / 255), atol=0.02)  # original class 1
    assert torch.allclose(grey[y == 1], torch.tensor(120 / 255), atol=0.02)  # original class 3


def test_eval_yields_every_sample_once_in_file_order_with_partial_last_batch(source: DatasetSource) -> None:
    batches = _load(source, batch_size=8)
    in_files = []
    for shard in source.shards("val"):
        with open(shard, "rb") as fh:
            in_files += [int(data) for name, data in iter_tar_members(fh) if name.endswith(".cls")]
    assert _labels(batches) == [c for c in in_files if c != CORRUPT_CLASS]
    total = count_samples(source, "val", [0, 1, 2, 3])
    assert total == 43 and [len(y) for _, y in batches] == [8] * 5 + [3]
    assert len(make_loader(source, LoaderSpec(split="val", classes=(0, 1, 2, 3), batch_size=8, train=False, seed=0,
                                              epoch=0, input_size=10, mean=MEAN, std=STD))) == 6


def _train(source: DatasetSource, seed: int, epoch: int, **kw) -> list[tuple]:
    return _load(source, "train", train=True, seed=seed, epoch=epoch, **kw)


def test_train_order_is_seeded_per_epoch(source: DatasetSource) -> None:
    a, b, c = _train(source, 1, 0), _train(source, 1, 0), _train(source, 1, 1)
    assert _labels(a) == _labels(b)
    assert all(torch.equal(xa, xb) for (xa, _), (xb, _) in zip(a, b))
    assert _labels(a) != _labels(c)
    assert sorted(_labels(a)) == sorted(_labels(c)) and len(_labels(a)) == count_samples(source, "train", range(4))


def test_train_crops_and_mirrors_randomly(tmp_path: Path) -> None:
    """A left-right gradient image: crops shift it and mirrors reverse it."""
    ramp = np.tile(np.linspace(0, 255, 16, dtype=np.uint8)[None, :, None], (16, 1, 3))
    buf = io.BytesIO()
    Image.fromarray(ramp).save(buf, "PNG")  # the loader decodes any PIL format stored under `jpg`
    src = write_dataset(tmp_path, "ramp", [ClassInfo(0, "r"), ClassInfo(1, "s")],
                        {"train": [(buf.getvalue(), 0)] * 64, "val": [(buf.getvalue(), 0)]}, {})
    (x, _), = _load(src, "train", classes=(0,), train=True, input_size=12, batch_size=64)
    slopes = x[:, 0, 0, -1] - x[:, 0, 0, 0]
    assert (slopes > 0).any() and (slopes < 0).any()
    assert len({round(float(v), 3) for v in x[:, 0, 0, 0]}) > 2
    (xv, _), = _load(src, "val", classes=(0,), input_size=12)
    assert xv[0, 0, 0, -1] > xv[0, 0, 0, 0]


def test_small_images_are_resized_up_to_the_input_size(source: DatasetSource) -> None:
    x, _ = _load(source, input_size=20)[0]
    assert x.shape[-2:] == (20, 20)


def test_workers_split_the_shards_without_loss_or_duplicates(source: DatasetSource) -> None:
    labels = _labels(_train(source, 0, 0, num_workers=2))
    assert sorted(labels) == sorted(_labels(_train(source, 0, 0)))


def test_ranks_partition_the_shards(source: DatasetSource) -> None:
    parts = [_labels(_load(source, "train", rank=r, world_size=2)) for r in range(2)]
    assert sorted(parts[0] + parts[1]) == sorted(_labels(_load(source, "train")))
    assert parts[0] and parts[1]


def test_bad_arguments(source: DatasetSource) -> None:
    with pytest.raises(ValueError):
        _load(source, classes=(0, 9))
    with pytest.raises(UserError, match="no split 'test'"):
        _load(source, "test")
