"""`benchbridge report` on a real tiny grid saved as a fixture: JSON numbers by hand, files, compare, partial grids."""

import json
import shutil
from pathlib import Path
from statistics import mean

import pytest
from click.testing import CliRunner

from benchbridge import registry
from benchbridge.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "tiny_grid"


def run_cli(*args: str, code: int = 0):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, result.output
    return result


def pair(entry: dict) -> str:
    """A plan entry's pair label (`split` in plan.json files written before issue 28, like the fixture's)."""
    return entry["pair"] if "pair" in entry else entry["split"]


def raw(grid_dir: Path) -> list[tuple[dict, dict | None]]:
    """(plan entry, metrics) straight from the files, without the report code."""
    plan = json.loads((grid_dir / "plan.json").read_text())
    out = []
    for run in plan:
        f = grid_dir / "runs" / run["id"] / "metrics.json"
        out.append((run, json.loads(f.read_text()) if f.is_file() else None))
    return out


def top1(grid_dir: Path, split_prefix: str, condition: str, n: int) -> dict[int, float]:
    """seed -> top1 of the network with this label."""
    found = {}
    for run, m in raw(grid_dir):
        labels = [(pair(run), run["condition"])] + [(pair(a), a["condition"]) for a in run["also"]]
        if m and run["n"] == n and any(s.startswith(split_prefix) and c == condition for s, c in labels):
            found[run["seed"]] = m["top1"]
    return found


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    result = run_cli("report", str(FIXTURE), "--out", str(out), "--reference", "yosinski2014", "--json")
    return out, json.loads(result.stdout)


def test_json_numbers_match_hand_computed_ones(report):
    _, data = report
    g = data["grids"][0]
    assert g["cut_points"] == 7 and g["families"] == ["random", "manmade->natural"]
    row = next(r for r in g["table"] if r["family"] == "random" and r["condition"] == "AnB" and r["n"] == 4)
    anb, base = top1(FIXTURE, "random", "AnB", 4), top1(FIXTURE, "random", "baseB", 0)
    assert row["top1"]["mean"] == pytest.approx(mean(anb.values()))
    assert row["top1"]["count"] == 2
    a, b = anb[0], anb[1]
    assert row["top1"]["ci95_half_width"] == pytest.approx(12.706 * abs(a - b) / 2 ** 0.5 / 2 ** 0.5)
    assert row["relative"]["mean"] == pytest.approx(mean(anb[s] / base[s] for s in (0, 1)))
    gap = next(r for r in g["transfer_gap"] if r["family"] == "random" and r["n"] == 4)
    assert gap["gap"]["mean"] == pytest.approx(mean(anb[s] / base[s] - 1 for s in (0, 1)))


def test_table1_is_the_paired_boost_averaged_over_each_range(report):
    _, data = report
    t1 = {r["layers"]: r for r in data["grids"][0]["table1"]}
    assert list(t1) == ["1-7", "3-7", "5-7"]
    base = top1(FIXTURE, "random", "baseB", 0)
    for layers, lo in (("1-7", 1), ("5-7", 5)):
        ns = [n for n in (1, 2, 4, 7) if n >= lo]
        per_seed = [mean(top1(FIXTURE, "random", "AnB+", n)[s] - base[s] for n in ns) for s in (0, 1)]
        assert t1[layers]["over_baseB"]["mean"] == pytest.approx(mean(per_seed))
        assert t1[layers]["over_baseB"]["n_used"] == ns
        per_seed = [mean(top1(FIXTURE, "random", "AnB+", n)[s] - top1(FIXTURE, "random", "BnB+", n)[s] for n in ns)
                    for s in (0, 1)]
        assert t1[layers]["over_BnB+"]["mean"] == pytest.approx(mean(per_seed))


