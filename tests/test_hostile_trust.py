"""Issue 25, tried as a new user would: checks that came too late or said the wrong thing. Each test fails without
its fix: images_per_class above the data, NaN checkpoints, `validate` that said "valid" for what `run` refuses,
unreadable checkpoints in words, wrong-shaped metrics.json, duplicated classes, classes without images, a duplicated
sample key, and a second `run` on a locked folder."""

from __future__ import annotations

import io
import json
import math
import os
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchbridge.results.record import SCHEMA_VERSION, CurvePoint
import torch
import yaml
from click.testing import CliRunner
from PIL import Image
from pydantic import BaseModel, ConfigDict

from benchbridge.cli import main
from benchbridge.data import dali
from benchbridge.data.shard_files import write_dataset
from benchbridge.data.source import ClassInfo
from benchbridge.hookspecs import hookimpl

MODEL = {"name": "alexnet", "options": {"input_size": 16, "width": 0.0625, "fc_width": 16}}


def _jpeg(rng: np.random.Generator, value: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.clip(rng.normal(value, 20, (16, 16, 3)), 0, 255).astype(np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def shards(root: Path, train: list[int], val: list[int]) -> Path:
    """A prepared dataset whose class c has train[c] training and val[c] validation images."""
    rng = np.random.default_rng(0)
    samples = {split: [(_jpeg(rng, 40 + 30 * c), c) for c, k in enumerate(counts) for _ in range(k)]
               for split, counts in (("train", train), ("val", val))}
    write_dataset(root, root.name, [ClassInfo(c, f"class{c}") for c in range(len(train))], samples, {})
    return root


def manifest(tmp: Path, root: Path, **changes: Any) -> Path:
    body: dict[str, Any] = {
        "name": "trust", "output_dir": str(tmp / "out"), "model": MODEL,
        "dataset": {"name": "shards", "options": {"path": str(root)}},
        "sources": [{"name": "src", "classes": [0, 1]}], "targets": [{"name": "tgt", "classes": [2, 3]}],
        "conditions": ["baseB", "AnB"], "layers": [1],
        "training": {"batch_size": 4, "epochs": 1},
        "execution": {"device": "cpu", "threads": 1, "on_unhealthy": "train"},
    }
    body.update(changes)
    path = tmp / "m.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def invoke(*args: Any):
    return CliRunner().invoke(main, [str(a) for a in args])


def refused(result, *words: str) -> str:
    assert result.exit_code == 2, result.output
    out = " ".join(result.output.split())  # the console wraps long lines
    assert "Traceback" not in out
    for word in words:
        assert word in out, (word, out)
    return out


# --- 2. images_per_class above what the data holds ----------------------------------------------------------------


def test_images_per_class_above_a_class_count_is_refused_naming_the_class_and_its_count(tmp_path):
    data = shards(tmp_path / "d", train=[12, 12, 12, 7], val=[2] * 4)
    path = manifest(tmp_path, data, targets=[{"name": "tgt", "classes": [2, 3], "images_per_class": 10}])
    for command in ("validate", "run"):
        out = refused(invoke(command, path), "targets.0.images_per_class", "images_per_class is 10",
                      "target 'tgt'", "3 ('class3'): 7", "at most 7")
        assert "class2" not in out  # 12 >= 10: not named
    assert not list((tmp_path / "out").rglob("metrics.json"))  # nothing trained
    # data.images_per_class for every task: named under its own key
    refused(invoke("validate", manifest(tmp_path, data, data={"images_per_class": 10})), "data.images_per_class")
    assert invoke("validate", manifest(tmp_path, data, data={"images_per_class": 7})).exit_code == 0


# --- 4. a checkpoint with NaN or Inf weights ----------------------------------------------------------------------


def _weights(path: Path) -> dict[str, torch.Tensor]:
    from benchbridge.models import create_model

    torch.manual_seed(0)
    state = create_model(MODEL["name"], 2, **MODEL["options"]).state_dict()
    torch.save(state, path)
    return state


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_checkpoint_with_non_finite_weights_is_refused_naming_the_file_and_the_tensor(tmp_path, bad):
    data = shards(tmp_path / "d", train=[8] * 4, val=[2] * 4)
    state = _weights(tmp_path / "w.pt")
    name = "blocks.1.0.weight" if "blocks.1.0.weight" in state else sorted(state)[2]
    state[name].view(-1)[3] = bad
    torch.save(state, tmp_path / "w.pt")
    path = manifest(tmp_path, data, sources=[{"name": "src", "checkpoint": str(tmp_path / "w.pt")}])
    for command in ("validate", "plan", "run"):
        refused(invoke(command, path), "sources.0.checkpoint", "w.pt", f"tensor '{name}'", "1 NaN or infinite")
    assert not list((tmp_path / "out").rglob("metrics.json"))


# --- 6. validate runs every check that needs no training ----------------------------------------------------------
# --- 7. unreadable checkpoints said in words, never "load it unsafely" --------------------------------------------


class Anything:
    """A pickled object that is not a tensor."""


def _bad_checkpoints(tmp: Path) -> dict[str, tuple[Path, list[str]]]:
    rng = np.random.default_rng(1)
    files = {}
    (tmp / "random.pt").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    files["random bytes"] = (tmp / "random.pt", ["random.pt", "neither a file torch.save wrote"])
    (tmp / "empty.pt").write_bytes(b"")
    files["empty"] = (tmp / "empty.pt", ["empty.pt", "neither a file torch.save wrote"])
    torch.save({"blocks.0.0.weight": torch.zeros(1), "extra": Anything()}, tmp / "object.pt")
    files["pickled object"] = (tmp / "object.pt", ["object.pt", "pickled Python objects", "Anything",
                                                   "never unpickles"])
    (tmp / "bad.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    files["broken safetensors"] = (tmp / "bad.safetensors", ["bad.safetensors", "not a valid .safetensors"])
    from benchbridge.models import create_model
    torch.save(create_model(MODEL["name"], 2, **{**MODEL["options"], "width": 0.125}).state_dict(), tmp / "wide.pt")
    files["wrong architecture"] = (tmp / "wide.pt", ["wide.pt", "does not fit model 'alexnet'"])
    (tmp / "unreadable.pt").write_bytes(b"x")
    os.chmod(tmp / "unreadable.pt", 0)
    if os.access(tmp / "unreadable.pt", os.R_OK):  # running as root: every file is readable
        (tmp / "unreadable.pt").unlink()
    else:
        files["unreadable"] = (tmp / "unreadable.pt", ["unreadable.pt", "ermission denied"])
    return files


def test_validate_refuses_every_checkpoint_plan_and_run_refuse_saying_what_is_wrong_in_words(tmp_path):
    data = shards(tmp_path / "d", train=[8] * 4, val=[2] * 4)
    for what, (ckpt, words) in _bad_checkpoints(tmp_path).items():
        path = manifest(tmp_path, data, sources=[{"name": "src", "checkpoint": str(ckpt)}])
        for command in ("validate", "plan", "run"):
            out = refused(invoke(command, path), "sources.0.checkpoint", *words)
            assert "weights_only" not in out and "False" not in out, (what, out)  # never "load it unsafely"
            assert "IndexError" not in out and "pop from empty list" not in out, (what, out)
            assert "Give a state dict of tensors saved with torch.save" in out or what == "wrong architecture"
        assert not (tmp_path / "out" / "runs").exists() or not list((tmp_path / "out").rglob("metrics.json"))


@pytest.mark.parametrize("classes, words", [([2, 99], ["99", "outside"]), ([-1, 2], ["-1", "outside"])])
def test_validate_refuses_class_indices_out_of_range(tmp_path, classes, words):
    data = shards(tmp_path / "d", train=[8] * 4, val=[2] * 4)
    refused(invoke("validate", manifest(tmp_path, data, targets=[{"name": "tgt", "classes": classes}])),
            "targets.0.classes", *words)


def test_validate_says_which_datasets_it_could_not_check(tmp_path):
    data = shards(tmp_path / "d", train=[8] * 4, val=[2] * 4)
    missing = {"name": "imagenet", "options": {"path": str(tmp_path / "nowhere")}}
    path = manifest(tmp_path, data, targets=[{"name": "tgt", "dataset": missing, "classes": [2, 3]}])
    result = invoke("validate", path)
    assert result.exit_code == 0, result.output
    assert "not checked" in result.output and "nowhere" in result.output


# --- 9. a duplicated class index --------------------------------------------------------------------------------


def test_a_class_listed_twice_is_named(tmp_path):
    data = shards(tmp_path / "d", train=[8] * 4, val=[2] * 4)
    out = refused(invoke("validate", manifest(tmp_path, data, targets=[{"name": "tgt", "classes": [3, 3]}])),
                  "targets.0.classes", "class index 3 is listed more than once")
    assert "has 1 class" not in out


# --- 10. classes without training or validation images -----------------------------------------------------------


@pytest.mark.parametrize("train, val, words", [
    ([8, 8, 8, 0], [2] * 4, ["3 ('class3')", "no training images"]),
    ([8] * 4, [2, 2, 0, 2], ["2 ('class2')", "no validation images"])])
def test_a_task_whose_classes_have_no_images_is_refused_before_training(tmp_path, train, val, words):
    data = shards(tmp_path / "d", train=train, val=val)
    path = manifest(tmp_path, data)
    for command in ("validate", "run"):
        refused(invoke(command, path), "target 'tgt'", *words)
    assert not list((tmp_path / "out").rglob("metrics.json"))
    # the same dataset without that class is fine
    assert invoke("validate", manifest(tmp_path, data, targets=[{"name": "tgt", "classes": [0, 1]}]),
                  ).exit_code == 0


def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(path)


@pytest.mark.parametrize("missing, words", [("val", ["dog", "no validation images"]),
                                            ("train", ["dog", "no training images"])])
def test_preparing_an_image_folder_refuses_a_class_without_images(tmp_path, missing, words):
    src = tmp_path / "src"
    for split in ("train", "val"):
        _image(src / split / "cat" / "a.png")
        if split != missing:
            _image(src / split / "dog" / "b.png")
        else:
            (src / split / "dog").mkdir(parents=True)
    refused(invoke("data", "prepare", "imagefolder", src, tmp_path / "out"), *words)
    assert not (tmp_path / "out" / "dataset.json").exists()


# --- 8. a metrics.json of the wrong shape -------------------------------------------------------------------------


@pytest.mark.slow
def test_a_record_of_the_wrong_shape_is_named_set_aside_and_trained_again(tmp_path):
    from benchbridge.results import store

    data = shards(tmp_path / "d", train=[8] * 4, val=[2] * 4)
    path = manifest(tmp_path, data)
    first = invoke("run", path)
    assert first.exit_code in (0, 3), first.output
    runs = json.loads((tmp_path / "out" / "plan.json").read_text())
    metrics = store.run_dir(tmp_path / "out", runs[0]["id"]) / store.METRICS_FILE
    good = json.loads(metrics.read_text())
    metrics.write_text(json.dumps({"top1": "x"}))
    status = invoke("status", tmp_path / "out")
    words = " ".join(status.output.split())
    assert (f"it has no schema_version, so it was read as version 1; this benchbridge writes version {SCHEMA_VERSION}"
            in words)
    assert "not a valid run record of schema version 1" not in words
    again = invoke("run", path)
    assert again.exit_code in (0, 3), again.output
    said = " ".join(again.stderr.split())
    assert runs[0]["id"] in said and "trains again" in said, said
    assert "not a valid run record" in said and "Field required" in said, said  # says what is wrong
    assert json.loads((metrics.parent / "metrics.json.damaged").read_text()) == {"top1": "x"}
    assert json.loads(metrics.read_text())["top1"] == good["top1"]  # trained again: the same network


def test_a_record_of_a_newer_schema_is_left_alone(tmp_path):
    from benchbridge.results.record import BrokenRecord, read_record

    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"schema_version": 99, "top1": "x"}))
    with pytest.raises(BrokenRecord) as err:
        read_record(path)
    assert not err.value.damaged and "Upgrade benchbridge" in str(err.value)
    path.write_text(json.dumps({"schema_version": 2, "top1": "x"}))
    with pytest.raises(BrokenRecord) as err:
        read_record(path)
    assert err.value.damaged and "of schema version 2" in str(err.value)


