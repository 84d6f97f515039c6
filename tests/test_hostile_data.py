"""Hostile data: a shard cut at a member boundary (an interrupted copy, a full disk) or deleted after the dataset
was opened. The loaders compare every shard they read to its end with the index's count: the run stops with a
UserError (exit 2) naming the shard and the counts, or with `data.skip_corrupt` counts the lost samples as skipped.
"""

from __future__ import annotations

import io
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from PIL import Image

from benchbridge.cli import main
from benchbridge.data import dali
from benchbridge.data.source import ClassInfo, DatasetSource
from benchbridge.data.epoch_plan import EpochSetup, plan_epoch
from benchbridge.data.holdout import Holdout
from benchbridge.data.loader import LoaderSpec, make_loader
from benchbridge.data.shard_files import iter_tar_entries, write_dataset
from benchbridge.errors import UserError

CLASSES, TRAIN, SHARD, KEEP = 4, 60, 20, 7  # train-000001.tar keeps its first 7 samples of 20
CUT = "train-000001.tar"


def _jpeg(rng: np.random.Generator, value: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.clip(rng.normal(value, 20, (16, 16, 3)), 0, 255).astype(np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def _dataset(root: Path) -> DatasetSource:
    rng = np.random.default_rng(0)
    samples = {"train": [(_jpeg(rng, 40 + 50 * (i % CLASSES)), i % CLASSES) for i in range(TRAIN)],
               "val": [(_jpeg(rng, 40 + 50 * (i % CLASSES)), i % CLASSES) for i in range(20)]}
    return write_dataset(root, "hostile", [ClassInfo(c, f"c{c}") for c in range(CLASSES)], samples, {},
                         shard_size=SHARD)


def cut_at_member_boundary(shard: Path, samples: int) -> None:
    """Truncate `shard` just before the header of its sample number `samples` (as the issue's os.truncate does)."""
    with open(shard, "rb") as f:
        keys = {}
        for name, offset, _ in iter_tar_entries(f):
            keys.setdefault(name.split(".", 1)[0], offset - 512)
    os.truncate(shard, list(keys.values())[samples])


@pytest.fixture(scope="module")
def cut(tmp_path_factory: pytest.TempPathFactory) -> DatasetSource:
    source = _dataset(tmp_path_factory.mktemp("cut"))
    cut_at_member_boundary(source.root / CUT, KEEP)
    return source


@pytest.fixture(scope="module")
def deleted(tmp_path_factory: pytest.TempPathFactory) -> DatasetSource:
    source = _dataset(tmp_path_factory.mktemp("deleted"))  # opened first, then the shard goes
    (source.root / CUT).unlink()
    return source


def _spec(**kw) -> LoaderSpec:
    return LoaderSpec(**{"split": "train", "classes": tuple(range(CLASSES)), "batch_size": 8, "train": True,
                         "seed": 1, "epoch": 0, "input_size": 12, **kw})


def _pass(source: DatasetSource, spec: LoaderSpec) -> tuple[int, int]:
    """(samples loaded, samples skipped) over every rank of `spec.world_size`."""
    loaded = skipped = 0
    for rank in range(spec.world_size):
        ld = make_loader(source, LoaderSpec(**{**spec.__dict__, "rank": rank}))
        loaded += sum(len(y) for _, y in ld)
        skipped += ld.skipped
    return loaded, skipped


SHARES = [{}, {"num_workers": 2}, {"world_size": 2}, {"world_size": 2, "num_workers": 2, "train": False},
          {"images_per_class": 12}, {"keep": Holdout(0.3, False), "num_workers": 2}]


@pytest.mark.parametrize("share", SHARES)
def test_a_cut_shard_stops_the_loader_naming_it_and_the_counts(cut: DatasetSource, share: dict) -> None:
    with pytest.raises(UserError) as err:
        _pass(cut, _spec(**share))
    message = str(err.value)
    assert CUT in message and f"holds {KEEP} samples" in message and f"lists {SHARD}" in message


@pytest.mark.parametrize("share", SHARES)
def test_with_skip_corrupt_the_cut_shards_lost_samples_are_counted_once(cut: DatasetSource, share: dict) -> None:
    """What the tar lost is counted, not what the class filter, quota or holdout would have kept of it."""
    loaded, skipped = _pass(cut, _spec(skip_corrupt=True, **share))
    assert skipped == SHARD - KEEP
    if "images_per_class" not in share and "keep" not in share:
        assert loaded == TRAIN - skipped


def test_a_deleted_shard_is_named_or_counted(deleted: DatasetSource) -> None:
    with pytest.raises(UserError, match=f"shard {CUT} is missing .*lists {SHARD} samples"):
        _pass(deleted, _spec(num_workers=2))
    assert _pass(deleted, _spec(skip_corrupt=True, world_size=2)) == (TRAIN - SHARD, SHARD)


@pytest.mark.parametrize("kept", [[1, 2], [5, 0, 3, 1], [7, 7, 7]])
@pytest.mark.parametrize("world_size,workers,pad", [(2, 1, True), (3, 2, True), (2, 2, False), (4, 1, True)])
def test_every_shard_with_kept_samples_has_exactly_one_owner(kept: list[int], world_size: int, workers: int,
                                                               pad: bool) -> None:
    """The owner reads the shard to its end and counts what it lost: padding repeats never own a shard."""
    shards = [f"s{i}" for i in range(len(kept))]
    setup = EpochSetup(shards, {0: 0}, None, kept, sum(kept), 0, {})
    owners = Counter(span.shard for r in range(world_size) for w in range(workers)
                     for span in plan_epoch(shards, kept, r, world_size, w, workers, 2, pad) if setup.finishes(span))
    assert owners == Counter(s for s, k in zip(shards, kept) if k)


def test_a_shard_none_of_whose_samples_is_kept_is_not_read(cut: DatasetSource) -> None:
    """images_per_class 5 takes every class's first 5 from train-000000.tar: the cut shard is not needed."""
    assert _pass(cut, _spec(images_per_class=5)) == (CLASSES * 5, 0)


@pytest.mark.skipif(not dali.available(), reason="NVIDIA DALI is not installed")
def test_the_dali_pipeline_checks_shards_too(cut: DatasetSource, deleted: DatasetSource) -> None:
    spec = _spec(device="cpu")
    with pytest.raises(UserError, match=f"{CUT} holds {KEEP} samples"):
        dali.make_dali_loader(cut, spec)
    with pytest.raises(UserError, match=f"{CUT} is missing"):
        dali.make_dali_loader(deleted, spec)
    for source in (cut, deleted):
        lost = SHARD - KEEP if source is cut else SHARD
        loaders = [dali.make_dali_loader(source, LoaderSpec(**{**spec.__dict__, "skip_corrupt": True,
                                                               "world_size": 2, "rank": r})) for r in range(2)]
        assert sum(ld.skipped for ld in loaders) == lost
        assert sum(len(y) for ld in loaders for _, y in ld) == TRAIN - lost


def _manifest(tmp_path: Path, source: DatasetSource, **data) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({
        "name": "hostile", "output_dir": str(tmp_path / "out"),
        "dataset": {"name": "shards", "options": {"path": str(source.root)}},
        "model": {"name": "alexnet", "options": {"input_size": 16, "width": 0.125, "fc_width": 8, "lrn": False}},
        "splits": [{"name": "random", "options": {"seed": 0, "size_A": 2}}], "conditions": [], "layers": [1],
        "training": {"batch_size": 8, "epochs": 1},
        "execution": {"device": "cpu", "threads": 1, "on_unhealthy": "train"}, "data": data,
    }))
    return path


def test_a_run_on_a_cut_shard_exits_2_naming_it(cut: DatasetSource, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", str(_manifest(tmp_path, cut))])
    assert result.exit_code == 2, result.output
    assert CUT in result.output and f"holds {KEEP} samples" in result.output


def test_with_skip_corrupt_a_run_on_a_cut_shard_finishes_and_reports_the_skipped_samples(
        cut: DatasetSource, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", str(_manifest(tmp_path, cut, skip_corrupt=True))])
    assert result.exit_code in (0, 3), result.output  # 3: a network this small may not learn (it says so)
    records = [json.loads(p.read_text()) for p in (tmp_path / "out").rglob("metrics.json")]
    # each pass over the training shards counts the lost samples (a short pass ends early: the run takes another)
    assert records and all(r["skipped_samples"] > 0 and r["skipped_samples"] % (SHARD - KEEP) == 0 for r in records)


def test_the_trainer_counts_what_a_shard_deleted_during_a_grid_held(tmp_path: Path) -> None:
    from benchbridge.execute.train import RunSetup, Trainer
    from benchbridge.manifest import load_manifest
    from benchbridge.plan import make_plan

    source = _dataset(tmp_path / "data")
    manifest = load_manifest(_manifest(tmp_path, source, skip_corrupt=True))
    run = next(iter(make_plan(manifest)))  # planning opens the dataset, which then refuses a missing shard
    (source.root / CUT).unlink()
    _, record = Trainer(run, RunSetup(manifest, source, tmp_path / "out", torch.device("cpu"))).fit()
    assert record.skipped_samples > 0 and record.skipped_samples % SHARD == 0
    with pytest.raises(UserError, match=f"shard {CUT} is missing"):
        Trainer(run, RunSetup(load_manifest(_manifest(tmp_path, source)), source, tmp_path / "out2",
                              torch.device("cpu"))).fit()
