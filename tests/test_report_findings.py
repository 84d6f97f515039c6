"""The six verdicts on constructed grids where each finding holds, fails, is inconclusive or is not measured."""

import dataclasses
from pathlib import Path

import pytest

from benchbridge.plan import Run
from benchbridge.results.record import RunRecord
from benchbridge.report.findings import FAILS, HOLDS, INCONCLUSIVE, NOT_MEASURED, depth_ranges, evaluate
from benchbridge.report.grid import Grid, make_samples
from benchbridge.report.stats import summarize, t975
from benchbridge.results import Result

BASES = [0.60, 0.61, 0.62]  # baseB per seed: mean 0.61, sd 0.01, 95% CI half-width 4.303 * 0.01 / sqrt(3)


def curve(rising: bool) -> list[dict]:
    ys = [0.3, 0.5, 0.55, 0.57] if rising else [0.3, 0.55, 0.60, 0.60]
    return [{"iteration": 10 * (i + 1), "epoch": i + 1, "top1": y, "top5": 1.0, "train_loss": 1.0, "lr": 0.01,
             "val_loss": 1.0, "val_images": 10} for i, y in enumerate(ys)]


def kind_of(family: str) -> str:
    """The kind a split plugin would declare for the constructed families."""
    return "random" if family == "random" else "dissimilar" if "->" in family else "other"


def result(i: int, condition: str, n: int, split: str, seed: int, top1: float, rising: bool = False,
           kind: str = "other") -> Result:
    run = Run(f"{i:012x}", condition, n, split, seed, "scratch", {}, "B", {"A": [0], "B": [1]}, None, [],
              family=kind)
    record = RunRecord(run_id=run.id, condition=condition, n=n, pair=split, seed=seed, top1=top1, top5=1.0,
                       top1_best_k=top1, best_k=1, iterations=40, images_seen=400, wall_time_s=1.0,
                       curve=curve(rising))
    return Result(run, record)


def make_grid(deltas: dict[tuple[str, str, int], float], seeds: int = 3, rising: bool = False) -> Grid:
    """top1 = baseB of the seed + delta[(family, condition, n)]; families 'random' and a dissimilar split."""
    results = []
    for seed in range(seeds):
        for family in {f for f, _, _ in deltas}:
            split = "random-s0" if family == "random" else family
            results.append(result(len(results), "baseB", 0, split, seed, BASES[seed], rising, kind_of(family)))
        for (family, condition, n), d in deltas.items():
            split = "random-s0" if family == "random" else family
            results.append(result(len(results), condition, n, split, seed, BASES[seed] + d, kind=kind_of(family)))
    return Grid("constructed", Path("."), results, {}, 7, make_samples(results))


def paper_like() -> dict[tuple[str, str, int], float]:
    d = {}
    for n in range(1, 8):
        d[("random", "AnB", n)] = [0, 0, -0.005, -0.03, -0.05, -0.07, -0.08, -0.1][n]
        d[("random", "BnB", n)] = -0.05 if n in (3, 4, 5) else 0.0
        d[("random", "BnB+", n)] = 0.0
        d[("random", "AnB+", n)] = 0.04
        d[("random", "random_frozen", n)] = -0.3
        d[("manmade->natural", "AnB", n)] = -0.04 * n
    return d


def verdicts(grid: Grid, **kw) -> dict[int, str]:
    return {f.number: f.verdict for f in evaluate(grid, **kw)}


def test_t_interval_by_hand():
    s = summarize([0.5, 0.7])
    assert s.mean == pytest.approx(0.6)
    assert s.half_width == pytest.approx(12.706 * 0.1414213562 / 2 ** 0.5, rel=1e-6)
    assert summarize([0.4]).half_width is None
    assert t975(1000) == pytest.approx(1.962, abs=1e-3)


def test_depth_ranges_match_the_paper_for_seven_cut_points():
    assert depth_ranges(7) == {"low": [1, 2], "middle": [3, 4, 5], "high": [6, 7]}
    assert depth_ranges(4)["high"][-1] == 4


