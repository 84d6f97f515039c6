"""Each per-layer measurement pinned to its paper's definition on small constructed data."""

import math

import numpy as np
import pytest

from benchbridge.analyze import metrics


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _separable(n_per: int = 40, k: int = 3, d: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Classes as tight clusters around far-apart centres: linearly separable."""
    rng = _rng(seed)
    centres = rng.normal(size=(k, d)) * 10
    y = np.repeat(np.arange(k), n_per)
    return centres[y] + rng.normal(size=(len(y), d)) * 0.1, y


def _noise(n_per: int = 40, k: int = 3, d: int = 5, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = _rng(seed)
    return rng.normal(size=(n_per * k, d)), np.repeat(np.arange(k), n_per)


# --- CKA -----------------------------------------------------------------------------------------------------


def test_cka_of_a_representation_with_itself_is_one():
    X = _rng().normal(size=(50, 8))
    assert metrics.linear_cka(X, X) == pytest.approx(1.0, abs=1e-12)


def test_cka_is_invariant_to_orthogonal_transforms_and_isotropic_scaling():
    rng = _rng()
    X, Y = rng.normal(size=(60, 6)), rng.normal(size=(60, 4))
    Y = Y + X[:, :4]  # related, so CKA is well away from 0
    Q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    base = metrics.linear_cka(X, Y)
    assert 0.2 < base < 0.99
    assert metrics.linear_cka(X @ Q, Y) == pytest.approx(base, abs=1e-10)
    assert metrics.linear_cka(3.7 * X, 0.01 * Y) == pytest.approx(base, abs=1e-10)


def test_cka_is_not_invariant_to_anisotropic_scaling():
    rng = _rng()
    X = rng.normal(size=(60, 6))
    Y = X + 0.5 * rng.normal(size=(60, 6))
    stretched = X * np.array([10.0, 1, 1, 1, 1, 1])
    assert abs(metrics.linear_cka(stretched, Y) - metrics.linear_cka(X, Y)) > 0.05


def test_cka_feature_form_equals_the_gram_definition():
    rng = _rng(3)
    X, Y = rng.normal(size=(30, 5)), rng.normal(size=(30, 7))
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    K, L = Xc @ Xc.T, Yc @ Yc.T
    by_gram = metrics.hsic_unbiased(K, L) / math.sqrt(metrics.hsic_unbiased(K, K) * metrics.hsic_unbiased(L, L))
    assert metrics.linear_cka(X, Y) == pytest.approx(by_gram, abs=1e-12)


def test_hsic_unbiased_matches_its_formula_by_loops():
    rng = _rng(4)
    n = 7
    K, L = rng.normal(size=(n, n)), rng.normal(size=(n, n))
    K, L = K + K.T, L + L.T
    Kt, Lt = K.copy(), L.copy()
    np.fill_diagonal(Kt, 0)
    np.fill_diagonal(Lt, 0)
    one = np.ones(n)
    expected = (np.trace(Kt @ Lt) + (one @ Kt @ one) * (one @ Lt @ one) / ((n - 1) * (n - 2))
                - 2 / (n - 2) * one @ Kt @ Lt @ one) / (n * (n - 3))
    assert metrics.hsic_unbiased(K, L) == pytest.approx(expected, rel=1e-12)


# --- probe ---------------------------------------------------------------------------------------------------


def test_probe_on_separable_features_beats_probe_on_noise():
    x, y = _separable(seed=0)
    vx, vy = _separable(seed=0)  # same centres (seeded), fresh noise below
    vx = vx + _rng(9).normal(size=vx.shape) * 0.1
    nx, ny = _noise(seed=1)
    nvx, nvy = _noise(seed=2)
    separable = metrics.ridge_probe(x, y, vx, vy)
    noise = metrics.ridge_probe(nx, ny, nvx, nvy)
    assert separable == 1.0
    assert noise < 0.6


# --- LogME ---------------------------------------------------------------------------------------------------


def _log_evidence_by_definition(F: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """log N(y; 0, F F^T / alpha + I / beta): the marginal likelihood LogME maximises."""
    n = len(y)
    C = F @ F.T / alpha + np.eye(n) / beta
    _, logdet = np.linalg.slogdet(C)
    return -0.5 * (n * math.log(2 * math.pi) + logdet + y @ np.linalg.solve(C, y))


def test_logme_is_the_maximised_evidence_per_image():
    F = np.array([[1.0, 0.0], [0.9, 0.2], [0.1, 1.0], [0.0, 0.8], [0.5, 0.5]])
    labels = np.array([0, 0, 1, 1, 0])
    grid = np.exp(np.linspace(-6, 8, 161))
    expected = np.mean([max(_log_evidence_by_definition(F, (labels == c).astype(float), a, b)
                            for a in grid for b in grid) / len(F) for c in (0, 1)])
    assert metrics.logme(F, labels) == pytest.approx(expected, abs=2e-3)


def test_logme_ranks_separable_features_above_noise():
    x, y = _separable()
    nx, ny = _noise()
    assert metrics.logme(x, y) > metrics.logme(nx, ny)


# --- H-score -------------------------------------------------------------------------------------------------


def test_h_score_matches_a_hand_computed_example():
    # f = 0, 1, 2, 3; var f = 1.25; class means 0.5, 0.5, 2.5, 2.5 -> var of E[f|y] = 1; H = 1 / 1.25
    assert metrics.h_score(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])) == pytest.approx(0.8)


def test_h_score_ranks_separable_features_above_noise():
    x, y = _separable()
    nx, ny = _noise()
    assert metrics.h_score(x, y) > 2 * metrics.h_score(nx, ny)


# --- LEEP and NCE --------------------------------------------------------------------------------------------


def test_leep_matches_a_hand_computed_example():
    theta = np.array([[0.8, 0.2], [0.3, 0.7]] * 2)  # each image twice: the same empirical joint as two images
    y = np.array([0, 1] * 2)
    # joint P(y, z) = [[0.4, 0.1], [0.15, 0.35]]; P(z) = [0.55, 0.45]
    p_y_given_z = np.array([[0.4 / 0.55, 0.1 / 0.45], [0.15 / 0.55, 0.35 / 0.45]])
    eep = [p_y_given_z[0] @ theta[0], p_y_given_z[1] @ theta[1]]
    assert metrics.leep(theta, y) == pytest.approx(np.mean(np.log(eep)))


def test_nce_is_zero_when_source_labels_determine_target_labels_and_minus_log_k_when_independent():
    z = np.array([0, 0, 1, 1, 2, 2])
    assert metrics.nce(z, np.array([1, 1, 0, 0, 1, 1])) == pytest.approx(0.0)
    assert metrics.nce(np.zeros(4, dtype=int), np.array([0, 1, 0, 1])) == pytest.approx(-math.log(2))


# --- T-metric ------------------------------------------------------------------------------------------------


def test_t_metric_is_one_when_pretrained_is_as_far_from_finetuned_as_random():
    rng = _rng()
    finetuned = [rng.normal(size=(4, 3)), rng.normal(size=4)]
    signs = [rng.choice([-1.0, 1.0], size=w.shape) for w in finetuned]
    random = [w + 0.5 * s for w, s in zip(finetuned, signs)]
    pretrained = [w - 0.5 * s for w, s in zip(finetuned, signs)]  # mirror image: same mean |difference|
    assert metrics.t_metric(random, pretrained, finetuned) == pytest.approx(1.0)


def test_t_metric_averages_per_tensor_means_as_chens_code_does():
    finetuned = [np.zeros(2), np.zeros(8)]
    random = [np.full(2, 4.0), np.full(8, 1.0)]  # per tensor 4 and 1: D = 2.5 (pooled over weights it would be 1.6)
    pretrained = [np.full(2, 0.5), np.full(8, 0.5)]  # D = 0.5
    assert metrics.t_metric(random, pretrained, finetuned) == pytest.approx(5.0)


def test_t_metric_is_the_ratio_of_mean_absolute_differences():
    finetuned = [np.zeros(4)]
    random = [np.array([1.0, -1.0, 2.0, -2.0])]  # D = 1.5
    pretrained = [np.array([0.1, 0.2, -0.3, 0.0])]  # D = 0.15
    assert metrics.t_metric(random, pretrained, finetuned) == pytest.approx(10.0)


# --- Spearman ------------------------------------------------------------------------------------------------


def test_spearman_of_monotone_data_is_one_and_ties_take_mean_ranks():
    assert metrics.spearman([1, 2, 3, 4], [10, 20, 25, 1000]) == pytest.approx(1.0)
    assert metrics.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert list(metrics.ranks(np.array([5.0, 1.0, 5.0, 3.0]))) == [3.5, 1.0, 3.5, 2.0]
    # rho = Pearson of ranks [1, 2, 3] and [1.5, 1.5, 3]: (-1*-0.5 + 0 + 1*1) / sqrt(2 * 1.5)
    assert metrics.spearman([1, 2, 3], [7, 7, 9]) == pytest.approx(1.5 / math.sqrt(3.0))


def test_constant_features_give_finite_scores_and_no_cka():
    dead = np.zeros((20, 4))  # e.g. a block whose ReLUs are all off
    y = np.arange(20) % 2
    assert math.isfinite(metrics.logme(dead, y))
    assert metrics.h_score(dead, y) == 0.0
    with pytest.raises(metrics.Undefined, match="constant"):
        metrics.linear_cka(dead, _rng().normal(size=(20, 3)))


# --- undefined values: a null with a reason, never a number ---------------------------------------------------


def _with_nan(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    x[3, 1] = np.nan
    return x


@pytest.mark.parametrize("measure", [
    lambda x, y: metrics.ridge_probe(x, y, x, y),
    lambda x, y: metrics.linear_cka(x, x),
    lambda x, y: metrics.logme(x, y),
    lambda x, y: metrics.h_score(x, y),
])
def test_non_finite_features_are_undefined_not_a_number(measure):
    x, y = _separable()
    assert math.isfinite(measure(x, y))  # the same data without the nan has a value
    with pytest.raises(metrics.Undefined, match="non-finite"):
        measure(_with_nan(x), y)


def test_non_finite_source_probabilities_are_undefined():
    probs = np.full((8, 2), 0.5)
    y = np.arange(8) % 2
    assert metrics.leep(probs, y) == pytest.approx(math.log(0.5))
    probs[0, 0] = np.inf
    with pytest.raises(metrics.Undefined, match="non-finite"):
        metrics.leep(probs, y)


@pytest.mark.parametrize("n", [2, 3])
def test_cka_with_three_images_or_fewer_is_undefined(n):
    X, Y = _rng().normal(size=(n, 4)), _rng(1).normal(size=(n, 4))
    with pytest.raises(metrics.Undefined, match="images"):
        metrics.linear_cka(X, Y)
    with pytest.raises(metrics.Undefined, match="images"):
        metrics.hsic_unbiased(X @ X.T, Y @ Y.T)
    assert math.isfinite(metrics.linear_cka(_rng().normal(size=(5, 4)), _rng(1).normal(size=(5, 4))))


@pytest.mark.parametrize("measure", [
    lambda x, y: metrics.ridge_probe(x, y, x, y),
    lambda x, y: metrics.logme(x, y),
    lambda x, y: metrics.h_score(x, y),
    lambda x, y: metrics.nce(np.zeros(len(y), dtype=int), y),
])
def test_three_images_or_fewer_are_undefined(measure):
    x, y = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.2], [0.1, 0.9]]), np.array([0, 1, 1, 0])
    assert math.isfinite(measure(x, y))  # four images have a value
    with pytest.raises(metrics.Undefined, match="3 images"):
        measure(x[:3], y[:3])


def test_logme_adds_no_term_for_a_missing_class_id():
    x, y = _separable(k=2)
    gap = np.where(y == 1, 2, y)  # class ids 0 and 2: id 1 has no images
    assert metrics.logme(x, gap) == pytest.approx(metrics.logme(x, y))  # not the mean over three targets
    with pytest.raises(metrics.Undefined, match="class id 1 has no images"):
        metrics.logme(x, gap, classes=3)
    assert metrics.logme(x, y, classes=2) == pytest.approx(metrics.logme(x, y))


def test_t_metric_of_a_block_without_weights_or_unchanged_by_fine_tuning_is_undefined():
    with pytest.raises(metrics.Undefined, match="no conv or linear weights"):
        metrics.t_metric([], [], [])
    w = [np.ones((2, 2))]
    with pytest.raises(metrics.Undefined, match="D = 0"):
        metrics.t_metric([np.zeros((2, 2))], w, w)
