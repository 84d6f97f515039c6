"""A tiny grid through real shards: results, resume, determinism, and what each strategy did to the weights."""

import json
from pathlib import Path

import pytest
import torch
import yaml

from benchbridge.results import store
from benchbridge.execute.construct import seed_of
from benchbridge.manifest import load_manifest
from benchbridge.plan import Run
from grids import run_cli, tiny_manifest


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grid")
    manifest = tiny_manifest(tmp)
    result = run_cli("run", str(manifest), "--json")
    return tmp, manifest, json.loads(result.stdout)


def metrics_of(out: Path, run_id: str) -> dict:
    return store.read_json(store.run_dir(out, run_id) / store.METRICS_FILE)


def weights_of(out: Path, run_id: str) -> dict:
    return torch.load(store.run_dir(out, run_id) / store.WEIGHTS_FILE, weights_only=True)


def test_every_run_has_metrics_and_the_manifest_is_saved(grid):
    tmp, _, rows = grid
    out = tmp / "out"
    # random split: 2 bases + 5 conditions x 3 n; dissimilar split: 2 bases + AnB x 3 n
    assert len(rows) == 2 + 15 + 2 + 3
    for row in rows:
        m = row["metrics"]
        assert 0.0 <= m["top1"] <= m["top5"] <= 1.0
        assert m["images_seen"] > 0 and m["wall_time_s"] > 0
        assert len(metrics_of(out, row["id"])["curve"]) == 2  # one evaluation per epoch
    saved = yaml.safe_load((out / store.MANIFEST_FILE).read_text())
    assert saved["model"]["options"]["lrn"] is True  # defaults filled in: the resolved manifest
    assert json.loads((out / store.PLAN_FILE).read_text())[0]["id"] == rows[0]["id"]


def test_frozen_blocks_are_bit_identical_to_the_source(grid):
    tmp, _, rows = grid
    out = tmp / "out"
    for row in rows:
        if row["condition"] not in ("AnB", "BnB", "AnB+"):
            continue
        n, child, source = row["n"], weights_of(out, row["id"]), weights_of(out, row["source"])
        copied = [k for k in child if k.startswith(tuple(f"blocks.{i}." for i in range(n)))]
        identical = all(torch.equal(child[k], source[k]) for k in copied)
        assert identical == (row["condition"] != "AnB+"), (row["condition"], n)


def test_random_frozen_blocks_equal_their_initialisation(grid):
    tmp, manifest, rows = grid
    m = load_manifest(manifest)
    entry, opts = m.model
    for row in rows:
        if row["condition"] != "random_frozen":
            continue
        run = Run.from_dict({k: v for k, v in row.items() if k != "metrics"})
        torch.manual_seed(seed_of(run))
        init = entry.obj.create("alexnet", opts, len(run.train_classes)).state_dict()
        trained = weights_of(tmp / "out", run.id)
        frozen = [k for k in init if k.startswith(tuple(f"blocks.{i}." for i in range(run.n)))]
        assert frozen and all(torch.equal(init[k], trained[k]) for k in frozen)
        later = [k for k in init if k.startswith("head.")]
        assert not all(torch.equal(init[k], trained[k]) for k in later)


def test_resume_skips_finished_runs_and_reruns_deleted_ones(grid):
    tmp, manifest, rows = grid
    out = tmp / "out"
    victim = rows[-1]["id"]
    def stamp(run_id):
        return (store.run_dir(out, run_id) / store.METRICS_FILE).stat().st_mtime_ns

    before = {r["id"]: (metrics_of(out, r["id"]), stamp(r["id"])) for r in rows}
    (store.run_dir(out, victim) / store.METRICS_FILE).unlink()
    run_cli("run", str(manifest))
    assert metrics_of(out, victim)["top1"] == before[victim][0]["top1"]  # CPU: same manifest, same metrics
    for run_id, (metrics, mtime) in before.items():
        if run_id != victim:
            assert stamp(run_id) == mtime  # finished runs are not trained again
            assert metrics_of(out, run_id) == metrics


def test_same_manifest_same_metrics_in_a_fresh_directory(grid):
    tmp, _, rows = grid
    again = tiny_manifest(tmp, out="again")
    result = run_cli("run", str(again), "layers=[1]", "--json")
    fresh = {r["id"]: r["metrics"]["top1"] for r in json.loads(result.stdout)}
    old = {r["id"]: r["metrics"]["top1"] for r in rows}
    assert fresh and all(old[i] == v for i, v in fresh.items())


def test_report_and_status(grid):
    tmp, _, rows = grid
    out = str(tmp / "out")
    table = json.loads(run_cli("report", out, "--json").stdout)["grids"][0]["table"]
    assert {r["n"] for r in table if r["condition"] == "AnB" and r["family"] == "random"} == {1, 3, 7}
    states = json.loads(run_cli("status", out, "--json").stdout)
    assert len(states["done"]) == len(rows) and not states["missing"]