# --- 11. a duplicated sample key, in words ------------------------------------------------------------------------


def _duplicate_a_key(shard: Path) -> str:
    """Give the third sample of `shard` the second one's key; that key."""
    with tarfile.open(shard) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]
    keys = list(dict.fromkeys(m.name.split(".", 1)[0] for m, _ in members))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for m, body in members:
            if m.name.startswith(keys[2] + "."):
                m.name = keys[1] + m.name[len(keys[2]):]
            tar.addfile(m, io.BytesIO(body))
    shard.write_bytes(out.getvalue())
    return keys[1]


def test_a_duplicated_sample_key_is_said_in_words(tmp_path):
    data = shards(tmp_path / "d", train=[8] * 4, val=[2] * 4)
    key = _duplicate_a_key(sorted(data.glob("train-*.tar"))[0])
    for result in (invoke("run", manifest(tmp_path, data)), invoke("data", "verify", data)):
        said = " ".join(result.output.split())
        assert result.exit_code != 0 and "Traceback" not in said
        assert f"two samples share the key '{key}'" in said, said
        assert "dict_keys" not in said and "None, None)" not in said


# --- 12. a second run on a locked folder --------------------------------------------------------------------------


def test_a_run_on_a_locked_folder_is_refused_before_any_progress_bar(tmp_path):
    from benchbridge.results import store

    data = shards(tmp_path / "d", train=[8] * 4, val=[2] * 4)
    path = manifest(tmp_path, data)
    (tmp_path / "out").mkdir()
    with store.OutputLock(tmp_path / "out"):
        result = invoke("run", path)
    assert result.exit_code == 2, result.output
    assert "━" not in result.output and result.output.strip().startswith("Error:"), result.output  # no bar
    assert str(os.getpid()) in result.output  # names the holder


