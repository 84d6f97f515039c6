"""The plateau schedule: decisions on held-out training images, never the reported validation images."""

import hashlib
import json
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from benchbridge.results import store
from benchbridge.cli import main
from benchbridge.errors import UserError
from benchbridge.execute import Job
from benchbridge.execute.optimize import Plateau
from benchbridge.execute.train import RunSetup, Trainer
from benchbridge.manifest import load_manifest
from benchbridge.plan import make_plan
from grids import tiny_manifest


def test_plateau_drops_after_patience_and_stops_after_the_last_drop():
    p, flat = Plateau(), []
    for _ in range(10):
        flat.append(p.update(0.5, factor=0.1, patience=2, min_delta=0.0, max_drops=2))
        if flat[-1]:
            break
    # 1st evaluation sets the best; then 2 without gain -> drop, 2 -> drop, 2 -> stop
    assert flat == [False, False, False, False, False, False, True]
    assert p.drops == 2 and p.scale == pytest.approx(0.01)
    q = Plateau()
    assert not any(q.update(v, 0.1, 1, 0.01, 0) for v in (0.1, 0.2, 0.3, 0.4))  # improving: never stops


def manifest(tmp: Path, out: str, **changes) -> Path:
    path = tiny_manifest(tmp, out)
    data = yaml.safe_load(path.read_text())
    data["splits"] = [{"name": "random", "options": {"seed": 1}}]
    data.update(conditions=["AnB"], layers=[1])
    data["dataset"]["options"]["train_per_class"] = 40
    for key, value in changes.items():
        section, name = key.split(".")
        data.setdefault(section, {})[name] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_plateau_needs_a_holdout(tmp_path):
    path = manifest(tmp_path, "m", **{"training.schedule": {"name": "plateau"}})
    with pytest.raises(UserError) as exc:
        load_manifest(path)
    assert exc.value.key == "evaluation.holdout"


def test_the_plateau_schedule_stops_on_a_flat_curve_and_records_where(tmp_path):
    path = manifest(tmp_path, "flat", **{
        "training.lr": 1e-12, "training.epochs": 40,  # weights do not move: the holdout curve is flat
        "training.schedule": {"name": "plateau", "patience": 2, "drops": 1, "factor": 0.5},
        "evaluation.holdout": 0.25})
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code in (0, 3), result.output
    out = tmp_path / "flat"
    plan = store.read_json(out / store.PLAN_FILE)
    base = next(r for r in plan if r["condition"] == "baseB")
    m = store.read_json(store.run_dir(out, base["id"]) / store.METRICS_FILE)
    assert m["stop_reason"] == "plateau" and m["lr_drops"] == 1
    # best at evaluation 1, drop after 2 more, stop after 2 more: 5 evaluations (one per epoch), not 40
    assert len(m["curve"]) == 5 and m["stopped_at"] == m["curve"][-1]["iteration"] < m["planned_iterations"]
    assert all(p["holdout_top1"] is not None and p["holdout_images"] > 0 for p in m["curve"])
    assert m["curve"][-1]["lr"] == pytest.approx(0.5e-12)
    rep = CliRunner().invoke(main, ["report", str(out), "--out", str(tmp_path / "rep"), "--json"])
    conv = json.loads(rep.stdout)["grids"][0]["convergence"]
    assert {c["on"] for c in conv} == {"holdout"} and all("holdout top-1" in c["rule"] for c in conv)


def image_hashes(batches) -> list[str]:
    return [hashlib.sha1(x.numpy().tobytes()).hexdigest() for xs, _ in batches for x in xs]


def test_holdout_images_are_disjoint_from_training_and_validation_images(tmp_path):
    # augmentation none: every image is its centre crop, so the same image gives the same tensor in every loader
    path = manifest(tmp_path, "ho", **{"evaluation.holdout": 0.25, "data.augmentation": "none"})
    m = load_manifest(path)
    run = next(r for r in make_plan(m) if r.condition == "baseB")
    job = Job(m, tmp_path / "ho", [run])
    trainer = Trainer(run, RunSetup(m, job.dataset(), tmp_path / "ho", torch.device("cpu")))
    train = image_hashes(trainer.loader("train", 0))
    held = image_hashes(trainer.loader("train", 0, held_out=True))
    val = image_hashes(trainer.loader("val", 0))
    plain = Trainer(run, RunSetup(load_manifest(manifest(tmp_path, "all", **{"data.augmentation": "none"})),
                                  job.dataset(), tmp_path / "all", torch.device("cpu")))
    everything = image_hashes(plain.loader("train", 0, held_out=True))  # every training image (no holdout here)
    assert len(set(everything)) == len(everything) == 3 * 40  # all distinct: the comparison below means something
    assert not set(train) & set(held) and not set(held) & set(val) and not set(train) & set(val)
    # every training image is on exactly one side; training drops its last partial batch (docs/fidelity.md)
    assert set(train) | set(held) <= set(everything)
    batch = trainer.t.batch_size
    assert 0 <= len(everything) - len(train) - len(held) < batch and len(train) % batch == 0
    assert 0.1 < len(held) / len(everything) < 0.4  # about the fraction asked for
    again = image_hashes(trainer.loader("train", 0, held_out=True))
    assert again == held  # deterministic
