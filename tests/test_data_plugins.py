"""The `synthetic` and `shards` dataset plugins."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from benchbridge.builtins import shards as shards_plugin
from benchbridge.builtins import synthetic as synthetic_plugin
from benchbridge.errors import UserError

SMALL = {"classes": 4, "image_size": 16, "train_per_class": 6, "val_per_class": 2}


def _registered(module) -> list:
    found: list = []
    module.register_datasets(register=found.append)
    return found


def test_plugins_register_named_described_objects() -> None:
    (syn,) = _registered(synthetic_plugin)
    (sh,) = _registered(shards_plugin)
    assert (syn.name, sh.name) == ("synthetic", "shards")
    assert syn.description and sh.description


def test_synthetic_prepares_once_then_reuses(tmp_path: Path) -> None:
    plugin = synthetic_plugin.SyntheticDataset()
    options = plugin.Options(root=tmp_path / "syn", **SMALL)
    source = plugin.open(options)
    assert source.num_classes == 4 and source.num_samples("train") == 24
    index = tmp_path / "syn" / "dataset.json"
    stamp = index.stat().st_mtime_ns
    plugin.open(options)
    assert index.stat().st_mtime_ns == stamp
    changed = plugin.open(plugin.Options(root=tmp_path / "syn", **{**SMALL, "val_per_class": 3}))
    assert changed.num_samples("val") == 12


def test_synthetic_default_root_is_under_cwd_data(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    plugin = synthetic_plugin.SyntheticDataset()
    a = plugin.open(plugin.Options(**SMALL))
    assert a.root.parent == Path("data") and a.root.name.startswith("synthetic-")
    assert synthetic_plugin.default_root(plugin.Options(**{**SMALL, "seed": 1})) != a.root


def test_synthetic_options_are_strict() -> None:
    with pytest.raises(ValidationError):
        synthetic_plugin.SyntheticOptions(clases=3)
    with pytest.raises(ValidationError):
        synthetic_plugin.SyntheticOptions(classes=1)


def test_shards_opens_prepared_data_and_explains_missing_data(tmp_path: Path) -> None:
    plugin = shards_plugin.ShardsDataset()
    with pytest.raises(UserError) as err:
        plugin.open(plugin.Options(path=tmp_path / "missing"))
    assert str(tmp_path / "missing") in str(err.value) and "benchbridge data prepare" in str(err.value)
    synthetic_plugin.SyntheticDataset().open(synthetic_plugin.SyntheticOptions(root=tmp_path / "d", **SMALL))
    source = plugin.open(plugin.Options(path=tmp_path / "d", name="mine"))
    assert source.name == "mine" and source.num_classes == 4
    with pytest.raises(ValidationError):
        plugin.Options()
