"""Plans are pure data: deterministic ids, base networks before the runs that copy from them."""

import json

from click.testing import CliRunner

from benchbridge.cli import main
from benchbridge.manifest import load_manifest, resolve
from benchbridge.plan import _common, make_plan

REQUIRED_KEYS = {"id", "condition", "n", "pair", "role", "family", "task", "seed", "depends_on", "classes"}


def plan_json(path, *overrides):
    result = CliRunner().invoke(main, ["plan", str(path), "--json", *overrides])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_plan_json_has_the_documented_keys_and_is_deterministic(write_manifest, paper_manifest):
    path = write_manifest(paper_manifest)
    first, second = plan_json(path), plan_json(path)
    assert first == second
    assert all(REQUIRED_KEYS <= set(run) for run in first)
    assert set(first[0]["classes"]) == {"A", "B"}


def test_paper_grid_size_and_shared_base_networks(paper_manifest):
    plan = make_plan(resolve(paper_manifest))
    ids = [r.id for r in plan]
    assert len(ids) == len(set(ids))
    by_condition = {}
    for r in plan:
        by_condition.setdefault(r.condition, []).append(r)
    # 4 random splits x (BnB, BnB+, AnB, AnB+) x 7 + 2 x 7 dissimilar AnB + 7 random_frozen
    assert len(by_condition["AnB"]) == 4 * 7 + 2 * 7
    assert len(by_condition["random_frozen"]) == 7
    # baseA/baseB: 4 random splits x 2, plus the natural and man-made bases, shared by both directions
    bases = [r for r in plan if r.n == 0]
    assert len(bases) == 10
    natural_base = next(r for r in bases if r.pair == "manmade->natural" and r.condition == "baseB")
    assert {"pair": "natural->manmade", "condition": "baseA", "family": "dissimilar"} in natural_base.also
    assert len(plan) == 143


def test_dependencies_come_first_and_point_at_the_right_base(paper_manifest):
    plan = make_plan(resolve(paper_manifest))
    position = {r.id: i for i, r in enumerate(plan)}
    runs = {r.id: r for r in plan}
    for r in plan:
        for dep in r.depends_on:
            assert position[dep] < position[r.id]
        if r.condition in ("AnB", "AnB+"):
            assert runs[r.source].train_classes == r.classes["A"]
        if r.condition in ("BnB", "BnB+"):
            assert runs[r.source].train_classes == r.classes["B"]
        if r.condition == "random_frozen":
            assert r.depends_on == []


def test_ids_depend_on_what_defines_a_network(paper_manifest, write_manifest):
    path = write_manifest(paper_manifest)
    base = {r["id"] for r in plan_json(path)}
    assert {r["id"] for r in plan_json(path, "training.lr=0.02")}.isdisjoint(base)
    # the output directory does not define a network
    assert {r["id"] for r in plan_json(path, "output_dir=elsewhere")} == base


def test_random_split_classes_in_plan_match_the_paper(paper_manifest):
    plan = make_plan(resolve(paper_manifest))
    split0 = next(r for r in plan if r.pair == "random-s0")
    assert split0.classes["A"][:5] == [0, 1, 2, 5, 9]
    assert len(split0.classes["A"]) == len(split0.classes["B"]) == 500


def test_overrides_apply_before_validation(tmp_path, paper_manifest, write_manifest):
    path = write_manifest(paper_manifest)
    m = load_manifest(path, ["layers=[1, 2]", "splits.0.options.seed=3", "training.batch_size=128"])
    assert m.raw.layers == [1, 2] and m.raw.training.batch_size == 128
    assert m.to_dict()["splits"][0]["options"]["seed"] == 3


def test_each_run_records_the_kind_its_split_plugin_declared(paper_manifest):
    paper_manifest["splits"] = [
        {"name": "explicit", "options": {"A": list(range(10)), "B": list(range(10, 20)), "kind": "random"}},
        {"name": "explicit", "options": {"A": [30, 31], "B": [40, 41], "label": "x->y"}, "conditions": ["AnB"]},
        {"name": "natural_manmade", "conditions": ["AnB"]}]
    plan = make_plan(resolve(paper_manifest))
    kinds = {r.pair: r.family for r in plan}
    assert kinds == {"explicit": "random", "x->y": "other", "manmade->natural": "dissimilar"}
    # the kind is not part of a network's identity: the same classes, the same id
    paper_manifest["splits"][0]["options"]["kind"] = "other"
    assert [r.id for r in make_plan(resolve(paper_manifest))] == [r.id for r in plan]


