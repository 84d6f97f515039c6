"""Loader guarantees: exactly-once evaluation over ranks x workers, disjoint equal-length DDP training shares,
images_per_class, corrupt-sample skipping, augmentation presets and the batched (GPU) decode path on CPU."""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchbridge.data import decoding
from benchbridge.data.augment import BatchAugment, CpuAugment, rrc_box
from benchbridge.data.source import ClassInfo, DatasetSource
from benchbridge.data.epoch_plan import plan_epoch, rank_samples
from benchbridge.data.loader import LoaderSpec, ShardLoader, count_samples, make_loader
from benchbridge.data.shard_files import write_dataset
from benchbridge.errors import UserError

N = 101  # samples per split; sample i is a flat image of value 2 * i + 20 (PNG: exact), class i % 3
CLASSES = 3


def _png(value: int, size: int = 8) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (value, value, value)).save(buf, "PNG")
    return buf.getvalue()


def _dataset(out: Path, shard_size: int, corrupt: tuple[int, ...] = ()) -> DatasetSource:
    samples = [(b"garbage" if i in corrupt else _png(2 * i + 20), i % CLASSES) for i in range(N)]
    classes = [ClassInfo(c, f"c{c}") for c in range(CLASSES)]
    return write_dataset(out, "ids", classes, {"train": samples, "val": samples}, {}, shard_size=shard_size)


def _make(source: DatasetSource, split: str, classes, **kw) -> ShardLoader:
    return make_loader(source, LoaderSpec(split=split, classes=tuple(classes), **kw))


@pytest.fixture(scope="module")
def many_shards(tmp_path_factory: pytest.TempPathFactory) -> DatasetSource:
    return _dataset(tmp_path_factory.mktemp("many"), shard_size=7)  # 15 shards >= 4 slots


@pytest.fixture(scope="module")
def few_shards(tmp_path_factory: pytest.TempPathFactory) -> DatasetSource:
    return _dataset(tmp_path_factory.mktemp("few"), shard_size=50)  # 3 shards < 4 slots


