"""The two many-target questions on hand-made groups: which source to pick for a target, and which targets gain most
from a source, each scored against its baseline with a sign test over units and a bootstrap interval."""

import pytest

from benchbridge.analyze import choice
from benchbridge.analyze.questions import series_predictor


def group(source: str, target: str, seed: int, score: float, tuned: float, base: float,
          source_top1: float | None) -> dict:
    return {"split": f"{source}->{target}", "seed": seed, "source": source, "target": target,
            "source_top1": source_top1, "series": {"logme_A": {"3": score - 1.0, "7": score}},
            "measured": {"baseB": base, "AnB+": {"1": 0.0, "7": tuned}}}


SOURCES = {"s1": 0.9, "s2": 0.6, "s3": 0.3}  # each source's own top-1 on its own task
TARGETS = {"t1": 0.5, "t2": 0.4, "t3": 0.3, "t4": 0.2, "t5": 0.1}  # each target's base network top-1


def grid(score_follows_tuned: bool) -> list[dict]:
    """Three sources x five targets x two seeds. Fine-tuned top-1 rises from s1 to s3 (against the sources' own
    top-1; reversed: with the sources' own top-1), and the gain over the base network rises as the target's base
    falls."""
    out = []
    for seed in (0, 1):
        for i, (s, own) in enumerate(SOURCES.items()):
            for t, base in TARGETS.items():
                tuned = base + 0.1 * (i + 1) + (0.5 - base) * 0.5 + 0.01 * seed
                score = tuned if score_follows_tuned else -tuned
                out.append(group(s, t, seed, score, tuned, base, own if score_follows_tuned else 1 - own))
    return out


def row(q: dict) -> dict:
    [r] = q["measurements"]
    return r


def test_a_score_that_orders_sources_by_fine_tuned_top1_beats_the_sources_own_top1():
    q = choice.source_choice(grid(True), [series_predictor("logme_A", "logme")])
    r = row(q)
    assert q["applies"] and r["groups"] == 10  # (target, seed) units
    assert all(u["rho"] == pytest.approx(1.0) and u["baseline_rho"] == pytest.approx(-1.0) for u in r["per_group"])
    assert r["beats_baseline"] is True and r["p_value"] == pytest.approx(1 / 2 ** 10)
    assert r["mean_difference"] == pytest.approx(2.0) and r["ci95"] == pytest.approx([2.0, 2.0])


def test_a_reversed_score_does_not_beat_the_baseline():
    r = row(choice.source_choice(grid(False), [series_predictor("logme_A", "logme")]))
    assert r["beats_baseline"] is False and r["mean_difference"] == pytest.approx(-2.0)  # rho -1 against +1


def test_targets_are_ranked_by_gain_against_minus_their_base_top1():
    q = choice.target_gain(grid(True), [series_predictor("logme_A", "logme")])
    r = row(q)
    assert q["applies"] and r["groups"] == 6  # (source, seed) units of five targets each
    for u in r["per_group"]:
        assert u["points"] == 5 and u["baseline_rho"] == pytest.approx(1.0)  # gain rises as the base falls
        assert u["rho"] == pytest.approx(-1.0)  # the score follows fine-tuned top-1, which rises with the base
    assert r["beats_baseline"] is False


def test_with_too_few_sources_per_target_the_question_says_what_it_needs():
    groups = [g for g in grid(True) if g["source"] in ("s1", "s2")]
    q = choice.source_choice(groups, [series_predictor("logme_A", "logme")])
    assert q["applies"] is False and "this grid has at most 2" in q["needs"]
    assert row(q)["beats_baseline"] is None and "not enough groups" in row(q)["reason"]


def test_checkpoint_sources_have_no_own_top1_and_leave_the_baseline():
    groups = grid(True)
    for g in groups:
        if g["source"] == "s3":
            g["source_top1"] = None
    r = row(choice.source_choice(groups, [series_predictor("logme_A", "logme")]))
    assert all(u["points"] == 2 and u["rho"] is None for u in r["per_group"])  # two sources left: no rho


def test_only_scores_of_the_source_network_alone_count_as_before_fine_tuning():
    needs = {"logme_A": ("A",), "cka_AB": ("A", "B"), "t_metric": ("A", "finetuned"), "probe_random": ()}
    assert choice.before_finetuning(needs) == {"logme_A"}
