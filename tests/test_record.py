"""The run record: old result folders still read, newer or broken ones fail naming the schema version."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchbridge.results import store
from benchbridge.cli import main
from benchbridge.errors import UserError
from benchbridge.manifest import CONDITION_ORDER, condition_key
from benchbridge.results.record import COST, IDENTITY, OUTCOME, SCHEMA_VERSION, RunRecord, read_record
from benchbridge.report.grid import load_grid
from benchbridge.plan import Run
from benchbridge.results import load_results

FIXTURE = Path(__file__).parent / "fixtures" / "tiny_grid"


@pytest.fixture
def grid_copy(tmp_path):
    return Path(shutil.copytree(FIXTURE, tmp_path / "tiny_grid"))


def first_metrics(grid: Path) -> Path:
    return sorted(grid.glob("runs/*/metrics.json"))[0]


def test_version_1_folders_read_with_what_the_plan_knows():
    results = load_results(FIXTURE)
    assert len(results) == 56 and all(r.record is not None for r in results)
    for res in results:
        assert res.record.schema_version == SCHEMA_VERSION
        assert res.record.source == res.run.source  # filled from the plan
        assert res.record.run_id == res.run.id and res.record.top1 == json.loads(
            (store.run_dir(FIXTURE, res.run.id) / store.METRICS_FILE).read_text())["top1"]
    assert load_grid(FIXTURE).n_cuts == 7  # not recorded in version 1: the deepest n of the plan


def test_the_fixture_plan_and_records_use_the_names_of_before_issue_28():
    """What the two tests below migrate: the fixture is an old folder (plan.json with split/split_kind/target)."""
    entry = json.loads((FIXTURE / store.PLAN_FILE).read_text())[0]
    assert {"split", "target"} <= set(entry) and not {"pair", "role"} & set(entry)


def test_an_old_plan_reads_under_the_one_vocabulary(grid_copy):
    """Run fields renamed by issue 28 (split -> pair, target -> role, split_kind -> family, data_from -> task),
    `also` labels included, read from plan.json files written before."""
    old = json.loads((FIXTURE / store.PLAN_FILE).read_text())
    runs = {r.run.id: r.run for r in load_results(FIXTURE)}
    for entry in old:
        run = runs[entry["id"]]
        assert (run.pair, run.role, run.family) == (entry["split"], entry["target"], entry.get("split_kind", "other"))
        assert [(a["pair"], a["condition"]) for a in run.also] == [(a["split"], a["condition"]) for a in entry["also"]]
    shared = Run.from_dict({**old[0], "data_from": "cifar-B",
                            "also": [{"split": "natural->manmade", "condition": "baseA", "split_kind": "dissimilar"}]})
    assert shared.task == "cifar-B"
    assert shared.also == [{"pair": "natural->manmade", "condition": "baseA", "family": "dissimilar"}]


def test_a_version_2_record_reads_split_and_split_kind_as_pair_and_family(grid_copy):
    path = first_metrics(grid_copy)
    v2 = {**json.loads(path.read_text()), "schema_version": 2, "split": "random-s7", "split_kind": "random"}
    path.write_text(json.dumps(v2))
    record = read_record(path)
    assert (record.pair, record.family, record.schema_version) == ("random-s7", "random", SCHEMA_VERSION)
    assert "pair" in record.to_json() and "split" not in record.to_json()


def test_a_newer_schema_is_refused_naming_both_versions(grid_copy):
    path = first_metrics(grid_copy)
    path.write_text(json.dumps({**json.loads(path.read_text()), "schema_version": 99}))
    result = CliRunner().invoke(main, ["status", str(grid_copy)])
    assert result.exit_code == 0  # the other runs are still listed; this one is named as broken
    assert "broken" in result.output and "Upgrade benchbridge" in result.output
    assert "schema version 99" in result.output and f"versions 1 to {SCHEMA_VERSION}" in result.output
    assert str(path) in result.output.replace("\n", "")


@pytest.mark.parametrize("change, words", [({"top1": None}, "top1"), ({"surprise": 1}, "surprise")])
def test_a_broken_record_names_the_field_and_schema_version(grid_copy, change, words):
    path = first_metrics(grid_copy)
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    with pytest.raises(UserError, match=f"no schema_version, so it was read as version 1; this benchbridge writes "
                                        f"version {SCHEMA_VERSION}.*{words}"):
        read_record(path)


def test_a_record_round_trips_and_every_field_is_grouped():
    rec = load_results(FIXTURE)[0].record
    again = RunRecord.model_validate(json.loads(json.dumps(rec.to_json())))
    assert again == rec
    assert set(IDENTITY + OUTCOME + COST) | {"schema_version", "curve"} == set(RunRecord.model_fields)


def test_health_and_decoded_images_are_optional_and_typed():
    rec = load_results(FIXTURE)[0].record
    assert rec.health is None and rec.images_decoded is None
    ok = RunRecord.model_validate({**rec.to_json(), "health": "diverged", "health_reason": "loss is NaN",
                                   "images_decoded": 10})
    assert ok.health == "diverged"
    with pytest.raises(ValueError):
        RunRecord.model_validate({**rec.to_json(), "health": "fine"})


def test_one_condition_order_for_everything():
    shuffled = ["custom", "AnB+", "random_frozen", "baseB", "BnB", "AnB", "BnB+", "baseA", "another"]
    assert sorted(shuffled, key=condition_key) == [*CONDITION_ORDER, "another", "custom"]
    grid = load_grid(FIXTURE)
    for family in grid.families:
        conds = grid.conditions(family)
        assert conds == sorted(conds, key=condition_key) and len(conds) >= 2


def test_the_trainer_keeps_typed_curve_points_and_checkpoints_them_as_plain_data():
    """The loop records CurvePoint values (not dicts); a checkpoint holds plain data (torch.load with weights_only
    reads it) and gives typed points back; the health watch reads the typed point."""
    from benchbridge.execute.checkpoint import LoopState, TrainLog, TrainState
    from benchbridge.execute.watch import HealthWatch
    from benchbridge.results.record import CurvePoint

    point = CurvePoint(iteration=5, epoch=0, train_loss=2.0, lr=0.1, top1=0.9, top5=1.0, val_images=1000)
    state = TrainState({}, {}, LoopState(), TrainLog([point]), (0.0, 0), {})
    saved = state.to_dict()
    assert saved["curve"] == [point.model_dump()] and type(saved["curve"][0]) is dict
    assert TrainState.from_dict(saved).log.curve == [point]
    watch = HealthWatch(classes=10, total=10, abort_after=0.3, frozen=0)
    watch.losses = [2.0] * 5
    assert watch.abort(point, 5) is False and watch.verdict("budget", point)[0] == "ok"  # 0.9 on 1000: learned