def _ids(source: DatasetSource, split: str = "val", classes=(0, 1, 2), **kw) -> list[int]:
    """The sample numbers a loader yields (recovered from the flat pixel values)."""
    args = {"batch_size": 5, "train": False, "seed": 3, "epoch": 0, "input_size": 6, "mean": (0, 0, 0),
            "std": (1, 1, 1), **kw}
    ids = []
    for x, _ in _make(source, split, classes, **args):
        values = (x[:, 0, 0, 0] * 255).round().long()
        ids += ((values - 20) // 2).tolist()
    return ids


@pytest.mark.parametrize("fixture", ["many_shards", "few_shards"])
def test_evaluation_sees_each_sample_exactly_once_over_two_ranks_and_two_workers(fixture, request) -> None:
    source = request.getfixturevalue(fixture)
    per_rank = [_ids(source, rank=r, world_size=2, num_workers=2) for r in range(2)]
    assert sorted(per_rank[0] + per_rank[1]) == list(range(N))
    assert per_rank[0] and per_rank[1]


def test_class_filter_keeps_exactly_once_too(many_shards: DatasetSource) -> None:
    ids = [i for r in range(2) for i in _ids(many_shards, classes=(1,), rank=r, world_size=2)]
    assert sorted(ids) == [i for i in range(N) if i % CLASSES == 1]


@pytest.mark.parametrize("fixture", ["many_shards", "few_shards"])
@pytest.mark.parametrize("workers", [0, 2])
def test_ddp_training_decodes_each_sample_once_with_the_same_steps_on_every_rank(fixture, workers, request) -> None:
    source = request.getfixturevalue(fixture)
    kw = {"split": "train", "train": True, "world_size": 2, "num_workers": workers, "batch_size": 4}
    ranks = [_ids(source, rank=r, **kw) for r in range(2)]
    assert [len(r) for r in ranks] == [rank_samples(N, r, 2, True) for r in range(2)] == [51, 51]
    assert sorted(set(ranks[0]) | set(ranks[1])) == list(range(N))  # every sample, and one padded repeat
    assert len(ranks[0]) + len(ranks[1]) - N == 1 and len(set(ranks[0])) == 51
    assert ranks == [_ids(source, rank=r, **kw) for r in range(2)]  # seeded by (seed, epoch)
    assert ranks != [_ids(source, rank=r, **{**kw, "epoch": 1}) for r in range(2)]
    loaders = [_make(source, "train", [0, 1, 2], batch_size=4, train=True, seed=3, epoch=0, input_size=6,
                      mean=(0, 0, 0), std=(1, 1, 1), rank=r, world_size=2, num_workers=workers) for r in range(2)]
    sizes = [[len(y) for _, y in ld] for ld in loaders]
    assert sizes[0] == sizes[1] == [4] * 12 + [3] and [len(ld) for ld in loaders] == [13, 13]
    assert sum(ld.decoded for ld in loaders) == 2 * 51


def test_the_plan_cuts_ranks_and_workers_at_samples_and_whole_batches() -> None:
    shards, kept = ["a", "b", "c"], [5, 0, 6]  # 11 kept samples; shard b keeps none
    spans = {(r, w): plan_epoch(shards, kept, r, 2, w, 2, 2, pad=True) for r in range(2) for w in range(2)}
    taken = {k: [(s.shard, s.skip, s.take) for s in v] for k, v in spans.items()}
    # rank 0: samples 0-5 (a0-a4, c0), batches [0,1] [2,3] [4,5] -> worker 0 batches 0 and 2 (4 samples)
    assert taken[0, 0] == [("a", 0, 4)] and taken[0, 1] == [("a", 4, 1), ("c", 0, 1)]
    # rank 1: samples 6-10 (c1-c5) padded to 6 with sample 0 (a0), wrapping round the sequence
    assert taken[1, 0] == [("c", 1, 4)] and taken[1, 1] == [("c", 5, 1), ("a", 0, 1)]
    evals = [plan_epoch(shards, kept, r, 2, 0, 1, 4, pad=False) for r in range(2)]
    assert sum(s.take for e in evals for s in e) == 11


def test_images_per_class_is_a_fixed_subset_whatever_the_split_into_workers(many_shards: DatasetSource) -> None:
    one = _ids(many_shards, "train", train=True, images_per_class=10)
    two = _ids(many_shards, "train", train=True, images_per_class=10, num_workers=2, epoch=4)
    assert sorted(one) == sorted(two)
    assert np.bincount([i % CLASSES for i in one]).tolist() == [10, 10, 10]
    assert count_samples(many_shards, "train", [0, 1], images_per_class=10) == 20
    assert len(_ids(many_shards, "val", images_per_class=10)) == N  # evaluation keeps every sample


def test_corrupt_samples_raise_or_are_skipped_and_counted(tmp_path: Path) -> None:
    source = _dataset(tmp_path, shard_size=20, corrupt=(4, 5, 30))
    with pytest.raises(UserError, match=r"val-000000\.tar.*val_00000004|val_00000004.*val-000000\.tar"):
        _ids(source)
    ld = _make(source, "val", [0, 1, 2], batch_size=8, train=False, seed=0, epoch=0, input_size=6,
                mean=(0, 0, 0), std=(1, 1, 1), skip_corrupt=True, num_workers=2)
    assert sum(len(y) for _, y in ld) == N - 3 and ld.skipped == 3
    ld = _make(source, "val", [0], batch_size=8, train=False, seed=0, epoch=0, input_size=6,
                mean=(0, 0, 0), std=(1, 1, 1), skip_corrupt=True)
    assert sum(len(y) for _, y in ld) == 33 and ld.skipped == 1  # only sample 30 is of class 0


def test_truncated_shard_is_named_or_skipped(tmp_path: Path) -> None:
    source = _dataset(tmp_path, shard_size=20)
    shard = Path(source.shards("val")[1])
    shard.write_bytes(shard.read_bytes()[:3000])
    with pytest.raises(UserError, match="val-000001.tar"):
        _ids(source)
    ld = _make(source, "val", [0, 1, 2], batch_size=8, train=False, seed=0, epoch=0, input_size=6,
                mean=(0, 0, 0), std=(1, 1, 1), skip_corrupt=True)
    loaded = sum(len(y) for _, y in ld)
    assert 80 < loaded < N and loaded + ld.skipped == N  # every sample the cut shard lost is counted as skipped


def _ramp(size: int = 40) -> np.ndarray:
    return np.tile(np.linspace(0, 255, size, dtype=np.uint8)[None, :, None], (size // 2, 1, 3))


def test_timm_preset_resizes_random_boxes_and_centre_crops_for_eval() -> None:
    rng = random.Random(0)
    for _ in range(200):
        top, left, h, w = rrc_box(20, 40, rng)
        assert 0 <= top and top + h <= 20 and 0 <= left and left + w <= 40 and h > 0 and w > 0
    train = [CpuAugment("timm", 16, True)(_ramp(), rng) for _ in range(20)]
    assert all(t.shape == (16, 16, 3) for t in train) and len({t.tobytes() for t in train}) > 10
    evals = {CpuAugment("timm", 16, False)(_ramp(), rng).tobytes() for _ in range(3)}
    assert len(evals) == 1
    none = CpuAugment("none", 16, True)(_ramp(), rng)
    assert none.shape == (16, 16, 3) and none[0, -1, 0] > none[0, 0, 0]


@pytest.mark.parametrize("preset", ["paper", "timm", "none"])
def test_batched_decode_path_matches_the_cpu_path_for_evaluation(many_shards: DatasetSource, preset: str) -> None:
    kw = {"batch_size": 16, "train": False, "seed": 0, "epoch": 0, "input_size": 6, "mean": (0.5,) * 3,
          "std": (0.25,) * 3, "augmentation": preset}
    cpu = list(_make(many_shards, "val", [0, 2], **kw))
    gpu = list(_make(many_shards, "val", [0, 2], decode="gpu", device="cpu", **kw))
    assert [y.tolist() for _, y in cpu] == [y.tolist() for _, y in gpu]
    assert all(torch.allclose(a, b, atol=0.05) for (a, _), (b, _) in zip(cpu, gpu))


def test_batched_augment_crops_and_mirrors_on_tensors() -> None:
    image = torch.from_numpy(_ramp()).permute(2, 0, 1).contiguous()
    aug = BatchAugment("paper", 16, True, (0, 0, 0), (1, 1, 1))
    x = aug([image] * 64, random.Random(0))
    slopes = x[:, 0, 0, -1] - x[:, 0, 0, 0]
    assert x.shape == (64, 3, 16, 16) and (slopes > 0).any() and (slopes < 0).any()
    timm = BatchAugment("timm", 12, True, (0, 0, 0), (1, 1, 1))([image] * 8, random.Random(1))
    assert timm.shape == (8, 3, 12, 12)


def test_batched_decode_names_a_corrupt_sample(tmp_path: Path) -> None:
    source = _dataset(tmp_path, shard_size=20, corrupt=(7,))
    kw = {"batch_size": 16, "train": False, "seed": 0, "epoch": 0, "input_size": 6, "mean": (0,) * 3,
          "std": (1,) * 3, "decode": "gpu", "device": "cpu"}
    with pytest.raises(UserError, match="val_00000007"):
        list(_make(source, "val", [0, 1, 2], **kw))
    ld = _make(source, "val", [0, 1, 2], skip_corrupt=True, **kw)
    assert sum(len(y) for _, y in ld) == N - 1 and ld.skipped == 1


def test_class_filter_happens_before_the_batched_decode(many_shards: DatasetSource, monkeypatch) -> None:
    seen = []
    real = decoding.GpuDecode.__call__
    monkeypatch.setattr(decoding.GpuDecode, "__call__",
                        lambda self, d, y, k, u: seen.extend(y) or real(self, d, y, k, u))
    list(_make(many_shards, "val", [1], batch_size=8, train=False, seed=0, epoch=0, input_size=6,
               mean=(0,) * 3, std=(1,) * 3, decode="gpu", device="cpu"))
    assert len(seen) == count_samples(many_shards, "val", [1]) and set(seen) == {0}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_decode_on_cuda(many_shards: DatasetSource) -> None:
    ld = _make(many_shards, "train", [0, 1, 2], batch_size=16, train=True, seed=0, epoch=0, input_size=6,
                mean=(0,) * 3, std=(1,) * 3, decode="gpu", device="cuda")
    batches = list(ld)
    assert all(x.is_cuda and y.is_cuda for x, y in batches) and sum(len(y) for _, y in batches) == N


def test_a_run_reports_skipped_samples_and_trains_on_images_per_class(tmp_path: Path) -> None:
    from benchbridge.execute.train import RunSetup, Trainer
    from benchbridge.manifest import resolve
    from benchbridge.plan import make_plan

    root = tmp_path / "ds"
    _dataset(root, shard_size=20, corrupt=(3, 4, 5))  # the second sample of each class
    manifest = resolve({
        "name": "t", "output_dir": str(tmp_path / "out"), "dataset": {"name": "shards", "options": {"path": str(root)}},
        "model": {"name": "alexnet", "options": {"input_size": 16, "width": 0.125, "fc_width": 8, "lrn": False}},
        "splits": [{"name": "random", "options": {"seed": 0, "size_A": 1}}], "conditions": [], "layers": [1],
        "training": {"batch_size": 4, "epochs": 1},
        "execution": {"device": "cpu"}, "data": {"skip_corrupt": True, "images_per_class": 8},
    })
    run = next(r for r in make_plan(manifest) if r.condition == "baseB")
    setup = RunSetup(manifest, DatasetSource.load(root), tmp_path / "out", torch.device("cpu"))
    trainer = Trainer(run, setup)
    assert trainer.iters_per_epoch == 4  # 2 classes x 8 images / batch 4
    _, record = trainer.fit()
    assert record.iterations == 4 and record.skipped_samples >= 2  # train (one per class) + val