def test_every_finding_holds_on_a_paper_like_grid():
    found = evaluate(make_grid(paper_like()))
    assert {f.number: f.verdict for f in found} == {i: HOLDS for i in range(1, 7)}
    f1 = found[0]
    assert "baseB's 95% CI (±0.025" in f1.rule  # 4.303 * 0.01 / sqrt(3) = 0.0248
    assert f1.evidence[0].startswith("AnB n=1 0.610 vs baseB 0.610: +0.000 (within")
    assert all(f.caveat is None for f in found)


def test_every_finding_fails_where_the_numbers_say_the_opposite():
    d = paper_like()
    for n in range(1, 8):
        d[("random", "AnB", n)] = -0.1
        d[("random", "BnB", n)] = 0.05
        d[("random", "BnB+", n)] = 0.05
        d[("random", "AnB+", n)] = -0.05
        d[("random", "random_frozen", n)] = -0.05  # above AnB (-0.1)
        d[("manmade->natural", "AnB", n)] = 0.0  # dissimilar transfer does not fall at all
    assert verdicts(make_grid(d)) == {i: FAILS for i in range(1, 7)}


def test_a_gain_matched_by_bnb_plus_is_inconclusive_and_noise_is_inconclusive():
    d = paper_like()
    for n in range(1, 8):
        d[("random", "BnB+", n)] = 0.04  # equal total training gives the same gain as transfer
        d[("random", "random_frozen", n)] = d[("random", "AnB", n)] - 0.01  # within the CI of AnB
    v = verdicts(make_grid(d))
    assert v[4] == INCONCLUSIVE and v[6] == INCONCLUSIVE and v[3] == FAILS


def test_missing_conditions_are_not_measured_never_guessed():
    grid = make_grid({("random", "AnB", n): -0.01 * n for n in range(1, 8)})
    v = verdicts(grid)
    assert v[1] == HOLDS
    assert all(v[i] == NOT_MEASURED for i in (2, 3, 4, 5, 6))
    assert verdicts(make_grid({("random", "AnB", 7): -0.1}))[1] == NOT_MEASURED  # no low n


def test_single_seed_uses_the_stated_tolerance_instead_of_a_ci():
    found = evaluate(make_grid(paper_like(), seeds=1), tolerance=0.02)
    assert "no CI" in found[0].rule and "±2% of baseB (±0.012;" in found[0].rule
    assert found[0].verdict == HOLDS


def test_unconverged_bases_put_the_pitfall_next_to_findings_2_to_4():
    found = evaluate(make_grid(paper_like(), rising=True))
    caveats = {f.number for f in found if f.caveat}
    assert caveats == {2, 3, 4}
    assert "trained twice" in found[1].caveat


def test_device_hours_as_recorded_or_from_wall_time():
    recorded = result(0, "baseB", 0, "random-s0", 0, 0.5).record
    assert recorded.model_copy(update={"device_hours": 2.0, "wall_time_s": 10.0}).hours() == 2.0
    assert recorded.model_copy(update={"wall_time_s": 1800.0}).hours() == 0.5


def relabelled(grid: Grid, splits: dict[str, tuple[str, str]]) -> Grid:
    """The same numbers under other split labels and kinds: {old label: (new label, kind)}."""
    results = []
    for r in grid.results:
        label, kind = splits[r.run.pair]
        results.append(Result(dataclasses.replace(r.run, pair=label, family=kind), r.record))
    return Grid("relabelled", Path("."), results, {}, 7, make_samples(results))


def test_explicit_splits_get_findings_from_their_declared_kind_not_their_label():
    grid = make_grid(paper_like())
    declared = relabelled(grid, {"random-s0": ("explicit", "random"), "manmade->natural": ("my groups", "dissimilar")})
    assert verdicts(declared) == {i: HOLDS for i in range(1, 7)}
    assert sorted(declared.families) == ["my groups", "random"]
    # a label that looks random or dissimilar counts for nothing: the kinds say both are 'other'
    looks = relabelled(grid, {"random-s0": ("random-s9", "other"), "manmade->natural": ("a->b", "other")})
    assert verdicts(looks)[5] == NOT_MEASURED and "random-s9" in looks.families
