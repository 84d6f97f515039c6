"""Tiny grids that train in seconds: shared by the end-to-end, executor, DDP and checkpoint tests."""

from pathlib import Path

import yaml
from click.testing import CliRunner

from benchbridge.cli import main


def tiny_manifest(tmp_path: Path, out: str = "out") -> Path:
    data = {
        "name": "tiny",
        "output_dir": str(tmp_path / out),
        "dataset": {"name": "synthetic", "options": {"classes": 6, "image_size": 16, "train_per_class": 24,
                                                     "val_per_class": 8, "root": str(tmp_path / "data")}},
        "model": {"name": "alexnet", "options": {"input_size": 16, "width": 0.125, "fc_width": 32,
                                                 "init": "kaiming", "preprocess": "standard"}},
        "splits": [{"name": "random", "options": {"seed": 1}},
                   {"name": "natural_manmade", "conditions": ["AnB"]}],
        "conditions": ["BnB", "BnB+", "AnB", "AnB+", "random_frozen"],
        "layers": [1, 3, 7],
        "training": {"lr": 0.02, "batch_size": 16, "epochs": 2},
        # networks this small often do not learn (health no_learning): train their dependants anyway
        "execution": {"device": "cpu", "threads": 1, "save_weights": "all", "on_unhealthy": "train"},
    }
    path = tmp_path / f"{out}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_cli(*args: str):
    """Invoke `benchbridge ARGS...` in-process and require exit status 0."""
    result = CliRunner().invoke(main, list(args))
    if args[0] == "run":
        assert_ran(result)
    else:
        assert result.exit_code == 0, result.output
    return result


def assert_ran(result) -> None:
    """`benchbridge run` finished: exit 0, or 3 when some tiny network did not learn (it says so)."""
    assert result.exit_code in (0, 3), result.output
    if result.exit_code == 3:
        assert "unhealthy" in result.output, result.output