# --- 3. the last partial batch is dropped -------------------------------------------------------------------------


class _BNOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BatchNormModel:
    """Test-only model with BatchNorm in its blocks (a ResNet's stem in small), served by the model plugin hook."""

    name = "bn_test_model"
    Options = _BNOptions

    def create(self, name: str, options: _BNOptions, num_classes: int) -> Any:
        from torch import nn

        from benchbridge.models.network import Network

        stem = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.BatchNorm1d(4))
        return Network([("stem", stem), ("pool", pool)], nn.Linear(4, num_classes))

    def cut_points(self, name: str, options: _BNOptions) -> list[str]:
        return ["stem", "pool"]

    def data_config(self, name: str, options: _BNOptions) -> dict[str, Any]:
        return {"input_size": 12, "mean": (0.5,) * 3, "std": (0.25,) * 3, "augmentation": "paper"}


class BatchNormPlugin:
    @staticmethod
    @hookimpl
    def register_models(register: Any) -> None:
        register(BatchNormModel())


@pytest.fixture
def bn_model(register_plugin):
    register_plugin(BatchNormPlugin, "bn_test_model")


def test_a_training_pass_drops_the_last_partial_batch_and_evaluation_keeps_it(tmp_path):
    from benchbridge.data.loader import LoaderSpec, make_loader
    from benchbridge.data.shard_files import open_dataset

    source = open_dataset(shards(tmp_path / "d", train=[9, 8], val=[3, 2]))  # 17 = 4 x 4 + 1
    for share in ({}, {"num_workers": 2}, {"cache": True}):
        spec = LoaderSpec(split="train", classes=(0, 1), batch_size=4, train=True, seed=0, epoch=0, input_size=12,
                          drop_last=True, **share)
        loader = make_loader(source, spec)
        assert [len(y) for _, y in loader] == [4, 4, 4, 4] and len(loader) == 4, share
    spec = LoaderSpec(split="val", classes=(0, 1), batch_size=4, train=False, seed=0, epoch=0, input_size=12)
    assert [len(y) for _, y in make_loader(source, spec)] == [4, 1]  # evaluation: every image


