"""`benchbridge analyze` on a tiny trained grid: the weights it needs are kept, its output, and the report section."""

import json
import shutil
from pathlib import Path

import numpy as np

import pytest
import torch
from click.testing import CliRunner
from pydantic import BaseModel, ConfigDict

from benchbridge import plugins, registry
from benchbridge.results import store
from benchbridge.analyze import ANALYSIS_DIR, ANALYSIS_FILE, weights
from benchbridge.cli import main
from benchbridge.execute.job import finetuned_runs
from benchbridge.api import hookimpl  # a third-party analysis plugin uses the public api
from benchbridge.plan import Run
from grids import run_cli, tiny_manifest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("analyze")
    manifest = tiny_manifest(tmp)
    run_cli("run", str(manifest), "execution.save_weights=sources")
    out = tmp / "out"
    result = run_cli("analyze", str(out), "--json", "--images-per-class", "12")
    return out, json.loads(result.stdout)


def _plan(out):
    return [Run.from_dict(r) for r in store.read_json(out / store.PLAN_FILE)]


def test_only_the_t_metric_network_keeps_its_initialisation(analysed):
    out, _ = analysed
    plan = _plan(out)
    chosen = finetuned_runs(plan)
    assert list(chosen) == [("random-s1", 0)]  # the dissimilar split has no AnB+ or BnB+
    run = chosen["random-s1", 0]
    assert run.condition == "AnB+" and run.n == 7
    with_init = {r.id for r in plan if (store.run_dir(out, r.id) / store.INIT_FILE).is_file()}
    # the T-metric network, and every base network (a source keeps the initialisation it started from: Chen's θ_r)
    assert with_init == {r.id for r in plan if r.condition in ("baseA", "baseB")} | {run.id}
    with_weights = {r.id for r in plan if (store.run_dir(out, r.id) / store.WEIGHTS_FILE).is_file()}
    assert with_weights == {r.id for r in plan if r.condition in ("baseA", "baseB")} | {run.id}
    init = torch.load(store.run_dir(out, run.id) / store.INIT_FILE, weights_only=True)
    final = torch.load(store.run_dir(out, run.id) / store.WEIGHTS_FILE, weights_only=True)
    source = torch.load(store.run_dir(out, run.source) / store.WEIGHTS_FILE, weights_only=True)
    key = "blocks.0.0.weight"
    assert not torch.equal(init[key], source[key])  # the random init, not the copied weights
    assert not torch.equal(final[key], source[key])  # AnB+ fine-tuned block 1


def test_analyze_measures_every_cut_point_of_every_split(analysed):
    out, data = analysed
    assert [(g["split"], g["seed"]) for g in data["groups"]] == [("random-s1", 0), ("manmade->natural", 0)]
    cuts = [str(n) for n in range(1, len(data["cut_points"]) + 1)]
    for g in data["groups"]:
        assert g["train_images"] == 12 * 3 and g["val_images"] == 8 * 3
        for name in ("probe_A", "probe_B", "probe_random", "cka_AB", "logme_A", "h_score_A"):
            assert list(g["series"][name]) == cuts, name
        assert list(g["series"]["leep_A"]) == list(g["series"]["nce_A"]) == [cuts[-1]]
        assert all(v is None or 0 <= v <= 1 for v in g["series"]["probe_A"].values())
        assert list(g["measured"]["AnB/baseB"]) == ["1", "3", "7"]  # the grid's layers
        assert g["baseline"]["-n"] == {n: -float(n) for n in cuts}  # the depth baseline beside every series
        for name, reasons in g["nulls"].items():  # every null has its reason
            assert set(reasons) == {n for n, v in g["series"][name].items() if v is None}
    random, dissimilar = data["groups"]
    assert list(random["series"]["t_metric"]) == cuts
    assert all(v is None or v > 0 for v in random["series"]["t_metric"].values())
    assert "t_metric" not in dissimilar["series"]
    t = random["t_metric_network"]
    assert t["condition"] == "AnB+" and t["theta_r"] == weights.FROM_FILE  # base networks keep their init.pt
    assert t["init_origin"] == "trained"
    assert "Conv and Linear" in t["weights_compared"]


