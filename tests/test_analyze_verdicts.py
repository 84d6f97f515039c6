"""Verdicts against a baseline: pooling per group, the sign and permutation tests, and each question on built groups."""

import math

import pytest

from benchbridge.analyze import questions, verdict
from benchbridge.analyze.metrics import spearman


def _group(split, seed, series, anb, anb_plus=None, proxy=None):
    """A group as run.py writes it: series and measured curves keyed by str(n); baseB = 1 so AnB/baseB = AnB."""
    curve = {str(n): v for n, v in anb.items()}
    plus = {str(n): v for n, v in (anb_plus or {}).items()}
    g = {"split": split, "seed": seed, "series": {k: {str(n): v for n, v in s.items()} for k, s in series.items()},
         "measured": {"baseB": 1.0, "AnB": curve, "AnB/baseB": curve, "AnB+": plus, "AnB+/baseB": plus}}
    if proxy is not None:
        g["proxy"] = {"AnB/baseB": {str(n): v for n, v in proxy.items()}}
    return g


def _row(answer, name):
    return next(r for r in answer["measurements"] if r["measurement"] == name)


# --- pooling ---------------------------------------------------------------------------------------------------


def test_two_groups_with_rho_minus_one_pool_to_a_negative_value():
    # within each group the measurement ranks the cut points exactly backwards; the groups sit at different levels,
    # so mixing their raw points would give a positive rho
    g1 = _group("s1", 0, {"m": {1: 1.0, 2: 2.0, 3: 3.0}}, {1: 0.3, 2: 0.2, 3: 0.1})
    g2 = _group("s2", 0, {"m": {1: 10.0, 2: 11.0, 3: 12.0}}, {1: 0.9, 2: 0.8, 3: 0.7})
    raw = spearman([1, 2, 3, 10, 11, 12], [0.3, 0.2, 0.1, 0.9, 0.8, 0.7])
    assert raw > 0.4  # what the old pooling reported
    row = _row(questions.depth_order([g1, g2], [questions.series_predictor("m", "a")]), "m")
    assert [c["rho"] for c in row["per_group"]] == [pytest.approx(-1.0)] * 2
    assert row["pooled_rho"] < -0.9
    assert verdict.fisher_pool([-1.0, -1.0]) < 0


def test_fisher_pool_averages_in_z():
    assert verdict.fisher_pool([0.5, None]) == pytest.approx(0.5)
    assert verdict.fisher_pool([0.2, 0.8]) == pytest.approx(math.tanh((math.atanh(0.2) + math.atanh(0.8)) / 2))
    assert verdict.fisher_pool([None]) is None


# --- tests -----------------------------------------------------------------------------------------------------


def test_sign_test_is_exact_and_refuses_too_few_groups():
    assert verdict.sign_test([0.1] * 6).p_value == pytest.approx(1 / 64)
    assert verdict.sign_test([0.1] * 6).beats_baseline is True
    five_of_six = verdict.sign_test([0.1] * 5 + [-0.1])
    assert five_of_six.p_value == pytest.approx(7 / 64) and five_of_six.beats_baseline is False
    few = verdict.sign_test([0.3, 0.2, 0.4, 0.0, None, 0.5])  # ties and missing groups are dropped: 4 left
    assert few.beats_baseline is None and few.p_value is None
    assert "not enough groups" in few.reason


def test_permutation_test_of_a_perfect_ranking_of_five_groups():
    predicted = [[1.0], [2.0], [3.0], [4.0], [5.0]]
    measured = [[0.1], [0.2], [0.3], [0.4], [0.5]]
    stat, v = verdict.permutation_test(predicted, measured)
    assert stat == pytest.approx(1.0)
    assert v.p_value == pytest.approx(1 / 120) and v.beats_baseline is True
    reverse = verdict.permutation_test(predicted[::-1], measured)[1]
    assert reverse.p_value == pytest.approx(1.0) and reverse.beats_baseline is False
    assert verdict.permutation_test(predicted[:4], measured[:4])[1].beats_baseline is None


# --- questions -------------------------------------------------------------------------------------------------


def _six_groups(series_fn, anb_fn, plus_fn=None, proxy_fn=None, splits=("r", "d"), seeds=(0, 1, 2)):
    out = []
    for i, (split, seed) in enumerate([(s, d) for s in splits for d in seeds]):
        ns = (1, 3, 5, 7)
        out.append(_group(split, seed, {"m": {n: series_fn(i, n) for n in ns}}, {n: anb_fn(i, n) for n in ns},
                          {n: plus_fn(i, n) for n in ns} if plus_fn else None,
                          {n: proxy_fn(i, n) for n in ns} if proxy_fn else None))
    return out


def test_a_measurement_that_only_tracks_depth_does_not_beat_the_depth_baseline():
    groups = _six_groups(lambda i, n: -n * 2.0, lambda i, n: 1 - 0.01 * n)
    row = _row(questions.depth_order(groups, [questions.series_predictor("m", "a")]), "m")
    assert row["pooled_rho"] == pytest.approx(1.0, abs=0.01)  # a perfect rho over n, as depth order gives
    assert all(c["difference"] == pytest.approx(0.0) for c in row["per_group"])
    assert row["beats_baseline"] is None  # every group tied with the baseline: no verdict


