"""A timm backbone loaded from a local checkpoint file (timm's own state dict) as a source, cut at its stages."""

import json
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

timm = pytest.importorskip("timm")
pytest.importorskip("benchbridge_timm")

from benchbridge.results import store  # noqa: E402
from benchbridge.cli import main  # noqa: E402
from benchbridge.models import create_model  # noqa: E402
from benchbridge.results import load_results  # noqa: E402

ARCH = "test_resnet"  # timm's tiny test network: stages act1, layer1..layer4


def manifest(tmp_path: Path, ckpt: Path, **model_options) -> Path:
    data = {
        "name": "timm-source", "output_dir": str(tmp_path / "out"),
        "model": {"name": f"timm/{ARCH}", "options": {"input_size": 32, **model_options}},
        "sources": [{"name": "timm-file", "checkpoint": str(ckpt)}],
        "targets": [{"name": "shapes", "dataset": {"name": "synthetic", "options": {
            "classes": 3, "image_size": 32, "train_per_class": 8, "val_per_class": 4, "root": str(tmp_path / "d")}}}],
        "conditions": ["baseB", "AnB", "AnB+"],
        "training": {"batch_size": 8, "epochs": 1},
        "execution": {"device": "cpu", "threads": 1, "on_unhealthy": "train", "save_weights": "all"},
    }
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.slow
def test_a_timm_checkpoint_file_is_a_source_cut_at_its_stages(tmp_path):
    torch.manual_seed(3)
    ckpt = tmp_path / f"{ARCH}.pth"
    torch.save(timm.create_model(ARCH, pretrained=False, num_classes=11).state_dict(), ckpt)  # timm's own keys
    path = manifest(tmp_path, ckpt)
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code in (0, 3), result.output  # 3: one epoch may not learn; not this test's concern
    results = load_results(tmp_path / "out")
    assert all(r.record is not None for r in results)
    frozen = {r.run.n: r.run for r in results if r.run.condition == "AnB"}
    assert sorted(frozen) == [1, 2, 3, 4, 5]  # every stage
    expected = create_model(f"timm/{ARCH}", 3, input_size=32, checkpoint=ckpt).state_dict()
    for n, run in frozen.items():
        got = torch.load(store.run_dir(tmp_path / "out", run.id) / store.WEIGHTS_FILE, weights_only=True)
        keys = [k for k in expected if k.startswith(tuple(f"blocks.{i}." for i in range(n)))]
        assert keys and all(torch.equal(got[k], expected[k]) for k in keys), n
    record = json.loads((store.run_dir(tmp_path / "out", frozen[1].source) / "source.json").read_text())
    assert record["format"] == "model" and record["init_origin"] == "fresh_draw"


def test_a_timm_checkpoint_of_another_architecture_is_refused(tmp_path):
    ckpt = tmp_path / "other.pth"
    torch.save(timm.create_model("test_efficientnet", pretrained=False).state_dict(), ckpt)
    result = CliRunner().invoke(main, ["plan", str(manifest(tmp_path, ckpt))])
    assert result.exit_code == 2, result.output
    assert "sources.0.checkpoint" in result.output and "does not fit" in result.output