def test_every_question_is_answered_with_its_test_and_too_few_groups_give_no_verdict(analysed):
    _, data = analysed
    assert list(data["questions"]) == ["depth_order", "across_groups", "best_finetune_n", "top_layer_fall",
                                       "source_choice", "target_gain"]
    questions = dict(data["questions"])
    for name in ("source_choice", "target_gain"):  # a split grid: each split's own source and target
        q = questions.pop(name)
        assert q["applies"] is False and "this grid has at most 1" in q["needs"], name
    for name, q in questions.items():
        assert q["test"] and q["baseline"] and q["target"], name
        for row in q["measurements"]:
            assert row["beats_baseline"] is None, (name, row["measurement"])  # two groups: never a verdict
            assert "not enough groups" in row["reason"] or "not enough splits" in row["reason"]
    depth = {r["measurement"]: r for r in data["questions"]["depth_order"]["measurements"]}
    cell = depth["probe_A"]["per_group"][0]
    assert cell["points"] == [1, 3, 7] and set(cell) >= {"rho", "baseline_rho", "difference"}
    assert all(c["rho"] is None for c in depth["leep_A"]["per_group"])  # one point per group: no rho


def test_costs_count_each_run_once_and_name_what_each_measurement_needs(analysed):
    out, data = analysed
    cost = data["cost"]
    plan = {r.id: r for r in _plan(out)}
    bases = [rid for rid, r in plan.items() if r.condition in ("baseA", "baseB")]
    assert cost["train_runs"]["baseA"] + cost["train_runs"]["baseB"] == len(bases)  # shared bases counted once
    rows = {r["measurement"]: r for r in cost["per_measurement"]}
    assert rows["probe_A"]["needs"] == ["A"] and rows["probe_random"]["needs_runs"] == 0
    assert rows["t_metric"]["needs"] == ["A", "finetuned"]
    anb = rows["probe_A"]["replaces"]["AnB/baseB"]
    assert anb["replaced_runs"] == anb["grid_runs"] - cost["train_runs"]["baseA"]
    assert rows["probe_A"]["total_s"] == pytest.approx(rows["probe_A"]["needs_train_s"] + rows["probe_A"]["own_s"])


def test_output_is_written_beside_the_results(analysed):
    out, data = analysed
    saved = store.read_json(out / ANALYSIS_DIR / ANALYSIS_FILE)
    assert saved["questions"] == data["questions"]
    assert len(saved["load_average"]["before"]) == 3
    assert (out / ANALYSIS_DIR / "analysis.png").stat().st_size > 1000


def test_a_proxy_grid_is_scored_on_every_question_with_its_cost(analysed, tmp_path):
    out, _ = analysed
    result = run_cli("analyze", str(out), "--json", "--images-per-class", "4", "--proxy", str(out), "--out",
                     str(tmp_path / "p"))
    data = json.loads(result.stdout)
    for q in data["questions"].values():
        assert q["measurements"][-1]["measurement"] == "proxy grid"
    depth = data["questions"]["depth_order"]["measurements"][-1]
    for cell in depth["per_group"]:  # the grid as its own proxy ranks its cut points perfectly
        assert cell["rho"] is None or cell["rho"] == pytest.approx(1.0)
    proxy_cost = data["cost"]["per_measurement"][-1]
    assert proxy_cost["measurement"] == "proxy grid" and proxy_cost["needs_runs"] == data["proxy"]["runs"]


def unfinished_copy(out: Path, folder: Path) -> Path:
    """A results folder with the grid's manifest and plan and no finished run."""
    folder.mkdir()
    for name in (store.MANIFEST_FILE, store.PLAN_FILE):
        shutil.copy(out / name, folder / name)
    return folder


