"""A plugin written against `benchbridge.api` alone provides a model, dataset, split, strategy, executor, reporter
and logger, and runs a tiny grid end to end (analyses: test_analyze_end_to_end; preparations:
test_data_prepare_plugin)."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

import api_example_plugin as example
from benchbridge.cli import main
from benchbridge.results import load_results
from test_api_boundary import private_imports


@pytest.fixture
def with_example(register_plugin):
    register_plugin(example, "api_example")


def manifest(tmp_path, **execution):
    data = {"name": "api-example", "output_dir": str(tmp_path / "out"),
            "dataset": {"name": "ex_generated", "options": {"root": str(tmp_path / "data")}},
            "model": {"name": "ex_tiny"}, "splits": [{"name": "ex_even_odd"}],
            "conditions": [{"name": "RF", "source": None, "strategy": "ex_random_frozen"}, "AnB"],
            "training": {"lr": 0.05, "batch_size": 8, "iterations": 3},
            "execution": {"device": "cpu", "threads": 1, "executor": {"name": "ex_backwards"},
                          "loggers": [{"name": "ex_memory"}], **execution}}
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_example_imports_only_the_api():
    assert private_imports(open(example.__file__).read()) == []


@pytest.mark.slow
def test_a_plugin_on_the_api_alone_runs_a_grid_and_reports_it(tmp_path, with_example):
    example.Backwards.seen.clear()
    example.MemoryLogger.events.clear()
    # the example networks stay at chance on 8 images: health says so (exit 3); train their dependants anyway
    result = CliRunner().invoke(main, ["run", str(manifest(tmp_path, on_unhealthy="train")), "--json"])
    assert result.exit_code in (0, 3), result.output
    rows = json.loads(result.stdout)
    assert {r["condition"] for r in rows} == {"baseA", "baseB", "RF", "AnB"} and len(rows) == 2 + 2 * 2
    assert sorted(i for i, _, _ in example.Backwards.seen) == sorted(r["id"] for r in rows)
    assert {(rank, world) for _, rank, world in example.Backwards.seen} == {(0, 1)}
    records = {r.run.id: r.record for r in load_results(tmp_path / "out")}
    assert {(r.condition, r.n, r.cut_point) for r in records.values() if r.n} == {
        ("RF", 1, "c1"), ("RF", 2, "c2"), ("AnB", 1, "c1"), ("AnB", 2, "c2")}
    assert {r.family for r in records.values()} == {"dissimilar"}  # what the example split declares
    logged = example.MemoryLogger.events  # the logger saw every run: manifest, 3 steps, evaluations, record
    for run_id, record in records.items():
        mine = [(event, payload) for i, event, payload in logged if i == run_id]
        assert mine[0] == ("manifest", "api-example") and mine[-1] == ("close", None)
        assert [p for e, p in mine if e == "step"] == [1, 2, 3]
        assert ("record", record.top1) in mine and ("evaluation", record.top1) in mine
    report = CliRunner().invoke(main, ["report", str(tmp_path / "out"), "--format", "ex_count"])
    assert report.exit_code == 0, report.output
    assert (tmp_path / "out" / "report" / "count.txt").read_text() == "api-example 6\n"


def test_an_executor_that_does_not_support_torchrun_is_refused(tmp_path, with_example):
    result = CliRunner().invoke(main, ["run", str(manifest(tmp_path)), "--nproc-per-node", "2"])
    assert result.exit_code == 2
    assert "executor 'ex_backwards'" in result.output and "nproc_per_node" in result.output