def test_a_measurement_that_sees_a_non_monotone_curve_beats_the_depth_baseline():
    curve = {1: 0.9, 3: 1.0, 5: 0.8, 7: 0.5}  # the co-adaptation dip at n = 1: depth order misranks it
    groups = _six_groups(lambda i, n: curve[n] + i, lambda i, n: curve[n])
    answer = questions.depth_order(groups, [questions.series_predictor("m", "a")])
    row = _row(answer, "m")
    assert row["groups"] == 6 and row["beats_baseline"] is True and row["p_value"] == pytest.approx(1 / 64)
    assert row["pooled_baseline_rho"] == pytest.approx(0.8)
    assert answer["test"] == verdict.SIGN_TEST


def test_across_groups_ranks_splits_at_a_fixed_n_and_scores_the_proxy():
    level = [0.9, 0.8, 0.85, 0.5, 0.55, 0.6]  # per split AnB/baseB level
    groups = _six_groups(lambda i, n: level[i] * 10 - n, lambda i, n: level[i] - 0.01 * n,
                         proxy_fn=lambda i, n: 0.5, splits=tuple("abcdef"), seeds=(0,))  # a flat proxy ranks nothing
    answer = questions.across_groups(groups, [questions.series_predictor("m", "a"), questions.proxy_predictor()])
    row = _row(answer, "m")
    assert row["columns"] == [1, 3, 5, 7] and row["rho"] == pytest.approx(1.0)
    assert row["beats_baseline"] is True and row["p_value"] == pytest.approx(1 / 720)
    proxy = _row(answer, "proxy grid")
    assert proxy["beats_baseline"] is None and "constant" in proxy["reason"]


def test_seeds_of_two_splits_are_two_units_not_six():
    level = [0.9, 0.8, 0.85, 0.5, 0.55, 0.6]  # split r high, split d low: six groups ranked perfectly
    groups = _six_groups(lambda i, n: level[i] * 10 - n, lambda i, n: level[i] - 0.01 * n)
    for answer in (questions.across_groups(groups, [questions.series_predictor("m", "a")]),
                   questions.top_layer_fall(groups, [questions.series_predictor("m", "a")])):
        row = _row(answer, "m")
        assert row["beats_baseline"] is None and "not enough splits: 2" in row["reason"]
        assert [s["seeds"] for s in row["splits"]] == [3, 3] and len(row["groups"]) == 6
    split_r = _row(questions.across_groups(groups, [questions.series_predictor("m", "a")]), "m")["splits"][0]
    assert split_r["measured"][0] == pytest.approx((0.9 + 0.8 + 0.85) / 3 - 0.01)  # the mean over its seeds


def test_best_finetune_n_scores_regret_against_the_better_constant_depth():
    plus = {1: 0.90, 3: 0.95, 5: 1.00, 7: 0.97}  # best n = 5; always-deepest loses 0.03, always-shallowest 0.10
    groups = _six_groups(lambda i, n: plus[n], lambda i, n: 0.9, plus_fn=lambda i, n: plus[n])
    answer = questions.best_finetune_n(groups, [questions.series_predictor("m", "a")])
    assert answer["baseline_rule"] == "deepest"
    row = _row(answer, "m")
    first = row["per_group"][0]
    assert (first["best_n"], first["chosen_n"], first["baseline_n"]) == (5, 5, 7)
    assert first["regret"] == 0 and first["baseline_regret"] == pytest.approx(0.03)
    assert row["beats_baseline"] is True


def test_best_finetune_n_baseline_is_the_shallowest_n_when_the_curve_falls():
    plus = {1: 1.00, 3: 0.98, 5: 0.90, 7: 0.80}
    groups = _six_groups(lambda i, n: n, lambda i, n: 0.9, plus_fn=lambda i, n: plus[n])
    answer = questions.best_finetune_n(groups, [questions.series_predictor("m", "a")])
    assert answer["baseline_rule"] == "shallowest"
    row = _row(answer, "m")  # a measurement rising with n picks the worst n in every group
    assert all(c["chosen_n"] == 7 and c["baseline_n"] == 1 for c in row["per_group"])
    assert row["beats_baseline"] is False and row["p_value"] == pytest.approx(1.0)


def test_a_grid_with_too_few_groups_says_so_on_every_question():
    groups = _six_groups(lambda i, n: n, lambda i, n: 1 - 0.01 * n * i, plus_fn=lambda i, n: 0.9 - 0.01 * n)[:3]
    answers = questions.answer(groups, [questions.series_predictor("m", "a")])
    for name, answer in answers.items():
        row = _row(answer, "m")
        assert row["beats_baseline"] is None, name
        assert "not enough" in row["reason"], name
