"""Executors: one run per (fake) device in parallel, and submitit's local executor; bases before transfer runs."""

import pytest
import yaml
from click.testing import CliRunner

from benchbridge import store
from benchbridge.cli import main

from grids import assert_ran, tiny_manifest

pytestmark = pytest.mark.slow
TIMINGS = {"wall_time_s", "data_s", "compute_s", "eval_s", "images_per_s", "device_hours", "peak_memory_bytes"}


def three_runs(tmp, out, executor=None):
    path = tiny_manifest(tmp, out)
    data = yaml.safe_load(path.read_text())
    data["splits"] = [{"name": "random", "options": {"seed": 1}}]
    data.update(conditions=["AnB"], layers=[1])
    if executor:
        data["execution"]["executor"] = executor
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_grid(path):
    result = CliRunner().invoke(main, ["run", str(path)])
    assert_ran(result)
    out = path.parent / path.stem
    metrics = {}
    for run in (out / store.RUNS_DIR).iterdir():
        m = store.read_json(run / store.METRICS_FILE)
        metrics[run.name] = {k: v for k, v in m.items() if k not in TIMINGS}
    return out, metrics


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("executors")
    return tmp, run_grid(three_runs(tmp, "ref"))[1]


def assert_sources_finished_first(out):
    plan = store.read_json(out / store.PLAN_FILE)
    for run in plan:
        started = (store.run_dir(out, run["id"]) / store.RUN_FILE).stat().st_mtime_ns
        for dep in run["depends_on"]:
            assert (store.run_dir(out, dep) / store.METRICS_FILE).stat().st_mtime_ns <= started
    assert any(run["depends_on"] for run in plan)


def test_local_executor_runs_one_run_per_device_in_parallel(reference):
    tmp, ref = reference
    executor = {"name": "local", "options": {"devices": [0, 1]}}  # fake devices: CPU worker processes
    out, metrics = run_grid(three_runs(tmp, "parallel", executor))
    assert metrics == ref  # same results as one run after another in this process
    assert_sources_finished_first(out)
    assert all((store.run_dir(out, r) / "worker.log").is_file() for r in metrics)


def test_submitit_local_executor_runs_bases_then_transfers(reference):
    tmp, ref = reference
    executor = {"name": "submitit", "options": {"cluster": "local", "gpus_per_run": 0, "cpus_per_task": 1,
                                                "time": 10}}
    out, metrics = run_grid(three_runs(tmp, "submitit", executor))
    assert metrics == ref
    assert_sources_finished_first(out)
    assert list((out / "submitit").glob("*_log.out"))  # submitit's own logs


def test_unknown_executor_option_is_a_user_error(tmp_path):
    path = three_runs(tmp_path, "bad", {"name": "submitit", "options": {"partiton": "gpu"}})
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 2 and "partiton" in result.output
