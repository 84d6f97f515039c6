"""Checkpoints: a run killed mid-training (SIGKILL, SIGTERM) resumes and ends exactly as an uninterrupted one."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from benchbridge.results import store
from benchbridge.cli import main
from benchbridge.execute import execute_plan
from benchbridge.execute.checkpoint import CHECKPOINT_FILE, Preempted
from benchbridge.manifest import load_manifest
from benchbridge.plan import make_plan

from grids import assert_ran, tiny_manifest

pytestmark = pytest.mark.slow


def small_manifest(tmp: Path, out: str, **training) -> Path:
    """baseA, baseB and one AnB run; long enough (60 iterations each) to be killed mid-training."""
    path = tiny_manifest(tmp, out)
    data = yaml.safe_load(path.read_text())
    data["splits"] = [{"name": "random", "options": {"seed": 1}}]
    data.update(conditions=["AnB"], layers=[1])
    data["evaluation"] = {"every": 20, "best_k": 2}
    data["training"].update(epochs=None, iterations=60, checkpoint_every=3, **training)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def start(manifest: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "benchbridge", "run", str(manifest)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(out: Path, proc: subprocess.Popen, timeout: float = 120) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        found = list((out / store.RUNS_DIR).glob(f"*/{CHECKPOINT_FILE}"))
        if found:
            return found[0]
        time.sleep(0.01)
    raise AssertionError("no checkpoint appeared while the run was training")


def results(out: Path) -> dict[str, tuple[dict, dict]]:
    """Per run: metrics without timings and cost, and the saved weights."""
    # costs, not results: a resumed run may decode some images again
    timing = {"wall_time_s", "data_s", "compute_s", "eval_s", "images_per_s", "device_hours", "peak_memory_bytes",
              "images_decoded"}
    found = {}
    for run in (out / store.RUNS_DIR).iterdir():
        metrics = {k: v for k, v in store.read_json(run / store.METRICS_FILE).items() if k not in timing}
        found[run.name] = (metrics, torch.load(run / store.WEIGHTS_FILE, weights_only=True))
    return found


def assert_same_results(a: Path, b: Path) -> None:
    ra, rb = results(a), results(b)
    assert ra.keys() == rb.keys() and len(ra) == 3
    for run_id, (metrics, weights) in ra.items():
        assert metrics == rb[run_id][0], run_id  # exact: curve, top-1, top-5, losses, best-k
        assert all(torch.equal(w, rb[run_id][1][k]) for k, w in weights.items()), run_id
    assert not list(a.glob(f"runs/*/{CHECKPOINT_FILE}"))  # deleted once metrics.json is written


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ckpt")
    manifest = small_manifest(tmp, "ref")
    result = CliRunner().invoke(main, ["run", str(manifest)])
    assert_ran(result)
    return tmp, tmp / "ref"


def test_sigkill_resumes_to_the_same_result_and_a_second_run_is_refused(uninterrupted):
    tmp, ref = uninterrupted
    manifest = small_manifest(tmp, "killed")
    out = tmp / "killed"
    proc = start(manifest)
    ckpt = wait_for_checkpoint(out, proc)
    second = CliRunner().invoke(main, ["run", str(manifest)])  # while the first one trains
    assert second.exit_code == 2
    assert "another benchbridge run" in second.output and "output directory" in second.output
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ckpt.is_file() and not (ckpt.parent / store.METRICS_FILE).is_file()  # killed mid-run
    result = CliRunner().invoke(main, ["run", str(manifest)])  # the stale lock of the dead process is taken over
    assert_ran(result)
    assert_same_results(out, ref)


class SignalAt:
    """Events that send this process a signal when the first run reaches `at` iterations."""

    def __init__(self, at: int, signum: int) -> None:
        self.at, self.signum, self.sent = at, signum, False

    def started(self, run): ...
    def finished(self, run, metrics): ...

    def progress(self, run, done, total):
        if done == self.at and not self.sent:
            self.sent = True
            os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize("signum", [signal.SIGTERM])
def test_a_signal_saves_a_checkpoint_and_stops_then_the_run_resumes(uninterrupted, signum):
    tmp, ref = uninterrupted
    m = load_manifest(small_manifest(tmp, f"sig{signum}"))
    out = Path(m.raw.output_dir)
    with pytest.raises(Preempted):
        execute_plan(m, make_plan(m), SignalAt(10, signum))
    [ckpt] = out.glob(f"runs/*/{CHECKPOINT_FILE}")
    assert torch.load(ckpt, weights_only=False)["loop"]["it"] == 10  # saved at the step the signal arrived
    assert not (ckpt.parent / store.METRICS_FILE).is_file() and not (out / store.LOCK_FILE).exists()
    assert signal.getsignal(signum) == signal.SIG_DFL  # handlers are restored after training
    execute_plan(m, make_plan(m))
    assert_same_results(out, ref)