@pytest.mark.skipif(not dali.available(), reason="NVIDIA DALI is not installed")
def test_the_dali_pipeline_drops_the_last_partial_batch_too(tmp_path):
    from benchbridge.data.loader import LoaderSpec
    from benchbridge.data.shard_files import open_dataset

    source = open_dataset(shards(tmp_path / "d", train=[9, 8], val=[3, 2]))
    spec = LoaderSpec(split="train", classes=(0, 1), batch_size=4, train=True, seed=0, epoch=0, input_size=12,
                      drop_last=True, device="cuda" if torch.cuda.is_available() else "cpu")
    loader = dali.make_dali_loader(source, spec)
    assert [len(y) for _, y in loader] == [4, 4, 4, 4] and len(loader) == 4


def test_a_batchnorm_network_trains_when_an_epoch_leaves_one_image_over(tmp_path, bn_model):
    """17 training images at batch 4 (N mod batch = 1): each epoch is 4 full steps, never a step on one image."""
    data = shards(tmp_path / "d", train=[9, 8, 9, 8], val=[3] * 4)
    path = manifest(tmp_path, data, model={"name": "bn_test_model"}, conditions=["baseA", "baseB"],
                    training={"batch_size": 4, "epochs": 3, "lr": 0.01})
    result = invoke("run", path)
    assert result.exit_code in (0, 3), result.output  # 3: a network this small may not learn (it says so)
    records = [json.loads(p.read_text()) for p in (tmp_path / "out").rglob("metrics.json")]
    assert len(records) == 2  # baseA and baseB
    for r in records:
        assert r["planned_iterations"] == r["iterations"] == 3 * 4
        assert r["images_seen"] == 3 * 4 * 4  # every step on a full batch: the 17th image of each epoch dropped


