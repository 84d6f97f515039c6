"""The prepared-dataset format: index contents, atomic writes, the tar reader, opening errors."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from benchbridge.data.source import FORMAT, INDEX_FILE, ClassInfo
from benchbridge.data.shard_files import iter_tar_members, open_dataset, read_index, write_dataset
from benchbridge.errors import UserError

CLASSES = [ClassInfo(0, "a", {"domain": "x"}), ClassInfo(1, "b"), ClassInfo(2, "c")]


def _samples(n: int, classes: int = 3) -> list[tuple[bytes, int]]:
    return [(f"img{i}".encode(), i % classes) for i in range(n)]


def test_index_contents(tmp_path: Path) -> None:
    source = write_dataset(tmp_path, "toy", CLASSES, {"train": _samples(7), "val": _samples(2)},
                           {"seed": 1}, shard_size=3)
    index = json.loads((tmp_path / INDEX_FILE).read_text())
    assert index["format"] == FORMAT and index["name"] == "toy" and index["prepare"] == {"seed": 1}
    assert index["classes"][0] == {"index": 0, "name": "a", "attributes": {"domain": "x"}}
    train = index["splits"]["train"]
    assert train == {"shards": ["train-000000.tar", "train-000001.tar", "train-000002.tar"], "num_samples": 7,
                     "shard_counts": [3, 3, 1], "class_counts": [3, 2, 2],
                     "shard_class_counts": [[1, 1, 1], [1, 1, 1], [1, 0, 0]]}
    assert index["splits"]["val"]["class_counts"] == [1, 1, 0]
    assert source.num_samples("train") == 7 and source.classes == CLASSES
    assert sorted(p.name for p in tmp_path.iterdir()) == [INDEX_FILE, *train["shards"], "val-000000.tar"]


def test_shard_samples_have_key_jpg_and_ascii_cls(tmp_path: Path) -> None:
    write_dataset(tmp_path, "toy", CLASSES, {"train": _samples(2), "val": []}, {})
    with tarfile.open(tmp_path / "train-000000.tar") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    assert members == {"train_00000000.cls": b"0", "train_00000000.jpg": b"img0",
                       "train_00000001.cls": b"1", "train_00000001.jpg": b"img1"}


def test_failed_write_leaves_no_complete_looking_dataset(tmp_path: Path) -> None:
    write_dataset(tmp_path, "toy", CLASSES, {"train": _samples(4), "val": _samples(2)}, {}, shard_size=2)
    assert read_index(tmp_path) is not None

    def broken():
        yield from _samples(3)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_dataset(tmp_path, "toy", CLASSES, {"train": broken(), "val": []}, {}, shard_size=2)
    assert read_index(tmp_path) is None
    assert not (tmp_path / INDEX_FILE).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_read_index_rejects_missing_shard(tmp_path: Path) -> None:
    write_dataset(tmp_path, "toy", CLASSES, {"train": _samples(4), "val": []}, {}, shard_size=2)
    (tmp_path / "train-000001.tar").unlink()
    assert read_index(tmp_path) is None
    with pytest.raises(UserError, match="train-000001.tar is missing"):
        open_dataset(tmp_path)


def test_open_dataset_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(UserError) as err:
        open_dataset(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(err.value) and "benchbridge data prepare" in str(err.value)
    (tmp_path / INDEX_FILE).write_text('{"format": "other"}')
    with pytest.raises(UserError, match="not a benchbridge-wds/1"):
        open_dataset(tmp_path)
    (tmp_path / INDEX_FILE).write_text("{broken")
    with pytest.raises(UserError, match="cannot read"):
        open_dataset(tmp_path)


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_tar_reader_matches_stdlib(tmp_path: Path, fmt: int) -> None:
    path = tmp_path / "x.tar"
    names = ["short.cls", "dir/sub/f.bin", "d" * 90 + "/" + "e" * 60 + ".jpg"]
    if fmt != tarfile.USTAR_FORMAT:
        names += ["d" * 120 + ".jpg", "ünï.txt"]
    with tarfile.open(path, "w", format=fmt) as tar:
        for i, name in enumerate(names):
            info = tarfile.TarInfo(name)
            data = bytes(range(i * 7 % 256)) * 3
            info.size, info.mtime = len(data), 1.5 if fmt == tarfile.PAX_FORMAT else 1  # float: pax header
            tar.addfile(info, io.BytesIO(data))
    with open(path, "rb") as fh:
        ours = list(iter_tar_members(fh))
    with tarfile.open(path) as tar:
        theirs = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]
    assert ours == theirs


def test_tar_reader_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not a tar file"):
        list(iter_tar_members(io.BytesIO(b"x" * 1024)))
