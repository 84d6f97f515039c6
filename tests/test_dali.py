"""The DALI pipeline against the torch loader on the CPU: same class filter, counts, rank shares, value range, shape.

DALI's CPU backend (libjpeg-turbo) runs without a GPU, so this runs wherever `nvidia-dali-cuda130` installs;
elsewhere it is skipped (the extra is not in requirements-dev.txt: see docs/benchmarks.md).
"""

from __future__ import annotations

import gc
import io
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchbridge.data import dali
from benchbridge.data.source import ClassInfo, DatasetSource
from benchbridge.data.holdout import Holdout, is_held_out
from benchbridge.data.loader import LoaderSpec, make_loader
from benchbridge.data.shard_files import write_dataset

pytestmark = pytest.mark.skipif(not dali.available(), reason="NVIDIA DALI is not installed (pip install "
                                "'benchbridge[dali]'; the README's set-up command installs it)")
CLASSES, N, SIZE = 4, 90, 20


def _jpeg(rng: np.random.Generator, value: int) -> bytes:
    pixels = np.clip(rng.normal(value, 20, (SIZE + 4, SIZE + 8, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> DatasetSource:
    rng = np.random.default_rng(0)
    samples = [(_jpeg(rng, 40 + 50 * (i % CLASSES)), i % CLASSES) for i in range(N)]
    classes = [ClassInfo(c, f"c{c}") for c in range(CLASSES)]
    return write_dataset(tmp_path_factory.mktemp("dali"), "d", classes, {"train": samples, "val": samples}, {},
                         shard_size=13)


@pytest.mark.parametrize("preset", ["paper", "timm", "none"])
@pytest.mark.parametrize("train", [True, False])
def test_dali_matches_the_torch_loader_on_cpu(source: DatasetSource, preset: str, train: bool) -> None:
    split = "train" if train else "val"
    kw = {"batch_size": 8, "seed": 1, "epoch": 0, "input_size": 16, "train": train, "augmentation": preset}
    ours = list(make_loader(source, LoaderSpec(split=split, classes=(1, 3), **kw)))
    ld = dali.make_dali_loader(source, LoaderSpec(split=split, classes=(1, 3), device="cpu", **kw))
    theirs = list(ld)
    assert [len(y) for _, y in theirs] == [len(y) for _, y in ours] and len(ld) == len(theirs)
    assert Counter(torch.cat([y for _, y in theirs]).tolist()) == Counter(torch.cat([y for _, y in ours]).tolist())
    assert ld.decoded == sum(len(y) for _, y in ours)
    for (x, _), (xo, _) in zip(theirs, ours):
        assert x.dtype == xo.dtype == torch.uint8 and x.shape == xo.shape == (len(xo), 3, 16, 16)
    # labels follow the images: class 1 is darker (mean 90) than class 3 (mean 190) in both pipelines
    for batches in (ours, theirs):
        x, y = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
        means = x.float().mean(dim=(1, 2, 3))
        assert means[y == 0].max() < 140 < means[y == 1].min()


def test_dali_shares_ranks_like_the_torch_loader(source: DatasetSource) -> None:
    kw = {"batch_size": 4, "seed": 1, "epoch": 2, "input_size": 16, "train": True, "world_size": 2}
    counts = []
    for r in range(2):
        ld = dali.make_dali_loader(source, LoaderSpec(split="train", classes=(0, 1, 2), device="cpu", rank=r, **kw))
        counts.append([len(y) for _, y in ld])
        ours = make_loader(source, LoaderSpec(split="train", classes=(0, 1, 2), mean=(0,) * 3, std=(1,) * 3, rank=r,
                                              **kw))
        assert counts[-1] == [len(y) for _, y in ours]
    assert counts[0] == counts[1] and sum(counts[0]) == 34  # 68 kept samples, 34 per rank


def test_scan_reads_offsets_that_point_at_the_jpegs(source: DatasetSource, tmp_path: Path) -> None:
    shard = source.shards("train")[0]
    members = dali.scan_shard(shard)
    data = Path(shard).read_bytes()
    assert len(members) == 13 and [m.cls for m in members] == [i % CLASSES for i in range(13)]
    assert all(data[m.jpg[0]:m.jpg[0] + 3] == b"\xff\xd8\xff" for m in members)
    dali.write_index(tmp_path / "x.idx", members[:2])
    assert (tmp_path / "x.idx").read_text().splitlines()[0] == "v1.2 2"


def test_a_run_trains_through_the_dali_pipeline(source: DatasetSource, tmp_path: Path) -> None:
    from benchbridge.execute.train import RunSetup, Trainer
    from benchbridge.manifest import resolve
    from benchbridge.plan import make_plan

    manifest = resolve({
        "name": "t", "output_dir": str(tmp_path / "out"),
        "dataset": {"name": "shards", "options": {"path": str(source.root)}},
        "model": {"name": "alexnet", "options": {"input_size": 16, "width": 0.125, "fc_width": 8, "lrn": False}},
        "splits": [{"name": "random", "options": {"seed": 0, "size_A": 2}}], "conditions": [], "layers": [1],
        "training": {"batch_size": 8, "epochs": 1}, "execution": {"device": "cpu"}, "data": {"pipeline": "dali"},
    })
    run = next(r for r in make_plan(manifest) if r.condition == "baseB")
    _, record = Trainer(run, RunSetup(manifest, source, tmp_path / "out", torch.device("cpu"))).fit()
    # 2 classes of 90 / 4 = 45 images: 5 full batches of 8 trained on, the last partial batch (5 images) decoded
    # and dropped
    assert record.images_seen == 40 and record.iterations == 5
    assert record.images_decoded == 45 + record.curve[-1].val_images == 90


def test_a_loader_without_an_index_dir_removes_its_temporary_index_files(source: DatasetSource, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "bb-dali-x"
    monkeypatch.setattr(dali.tempfile, "mkdtemp", lambda prefix: str(folder))
    ld = dali.make_dali_loader(source, LoaderSpec(split="val", classes=(0, 1), batch_size=8, seed=1, epoch=0,
                                                  input_size=16, train=False, device="cpu"))
    assert sum(len(y) for _, y in ld) == sum(i % CLASSES < 2 for i in range(N)) and any(folder.glob("*.idx"))
    del ld  # a trainer makes one loader per epoch: each one's index files go when it does
    gc.collect()
    assert not folder.exists()


@pytest.mark.parametrize("held", [False, True])
def test_dali_applies_the_holdout_filter_like_the_torch_loader(source: DatasetSource, held: bool) -> None:
    keep = Holdout(0.3, held)
    kw = {"batch_size": 8, "seed": 1, "epoch": 0, "input_size": 16, "train": not held, "keep": keep}
    ours = make_loader(source, LoaderSpec(split="train", classes=(0, 2, 3), **kw))
    theirs = dali.make_dali_loader(source, LoaderSpec(split="train", classes=(0, 2, 3), device="cpu", **kw))
    got = Counter(torch.cat([y for _, y in theirs]).tolist())
    assert got == Counter(torch.cat([y for _, y in ours]).tolist())
    members = [m for shard in source.shards("train") for m in dali.scan_shard(shard) if m.cls in (0, 2, 3)]
    wanted = Counter([0, 2, 3].index(m.cls) for m in members if is_held_out(m.key, m.cls, 0.3) == held)
    assert got == wanted and 0 < sum(wanted.values()) < len(members)


def test_a_run_with_a_holdout_never_trains_on_held_out_images_through_dali(source: DatasetSource,
                                                                          tmp_path: Path) -> None:
    from benchbridge.execute.train import RunSetup, Trainer
    from benchbridge.manifest import resolve
    from benchbridge.plan import make_plan

    manifest = resolve({
        "name": "t", "output_dir": str(tmp_path / "out"),
        "dataset": {"name": "shards", "options": {"path": str(source.root)}},
        "model": {"name": "alexnet", "options": {"input_size": 16, "width": 0.125, "fc_width": 8, "lrn": False}},
        "splits": [{"name": "random", "options": {"seed": 0, "size_A": 2}}], "conditions": [], "layers": [1],
        "training": {"batch_size": 8, "epochs": 1}, "evaluation": {"holdout": 0.3},
        "execution": {"device": "cpu"}, "data": {"pipeline": "dali"},
    })
    run = next(r for r in make_plan(manifest) if r.condition == "baseB")
    members = [m for shard in source.shards("train") for m in dali.scan_shard(shard) if m.cls in run.train_classes]
    held = sum(is_held_out(m.key, m.cls, 0.3) for m in members)
    _, record = Trainer(run, RunSetup(manifest, source, tmp_path / "out", torch.device("cpu"))).fit()
    last = record.curve[-1]
    assert 0 < held < len(members) and last.holdout_images == held
    assert record.images_decoded == (len(members) - held) + held + last.val_images
