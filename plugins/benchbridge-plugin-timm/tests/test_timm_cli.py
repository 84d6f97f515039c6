"""The timm plugin through the installed entry point: `plugins`, `models` with patterns and cut points, manifests."""

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

pytest.importorskip("benchbridge_timm")

from benchbridge.cli import main  # noqa: E402

REPO = Path(__file__).resolve().parents[3]


def cli(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_plugins_lists_timm_with_its_package():
    info = json.loads(cli("plugins", "--json").stdout)
    timm = next(p for p in info["plugins"] if p["name"] == "timm")
    assert timm["package"] == "benchbridge-plugin-timm"
    assert [m["name"] for m in timm["provides"]["model"]] == ["timm/"]


def test_models_cut_points_of_a_timm_name():
    rows = json.loads(cli("models", "--cut-points", "timm/resnet50", "--json").stdout)
    assert rows == [{"name": "timm/resnet50", "plugin": "timm", "description": "from namespace timm/",
                     "cut_points": ["act1", "layer1", "layer2", "layer3", "layer4"]}]


def test_models_pattern_lists_timms_names():
    names = [r["name"] for r in json.loads(cli("models", "timm/*resnet*", "--json").stdout)]
    assert {"timm/resnet18", "timm/resnet50", "timm/wide_resnet50_2"} <= set(names)
    assert all(n.startswith("timm/") and "resnet" in n for n in names)


@pytest.mark.parametrize("manifest", ["timm-resnet18-synthetic.yaml", "timm-resnet50-imagenet.yaml"])
def test_timm_manifests_validate_and_plan(manifest):
    runs = json.loads(cli("plan", str(REPO / "manifests" / manifest), "--json").stdout)
    assert {r["n"] for r in runs if r["condition"] == "AnB"} <= {1, 2, 3, 4, 5}
    assert any(r["condition"] == "AnB" for r in runs)


def test_an_epoch_ending_in_a_one_image_batch_trains_on_full_batches_only(tmp_path):
    """10 training images in batches of 3 leave one image over: BatchNorm cannot train on it, and the last partial
    batch of every epoch is dropped (docs/fidelity.md), so each epoch is 3 steps of 3 images."""
    manifest = tmp_path / "bn.yaml"
    manifest.write_text(yaml.safe_dump({
        "name": "bn", "output_dir": str(tmp_path / "out"),
        "dataset": {"name": "synthetic", "options": {"classes": 4, "image_size": 16, "train_per_class": 5,
                                                     "val_per_class": 2, "root": str(tmp_path / "data")}},
        "model": {"name": "timm/resnet18", "options": {"input_size": 16}},
        "splits": [{"name": "random"}], "conditions": ["AnB"], "layers": [1],
        "training": {"batch_size": 3, "epochs": 1},
        "execution": {"device": "cpu", "threads": 1, "on_unhealthy": "train"},
    }))
    result = CliRunner().invoke(main, ["run", str(manifest)])
    assert result.exit_code in (0, 3), result.output  # 3: a network this small may not learn (it says so)
    records = [json.loads(p.read_text()) for p in (tmp_path / "out").rglob("metrics.json")]
    assert len(records) == 3  # baseA, baseB, AnB
    for r in records:
        assert r["iterations"] == 3 and r["images_seen"] == 9