def test_options_added_later_leave_existing_run_ids_alone(paper_manifest):
    # a run's id hashes this definition: keys added later must be absent while unset, or every id would change
    common = _common(resolve(paper_manifest))
    assert "holdout" not in common["evaluation"] and "abort_if_no_learning" not in common["training"]
    assert not {"factor", "patience", "min_delta", "drops"} & set(common["training"]["schedule"])
    assert not {"small_kernels", "head_init"} & set(common["model"]["options"])
    before = {r.id for r in make_plan(resolve(paper_manifest))}
    paper_manifest["evaluation"] = {**paper_manifest.get("evaluation", {}), "holdout": 0.1}
    assert not {r.id for r in make_plan(resolve(paper_manifest))} & before  # set: another network


def test_a_base_network_listed_as_a_condition_is_trained_even_when_nothing_copies_from_it(paper_manifest):
    paper_manifest["splits"] = [{"name": "random", "options": {"seed": 0}}]
    paper_manifest["conditions"] = ["baseA", "baseB"]
    assert sorted(r.condition for r in make_plan(resolve(paper_manifest))) == ["baseA", "baseB"]
    paper_manifest["conditions"] = ["BnB"]  # baseB is trained for BnB; baseA is neither listed nor needed
    assert {r.condition for r in make_plan(resolve(paper_manifest)) if r.n == 0} == {"baseB"}


def test_small_network_defaults_are_part_of_its_run_id(paper_manifest):
    # a default that changes the network must change the id, or an old results folder would be reused
    paper_manifest["model"] = {"name": "alexnet", "options": {"input_size": 28, "width": 0.125}}
    default_ids = [r.id for r in make_plan(resolve(paper_manifest))]
    assert {"small_kernels": 3, "head_init": "pytorch"}.items() <= _common(resolve(paper_manifest))["model"][
        "options"].items()
    paper_manifest["model"]["options"] |= {"small_kernels": 5, "head_init": "kaiming"}
    assert not set(default_ids) & {r.id for r in make_plan(resolve(paper_manifest))}


def test_a_split_planned_in_both_directions_reuses_its_base_networks_with_roles_swapped(paper_manifest):
    """`directions: [A->B, B->A]`: the reverse pair's source is half B, its target half A (the paper's BnA)."""
    paper_manifest["splits"] = [{"name": "random", "options": {"seed": 0}, "directions": ["A->B", "B->A"]}]
    paper_manifest["conditions"] = ["baseA", "baseB", "AnB", "BnB+"]
    forward_only = {**paper_manifest, "splits": [{"name": "random", "options": {"seed": 0}}]}
    plan = make_plan(resolve(paper_manifest))
    one_way = make_plan(resolve(forward_only))
    label = one_way[0].pair
    forward = {(r.condition, r.n): r for r in plan if r.pair == label}
    reverse = {(r.condition, r.n): r for r in plan if r.pair == f"{label} reversed"}
    assert {k: r.id for k, r in forward.items()} == {(r.condition, r.n): r.id for r in one_way}  # A->B unchanged
    # the base networks are shared: the reverse's baseA is the forward's baseB and the other way round
    bases = [r for r in plan if r.n == 0]
    assert len(bases) == 2
    assert {"pair": f"{label} reversed", "condition": "baseA", "family": "random"} in forward["baseB", 0].also
    assert {"pair": f"{label} reversed", "condition": "baseB", "family": "random"} in forward["baseA", 0].also
    for n in range(1, 8):  # BnA: trained on half A's classes, its first n blocks from half B's base network
        bna = reverse["AnB", n]
        assert bna.train_classes == forward["baseA", 0].train_classes
        assert bna.source == forward["baseB", 0].id
        assert reverse["BnB+", n].source == forward["baseA", 0].id
    assert len(plan) == 2 + 2 * 2 * 7


def test_a_split_direction_other_than_the_two_is_refused(write_manifest, paper_manifest):
    paper_manifest["splits"] = [{"name": "random", "options": {"seed": 0}, "directions": ["B->C"]}]
    result = CliRunner().invoke(main, ["validate", str(write_manifest(paper_manifest))])
    assert result.exit_code == 2
    assert "splits.0.directions.0" in result.stderr
