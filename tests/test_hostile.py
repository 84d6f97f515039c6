"""Issue 21, tried as a hostile user would: networks that did not learn, unreadable result files, dead and raced
locks, errors in worker processes, deep and huge YAML, run ids, and the smaller things. Each test fails without
its fix."""

import copy
import csv
import io
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from benchbridge import plan
from benchbridge.results import store
from benchbridge.cli import _console, main
from benchbridge.cli.report import print_table
from benchbridge.errors import UserError
from benchbridge.execute import health
from benchbridge.execute import prepare_output, start_job
from benchbridge.builtins.local_executor.pool import run_parallel
from benchbridge.manifest import load_manifest, resolve
from benchbridge.manifest_file import MAX_MANIFEST_BYTES, MAX_NESTING
from benchbridge.plan import make_plan
from benchbridge.results.record import DAMAGED_SUFFIX, BrokenRecord, read_record
from grids import assert_ran, tiny_manifest

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "manifests" / "quickstart.yaml"


# --- 2. a network that did not learn can pass as ok -------------------------------------------------------------


def test_a_training_loss_stuck_above_ln_c_is_no_learning_even_when_top1_passes_on_a_draw():
    # the man-made -> natural baseA at lr 1e-9: top-1 0.138 on 500 images (p = 0.003 against 1/10), and a
    # training loss of 4.0-4.4, above ln 10 = 2.30
    losses = [4.0 + 0.4 * (i % 5) / 4 for i in range(79)]
    assert health.chance_p_value(0.138, 500, 10) < health.ALPHA
    why = health.no_learning(0.138, 500, 10, losses)
    assert why is not None and "above ln 10" in why
    # a healthy network's loss: below ln C at the end (even when it started far above it)
    assert health.no_learning(0.5, 500, 10, [4.0] * 20 + [1.9] * 59) is None


@pytest.mark.slow
def test_the_quickstart_at_lr_1e_9_is_no_learning_for_every_base_network_and_seed(tmp_path):
    """The issue's reproduction (lr 1e-9, one epoch, abort after 30%) on every base network of 3 seeds."""
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [
        "run", str(QUICKSTART), "training.lr=1e-9", "training.epochs=1", "training.abort_if_no_learning=0.3",
        "seeds=[0,1,2]", "layers=[1]", "conditions=[baseA,baseB]", "splits.1.conditions=[baseA,baseB]",
        f"output_dir={out}", f"dataset.options.root={tmp_path / 'data'}", "--json"])
    assert result.exit_code == 3, result.output
    runs = store.read_json(out / store.PLAN_FILE)
    assert sorted({(r["condition"], r["pair"], r["seed"]) for r in runs}) == sorted(
        (c, s, seed) for c in ("baseA", "baseB") for s in ("random-s0", "manmade->natural") for seed in (0, 1, 2))
    for r in runs:
        m = store.read_json(store.run_dir(out, r["id"]) / store.METRICS_FILE)
        assert m["health"] == "no_learning", (r["condition"], r["pair"], r["seed"], m["top1"], m["health_reason"])
        assert m["stop_reason"] == "no_learning"
        # caught by its loss, whatever the draw of its top-1 (the network passed the binomial test)
        assert "above ln 10" in m["health_reason"], m["health_reason"]


# --- 8. settings that do not define a network change its identity ------------------------------------------------


def test_the_keys_that_enter_a_run_id_are_listed_in_one_place():
    assert plan.id_keys() == [
        "dataset.name", "dataset.options.*", "model.name", "model.options.*",
        "data.augmentation", "data.decode", "data.pipeline", "data.skip_corrupt", "data.images_per_class",
        "training.optimizer", "training.lr", "training.momentum", "training.weight_decay", "training.batch_size",
        "training.epochs", "training.iterations", "training.schedule.name", "training.schedule.step_size",
        "training.schedule.gamma", "training.schedule.factor", "training.schedule.patience",
        "training.schedule.min_delta", "training.schedule.drops", "training.precision", "training.accumulation",
        "evaluation.every", "evaluation.best_k", "evaluation.holdout",
        "splits: the classes of the half the run trains on", "seeds", "conditions: strategy",
        "conditions: strategy options", "layers: n", "conditions: source run id"]