def test_a_proxy_without_this_grids_groups_is_a_user_error(analysed, tmp_path):
    out, _ = analysed
    empty = unfinished_copy(out, tmp_path / "empty")
    result = CliRunner().invoke(main, ["analyze", str(out), "--proxy", str(empty), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "proxy grid has none" in result.stderr


def test_report_shows_the_analysis_section(analysed):
    out, data = analysed
    result = run_cli("report", str(out), "--json")
    assert json.loads(result.stdout)["grids"][0]["analysis"]["questions"] == data["questions"]
    md = (out / "report" / "report.md").read_text()
    assert "### Per-layer analytics" in md
    assert "../analysis/analysis.png" in md
    assert "| probe_A |" in md
    html = (out / "report" / "report.html").read_text()
    assert "Per-layer analytics" in html and html.count("data:image/png;base64") >= 2


def test_report_without_analysis_has_no_section(analysed, tmp_path):
    out, _ = analysed
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("analysis", "report", "*.pt"))
    run_cli("report", str(copy))
    assert "Per-layer analytics" not in (copy / "report" / "report.md").read_text()


def test_analyze_without_finished_bases_is_a_user_error(analysed, tmp_path):
    out, _ = analysed
    result = CliRunner().invoke(main, ["analyze", str(unfinished_copy(out, tmp_path / "empty"))])
    assert result.exit_code == 2
    assert "base networks" in result.stderr


class _Depth:
    """A third-party analysis: the cut point's index, which ranks the cut points by depth."""

    name = "depth"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def measure(self, ctx, options):
        return {"depth": {n: -float(n) for n in range(1, len(ctx.cut_points) + 1)}, "nan": {1: float("nan")}}


class _Broken:
    """A third-party analysis whose numbers are undefined here: it must not stop the others."""

    name = "broken"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def measure(self, ctx, options):
        raise np.linalg.LinAlgError("singular matrix")


class _DepthPlugin:
    @staticmethod
    @hookimpl
    def register_analyses(register):
        register(_Broken())
        register(_Depth())


def test_a_third_party_analysis_is_measured_and_a_failing_one_stops_nothing(analysed, tmp_path):
    out, _ = analysed
    plugins.load_plugins()
    plugins.pm.register(_DepthPlugin(), name="depth_plugin")
    registry.clear_cache()
    try:
        result = run_cli("analyze", str(out), "--json", "--images-per-class", "4", "--out", str(tmp_path / "a"))
    finally:
        plugins.pm.unregister(name="depth_plugin")
        registry.clear_cache()
    data = json.loads(result.stdout)
    assert data["analyses"]["depth"] == "depth_plugin"
    g = data["groups"][0]
    assert g["failed"] == {"broken": "LinAlgError: singular matrix"}
    assert g["series"]["nan"] == {"1": None} and g["nulls"]["nan"] == {"1": "not finite (nan)"}
    assert "probe_A" in g["series"] and "depth" in g["series"]  # the analyses after the broken one still ran
    row = next(r for r in data["questions"]["depth_order"]["measurements"] if r["measurement"] == "depth")
    for cell in row["per_group"]:  # -n as a measurement ties the -n baseline in every group
        assert cell["rho"] == cell["baseline_rho"]
        assert cell["difference"] in (0.0, None)
    assert (tmp_path / "a" / ANALYSIS_FILE).is_file()


def test_text_output_names_each_question_its_test_and_theta_r(analysed, tmp_path):
    out, _ = analysed
    result = run_cli("analyze", str(out), "--images-per-class", "4", "--out", str(tmp_path / "t"))
    text = " ".join(result.stdout.split())  # rich wraps lines
    for key in ("depth_order", "across_groups", "best_finetune_n", "top_layer_fall", "sign test", "permutation"):
        assert key in text, key
    assert "theta_r: init.pt of the source run" in text
