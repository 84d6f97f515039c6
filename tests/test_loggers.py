"""Logger plugins: the bundled TensorBoard logger, read back from its event files after a tiny CPU grid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from benchbridge.results import store
from benchbridge.cli import main
from benchbridge.results import load_results

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def manifest(tmp_path: Path, loggers: list) -> Path:
    data = {
        "name": "tb", "output_dir": str(tmp_path / "out"),
        "dataset": {"name": "synthetic", "options": {"classes": 4, "image_size": 16, "train_per_class": 12,
                                                     "val_per_class": 4, "root": str(tmp_path / "data")}},
        "model": {"name": "alexnet", "options": {"input_size": 16, "width": 0.125, "fc_width": 16,
                                                 "init": "kaiming", "preprocess": "standard"}},
        "splits": [{"name": "random", "options": {"seed": 1}}], "conditions": ["AnB"], "layers": [2],
        "training": {"lr": 0.02, "batch_size": 8, "iterations": 6}, "evaluation": {"every": 3},
        "execution": {"device": "cpu", "threads": 1, "loggers": loggers, "on_unhealthy": "train"},
    }
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def events(folder: Path) -> EventAccumulator:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def scalars(acc: EventAccumulator, tag: str) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def text(acc: EventAccumulator, tag: str) -> str:
    return acc.Tensors(f"{tag}/text_summary")[0].tensor_proto.string_val[0].decode()


@pytest.mark.slow
def test_tensorboard_gets_every_step_every_evaluation_the_record_and_the_manifest(tmp_path):
    path = manifest(tmp_path, [{"name": "tensorboard"}])
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code in (0, 3), result.output  # 3: a tiny network at chance is flagged; it still logs
    out = tmp_path / "out"
    results = load_results(out)
    assert len(results) == 3  # baseA, baseB, AnB n=2
    for res in results:
        rec = res.record
        [folder] = [p.parent for p in (out / "tensorboard").rglob("events.out.tfevents.*") if res.run.id in str(p)]
        acc = events(folder)
        loss = scalars(acc, "train/train_loss")
        assert [s for s, _ in loss] == [1, 2, 3, 4, 5, 6]
        assert scalars(acc, "train/lr")[0] == (1, pytest.approx(0.02))
        assert [s for s, _ in scalars(acc, "val/top1")] == [p.iteration for p in rec.curve] == [3, 6]
        assert [v for _, v in scalars(acc, "val/top1")] == pytest.approx([p.top1 for p in rec.curve])
        assert loss[2][1] == pytest.approx(rec.curve[0].train_loss)  # the eval's train loss is that step's
        assert scalars(acc, "final/top1") == [(6, pytest.approx(rec.top1))]
        logged = json.loads(text(acc, "record").removeprefix("```json\n").removesuffix("\n```"))
        assert logged["run_id"] == res.run.id and logged["top1"] == pytest.approx(rec.top1)
        saved = yaml.safe_load((out / store.MANIFEST_FILE).read_text())
        assert yaml.safe_load(text(acc, "manifest").removeprefix("```yaml\n").removesuffix("```")) == saved


def test_logger_options_are_validated_by_the_logger(tmp_path):
    result = CliRunner().invoke(main, ["run", str(manifest(tmp_path, [{"name": "tensorboard",
                                                                       "options": {"evry": 2}}]))])
    assert result.exit_code == 2
    assert "execution.loggers.0.options.evry" in result.output
    result = CliRunner().invoke(main, ["run", str(manifest(tmp_path, [{"name": "wandb"}]))])
    assert result.exit_code == 2 and "unknown logger 'wandb'" in result.output and "tensorboard" in result.output


def test_without_tensorboard_the_logger_says_which_extra_to_install(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    result = CliRunner().invoke(main, ["run", str(manifest(tmp_path, [{"name": "tensorboard"}]))])
    assert result.exit_code == 2
    assert "benchbridge[tensorboard]" in result.output and "execution.loggers.0.name" in result.output