def _ids(data: dict) -> list[str]:
    return [r.id for r in plan.make_plan(resolve(data))]


def test_safety_nets_loggers_workers_threads_and_the_evaluation_batch_size_leave_run_ids_alone(paper_manifest):
    before = _ids(paper_manifest)
    changed = copy.deepcopy(paper_manifest)
    changed["training"] |= {"abort_if_no_learning": 0.3, "checkpoint_every": 10, "compile": True,
                            "cudnn_benchmark": True, "channels_last": True}
    changed["evaluation"] |= {"batch_size": 250}
    changed["execution"] |= {"threads": 3, "workers": 2, "num_workers": 1, "cache_data": True,
                             "on_unhealthy": "train", "save_weights": "all",
                             "loggers": [{"name": "tensorboard", "options": {"every": 5}}]}
    changed["name"], changed["output_dir"] = "another", "elsewhere"
    assert _ids(changed) == before
    changed["training"]["lr"] = 0.02  # a key that defines the network: every id changes
    assert not set(_ids(changed)) & set(before)


# The shipped manifests' ids are pinned in tests/test_sources_targets.py (test_existing_manifests_keep_their_run_ids):
# yosinski2014's did not move when the keys of plan.NOT_IN_ID were normalised to their defaults.


# --- 4. status says running for runs killed with kill -9; 7. the lock taken twice; 9. its mode --------------------


