"""`benchbridge data prepare hf SRC OUT`: Hugging Face datasets from disk (save_to_disk, parquet), offline."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

datasets = pytest.importorskip("datasets")

from benchbridge.cli import main  # noqa: E402

NAMES = ["cat", "dog", "frog"]


def picture(cls: int, i: int, fmt: str = "PNG") -> Image.Image:
    """A 16x16 image whose class is its colour; saved in `fmt` so the stored bytes are that format."""
    rng = np.random.default_rng(10 * cls + i)
    pixels = (np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200]][cls]) + rng.integers(0, 20, (16, 16, 3)))
    buf = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buf, fmt)
    return Image.open(io.BytesIO(buf.getvalue()))


def hf_split(per_class: int, fmt: str = "PNG", image: str = "image", label: str = "label", offset: int = 0):
    labels = [c for c in range(3) for _ in range(per_class)]
    features = datasets.Features({image: datasets.Image(), label: datasets.ClassLabel(names=NAMES)})
    return datasets.Dataset.from_dict({image: [picture(c, offset + i, fmt) for i, c in enumerate(labels)],
                                       label: labels}, features=features)


def prepare(*args):
    return CliRunner().invoke(main, ["data", "prepare", "hf", *[str(a) for a in args]])


def index(out: Path) -> dict:
    return json.loads((out / "dataset.json").read_text())


def stored(out: Path, subset: str) -> list[tuple[bytes, int]]:
    found: dict[str, dict[str, bytes]] = {}
    for shard in index(out)["splits"][subset]["shards"]:
        with tarfile.open(out / shard) as tar:
            for member in tar:
                key, _, ext = member.name.rpartition(".")
                found.setdefault(key, {})[ext] = tar.extractfile(member).read()
    return [(s["jpg"], int(s["cls"])) for s in found.values()]


def colour_class(jpeg: bytes) -> int:
    return int(np.argmax(np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")).reshape(-1, 3).mean(0)))


def test_a_save_to_disk_dataset_dict_keeps_its_splits_and_class_label_names(tmp_path):
    datasets.DatasetDict({"train": hf_split(4), "test": hf_split(2, offset=50)}).save_to_disk(str(tmp_path / "dd"))
    result = prepare(tmp_path / "dd", tmp_path / "out")
    assert result.exit_code == 0, result.output
    meta = index(tmp_path / "out")
    assert [c["name"] for c in meta["classes"]] == NAMES
    assert (meta["splits"]["train"]["class_counts"], meta["splits"]["val"]["class_counts"]) == ([4] * 3, [2] * 3)
    assert (meta["prepare"]["val_split"], meta["prepare"]["image_column"]) == ("test", "image")
    assert all(colour_class(jpeg) == cls for jpeg, cls in stored(tmp_path / "out", "train"))


def test_parquet_files_split_by_name_columns_by_option_and_jpegs_copied(tmp_path):
    folder = tmp_path / "snapshot" / "plain_text"
    folder.mkdir(parents=True)
    hf_split(3, "JPEG", image="img", label="fine").to_parquet(str(folder / "train-00000-of-00001.parquet"))
    hf_split(2, "JPEG", image="img", label="fine", offset=50).to_parquet(str(folder / "test-00000-of-00001.parquet"))
    result = prepare(tmp_path / "snapshot", tmp_path / "out", "--label-column", "fine")
    assert result.exit_code == 0, result.output
    meta = index(tmp_path / "out")
    assert (meta["prepare"]["image_column"], meta["prepare"]["label_column"]) == ("img", "fine")
    assert meta["splits"]["val"]["class_counts"] == [2] * 3 and [c["name"] for c in meta["classes"]] == NAMES
    table = datasets.Dataset.from_parquet(str(folder / "test-00000-of-00001.parquet"), cache_dir=str(tmp_path / "c"))
    table = table.cast_column("img", datasets.Image(decode=False))
    originals = {row["img"]["bytes"] for row in table}
    assert {jpeg for jpeg, _ in stored(tmp_path / "out", "val")} == originals  # copied byte for byte
    assert not (tmp_path / "out" / ".hf-arrow").exists()


def test_one_split_holds_out_a_stated_fraction_and_a_wrong_column_is_named(tmp_path):
    hf_split(5).save_to_disk(str(tmp_path / "one"))
    result = prepare(tmp_path / "one", tmp_path / "out", "--holdout", "0.4")
    assert result.exit_code == 0, result.output
    meta = index(tmp_path / "out")
    assert (meta["splits"]["train"]["class_counts"], meta["splits"]["val"]["class_counts"]) == ([3] * 3, [2] * 3)
    assert meta["prepare"]["holdout"] == 0.4 and "held out" in meta["prepare"]["val_split"]
    result = prepare(tmp_path / "one", tmp_path / "bad", "--image-column", "picture")
    assert result.exit_code == 2 and "picture" in result.output and "image, label" in result.output


def test_not_a_dataset_or_two_configurations_are_exit_2_naming_the_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    result = prepare(tmp_path / "empty", tmp_path / "out")
    assert result.exit_code == 2 and str(tmp_path / "empty") in result.output and "parquet" in result.output
    for config in ("coarse", "fine"):
        (tmp_path / "hub" / config).mkdir(parents=True)
        hf_split(1).to_parquet(str(tmp_path / "hub" / config / "train-00000-of-00001.parquet"))
    result = prepare(tmp_path / "hub", tmp_path / "out")
    assert result.exit_code == 2 and "coarse, fine" in result.output
    assert prepare(tmp_path / "hub" / "fine", tmp_path / "out").exit_code == 0


def test_string_labels_become_sorted_classes_and_a_named_val_split_is_used(tmp_path):
    def split(names: list[str], offset: int):
        images = [picture(NAMES.index(n), offset + i) for i, n in enumerate(names)]
        return datasets.Dataset.from_dict({"image": images, "species": names},
                                          features=datasets.Features({"image": datasets.Image(),
                                                                      "species": datasets.Value("string")}))
    names = ["frog", "cat", "dog"] * 3
    datasets.DatasetDict({"train": split(names, 0), "validation": split(names[:6], 50),
                          "test": split(names[:3], 80)}).save_to_disk(str(tmp_path / "dd"))
    result = prepare(tmp_path / "dd", tmp_path / "out", "--label-column", "species", "--val-split", "validation")
    assert result.exit_code == 0, result.output
    meta = index(tmp_path / "out")
    assert [c["name"] for c in meta["classes"]] == ["cat", "dog", "frog"]
    assert meta["prepare"]["val_split"] == "validation" and meta["splits"]["val"]["class_counts"] == [2, 2, 2]
    assert all(colour_class(jpeg) == cls for jpeg, cls in stored(tmp_path / "out", "val"))


def test_shards_are_the_same_bytes_whatever_the_number_of_processes(tmp_path):
    datasets.DatasetDict({"train": hf_split(4), "test": hf_split(2, offset=50)}).save_to_disk(str(tmp_path / "dd"))
    for workers in (1, 2):
        result = prepare(tmp_path / "dd", tmp_path / f"w{workers}", "--shard-size", "3", "--workers", workers)
        assert result.exit_code == 0, result.output
    one, two = index(tmp_path / "w1"), index(tmp_path / "w2")
    assert one["splits"] == two["splits"] and len(one["splits"]["train"]["shards"]) == 4
    assert all((tmp_path / "w1" / s).read_bytes() == (tmp_path / "w2" / s).read_bytes()
               for subset in one["splits"].values() for s in subset["shards"])
