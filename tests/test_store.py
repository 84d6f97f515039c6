"""Atomic writes: readers see the old file or the new one, with the permissions of an ordinary file."""

import json
import os

import pytest

from benchbridge import atomic
from benchbridge.results import store


def test_atomic_write_replaces_whole_files_with_umask_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        path = tmp_path / "sub" / "metrics.json"
        store.write_json(path, {"top1": 0.5})
        store.write_json(path, {"top1": 0.75})
        assert store.read_json(path) == {"top1": 0.75}
        assert path.stat().st_mode & 0o777 == 0o666 & ~atomic._UMASK  # not mkstemp's private 0600
        assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]  # no temporary file left behind
    finally:
        os.umask(mask)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "metrics.json"
    store.write_text(path, "old")

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        store.atomic_write(path, broken)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_every_atomic_write_is_flushed_to_disk_before_the_rename(tmp_path, monkeypatch):
    from benchbridge.data.shard_files import write_index

    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    store.write_json(tmp_path / "a.json", {"x": 1})
    write_index(tmp_path, {"format": "test"})
    assert len(synced) == 2
    assert (tmp_path / "dataset.json").is_file() and not list(tmp_path.glob(".*.tmp"))


def test_write_json_is_strict_json_with_the_reason_beside_each_non_finite_number(tmp_path):
    path = tmp_path / "metrics.json"
    store.write_json(path, {"train_loss": float("nan"), "top1": 0.5,
                            "curve": [{"val_loss": float("inf"), "top1": 0.25}], "xs": [float("-inf"), 1.0]})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert data["train_loss"] is None and data["train_loss_nonfinite"] == "nan" and data["top1"] == 0.5
    assert data["curve"] == [{"val_loss": None, "val_loss_nonfinite": "inf", "top1": 0.25}]
    assert data["xs"] == [None, 1.0]