def test_cost_and_convergence(report):
    _, data = report
    g = data["grids"][0]
    walls = [m["wall_time_s"] for _, m in raw(FIXTURE)]
    assert g["cost"]["wall_time_s"] == pytest.approx(sum(walls))
    assert g["cost"]["device_hours"] == pytest.approx(sum(walls) / 3600)
    assert g["cost"]["done"] == g["cost"]["runs"] == len(walls) and g["cost"]["missing"] == []
    assert sum(v["runs"] for v in g["cost"]["by_condition"].values()) == len(walls)
    assert sorted(r["wall_time_s"] for r in g["cost"]["per_run"]) == sorted(walls)
    bases = [r for r, _ in raw(FIXTURE) if r["condition"].startswith("base")]
    assert len(g["convergence"]) == len(bases)
    for c in g["convergence"]:
        assert c["still_rising"] == (c["rise"] > 0.01)
    assert [f["number"] for f in g["findings"]] == [1, 2, 3, 4, 5, 6]
    assert all(f["verdict"] in ("holds", "does not hold", "inconclusive", "not measured") for f in g["findings"])


def test_figures_html_and_markdown_are_written(report):
    out, data = report
    figs = data["grids"][0]["figures"]
    assert {f["name"] for f in figs} == {"fig2_absolute", "fig2_relative", "fig3_absolute", "fig3_relative",
                                         "convergence"}
    for f in figs:
        png, svg = Path(f["png"]), Path(f["svg"])
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
        assert "<svg" in svg.read_text()[:2000]
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(figs) and 'src="figures' not in html
    assert "published (Yosinski et al. 2014)" in html and "Verdicts on the paper" in html
    md = (out / "report.md").read_text()
    assert "](figures/fig2_absolute.png)" in md and "| 1 | AnB stays near baseB" in md
    assert data["reference"]["name"] == "yosinski2014" and "NIPS 2014" in data["reference"]["source"][0]


def test_terminal_summary_shows_verdicts(tmp_path):
    result = run_cli("report", str(FIXTURE), "--out", str(tmp_path), "--format", "markdown")
    assert "the paper's findings on this grid" in result.stdout and "rule:" in result.stdout
    assert (tmp_path / "report.md").is_file() and not (tmp_path / "report.html").exists()


def shallower_partial_copy(tmp: Path) -> Path:
    """The fixture as if from a model with 4 cut points (n=7 dropped), with some runs unfinished."""
    grid = tmp / "shallow"
    shutil.copytree(FIXTURE, grid)
    plan = [r for r in json.loads((grid / "plan.json").read_text()) if r["n"] != 7]
    (grid / "plan.json").write_text(json.dumps(plan))
    manifest = (grid / "manifest.yaml").read_text().replace("name: tiny", "name: shallow", 1)
    (grid / "manifest.yaml").write_text(manifest.replace("name: alexnet", "name: not-installed-model"))
    for r in plan:
        if r["condition"] == "BnB" and r["n"] == 4:
            (grid / "runs" / r["id"] / "metrics.json").unlink()
    return grid


def test_compare_normalises_depth_and_partial_grids_list_what_is_missing(tmp_path):
    other = shallower_partial_copy(tmp_path)
    out = tmp_path / "cmp"
    data = json.loads(run_cli("report", str(FIXTURE), str(other), "--compare", "--out", str(out), "--json").stdout)
    assert data["compare"] and [g["cut_points"] for g in data["grids"]] == [7, 4]
    depths = {(r["grid"], r["n"]): r["depth"] for r in data["transfer_gap"]}
    assert depths[("tiny", 4)] == pytest.approx(4 / 7) and depths[("shallow", 4)] == pytest.approx(1.0)
    missing = data["grids"][1]["cost"]["missing"]
    assert {(m["condition"], m["n"]) for m in missing} == {("BnB", 4)} and len(missing) == 2
    assert Path(data["figures"][0]["png"]).stat().st_size > 10_000
    assert "Missing runs" in (out / "report.md").read_text()


def test_reporters_are_plugins_and_user_mistakes_exit_2(tmp_path):
    assert {"html", "markdown"} <= set(registry.names("reporter"))
    r = run_cli("report", str(FIXTURE), "--out", str(tmp_path), "--format", "latex", code=2)
    assert "unknown reporter 'latex'" in r.output
    r = run_cli("report", str(tmp_path), code=2)
    assert "no plan.json" in r.output
