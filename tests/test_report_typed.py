"""Report rows stay typed until a renderer writes them: every section of a grid's report holds frozen dataclasses
(`build_report` to the Markdown and HTML writers), and each section's `to_dict` is what `report --json` prints."""

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from benchbridge.analyze import ANALYSIS_DIR, ANALYSIS_FILE, FORMAT_VERSION
from benchbridge.atomic import strict
from benchbridge.cli import main
from benchbridge.report import build_report
from benchbridge.report.document import Table, blocks
from benchbridge.results import store

sys.path.insert(0, str(Path(__file__).parent))
from test_sources_targets import fake_results, pair_manifest, write  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "tiny_grid"
SECTIONS = {"table": "table", "table1": "table1", "gap": "transfer_gap", "cost": "cost", "convergence": "convergence",
            "findings": "findings", "health": "health", "analysis": "analysis", "pairs": "pairs",
            "strategies": "strategies"}
"""GridReport attribute -> its key in the JSON report."""


def frozen(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type) and value.__dataclass_params__.frozen


def loose_rows(value: Any, path: str) -> list[str]:
    """Where, under a section, a row is a plain dict (a dict in a list) or a dataclass is not frozen."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        own = [] if frozen(value) else [f"{path}: {type(value).__name__} is not frozen"]
        return own + [p for f in dataclasses.fields(value) if f.name != "written"  # analysis.json as written
                      for p in loose_rows(getattr(value, f.name), f"{path}.{f.name}")]
    if isinstance(value, (list, tuple)):
        found = []
        for i, v in enumerate(value):
            found += [f"{path}[{i}] is a dict"] if isinstance(v, dict) else loose_rows(v, f"{path}[{i}]")
        return found
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in loose_rows(v, f"{path}[{k!r}]")]
    return []


def as_json(value: Any) -> Any:
    return json.loads(json.dumps(strict(value)))  # no default: a dataclass left in a to_dict raises


def analysis_json(pairs: list[tuple[str, str, str]]) -> dict:
    """A hand-written analysis.json of the current format: two questions, one measurement, T for each pair."""
    verdicts = [{"measurement": "probe", "beats_baseline": True, "p_value": 0.01, "reason": None, "rho": 0.9},
                {"measurement": "tiny", "beats_baseline": None, "p_value": None, "reason": "too few groups"}]
    rows = [{"pair": label, "source": s, "target": t, "seed": 0, "n": 3, "condition": "AnB+", "run_id": "r",
             "source_run_id": "s", "init_origin": "trained", "theta_r": "init.pt", "t_per_block": {"1": 2.0, "2": None},
             "t_mean": 2.0, "nulls": {"2": "undefined"}, "reason": None, "health": "ok"} for label, s, t in pairs]
    return {"version": FORMAT_VERSION, "groups": [], "load_average": {"before": [0.5, 0.4, 0.3]},
            "questions": {"depth_order": {"question": "which n?", "test": "sign test", "measurements": verdicts},
                          "across_groups": {"question": "which split?", "test": "permutation test",
                                            "measurements": verdicts[:1]}},
            "cost": {"features_s": 1.5, "analysis_s": {"probe": 0.5}, "train_s": {"baseB": 10.0},
                     "train_runs": {"baseB": 2}, "per_measurement": [{"measurement": "probe", "own_s": 0.5}]},
            "figure": {"png": "analysis.png", "svg": "analysis.svg"},
            "t_metric": {"weights_compared": "conv and linear weights", "rows": rows}}


def pairs_grid(tmp_path: Path) -> Path:
    """A sources-and-targets grid with a strategy of its own, records written by hand: one run unhealthy, one
    blocked, one unreadable, one missing; and a hand-written analysis.json."""
    conditions = ["baseA", "baseB", "AnB", "AnB+", "BnB", {"name": "lp-ft", "source": "A", "strategy": "lp_ft"}]
    data = pair_manifest(tmp_path, layers=[1, 3], seeds=[0, 1], conditions=conditions)
    top1 = {("baseA", "src"): 0.6, ("baseB", "near"): 0.5, ("baseB", "far"): 0.4}
    for condition, factor in (("AnB", 0.9), ("AnB+", 1.1), ("BnB", 0.95), ("lp-ft", 1.15)):
        top1.update({(condition, target, n): base * factor * (1 + 0.05 * n)
                     for target, base in (("near", 0.5), ("far", 0.4)) for n in (1, 3)})
    out = tmp_path / "out"
    fake_results(write(tmp_path, data), out, top1)
    sick, blocked, broken, missing = sorted((out / store.RUNS_DIR).iterdir())[:4]
    record = json.loads((sick / store.METRICS_FILE).read_text())
    store.write_json(sick / store.METRICS_FILE, {**record, "health": "no_learning", "health_reason": "loss at ln C"})
    (blocked / store.METRICS_FILE).unlink()
    store.write_json(blocked / store.BLOCKED_FILE, {"blocked_by": sick.name, "health": "no_learning"})
    (broken / store.METRICS_FILE).write_text("{not json")
    (missing / store.METRICS_FILE).unlink()
    store.write_json(out / ANALYSIS_DIR / ANALYSIS_FILE,
                     analysis_json([("src->near", "src", "near"), ("src->far", "src", "far")]))
    return out


@pytest.fixture(scope="module")
def grids(tmp_path_factory) -> list[Path]:
    return [FIXTURE, pairs_grid(tmp_path_factory.mktemp("pairs"))]


@pytest.mark.parametrize("which", [0, 1], ids=["tiny_grid", "pairs_and_strategies"])
def test_every_section_is_typed_and_its_to_dict_is_the_json_report(grids, which, tmp_path):
    grid = grids[which]
    report = build_report([grid], tmp_path / "built", draw=False)
    [g] = report.grids
    present = {name for name in SECTIONS if getattr(g, name) is not None}
    if which == 0:  # a split grid: no analysis, pairs or strategies
        assert present == set(SECTIONS) - {"analysis", "pairs", "strategies"}
    else:  # every section, with rows in each
        assert present == set(SECTIONS) and all(getattr(g, name) for name in SECTIONS)
        assert g.cost.missing and g.cost.blocked and g.cost.broken and g.pairs.t_metric and g.strategies.best
    for name in present:
        value = getattr(g, name)
        assert all(frozen(r) for r in (value if isinstance(value, list) else [value])), name
        assert loose_rows(value, name) == [], name
    assert any(isinstance(b, Table) for b in blocks(report))  # what the renderers write, made from the typed rows

    result = CliRunner().invoke(main, ["report", str(grid), "--out", str(tmp_path / "cli"), "--json",
                                       "--format", "markdown"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)["grids"][0]
    for name, key in SECTIONS.items():
        value = getattr(g, name)
        written = None if value is None else [r.to_dict() for r in value] if isinstance(value, list) else \
            value.to_dict()
        if name == "convergence":
            assert printed["unconverged_bases"] == [c.id for c in value if c.still_rising]
        assert as_json(written) == printed[key], name


def test_renderers_write_what_the_typed_rows_hold(grids, tmp_path):
    """The Markdown shows the typed sections' numbers: the analysis verdicts, T per block, a strategy, run health."""
    report = build_report([grids[1]], tmp_path / "built", draw=False)
    [g] = report.grids
    from benchbridge.report.markdown import render

    text = render(report, tmp_path)
    assert "| probe | yes (p = 0.010) | yes (p = 0.010) | 0.5 |" in text
    assert "| tiny | – (too few groups) | – | 0.0 |" in text
    assert "at load average 0.5" in text and "depth_order: sign test; across_groups: permutation test" in text
    assert "| src | near | 0 | AnB+ n=3 | trained | 2.000 | " in text
    assert g.strategies is not None and "| lp-ft |" in text.split("### Strategies relative to fine-tuning")[1]
    sick = next(r for r in g.health if r.health == "no_learning")
    assert f"| NO_LEARNING | {sick.condition} | {sick.n} |" in text and sick.reason in text
    assert "Runs with an unreadable record" in text and "Missing runs" in text
