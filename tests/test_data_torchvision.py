"""`benchbridge data prepare torchvision NAME ROOT OUT`: torchvision datasets already on disk, never downloaded."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import ondisk
from benchbridge.cli import main

pytest.importorskip("torchvision")


def prepare(*args) -> object:
    return CliRunner().invoke(main, ["data", "prepare", "torchvision", *[str(a) for a in args]])


def index(out: Path) -> dict:
    return json.loads((out / "dataset.json").read_text())


def stored(out: Path, subset: str) -> list[tuple[Image.Image, int]]:
    """Every stored (image, class) of a subset, in shard order."""
    found: dict[str, dict[str, bytes]] = {}
    for shard in index(out)["splits"][subset]["shards"]:
        with tarfile.open(out / shard) as tar:
            for member in tar:
                key, _, ext = member.name.rpartition(".")
                found.setdefault(key, {})[ext] = tar.extractfile(member).read()
    return [(Image.open(io.BytesIO(s["jpg"])), int(s["cls"])) for s in found.values()]


def test_fashion_mnist_idx_files_keep_the_librarys_train_and_test_and_class_names(tmp_path):
    root = ondisk.fashion_mnist(tmp_path / "root", train_per_class=3, test_per_class=2)
    result = prepare("FashionMNIST", root, tmp_path / "out")
    assert result.exit_code == 0, result.output
    meta = index(tmp_path / "out")
    assert meta["classes"][0]["name"] == "T-shirt/top" and len(meta["classes"]) == 10
    assert (meta["splits"]["train"]["class_counts"], meta["splits"]["val"]["class_counts"]) == ([3] * 10, [2] * 10)
    assert (meta["prepare"]["train_split"], meta["prepare"]["val_split"]) == ("train", "test")
    image, cls = stored(tmp_path / "out", "train")[0]
    assert image.mode == "L" and image.size == (28, 28)
    bright = np.argwhere(np.asarray(image) > 150)  # the class's square sits at its corner (JPEG: approximately)
    assert (bright.mean(0) >= 14).tolist() == [bool(cls // 2 % 2), bool(cls % 2)]


def test_dtd_splits_by_name_joined_and_the_default_test(tmp_path):
    root = ondisk.dtd(tmp_path / "root", per_split=2)
    assert prepare("dtd", root, tmp_path / "a").exit_code == 0
    meta = index(tmp_path / "a")
    assert [c["name"] for c in meta["classes"]] == ["banded", "dotted", "striped"]
    assert (meta["prepare"]["train_split"], meta["prepare"]["val_split"]) == ("train", "test")
    result = prepare("DTD", root, tmp_path / "b", "--train-split", "train+val", "--val-split", "test",
                     "--kwargs", "{partition: 1}", "--size", "12")
    assert result.exit_code == 0, result.output
    meta = index(tmp_path / "b")
    assert meta["splits"]["train"]["class_counts"] == [4, 4, 4] and meta["prepare"]["train_split"] == "train+val"
    assert all(min(im.size) == 12 for im, _ in stored(tmp_path / "b", "val"))


def test_a_class_without_splits_holds_out_a_stated_fraction_of_each_class(tmp_path):
    root = ondisk.caltech101(tmp_path / "root", per_class=5)
    result = prepare("Caltech101", root, tmp_path / "out", "--holdout", "0.4", "--holdout-seed", "3")
    assert result.exit_code == 0, result.output
    meta = index(tmp_path / "out")
    assert [c["name"] for c in meta["classes"]] == ["accordion", "airplanes", "anchor"]  # BACKGROUND_Google dropped
    assert (meta["splits"]["train"]["class_counts"], meta["splits"]["val"]["class_counts"]) == ([3] * 3, [2] * 3)
    assert meta["prepare"]["holdout"] == 0.4 and meta["prepare"]["holdout_seed"] == 3
    assert "held out" in meta["prepare"]["val_split"]
    train = {np.asarray(im).tobytes() for im, _ in stored(tmp_path / "out", "train")}
    val = {np.asarray(im).tobytes() for im, _ in stored(tmp_path / "out", "val")}
    assert len(train) == 9 and len(val) == 6 and not train & val


def test_files_not_under_root_exit_2_naming_what_torchvision_expected(tmp_path):
    result = prepare("FashionMNIST", tmp_path / "empty", tmp_path / "out")
    assert result.exit_code == 2 and "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert str(tmp_path / "empty" / "FashionMNIST" / "raw" / "train-images-idx3-ubyte") in text
    result = prepare("DTD", tmp_path / "empty", tmp_path / "out")
    assert result.exit_code == 2 and str(tmp_path / "empty" / "dtd" / "dtd") in " ".join(result.output.split())
    assert not (tmp_path / "empty").exists()  # nothing downloaded, nothing created


def test_unknown_class_and_unknown_split_are_user_errors(tmp_path):
    result = prepare("FashionMnst", tmp_path, tmp_path / "out")
    assert result.exit_code == 2 and "FashionMNIST" in result.output
    root = ondisk.dtd(tmp_path / "root")
    result = prepare("DTD", root, tmp_path / "out", "--val-split", "holdout")
    assert result.exit_code == 2 and "val-split" in result.output and "Traceback" not in result.output


def test_shards_are_the_same_bytes_whatever_the_number_of_processes(tmp_path):
    root = ondisk.dtd(tmp_path / "root", per_split=3)
    for workers in (1, 2):
        result = prepare("DTD", root, tmp_path / f"w{workers}", "--shard-size", "2", "--workers", workers)
        assert result.exit_code == 0, result.output
    one, two = index(tmp_path / "w1"), index(tmp_path / "w2")
    assert one["splits"] == two["splits"] and len(one["splits"]["train"]["shards"]) == 5
    assert all((tmp_path / "w1" / s).read_bytes() == (tmp_path / "w2" / s).read_bytes()
               for subset in one["splits"].values() for s in subset["shards"])
