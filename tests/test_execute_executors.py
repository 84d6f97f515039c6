"""Executors: CPU worker processes in parallel, and submitit's local executor; bases before transfer runs."""

import os
import shutil
import subprocess
import sys
import time

import pytest
import yaml
from click.testing import CliRunner

from benchbridge.results import store
from benchbridge.cli import main
from benchbridge.execute import Job
from benchbridge.builtins.local_executor.pool import cpu_pool

from grids import assert_ran, tiny_manifest

pytestmark = pytest.mark.slow
TIMINGS = {"wall_time_s", "data_s", "compute_s", "eval_s", "images_per_s", "device_hours", "peak_memory_bytes"}


def three_runs(tmp, out, executor=None, **execution):
    path = tiny_manifest(tmp, out)
    data = yaml.safe_load(path.read_text())
    data["splits"] = [{"name": "random", "options": {"seed": 1}}]
    data.update(conditions=["AnB"], layers=[1])
    if executor:
        data["execution"]["executor"] = executor
    data["execution"].update(execution)
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


def test_cpu_workers_train_in_parallel_with_the_same_results(reference):
    tmp, ref = reference
    out, metrics = run_grid(three_runs(tmp, "parallel", workers=2))
    assert metrics == ref  # bit-identical to one run after another in this process
    assert_sources_finished_first(out)


def test_a_run_failing_in_a_worker_process_writes_its_traceback_to_the_log(reference, tmp_path):
    tmp, _ = reference
    out = tmp_path / "copy"
    shutil.copytree(tmp / "ref", out)
    job = Job.load(out)
    transfer = next(r for r in job.plan if r.depends_on)
    for run_id in (transfer.id, *transfer.depends_on):  # the transfer run's source is no longer finished
        (store.run_dir(out, run_id) / store.METRICS_FILE).unlink()
    with cpu_pool(1, 1) as launch:
        assert launch(job, transfer, "cpu0") == 1
    log = (store.run_dir(out, transfer.id) / "worker.log").read_text()
    assert "Traceback" in log and "started before the runs it copies from" in log


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


SLEEPER = '''
import os, time

class Sleeper:  # a job whose one run never ends
    def __init__(self, path):
        self.path = path

    def run_one(self, run):
        with open(self.path, "w") as f:
            f.write(str(os.getpid()))
        time.sleep(600)
'''
PARENT = '''
from benchbridge.builtins.local_executor.pool import cpu_pool
from sleeper import Sleeper

if __name__ == "__main__":  # spawn re-imports this module in the worker
    with cpu_pool(1, 1) as launch:
        launch(Sleeper("pid"), None, "cpu")
'''


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads process states from /proc")
def test_a_killed_run_command_takes_its_worker_processes_with_it(tmp_path):
    # `kill` of `benchbridge run` (not of its process group) must not leave workers training, unseen, for hours
    (tmp_path / "sleeper.py").write_text(SLEEPER)
    (tmp_path / "parent.py").write_text(PARENT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    parent = subprocess.Popen([sys.executable, "parent.py"], cwd=tmp_path, env=env)
    try:
        deadline = time.monotonic() + 300
        while not (tmp_path / "pid").exists() or not (tmp_path / "pid").read_text():
            assert parent.poll() is None and time.monotonic() < deadline, "the worker never started its run"
            time.sleep(0.2)
        worker = int((tmp_path / "pid").read_text())
        assert _alive(worker)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 60
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(worker)
