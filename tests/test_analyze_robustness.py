"""Bad values become nulls with a reason, never numbers, and never stop the other analyses."""

import json

import numpy as np
import pytest

from benchbridge.analyze.base import Context
from benchbridge.analyze.features import Features
from benchbridge.analyze.metrics import Undefined
from benchbridge.analyze.measure import _strict
from benchbridge.api import NoOptions
from benchbridge.builtins import analyses


def _features(rng, n, blocks=3, d=6, k=3):
    return Features([rng.normal(size=(n, d)) + np.arange(n)[:, None] % k for _ in range(blocks)],
                    np.full((n, 4), 0.25))


def _context(n=30, k=3, poison_block=None, labels=None):
    rng = np.random.default_rng(0)
    y = np.arange(n) % k if labels is None else labels
    train = {net: _features(rng, n, k=k) for net in ("A", "B", "random")}
    val = {net: _features(rng, n, k=k) for net in ("A", "B", "random")}
    if poison_block is not None:
        train["A"].blocks[poison_block][0, 0] = np.nan
    return Context("s", 0, ["b1", "b2", "b3"], train, val, y, y.copy(), None, k)


def _measure_all(ctx):
    out = {}
    for a in (analyses.Probe(), analyses.CKA(), analyses.LogME(), analyses.HScore(), analyses.Leep(), analyses.NCE()):
        options = analyses.ProbeOptions() if a.name == "probe" else NoOptions()
        for name, values in a.measure(ctx, options).items():
            out[name] = _strict(values)
    return out


def test_nan_features_give_nulls_with_a_reason_and_the_rest_is_measured():
    out = _measure_all(_context(poison_block=1))
    for name in ("probe_A", "cka_AB", "logme_A", "h_score_A"):
        values, reasons = out[name]
        assert values["2"] is None, name
        assert "non-finite" in reasons["2"], name
        assert values["1"] is not None and values["3"] is not None, name  # other blocks keep their numbers
    assert out["probe_B"][1] == {} and None not in out["probe_B"][0].values()  # other networks untouched
    assert out["leep_A"][0]["3"] is not None
    json.dumps(out, allow_nan=False)  # strict JSON: no NaN anywhere


def test_nan_probabilities_give_null_leep_and_nce():
    ctx = _context()
    ctx.train["A"].probs[0, 0] = np.nan
    out = _measure_all(ctx)
    assert out["leep_A"][0] == {"3": None} and "non-finite" in out["leep_A"][1]["3"]
    assert out["nce_A"][0] == {"3": None}


def test_three_images_give_nulls_everywhere():
    out = _measure_all(_context(n=3))
    for name, (values, reasons) in out.items():
        assert set(values.values()) == {None}, name
        assert all("3 images" in r for r in reasons.values()), name


def test_an_empty_class_gives_logme_a_null():
    labels = np.arange(30) % 3
    labels[labels == 1] = 0  # class id 1 of 3 has no images
    values, reasons = _measure_all(_context(labels=labels))["logme_A"]
    assert set(values.values()) == {None}
    assert "class id 1 has no images" in reasons["1"]


def test_strict_turns_non_finite_floats_and_undefined_into_null_with_reason():
    values, reasons = _strict({2: float("inf"), 1: 0.5, 3: Undefined("why")})
    assert values == {"1": 0.5, "2": None, "3": None}
    assert reasons == {"2": "not finite (inf)", "3": "why"}


@pytest.mark.parametrize("n", [1, 2])
def test_strict_keeps_ordinary_values(n):
    assert _strict({n: np.float64(0.25)}) == ({str(n): 0.25}, {})
