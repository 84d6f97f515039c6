"""Pretrained timm weights as a source (`pretrained: TAG`), found in the local Hugging Face cache with the hub
offline, entering run ids by the file's content; a fake cache built here, the network unreachable."""

import socket
import sys
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

timm = pytest.importorskip("timm")
huggingface_hub = pytest.importorskip("huggingface_hub")
pytest.importorskip("benchbridge_timm")

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
import ondisk  # noqa: E402

from benchbridge.cli import main  # noqa: E402

ARCH, TAG = "test_resnet", "test_resnet.r160_in1k"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty Hugging Face hub cache that huggingface_hub reads, and no network at all."""
    folder = tmp_path / "hf-hub"
    folder.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(folder))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(folder))

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return folder


def weights(seed: int = 0) -> dict:
    torch.manual_seed(seed)
    return timm.create_model(ARCH, pretrained=False).state_dict()  # timm's own keys, its 1000-class head


def manifest(tmp_path: Path, model: str = f"timm/{ARCH}", **source) -> Path:
    data = {
        "name": "pretrained", "output_dir": str(tmp_path / "out"),
        "model": {"name": model, "options": {"input_size": 32}},
        "sources": [{"name": "in1k", **source}],
        "targets": [{"name": "shapes", "dataset": {"name": "synthetic", "options": {
            "classes": 3, "image_size": 32, "train_per_class": 8, "val_per_class": 4, "root": str(tmp_path / "d")}}}],
        "conditions": ["baseB", "AnB", "AnB+"], "layers": [2],
        "training": {"batch_size": 8, "epochs": 1},
        "execution": {"device": "cpu", "threads": 1, "on_unhealthy": "train"},
    }
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def plan_ids(path: Path) -> dict:
    import json

    result = CliRunner().invoke(main, ["plan", str(path), "--json"])
    assert result.exit_code == 0, result.output
    return {(r["condition"], r["n"]): r["id"] for r in json.loads(result.stdout)}


def test_pretrained_weights_enter_run_ids_by_the_cached_files_content(tmp_path, cache):
    file = ondisk.hf_model_cache(cache, f"timm/{TAG}", weights(0))
    by_tag = plan_ids(manifest(tmp_path, pretrained=TAG))
    assert by_tag == plan_ids(manifest(tmp_path, checkpoint=str(file)))  # the same file by path: the same ids
    ondisk.hf_model_cache(cache, f"timm/{TAG}", weights(1), commit="f" * 40)  # the hub's main moves to new weights
    moved = plan_ids(manifest(tmp_path, pretrained=TAG))
    assert moved[("baseB", 0)] == by_tag[("baseB", 0)]
    assert moved[("AnB", 2)] != by_tag[("AnB", 2)] and moved[("AnB+", 2)] != by_tag[("AnB+", 2)]
    tagged = plan_ids(manifest(tmp_path, model=f"timm/{TAG}", pretrained=TAG))  # the model named with its tag too
    assert set(tagged) == set(moved)


def test_absent_weights_exit_2_naming_the_exact_cache_path(tmp_path, cache):
    result = CliRunner().invoke(main, ["plan", str(manifest(tmp_path, pretrained=TAG))])
    assert result.exit_code == 2 and "sources.0.pretrained" in result.output
    text = " ".join(result.output.split())
    assert str(cache / f"models--timm--{TAG}" / "refs" / "main") in text
    commit = "a" * 40
    (cache / f"models--timm--{TAG}" / "refs").mkdir(parents=True)
    (cache / f"models--timm--{TAG}" / "refs" / "main").write_text(commit)
    result = CliRunner().invoke(main, ["plan", str(manifest(tmp_path, pretrained=TAG))])
    expected = cache / f"models--timm--{TAG}" / "snapshots" / commit / "model.safetensors"
    assert result.exit_code == 2 and str(expected) in " ".join(result.output.split())


def test_weights_of_another_architecture_or_both_kinds_are_refused(tmp_path, cache):
    result = CliRunner().invoke(main, ["plan", str(manifest(tmp_path, pretrained="resnet18.a1_in1k"))])
    assert result.exit_code == 2 and "timm/resnet18" in result.output and "sources.0.pretrained" in result.output
    file = ondisk.hf_model_cache(cache, f"timm/{TAG}", weights(0))
    result = CliRunner().invoke(main, ["plan", str(manifest(tmp_path, pretrained=TAG, checkpoint=str(file)))])
    assert result.exit_code == 2 and "not both" in result.output
