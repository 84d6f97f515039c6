"""A target's training budget: equal steps (training.iterations) or equal epochs (training.epochs) across targets,
and the two chen2022-small manifests that ship one design each."""

import sys
from pathlib import Path

import pytest
import torch
import yaml

from benchbridge.execute.job import Job
from benchbridge.execute.train import RunSetup, Trainer
from benchbridge.manifest import load_manifest
from benchbridge.plan import make_plan

sys.path.insert(0, str(Path(__file__).parent))
from test_sources_targets import ROOT, pair_manifest, write  # noqa: E402


def planned_steps(tmp_path, **training):
    """Iterations each target's base network is planned to train, by target."""
    data = pair_manifest(tmp_path, conditions=["baseB"])
    data["targets"][1]["images_per_class"] = 4  # far: 4 classes x 4 images; near: 3 classes x 12
    data["training"] = {"batch_size": 6, **training}
    m = load_manifest(write(tmp_path, data))
    job = Job(m, tmp_path / "out", make_plan(m))
    return {r.task: Trainer(r, RunSetup(m, job.dataset(r.task), job.output_dir, torch.device("cpu"),
                                             task=r.task)).total
            for r in job.plan if r.condition == "baseB"}


def test_equal_steps_give_every_target_the_same_iterations(tmp_path):
    assert planned_steps(tmp_path, iterations=10) == {"near": 10, "far": 10}


def test_equal_epochs_give_a_target_with_more_images_more_iterations(tmp_path):
    assert planned_steps(tmp_path, epochs=2) == {"near": 2 * 6, "far": 2 * 2}  # 36 // 6, 16 // 6 full batches a pass


@pytest.mark.parametrize(("name", "key", "value"), [("chen2022-small", "iterations", 500),
                                                    ("chen2022-small-epochs", "epochs", 8)])
def test_chen2022_small_ships_both_designs_with_the_same_source(name, key, value):
    data = yaml.safe_load((ROOT / "manifests" / f"{name}.yaml").read_text())
    other = {"iterations", "epochs"} - {key}
    assert data["training"][key] == value and not other & set(data["training"])
    assert all("training" not in t for t in data["targets"])  # one budget design across every target
    steps = yaml.safe_load((ROOT / "manifests" / "chen2022-small.yaml").read_text())
    assert data["sources"] == steps["sources"] and data["targets"] == steps["targets"]
