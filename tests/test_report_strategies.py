"""The report's strategies section: per target, each strategy's top-1 relative to plain fine-tuning with its 95%
t-interval over seeds, the stated test, the best strategy per target, and the figure."""

from pathlib import Path

import pytest

from benchbridge.report import strategy_comparison as strategies
from benchbridge.report.grid import Grid, Sample

AnB_PLUS = {0: 0.50, 1: 0.52, 2: 0.51}  # fine-tuning's top-1 per seed


def sample(target, condition, seed, top1, n=7, unhealthy=None):
    return Sample(f"{target}{condition}{seed}", f"src->{target}", seed, condition, n, top1, None,
                  f"src->{target}", unhealthy)


def grid(tmp_path: Path, extra=()) -> Grid:
    samples = []
    for target in ("near", "far"):
        for seed, ref in AnB_PLUS.items():
            samples.append(sample(target, "AnB+", seed, ref))
            samples.append(sample(target, "baseB", seed, 0.4, n=0))
            samples.append(sample(target, "lp-ft", seed, ref * (1.10 + 0.01 * seed)))  # clearly better
            samples.append(sample(target, "surgical-1", seed, ref * (0.80 - 0.01 * seed)))  # clearly worse
            samples.append(sample(target, "l2sp", seed, ref * (1.0 + (0.05, -0.05, 0.01)[seed])))  # no difference
            samples.append(sample(target, "AnB", seed, ref * 0.9))
    manifest = {"conditions": ["baseB", "AnB", "AnB+", "surgical-1", {"name": "lp-ft"}, {"name": "l2sp"}]}
    return Grid("g", tmp_path, [], manifest, 7, samples=[*samples, *extra])


def cells(data, target):
    return {r.condition: r for r in data.rows if r.family == f"src->{target}"}


def test_each_strategy_is_compared_with_fine_tuning_seed_by_seed(tmp_path):
    data = strategies.summary(grid(tmp_path))
    assert data.conditions == ["AnB", "surgical-1", "lp-ft", "l2sp"]  # the paper's, then the manifest's order
    near = cells(data, "near")
    assert near["lp-ft"].relative.mean == pytest.approx(1.11)
    assert near["lp-ft"].relative.count == 3 and near["lp-ft"].relative.half_width > 0
    assert [near[c].verdict for c in ("lp-ft", "surgical-1", "l2sp")] == ["better", "worse",
                                                                            "no difference shown"]
    assert near["AnB"].verdict == "worse"  # a constant ratio: an interval of width 0, below 1
    assert [b.best for b in data.best] == ["lp-ft", "lp-ft"]


def test_fine_tuning_is_best_when_no_strategy_beats_it_on_average(tmp_path):
    losers = [sample("solo", c, seed, ref * f) for seed, ref in AnB_PLUS.items()
              for c, f in (("AnB+", 1.0), ("lp-ft", 0.9))]
    data = strategies.summary(grid(tmp_path, losers))
    [solo] = [b for b in data.best if b.family == "src->solo"]
    assert solo.best == "AnB+"


def test_one_seed_gets_no_interval_and_no_test(tmp_path):
    one = Grid("g", tmp_path, [], {}, 7, samples=[sample("t", "AnB+", 0, 0.5), sample("t", "lp-ft", 0, 0.6)])
    data = strategies.summary(one)
    [row] = data.rows
    assert row.relative.half_width is None and row.verdict == "one seed: no test"
    [(_, rows, _)] = strategies.tables(data)
    assert rows[-1] == ["best", "lp-ft (1.200; one seed: no test)"]


def test_a_grid_of_the_paper_s_conditions_only_has_no_strategies_section(tmp_path):
    paper = Grid("g", tmp_path, [], {}, 7, samples=[sample("t", c, 0, 0.5) for c in ("AnB+", "AnB", "baseB")])
    assert strategies.summary(paper) is None


def test_the_table_states_the_test_and_marks_results(tmp_path):
    [(header, rows, caption)] = strategies.tables(strategies.summary(grid(tmp_path)))
    assert header == ["strategy", "src->near", "src->far"]
    by_name = {r[0]: r for r in rows}
    assert by_name["lp-ft"][1].endswith("▲") and by_name["surgical-1"][1].endswith("▼")
    assert "±" in by_name["l2sp"][1] and not by_name["l2sp"][1].endswith(("▲", "▼"))
    assert by_name["best"][1].startswith("lp-ft (1.110; shown above fine-tuning)")
    assert "t-test" in caption and "5%" in caption and "no correction" in caption


def test_an_unhealthy_network_is_flagged_in_its_cell(tmp_path):
    bad = [sample("sick", "AnB+", s, 0.5) for s in (0, 1)] + [sample("sick", "lp-ft", 0, 0.5, unhealthy="no"),
                                                               sample("sick", "lp-ft", 1, 0.55)]
    data = strategies.summary(grid(tmp_path, bad))
    assert cells(data, "sick")["lp-ft"].unhealthy and not cells(data, "near")["lp-ft"].unhealthy


def test_the_figure_is_drawn(tmp_path):
    fig = strategies.figure(strategies.summary(grid(tmp_path)), tmp_path / "figures")
    assert fig is not None and Path(fig.png).stat().st_size > 0 and Path(fig.svg).is_file()