def test_a_batch_larger_than_the_training_images_is_refused(tmp_path):
    data = shards(tmp_path / "d", train=[3] * 4, val=[2] * 4)
    refused(invoke("run", manifest(tmp_path, data, training={"batch_size": 8, "epochs": 1})),
            "training.batch_size", "batch_size 8 is larger than this run's 6 training images")


# --- 1. a network that learned is not called no_learning by the loss rules ----------------------------------------


def test_a_top1_far_above_chance_overrules_a_loss_pinned_at_ln_c():
    """The issue's target: top-1 0.170 on 500 images (p about 1e-6 against 1/10), training loss 2.297 over the last
    12 iterations (within 2% of ln 10 = 2.303, with dropout and augmentation)."""
    from benchbridge.execute import health

    losses = [2.9] * 108 + [2.297 + 0.01 * (i % 3 - 1) for i in range(12)]
    assert health.loss_at_chance(losses, 10) and health.chance_p_value(0.170, 500, 10) < health.LEARNED_ALPHA
    assert health.no_learning(0.170, 500, 10, losses) is None
    state, why = health.judge(None, 0.170, 500, 10, losses)
    assert state == health.OK and why is not None and "far above chance" in why and "within 2% of ln 10" in why
    # a top-1 only significant at 1% (0.138: p = 0.004) does not overrule it
    assert "within 2% of ln 10" in health.no_learning(0.138, 500, 10, losses)


