"""`benchbridge analyze` on a tiny trained grid: the weights it needs are kept, its output, and the report section."""

import json
import math
import shutil

import pytest
import torch
from click.testing import CliRunner
from pydantic import BaseModel, ConfigDict

from benchbridge import plugins, registry, store
from benchbridge.analyze import ANALYSIS_DIR, ANALYSIS_FILE, metrics
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
        assert all(0 <= v <= 1 for v in g["series"]["probe_A"].values())
        assert list(g["measured"]["AnB/baseB"]) == ["1", "3", "7"]  # the grid's layers
    random, dissimilar = data["groups"]
    assert list(random["series"]["t_metric"]) == cuts and all(v > 0 for v in random["series"]["t_metric"].values())
    assert "t_metric" not in dissimilar["series"]
    assert random["t_metric_network"]["condition"] == "AnB+"


def test_correlations_count_their_points(analysed):
    _, data = analysed
    rows = {r["series"]: r for r in data["correlations"]}
    assert [c["points"] for c in rows["probe_A"]["per_group"]] == [3, 3]
    assert rows["probe_A"]["pooled"]["points"] == 6
    assert -1 <= rows["probe_A"]["pooled"]["rho"] <= 1
    assert rows["leep_A"]["pooled"] == {"rho": None, "points": 2}  # two points give no rho
    assert rows["t_metric"]["pooled"]["points"] == 3


def test_output_is_written_beside_the_results(analysed):
    out, data = analysed
    saved = store.read_json(out / ANALYSIS_DIR / ANALYSIS_FILE)
    assert saved["correlations"] == data["correlations"]
    assert (out / ANALYSIS_DIR / "analysis.png").stat().st_size > 1000


def test_report_shows_the_analysis_section(analysed):
    out, data = analysed
    result = run_cli("report", str(out), "--json")
    assert json.loads(result.stdout)["grids"][0]["analysis"]["correlations"] == data["correlations"]
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
    empty = tmp_path / "empty"
    empty.mkdir()
    for name in (store.MANIFEST_FILE, store.PLAN_FILE):
        shutil.copy(out / name, empty / name)
    result = CliRunner().invoke(main, ["analyze", str(empty)])
    assert result.exit_code == 2
    assert "base networks" in result.stderr


class _Depth:
    """A third-party analysis: the cut point's index, which ranks the cut points by depth."""

    name = "depth"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def measure(self, ctx, options):
        return {"depth": {n: float(n) for n in range(1, len(ctx.cut_points) + 1)}}


class _DepthPlugin:
    @staticmethod
    @hookimpl
    def register_analyses(register):
        register(_Depth())


def test_a_third_party_analysis_is_measured_and_correlated(analysed, tmp_path):
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
    row = next(r for r in data["correlations"] if r["series"] == "depth")
    measured = data["groups"][0]["measured"]["AnB/baseB"]
    expected = metrics.spearman([float(n) for n in measured], list(measured.values()))
    if math.isnan(expected):  # a flat curve: no rank correlation, written as null (strict JSON)
        assert row["per_group"][0]["rho"] is None
    else:
        assert row["per_group"][0]["rho"] == pytest.approx(expected)
    assert (tmp_path / "a" / ANALYSIS_FILE).is_file()
