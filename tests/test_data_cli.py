"""`benchbridge data prepare ...` and `benchbridge data info`, invoked on the group directly."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from benchbridge.cli.data import data
from benchbridge.errors import UserError


def _run(*args: str):
    return CliRunner().invoke(data, [str(a) for a in args])


def test_prepare_synthetic_then_info(tmp_path: Path) -> None:
    out = tmp_path / "syn"
    result = _run("prepare", "synthetic", out, "--classes", "3", "--train-per-class", "5",
                  "--val-per-class", "2", "--image-size", "16", "--shard-size", "4", "--seed", "2")
    assert result.exit_code == 0, result.output
    summary = json.loads(_run("info", out, "--json").stdout)
    assert summary["num_classes"] == 3
    assert {s: (e["num_samples"], e["num_shards"], sum(e["class_counts"])) for s, e in summary["splits"].items()} \
        == {"train": (15, 4, 15), "val": (6, 2, 6)}
    assert summary["prepare"]["seed"] == 2
    text = _run("info", out).output
    assert "3 classes" in text and "train: 15 samples in 4 shards" in text and "domain" in text


def test_prepare_imagefolder(tmp_path: Path) -> None:
    for split in ("train", "val"):
        for name in ("b", "a"):
            (tmp_path / "src" / split / name).mkdir(parents=True)
            Image.new("RGB", (8, 8), (1, 2, 3)).save(tmp_path / "src" / split / name / "0.png")
    attrs = tmp_path / "attrs.json"
    attrs.write_text('{"a": {"domain": "manmade"}}')
    result = _run("prepare", "imagefolder", tmp_path / "src", tmp_path / "out", "--attributes", attrs)
    assert result.exit_code == 0, result.output
    summary = json.loads(_run("info", tmp_path / "out", "--json").stdout)
    assert [c["name"] for c in summary["classes"]] == ["a", "b"]
    assert summary["classes"][0]["attributes"] == {"domain": "manmade"}


def test_errors_are_user_errors(tmp_path: Path) -> None:
    result = _run("prepare", "imagefolder", tmp_path / "nope", tmp_path / "out")
    assert isinstance(result.exception, UserError) and str(tmp_path / "nope") in str(result.exception)
    result = _run("info", tmp_path)
    assert isinstance(result.exception, UserError)
    assert _run("prepare", "synthetic", tmp_path / "x", "--classes", "1").exit_code == 2  # click usage error