def test_a_loss_stuck_above_ln_c_is_never_overruled_by_top1():
    """lr 1e-9 keeps a random draw, whose top-1 can be far above chance: measured up to 0.220 on 500 images
    (p = 2.6e-15) among 400 draws (README, Reliability); its loss above ln C still says no_learning."""
    from benchbridge.execute import health

    losses = [3.1 + 0.1 * (i % 4) for i in range(80)]  # 1.35-1.48 x ln 10
    assert health.chance_p_value(0.220, 500, 10) < 1e-12
    why = health.no_learning(0.220, 500, 10, losses)
    assert why is not None and "above ln 10" in why
    assert health.judge(None, 0.220, 500, 10, losses)[0] == health.NO_LEARNING


FINAL = CurvePoint(iteration=10, epoch=1, lr=0.01, top1=0.16, top5=0.6, val_images=500)  # a final evaluation


def test_a_network_whose_predictions_training_did_not_change_is_no_learning():
    """Rule 4, whatever the loss: a draw of the small-image default head can have its loss between the band and
    15% above ln C and pass the binomial test (6 of 200 draws, README); at lr 1e-9 its predictions do not move."""
    from benchbridge.execute import health
    from benchbridge.execute.watch import HealthWatch

    losses = [math.log(10) * 1.08] * 80  # neither in the band nor 15% above ln C
    watch = HealthWatch(10, 80, None, frozen=0)
    watch.losses = losses
    assert watch.verdict("budget", FINAL) == (health.OK, None)  # rules 1-3 pass it
    watch.unchanged = 1.0
    state, why = watch.verdict("budget", FINAL)
    assert state == health.NO_LEARNING and "same class as its starting point for 100.0%" in why
    watch.unchanged = 0.42  # a network that learned changes most of its predictions
    assert watch.verdict("budget", FINAL) == (health.OK, None)


@pytest.mark.slow
def test_a_run_at_lr_1e_9_is_caught_by_its_unchanged_predictions(tmp_path):
    data = shards(tmp_path / "d", train=[16] * 4, val=[10] * 4)
    path = manifest(tmp_path, data, conditions=["baseB"], training={"batch_size": 4, "epochs": 2, "lr": 1e-9})
    result = invoke("run", path)
    assert result.exit_code == 3, result.output
    from benchbridge.results import load_results

    [record] = [r.record for r in load_results(tmp_path / "out") if r.record is not None]
    assert record.health == "no_learning" and "starting point for 100.0%" in (record.health_reason or "")


def test_a_run_whose_training_loss_shows_learning_skips_rule_4s_extra_pass(tmp_path, monkeypatch):
    """Rule 4 costs a validation pass; a training loss well below ln C (which no untrained network reaches) already
    shows learning, so the trainer does not make the pass. Whether the loss shows learning is the health module's
    rule (checked here on numbers); the trainer asks it, and makes the pass only when the answer is no."""
    from benchbridge.execute import health, train

    assert health.loss_shows_learning([0.5] * 100, 2, 64) and not health.loss_shows_learning([0.69] * 100, 2, 64)
    assert not health.loss_shows_learning([0.3] * 99 + [5.0] * 10, 2, 64)  # the last tenth counts
    assert not health.loss_shows_learning([0.1] * 100, 2, 4)  # 10 losses of 4 images: a lucky few batches
    calls = []
    real = train.agreement
    monkeypatch.setattr(train, "agreement", lambda *a, **k: calls.append(1) or real(*a, **k))
    data = shards(tmp_path / "d", train=[16] * 4, val=[10] * 4)
    for learned, passes in ((True, []), (False, [1])):
        monkeypatch.setattr(health, "loss_shows_learning", lambda losses, classes, batch, answer=learned: answer)
        (tmp_path / str(learned)).mkdir()
        path = manifest(tmp_path / str(learned), data, conditions=["baseB"], training={"batch_size": 4, "epochs": 1},
                        execution={"device": "cpu", "threads": 1, "workers": 1, "on_unhealthy": "train"})
        calls.clear()
        invoke("run", path)
        assert calls == passes, learned
