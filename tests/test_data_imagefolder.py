"""ImageFolder conversion: layout, JPEG copy vs re-encode, resize, attributes, errors, real CIFAR-10."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from PIL import Image

from benchbridge.data.imagefolder import convert_imagefolder
from benchbridge.data.shard_files import iter_tar_members
from benchbridge.errors import UserError

CIFAR = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "cifar10-jpeg.tar.gz"


def _image(path: Path, colour: tuple[int, int, int], size=(20, 14)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def _tree(root: Path, val: str = "val") -> Path:
    for split, n in (("train", 3), (val, 1)):
        for name, colour in (("zebra", (10, 10, 10)), ("apple", (200, 20, 20))):
            for i in range(n):
                _image(root / split / name / f"{i}.jpg", colour)
        _image(root / split / "apple" / "extra.png", (200, 20, 20))
    (root / "train" / "apple" / "notes.txt").write_text("not an image")
    return root


def _members(root: Path, split: str) -> list[tuple[str, bytes]]:
    out = []
    for shard in sorted(root.glob(f"{split}-*.tar")):
        with open(shard, "rb") as fh:
            out += list(iter_tar_members(fh))
    return out


def test_converts_tree_with_sorted_class_indices(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src")
    source = convert_imagefolder(src, tmp_path / "out", shard_size=3)
    assert [c.name for c in source.classes] == ["apple", "zebra"]
    assert source.index["splits"]["train"]["class_counts"] == [4, 3]
    assert source.index["splits"]["val"]["class_counts"] == [2, 1]
    assert source.index["splits"]["train"]["shard_counts"] == [3, 3, 1]
    jpgs = {data for name, data in _members(tmp_path / "out", "train") if name.endswith(".jpg")}
    assert (src / "train" / "zebra" / "0.jpg").read_bytes() in jpgs  # JPEG copied as-is
    assert all(data.startswith(b"\xff\xd8\xff") for data in jpgs)  # PNG re-encoded as JPEG


def test_resize_and_attributes_and_test_folder(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src", val="test")
    attrs = tmp_path / "attrs.yaml"
    attrs.write_text("apple: {domain: natural}\nzebra:\n  domain: natural\n  legs: 4\n")
    source = convert_imagefolder(src, tmp_path / "out", attributes=attrs, size=7)
    assert source.classes[1].attributes == {"domain": "natural", "legs": "4"}
    assert source.index["prepare"]["val_folder"] == "test"
    _, data = next(m for m in _members(tmp_path / "out", "val") if m[0].endswith(".jpg"))
    assert Image.open(io.BytesIO(data)).size == (10, 7)


@pytest.mark.parametrize("setup, fragment", [
    (lambda root: None, "does not exist"),
    (lambda root: (root / "train").mkdir(parents=True), "no class folders"),
    (lambda root: _image(root / "train" / "a" / "0.png", (0, 0, 0)), "no validation folder"),
])
def test_layout_errors_name_the_path(tmp_path: Path, setup, fragment: str) -> None:
    root = tmp_path / "src"
    setup(root)
    with pytest.raises(UserError) as err:
        convert_imagefolder(root, tmp_path / "out")
    assert fragment in str(err.value) and str(root) in str(err.value)
    assert not (tmp_path / "out" / "dataset.json").exists()


def test_attributes_naming_unknown_classes(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src")
    attrs = tmp_path / "attrs.json"
    attrs.write_text('{"apple": {"domain": "natural"}, "banana": {"domain": "natural"}}')
    with pytest.raises(UserError) as err:
        convert_imagefolder(src, tmp_path / "out", attributes=attrs)
    assert "banana" in str(err.value) and str(attrs) in str(err.value)
    attrs.write_text("[1, 2]")
    with pytest.raises(UserError, match="not a mapping"):
        convert_imagefolder(src, tmp_path / "out", attributes=attrs)


def test_unreadable_image_names_the_file(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src")
    (src / "train" / "apple" / "bad.png").write_bytes(b"garbage")
    with pytest.raises(UserError) as err:
        convert_imagefolder(src, tmp_path / "out")
    assert "bad.png" in str(err.value)


@pytest.mark.skipif(not CIFAR.is_file(), reason="shared CIFAR-10 JPEGs not available")
def test_real_cifar10_subset(tmp_path: Path) -> None:
    src = tmp_path / "cifar10"
    with tarfile.open(CIFAR) as tar:
        for member in tar:
            parts = Path(member.name).parts
            if member.isfile() and len(parts) == 4 and int(Path(parts[3]).stem) < 5:
                tar.extract(member, tmp_path, filter="data")
    attrs = tmp_path / "attrs.json"
    attrs.write_text('{"airplane": {"domain": "manmade"}, "automobile": {"domain": "manmade"}, '
                     '"ship": {"domain": "manmade"}, "truck": {"domain": "manmade"}}')
    source = convert_imagefolder(src, tmp_path / "out", attributes=attrs)
    assert source.num_classes == 10 and source.classes[0].name == "airplane"
    assert source.num_samples("train") == 50 and source.num_samples("val") == 50
    assert sum(c.attributes.get("domain") == "manmade" for c in source.classes) == 4
