"""Conditions name a strategy with options, on split grids and on sources/targets grids alike, and label their runs
in tables by that name."""

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchbridge.cli import main
from benchbridge.errors import UserError
from benchbridge.manifest import load_manifest
from benchbridge.plan import make_plan

sys.path.insert(0, str(Path(__file__).parent))
from test_sources_targets import ROOT, cifar10_index, pair_manifest, write  # noqa: E402

SURGICAL = [{"name": f"surgical-{b}", "source": "A", "strategy": "surgical", "options": {"block": b}}
            for b in (3, 5)]


def by_condition(plan):
    found = {}
    for r in plan:
        found.setdefault(r.condition, []).append(r)
    return found


def test_a_split_grid_plans_a_strategy_with_options_under_the_condition_name(paper_manifest, write_manifest):
    paper_manifest["layers"] = [7]
    plain = make_plan(load_manifest(write_manifest(paper_manifest, "plain.yaml")))
    paper_manifest["conditions"] = [*paper_manifest["conditions"], *SURGICAL]
    runs = by_condition(make_plan(load_manifest(write_manifest(paper_manifest))))
    for block in (3, 5):
        [run] = [r for r in runs[f"surgical-{block}"] if r.pair == runs["AnB"][0].pair]
        assert (run.strategy, run.strategy_options, run.n) == ("surgical", {"block": block}, 7)
        assert run.source == runs["AnB"][0].source  # copies from the same source network as AnB
    assert runs["surgical-3"][0].id != runs["surgical-5"][0].id  # options enter the id
    assert {r.id for r in plain} <= {r.id for rs in runs.values() for r in rs}  # the paper's runs keep their ids


def test_a_split_may_list_its_own_strategy_conditions(paper_manifest, write_manifest):
    paper_manifest["splits"][0]["conditions"] = ["AnB", SURGICAL[0]]
    runs = by_condition(make_plan(load_manifest(write_manifest(paper_manifest))))
    assert "surgical-3" in runs and "surgical-5" not in runs


def test_a_sources_targets_grid_plans_them_for_every_pair(tmp_path):
    data = pair_manifest(tmp_path, conditions=["baseA", "baseB", "AnB+", *SURGICAL,
                                               {"name": "sp", "source": "A", "strategy": "l2sp",
                                                "options": {"alpha": 0.01}}])
    runs = by_condition(make_plan(load_manifest(write(tmp_path, data))))
    for name in ("surgical-3", "surgical-5", "sp"):
        assert {r.pair for r in runs[name]} == {"src->near", "src->far"}
    assert runs["sp"][0].strategy_options == {"alpha": 0.01, "beta": 0.01}
    assert {r.source for r in runs["surgical-3"]} == {r.source for r in runs["AnB+"]}


@pytest.mark.parametrize(("conditions", "key"), [
    ([SURGICAL[0], {**SURGICAL[1], "name": "surgical-3"}], "conditions.1.name"),
    (["AnB", {"name": "AnB", "source": "A", "strategy": "surgical", "options": {"block": 2}}], "conditions.1.name"),
    ([{"name": "baseB", "source": None, "strategy": "scratch"}], "conditions.0.name"),
])
def test_a_condition_name_labels_one_definition(conditions, key, tmp_path):
    with pytest.raises(UserError) as err:
        load_manifest(write(tmp_path, pair_manifest(tmp_path, conditions=conditions)))
    assert err.value.key == key


@pytest.mark.slow
def test_tables_label_the_runs_by_the_condition_name(tmp_path):
    data = pair_manifest(tmp_path, conditions=["baseA", "baseB", "AnB+", SURGICAL[0],
                                               {"name": "lp-ft", "source": "A", "strategy": "lp_ft"}], layers=[3])
    path = write(tmp_path, data)
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code in (0, 3), result.output  # 3: networks this small may not learn
    result = CliRunner().invoke(main, ["report", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "out" / "report" / "report.md").read_text()
    assert "| surgical-3 |" in text and "| lp-ft |" in text
    section = text.split("### Strategies relative to fine-tuning")[1]  # report.strategies, hooked into the report
    assert "| strategy | src->near | src->far |" in section and "| surgical-3 |" in section
    assert (tmp_path / "out" / "report" / "figures" / "strategies.png").is_file()


def test_the_strategies_study_plans_every_strategy_and_every_surgical_block(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for folder in ("cifar10", "cifar10-grey", "cifar10-16px"):
        cifar10_index(tmp_path / "data" / folder)
    m = load_manifest(ROOT / "manifests" / "strategies-small.yaml")
    plan = make_plan(m)
    strategies = {(r.strategy, r.strategy_options.get("block")) for r in plan}
    bundled = {"finetune", "linear_probe", "lp_ft", "l2sp", "layerwise_lr"}
    assert {s for s, _ in strategies} >= bundled
    cut_points = len(m.model[0].obj.cut_points(m.raw.model.name, m.model[1]))
    assert {b for s, b in strategies if s == "surgical"} == set(range(1, cut_points + 1))
    targets = {r.task for r in plan if r.condition == "AnB+"}
    assert len(targets) >= 4 and len(m.raw.seeds) >= 3
    per_target = by_condition([r for r in plan if r.task == "cifar-B"])
    assert all(len({r.seed for r in runs}) == 3 for c, runs in per_target.items() if c != "baseA")
