"""Parallel, resumable preparation; ILSVRC-2012 layouts (val folders, LOC csv, devkit, text labels); verify."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from benchbridge.cli.data import data
from benchbridge.data import prepare
from benchbridge.data.imagefolder import convert_imagefolder
from benchbridge.data.ilsvrc import convert_imagenet
from benchbridge.data.shard_files import iter_tar_members
from benchbridge.data.verify import verify_dataset
from benchbridge.errors import UserError

WNIDS = ["n03000000", "n01000000", "n02000000"]  # sorted: n01 -> 0, n02 -> 1, n03 -> 2


def _image(path: Path, value: int, size: tuple[int, int] = (40, 24)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path, "JPEG")


def _tree(root: Path, flat_val: bool) -> dict[str, str]:
    """A tiny ILSVRC layout: 4 train images per wnid, 2 val images per wnid; returns val image stem -> wnid."""
    labels = {}
    for k, wnid in enumerate(WNIDS):
        for i in range(4):
            _image(root / "train" / wnid / f"{wnid}_{i}.JPEG", 10 * k + i)
        for i in range(2):
            stem = f"ILSVRC2012_val_{2 * k + i + 1:08d}"
            labels[stem] = wnid
            _image(root / "val" / ("" if flat_val else wnid) / f"{stem}.JPEG", 100 + 2 * k + i)
    return labels


def _members(source, split: str) -> list[tuple[str, bytes]]:
    out = []
    for shard in source.shards(split):
        with open(shard, "rb") as fh:
            out += list(iter_tar_members(fh))
    return out


def _val_classes(source) -> list[int]:
    return sorted(int(d) for n, d in _members(source, "val") if n.endswith(".cls"))


def test_imagenet_with_val_folders_names_and_resize(tmp_path: Path) -> None:
    _tree(tmp_path / "src", flat_val=False)
    names = tmp_path / "LOC_synset_mapping.txt"
    names.write_text("n01000000 tench, Tinca tinca\nn02000000 goldfish\nn03000000 great white shark\n")
    source = convert_imagenet(tmp_path / "src", tmp_path / "out", names=names, size=16, shard_size=5, workers=1)
    assert [c.name for c in source.classes] == sorted(WNIDS)
    assert source.classes[0].attributes == {"wnid": "n01000000", "words": "tench, Tinca tinca"}
    assert source.num_samples("train") == 12 and _val_classes(source) == [0, 0, 1, 1, 2, 2]
    entry = source.index["splits"]["train"]
    assert entry["shard_counts"] == [5, 5, 2] and entry["class_counts"] == [4, 4, 4]
    assert np.sum(entry["shard_class_counts"], axis=0).tolist() == [4, 4, 4]
    assert source.index["prepare"]["size"] == 16 and source.index["prepare"]["quality"] == 90
    jpeg = next(d for n, d in _members(source, "train") if n.endswith(".jpg"))
    assert Image.open(io.BytesIO(jpeg)).size == (27, 16)  # 40x24 -> shorter side 16


def test_imagenet_flat_val_from_loc_csv_text_labels_and_devkit(tmp_path: Path) -> None:
    labels = _tree(tmp_path / "src", flat_val=True)
    with pytest.raises(UserError, match="flat validation images but no labels"):
        convert_imagenet(tmp_path / "src", tmp_path / "none", size=None, workers=1)
    rows = [f"{stem},{wnid} 1 2 3 4 {wnid} 5 6 7 8" for stem, wnid in labels.items()]
    (tmp_path / "src" / "LOC_val_solution.csv").write_text("ImageId,PredictionString\n" + "\n".join(rows) + "\n")
    csv_source = convert_imagenet(tmp_path / "src", tmp_path / "csv", size=None, workers=1)  # found next to SRC
    assert _val_classes(csv_source) == [0, 0, 1, 1, 2, 2]
    text = tmp_path / "val.txt"
    text.write_text("".join(f"{stem}.JPEG {wnid}\n" for stem, wnid in labels.items()))
    assert _val_classes(convert_imagenet(tmp_path / "src", tmp_path / "txt", val_labels=text, size=None)) == \
        [0, 0, 1, 1, 2, 2]
    scipy_io = pytest.importorskip("scipy.io")
    ids = {"n03000000": 1, "n01000000": 2, "n02000000": 3}  # devkit ids are not in sorted-wnid order
    synsets = np.array([(i, w) for w, i in ids.items()], dtype=[("ILSVRC2012_ID", "O"), ("WNID", "O")])
    (tmp_path / "devkit" / "data").mkdir(parents=True)
    scipy_io.savemat(str(tmp_path / "devkit" / "data" / "meta.mat"), {"synsets": synsets})
    truth = "".join(f"{ids[labels[stem]]}\n" for stem in sorted(labels))
    (tmp_path / "devkit" / "data" / "ILSVRC2012_validation_ground_truth.txt").write_text(truth)
    devkit = convert_imagenet(tmp_path / "src", tmp_path / "dev", devkit=tmp_path / "devkit", size=None)
    assert _val_classes(devkit) == [0, 0, 1, 1, 2, 2]


def _folder(root: Path) -> None:
    for split, n in (("train", 6), ("val", 2)):
        for k, name in enumerate(["cat", "truck"]):
            for i in range(n):
                _image(root / split / name / f"{i}.png" if i % 2 else root / split / name / f"{i}.jpg", 7 * k + i)


def test_parallel_preparation_writes_the_same_bytes(tmp_path: Path) -> None:
    _folder(tmp_path / "src")
    one = convert_imagefolder(tmp_path / "src", tmp_path / "one", shard_size=3, size=12, resize="square",
                              quality=80, workers=1)
    two = convert_imagefolder(tmp_path / "src", tmp_path / "two", shard_size=3, size=12, resize="square",
                              quality=80, workers=2)
    assert [Path(s).read_bytes() for s in one.shards("train")] == [Path(s).read_bytes() for s in two.shards("train")]
    jpeg = next(d for n, d in _members(one, "train") if n.endswith(".jpg"))
    assert Image.open(io.BytesIO(jpeg)).size == (12, 12)
    assert one.index["prepare"]["resize"] == "square" and one.index["prepare"]["quality"] == 80


def test_an_interrupted_preparation_resumes_without_rewriting_complete_shards(tmp_path: Path, monkeypatch) -> None:
    _folder(tmp_path / "src")
    real = prepare._write_shard

    def failing(job):
        if job.split == "train" and job.number == 2:
            raise KeyboardInterrupt
        return real(job)

    monkeypatch.setattr(prepare, "_write_shard", failing)
    with pytest.raises(KeyboardInterrupt):
        convert_imagefolder(tmp_path / "src", tmp_path / "out", shard_size=3, size=12, workers=1)
    out = tmp_path / "out"
    assert not (out / "dataset.json").exists() and (out / "train-000001.tar").exists()
    assert not (out / "train-000002.tar").exists() and not list(out.glob(".*.tmp"))
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.tar")}
    monkeypatch.setattr(prepare, "_write_shard", real)
    source = convert_imagefolder(tmp_path / "src", out, shard_size=3, size=12, workers=1)
    assert source.index["prepare"]["resumed_shards"] == len(before) == 2
    assert all((out / name).stat().st_mtime_ns == t for name, t in before.items())
    again = convert_imagefolder(tmp_path / "src", out, shard_size=3, size=14, workers=1)  # new params: rewrite
    assert again.index["prepare"]["resumed_shards"] == 0


def test_verify_reports_corrupt_and_truncated_samples_by_shard_and_key(tmp_path: Path) -> None:
    _folder(tmp_path / "src")
    source = convert_imagefolder(tmp_path / "src", tmp_path / "out", shard_size=4, size=12, workers=1)
    runner = CliRunner()
    assert runner.invoke(data, ["verify", str(tmp_path / "out"), "--workers", "1"]).exit_code == 0
    shard = Path(source.shards("train")[0])
    members = list(iter_tar_members(open(shard, "rb")))
    with tarfile.open(shard, "w") as tar:  # sample 1's image cut short
        for name, payload in members:
            payload = payload[:200] if name == "train_00000001.jpg" else payload
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    last = Path(source.shards("val")[-1])
    last.write_bytes(last.read_bytes()[:1500])
    problems = [(p.shard, p.key) for r in verify_dataset(source, workers=2) for p in r.problems]
    assert ("train-000000.tar", "train_00000001") in problems and (last.name, None) in problems
    result = runner.invoke(data, ["verify", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["samples"] < 16 and {p["shard"] for p in report["problems"]} == {"train-000000.tar", last.name}


def test_cli_prepare_imagenet_and_info(tmp_path: Path) -> None:
    _tree(tmp_path / "src", flat_val=False)
    result = CliRunner().invoke(data, ["prepare", "imagenet", str(tmp_path / "src"), str(tmp_path / "out"),
                                       "--size", "16", "--shard-size", "4", "--workers", "2"])
    assert result.exit_code == 0, result.output
    info = json.loads(CliRunner().invoke(data, ["info", str(tmp_path / "out"), "--json"]).stdout)
    assert info["num_classes"] == 3 and info["splits"]["train"]["class_counts"] == [4, 4, 4]
    assert info["prepare"]["generator"] == "imagenet" and info["prepare"]["size"] == 16