def _status(out: Path) -> dict:
    result = CliRunner().invoke(main, ["status", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.slow
def test_status_tells_a_running_grid_from_one_killed_with_kill_9(tmp_path):
    manifest = tiny_manifest(tmp_path)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "benchbridge", "run", str(manifest), "training.epochs=500"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob(f"{store.RUNS_DIR}/*/{store.RUN_FILE}")):
            assert proc.poll() is None and time.monotonic() < deadline, "the run did not start"
            time.sleep(0.2)
        started = list(out.glob(f"{store.RUNS_DIR}/*/{store.RUN_FILE}"))[0].parent.name
        assert stat.S_IMODE((out / store.LOCK_FILE).stat().st_mode) == 0o644
        assert store.lock_holder(out) == f"{socket.gethostname()} {proc.pid}"
        assert _status(out)["running"] == [started]
        with pytest.raises(UserError, match="another benchbridge run"):
            store.OutputLock(out).__enter__()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert (out / store.LOCK_FILE).exists()  # left behind by the killed process
    states = _status(out)
    assert states["running"] == [] and states["interrupted"] == [started]
    assert store.lock_holder(out) is None
    with store.OutputLock(out):  # the next run takes it over
        assert store.lock_holder(out) == f"{socket.gethostname()} {os.getpid()}"
    assert not (out / store.LOCK_FILE).exists()


def _contend(out: Path, barrier, results, trials: int) -> None:
    """In a child process: at each trial, try to take the lock at the same instant as the other child."""
    for _ in range(trials):
        barrier.wait()
        lock = store.OutputLock(out, tries=1)
        try:
            lock.__enter__()
            won = True
        except UserError:
            won = False
        results.put(won)
        barrier.wait()  # both have tried while the winner still holds it
        if won:
            lock.__exit__()
        barrier.wait()


def test_two_processes_racing_for_a_stale_lock_never_both_take_it(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = f"{socket.gethostname()} {int(dead.stdout)}\n"  # a lock file left by a process that is gone
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(3), context.Queue()
    trials = 100
    children = [context.Process(target=_contend, args=(tmp_path, barrier, results, trials)) for _ in range(2)]
    for child in children:
        child.start()
    winners = []
    try:
        for _ in range(trials):
            (tmp_path / store.LOCK_FILE).write_text(stale)
            barrier.wait(timeout=30)
            barrier.wait(timeout=30)
            winners.append(results.get(timeout=30) + results.get(timeout=30))
            barrier.wait(timeout=30)
    finally:
        for child in children:
            child.join(timeout=30)
            if child.is_alive():
                child.kill()
    assert winners == [1] * trials


# --- 3. one unreadable results file stops everything ------------------------------------------------------------

FIXTURE = ROOT / "tests" / "fixtures" / "tiny_grid"
HOSTILE_BYTES = [b"\xff\xfe\x00garbage", b"\x80" * 10, b"", b"{", b"[]", b"null", b"[" * 100_000, b"{\"a\": 1}",
                 b'{"schema_version": 99}', b'{"schema_version": "x"}', "{\"run_id\": \"é\"}".encode("latin-1")]


def _grid_copy(tmp_path: Path) -> Path:
    out = tmp_path / "grid"
    shutil.copytree(FIXTURE, out)
    return out


@pytest.mark.parametrize("data", HOSTILE_BYTES)
def test_reading_a_record_survives_any_bytes(tmp_path, data):
    path = tmp_path / store.METRICS_FILE
    path.write_bytes(data)
    with pytest.raises(BrokenRecord) as err:
        read_record(path)
    assert str(path) in str(err.value)


def test_a_damaged_record_is_named_and_the_other_runs_still_list_export_and_report(tmp_path):
    out = _grid_copy(tmp_path)
    runs = store.read_json(out / store.PLAN_FILE)
    bad = runs[0]["id"]
    (store.run_dir(out, bad) / store.METRICS_FILE).write_bytes(b"\x9c\xff disk error \x00")
    status = CliRunner().invoke(main, ["status", str(out)])
    assert status.exit_code == 0, status.output
    assert bad in status.output and str(store.run_dir(out, bad)) in status.output
    assert "not UTF-8" in status.output and "benchbridge run" in status.output
    assert _status(out)["broken"] == [bad] and len(_status(out)["done"]) == len(runs) - 1
    export = CliRunner().invoke(main, ["export", str(out)])
    assert export.exit_code == 0, export.output
    rows = list(csv.DictReader(io.StringIO(export.stdout)))
    assert len(rows) == len(runs) - 1 and bad not in {r["run_id"] for r in rows} and bad in export.stderr
    report = CliRunner().invoke(main, ["report", str(out), "--out", str(tmp_path / "rep"), "--json"])
    assert report.exit_code == 0, report.output
    cost = json.loads(report.stdout)["grids"][0]["cost"]
    assert cost["done"] == len(runs) - 1 and [b["id"] for b in cost["broken"]] == [bad]
    assert "unreadable record" in (tmp_path / "rep" / "report.md").read_text()


def _small_grid(tmp_path: Path, **training) -> Path:
    """One random split, AnB at n=1: baseA, baseB and AnB, tiny networks (seconds)."""
    path = tiny_manifest(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["splits"] = [{"name": "random", "options": {"seed": 1}}]
    data.update(conditions=["AnB"], layers=[1])
    data["training"].update(epochs=1, **training)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.slow
def test_a_damaged_record_is_set_aside_and_its_run_trained_again(tmp_path):
    manifest = _small_grid(tmp_path)
    out = tmp_path / "out"
    assert_ran(CliRunner().invoke(main, ["run", str(manifest)]))
    runs = store.read_json(out / store.PLAN_FILE)
    metrics = store.run_dir(out, runs[0]["id"]) / store.METRICS_FILE
    good = metrics.read_bytes()
    metrics.write_bytes(b"\xff" + good[1:])
    again = CliRunner().invoke(main, ["run", str(manifest)])
    assert_ran(again)
    assert runs[0]["id"] in again.stderr and "trains again" in again.stderr
    assert read_record(metrics).run_id == runs[0]["id"]  # trained again, the same network
    assert json.loads(metrics.read_bytes())["top1"] == json.loads(good)["top1"]
    assert (metrics.parent / (store.METRICS_FILE + DAMAGED_SUFFIX)).read_bytes()[:1] == b"\xff"


# --- 9. smaller things -------------------------------------------------------------------------------------------


def test_the_report_lists_blocked_runs_under_run_health_not_as_missing(tmp_path):
    out = _grid_copy(tmp_path)
    runs = store.read_json(out / store.PLAN_FILE)
    anb = next(r for r in runs if r["condition"] == "AnB")
    (store.run_dir(out, anb["id"]) / store.METRICS_FILE).unlink()
    store.write_json(store.run_dir(out, anb["id"]) / store.BLOCKED_FILE,
                     {"run_id": anb["id"], "blocked_by": anb["source"], "health": "diverged", "reason": "test"})
    assert _status(out)["missing"] == [] and _status(out)["blocked"] == [anb["id"]]
    report = CliRunner().invoke(main, ["report", str(out), "--out", str(tmp_path / "rep"), "--json"])
    assert report.exit_code == 0, report.output
    cost = json.loads(report.stdout)["grids"][0]["cost"]
    assert cost["missing"] == [] and [b["id"] for b in cost["blocked"]] == [anb["id"]]
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "Missing runs" not in md and "BLOCKED" in md


def test_the_closing_table_marks_an_unhealthy_network(tmp_path, capsys, monkeypatch):
    out = _grid_copy(tmp_path)
    monkeypatch.setattr(_console.out_console, "width", 300)
    print_table(out, "grid")
    assert "⚠" not in capsys.readouterr().out
    runs = store.read_json(out / store.PLAN_FILE)
    base = next(r for r in runs if r["condition"] == "baseB")
    path = store.run_dir(out, base["id"]) / store.METRICS_FILE
    store.write_json(path, {**store.read_json(path), "health": "diverged", "health_reason": "loss nan"})
    print_table(out, "grid")
    text = capsys.readouterr().out
    row = next(line for line in text.splitlines() if line.strip("│ ").startswith("baseB"))
    assert "⚠" in row and "diverged or did not learn" in text


# --- 6. deep or huge YAML ----------------------------------------------------------------------------------------


def _run_exit_2(path: Path, *overrides: str) -> str:
    result = CliRunner().invoke(main, ["plan", str(path), *overrides])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and str(path) in result.output
    return result.output


@pytest.mark.parametrize("deep", [
    "name: x\n" + "".join(f"{'  ' * i}k{i}:\n" for i in range(500)) + "  " * 500 + "v: 1\n",  # block mappings
    "name: " + "[" * 500 + "]" * 500 + "\n",  # flow lists
    "name: x\nsplits:\n" + "".join(f"{'  ' * i}- \n" for i in range(1, 500)) + "  " * 500 + "- 1\n"])
def test_a_deeply_nested_manifest_is_refused_before_it_is_built(tmp_path, deep):
    path = tmp_path / "deep.yaml"
    path.write_text(deep)
    assert f"nested more than {MAX_NESTING} deep" in _run_exit_2(path)


def test_a_deeply_nested_override_is_refused(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(QUICKSTART.read_text())
    assert "layers" in _run_exit_2(path, "layers=" + "[" * 500 + "]" * 500)


def test_a_huge_manifest_is_refused_without_being_read(tmp_path):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as fh:  # 200 MB of YAML list, as in the issue (sparse: nothing is written to disk)
        fh.write(b"name: x\nlayers:\n")
        fh.truncate(200 * 2**20)
    tick = time.perf_counter()
    assert f"larger than {MAX_MANIFEST_BYTES} bytes" in _run_exit_2(path)
    assert time.perf_counter() - tick < 5


def test_a_manifest_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes(QUICKSTART.read_bytes().replace(b"quickstart", b"quickst\xe4rt"))
    assert "not UTF-8" in _run_exit_2(path)


# --- 5. with CPU workers, a data error never reaches the terminal ------------------------------------------------


def _corrupt_first_training_image(manifest_path: Path) -> None:
    """Prepare the manifest's dataset, then replace the first JPEG of its first training shard with garbage."""
    m = resolve(yaml.safe_load(manifest_path.read_text()), str(manifest_path))
    source = m.dataset[0].obj.open(m.dataset[1])
    shard = Path(source.shards("train")[0])
    with tarfile.open(shard) as tar:
        members = [(info, tar.extractfile(info).read()) for info in tar.getmembers()]
    first = next(i for i, (info, _) in enumerate(members) if info.name.endswith(".jpg"))
    members[first] = (members[first][0], b"this is not a jpeg")
    with tarfile.open(shard, "w", format=tarfile.USTAR_FORMAT) as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.mark.slow
def test_a_user_error_in_a_worker_process_reaches_the_terminal_as_without_workers(tmp_path):
    path = _small_grid(tmp_path)
    _corrupt_first_training_image(path)
    said = {}
    for workers in (1, 2):
        result = CliRunner().invoke(main, ["run", str(path), f"execution.workers={workers}",
                                           f"output_dir={tmp_path / f'out{workers}'}"])
        assert result.exit_code == 2, result.output
        said[workers] = re.sub(r"0x[0-9a-f]+", "0x…", result.stderr[result.stderr.index("Error:"):])  # PIL's ids
    assert "corrupt sample" in said[1] and "train-000000.tar" in said[1].replace("\n", "")
    assert said[2] == said[1]
    # one worker process per device (execution.executor.options.devices), here on the CPU: the same sentence
    m = load_manifest(path, [f"output_dir={tmp_path / 'out-devices'}"])
    job = start_job(m, make_plan(m), prepare_output(m))
    with pytest.raises(UserError) as err:
        run_parallel(job, ["cpu-a", "cpu-b"])  # CUDA_VISIBLE_DEVICES names no GPU: the workers train on the CPU
    assert "Error: " + re.sub(r"0x[0-9a-f]+", "0x…", str(err.value)) == said[1].replace("\n", " ").strip()


def test_a_union_key_is_reported_in_the_users_words(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(QUICKSTART.read_text())
    said = _run_exit_2(path, "execution.workers=0")
    assert "key 'execution.workers': Input should be greater than 0 or 'auto'" in said
    assert "constrained-int" not in said and "literal[" not in said
    said = _run_exit_2(path, "conditions=[{name: x}]")
    assert "key 'conditions.0.source': Field required" in said and "Condition" not in said
    # a plugin option named like a type is still named (explicit splits' A and B)
    said = _run_exit_2(path, "splits.0={name: explicit, options: {A: x, B: [1]}}")
    assert "key 'splits.0.options.A'" in said


def test_a_missing_dataset_path_is_reported_after_the_manifests_name(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(QUICKSTART.read_text().replace("name: synthetic", "name: shards").replace(
        "options: {classes: 20, image_size: 32, train_per_class: 250, val_per_class: 50, seed: 0}",
        f"options: {{path: {tmp_path / 'nowhere'}}}"))
    said = _run_exit_2(path).replace("\n", "")
    assert said.index(str(path)) < said.index("dataset.options") < said.index(str(tmp_path / "nowhere"))


def test_the_lock_file_is_mode_0644_and_names_its_holder(tmp_path):
    old = os.umask(0)  # whatever the umask allows, the lock is not executable nor writable by others
    try:
        with store.OutputLock(tmp_path):
            assert stat.S_IMODE((tmp_path / store.LOCK_FILE).stat().st_mode) == store.LOCK_MODE == 0o644
            assert store.lock_holder(tmp_path) == f"{socket.gethostname()} {os.getpid()}"
    finally:
        os.umask(old)
    assert store.lock_holder(tmp_path) is None and not (tmp_path / store.LOCK_FILE).exists()
