"""A dataset plugin offers its own `benchbridge data prepare NAME`: listed, documented, validated and run."""

from __future__ import annotations

import importlib.util

import pytest
from click.testing import CliRunner

import prepare_plugin_example as example
from benchbridge import registry
from benchbridge.cli import main
from test_api_boundary import private_imports


@pytest.fixture
def with_example(register_plugin):
    register_plugin(example, "prepare_example")


def _run(*args):
    return CliRunner().invoke(main, ["data", "prepare", *[str(a) for a in args]])


def test_the_example_imports_only_the_api():
    assert private_imports(open(example.__file__).read()) == []


def test_prepare_without_a_name_lists_the_bundled_and_the_plugin_preparations(with_example):
    result = _run()
    assert result.exit_code == 0, result.output
    listed = {line.split("\t")[0]: line.split("\t")[1:] for line in result.stdout.splitlines()}
    plugin_packages = {"hf"} if importlib.util.find_spec("benchbridge_hf") else set()  # plugins/benchbridge-plugin-hf
    assert set(listed) == {"ex_colours", "imagefolder", "imagenet", "synthetic", "torchvision", "variant"} | \
        plugin_packages
    assert listed["ex_colours"] == ["prepare_example", "Flat colours, one per class."]


def test_the_plugin_preparation_runs_with_its_options_and_its_dataset_reads_the_result(with_example, tmp_path):
    help_text = _run("ex_colours", "--help").stdout
    assert "OUT" in help_text and "--per-class" in help_text and "images per colour and subset" in help_text
    result = _run("ex_colours", tmp_path / "out", "--classes", "4", "--per-class", "3")
    assert result.exit_code == 0, result.output
    assert "12/12" in result.stderr and "Prepared" in result.stderr  # progress reached every sample
    entry = registry.get("dataset", "ex_colours")
    source = entry.obj.open(registry.validate_options(entry, {"path": str(tmp_path / "out")}, key="dataset"))
    assert [c.name for c in source.classes] == ["colour0", "colour1", "colour2", "colour3"]
    assert source.num_samples("train") == 12 and source.index["splits"]["val"]["class_counts"] == [3, 3, 3, 3]


def test_options_out_of_range_are_usage_errors(with_example, tmp_path):
    result = _run("ex_colours", tmp_path / "out", "--classes", "1")
    assert result.exit_code == 2 and "--classes" in result.stderr and "greater than or equal to 2" in result.stderr
    assert not (tmp_path / "out").exists()
    assert _run("no_such_thing").exit_code == 2
    (tmp_path / "file").write_text("")
    result = _run("ex_colours", tmp_path / "file")
    assert result.exit_code == 2 and "output folder is a file" in result.stderr and "Traceback" not in result.output
