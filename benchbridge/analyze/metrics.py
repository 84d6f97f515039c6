"""Per-layer measurements, each written from its paper's definition (docs/analytics.md cites them). Pure numpy.

Features are `(n, d)` float arrays, one row per image; labels are `(n,)` integer arrays with values 0..k-1.
"""

from __future__ import annotations

import math

import numpy as np

RIDGE = 1.0
"""Ridge penalty of the linear probe, on standardised features (with an unpenalised bias)."""

MIN_IMAGES = 4
"""Fewer images than this give no value: debiased HSIC divides by n(n-3), and 3 images describe no distribution."""


class Undefined(ArithmeticError):
    """A measurement that has no value here (non-finite input, too few images, no weights): a null with a reason.

    Raised by the functions below; an analysis may also return an instance as a point's value.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _f64(x: np.ndarray, what: str = "features") -> np.ndarray:
    """float64 rows, refused when any value is nan or inf, or when there are fewer than MIN_IMAGES rows."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if not np.isfinite(x).all():
        raise Undefined(f"non-finite {what} ({int(np.sum(~np.isfinite(x)))} values are nan or inf)")
    if len(x) < MIN_IMAGES:
        raise Undefined(f"{len(x)} images: at least {MIN_IMAGES} are needed")
    return x


# --- CKA (Kornblith et al. 2019) with the unbiased HSIC estimator (Song et al. 2012) ---------------------------


def hsic_unbiased(K: np.ndarray, L: np.ndarray) -> float:
    """HSIC_1 of two n x n Gram matrices (n > 3): the unbiased estimator with zeroed diagonals."""
    n = K.shape[0]
    if n < MIN_IMAGES:
        raise Undefined(f"{n} images: debiased HSIC divides by n(n-3) and needs at least {MIN_IMAGES}")
    K, L = K.copy(), L.copy()
    np.fill_diagonal(K, 0.0)
    np.fill_diagonal(L, 0.0)
    ones_K, ones_L = K.sum(axis=0), L.sum(axis=0)
    term = np.sum(K * L) + ones_K.sum() * ones_L.sum() / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * ones_K @ ones_L
    return float(term / (n * (n - 3)))


def _hsic_linear(X: np.ndarray, Y: np.ndarray) -> float:
    """hsic_unbiased(X X^T, Y Y^T) computed from the features, without the n x n Gram matrices."""
    n = len(X)
    kd, ld = np.einsum("ij,ij->i", X, X), np.einsum("ij,ij->i", Y, Y)  # diagonals of K and L
    k1, l1 = X @ X.sum(axis=0) - kd, Y @ Y.sum(axis=0) - ld  # row sums of K and L with zeroed diagonals
    trace = float(np.sum((X.T @ Y) ** 2) - kd @ ld)
    term = trace + k1.sum() * l1.sum() / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * float(k1 @ l1)
    return float(term / (n * (n - 3)))


def linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear CKA of two representations of the same n images: HSIC_1(K, L) / sqrt(HSIC_1(K, K) HSIC_1(L, L))."""
    X, Y = _f64(X), _f64(Y)
    X, Y = X - X.mean(axis=0), Y - Y.mean(axis=0)
    if len(X) != len(Y):
        raise ValueError(f"CKA compares representations of the same images: {len(X)} != {len(Y)} rows")
    denom = math.sqrt(max(_hsic_linear(X, X), 0.0) * max(_hsic_linear(Y, Y), 0.0))
    if not denom > 0:
        raise Undefined("a representation is constant over the images (HSIC with itself is 0)")
    return _hsic_linear(X, Y) / denom


# --- linear probe --------------------------------------------------------------------------------------------


def ridge_probe(train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray,
                ridge: float = RIDGE) -> float:
    """Top-1 on (val_x, val_y) of closed-form ridge regression onto one-hot labels fitted on (train_x, train_y)."""
    train_x, val_x = _f64(train_x), _f64(val_x)
    if len(np.unique(train_y)) < 2:
        raise Undefined("the probe's training images hold fewer than 2 classes")
    mean, std = train_x.mean(axis=0), train_x.std(axis=0) + 1e-8
    A, V = (train_x - mean) / std, (val_x - mean) / std
    k = int(max(train_y.max(), val_y.max())) + 1
    T = np.eye(k)[train_y]
    bias = T.mean(axis=0)
    W = np.linalg.solve(A.T @ A + ridge * np.eye(A.shape[1]), A.T @ (T - bias))
    predicted = np.argmax(V @ W + bias, axis=1)
    return float(np.mean(predicted == val_y))


# --- LogME (You et al. 2021) ---------------------------------------------------------------------------------


def _classes(labels: np.ndarray, classes: int | None) -> np.ndarray:
    """The class ids to score: 0..classes-1, each of which must have an image; else the ids present."""
    present = np.unique(np.asarray(labels))
    if classes is None:
        return present
    empty = sorted(set(range(classes)) - {int(c) for c in present})
    if empty:
        raise Undefined(f"class id {empty[0]} has no images ({len(empty)} of {classes} classes are empty)")
    return np.arange(classes)


def logme(features: np.ndarray, labels: np.ndarray, iterations: int = 100, tol: float = 1e-5,
          classes: int | None = None) -> float:
    """Mean over classes of the maximised log evidence per image of a Bayesian linear model onto one-hot labels.

    For each class, y ~ N(F w, 1/beta), w ~ N(0, 1/alpha I); alpha and beta are found by MacKay's fixed-point
    iteration (You et al. 2021, Algorithm 1) and the log evidence at them, divided by n, is averaged over classes.
    The classes are those present in `labels` (an absent id would add the evidence of an all-zero target); given
    `classes` (k), every id 0..k-1 must have an image, else there is no value.
    """
    F = _f64(features)
    n, d = F.shape
    u, s, _ = np.linalg.svd(F, full_matrices=False)
    sigma = s**2  # eigenvalues of F^T F (the others are 0)
    scores = []
    for c in _classes(labels, classes):
        y = (labels == c).astype(np.float64)
        z = u.T @ y  # y in the singular basis
        rest = float(y @ y - z @ z)  # part of y outside F's column space
        alpha, beta = 1.0, 1.0
        for _ in range(iterations):
            gamma = float(np.sum(beta * sigma / (alpha + beta * sigma)))
            m2 = float(np.sum((beta * s * z / (alpha + beta * sigma)) ** 2))  # m^T m
            res2 = float(np.sum((alpha * z / (alpha + beta * sigma)) ** 2)) + rest  # ||F m - y||^2
            new_alpha = max(gamma, 1e-12) / max(m2, 1e-12)  # floors: constant features give gamma = m2 = 0
            new_beta = max(n - gamma, 1e-12) / max(res2, 1e-12)
            done = abs(new_alpha / new_beta - alpha / beta) / (alpha / beta) < tol
            alpha, beta = new_alpha, new_beta
            if done:
                break
        scores.append(_evidence(n, d, sigma, z, rest, alpha, beta) / n)
    return float(np.mean(scores))


def _evidence(n: int, d: int, sigma: np.ndarray, z: np.ndarray, rest: float, alpha: float, beta: float) -> float:
    """log p(y | F, alpha, beta), written in F's singular basis (sigma: nonzero eigenvalues of F^T F)."""
    m2 = float(np.sum((beta * np.sqrt(sigma) * z / (alpha + beta * sigma)) ** 2))
    res2 = float(np.sum((alpha * z / (alpha + beta * sigma)) ** 2)) + rest
    logdet = float(np.sum(np.log(alpha + beta * sigma))) + (d - len(sigma)) * math.log(alpha)
    return (n / 2 * math.log(beta) + d / 2 * math.log(alpha) - n / 2 * math.log(2 * math.pi)
            - beta / 2 * res2 - alpha / 2 * m2 - logdet / 2)


# --- H-score (Bao et al. 2019) -------------------------------------------------------------------------------


def h_score(features: np.ndarray, labels: np.ndarray) -> float:
    """tr(cov(f)^+ cov(E[f | y])): population covariances, pseudo-inverse for rank-deficient features."""
    F = _f64(features)
    if len(np.unique(labels)) < 2:
        raise Undefined("fewer than 2 classes among the images")
    F = F - F.mean(axis=0)
    cov_f = F.T @ F / len(F)
    class_means = np.zeros_like(F)
    for c in np.unique(labels):
        class_means[labels == c] = F[labels == c].mean(axis=0)
    cov_g = class_means.T @ class_means / len(F)
    return float(np.trace(np.linalg.pinv(cov_f, rcond=1e-10, hermitian=True) @ cov_g))


# --- LEEP (Nguyen et al. 2020) and NCE (Tran et al. 2019) --------------------------------------------------------


def leep(source_probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean log of the expected empirical prediction: (1/n) sum_i log sum_z P(y_i | z) theta(x_i)_z."""
    P = _f64(source_probs, "source probabilities")
    k = int(labels.max()) + 1
    joint = np.stack([P[labels == y].sum(axis=0) for y in range(k)]) / len(P)  # (target y, source z)
    conditional = joint / np.maximum(joint.sum(axis=0, keepdims=True), 1e-300)  # P(y | z)
    eep = np.sum(conditional[labels] * P, axis=1)
    return float(np.mean(np.log(eep)))


def nce(source_labels: np.ndarray, labels: np.ndarray) -> float:
    """Negative conditional entropy -H(Y | Z) of target labels given the source model's hard labels z."""
    z, y = np.asarray(source_labels), np.asarray(labels)
    if len(y) < MIN_IMAGES:
        raise Undefined(f"{len(y)} images: at least {MIN_IMAGES} are needed")
    joint = np.zeros((int(y.max()) + 1, int(z.max()) + 1))
    np.add.at(joint, (y, z), 1.0)
    joint /= len(y)
    p_z = joint.sum(axis=0, keepdims=True)
    nz = joint > 0
    return float(np.sum(joint[nz] * np.log((joint / np.maximum(p_z, 1e-300))[nz])))


# --- Chen et al. 2022 T-metric -----------------------------------------------------------------------------------


def mean_abs_distance(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """D of a block: per weight tensor the mean absolute difference, averaged over the block's tensors (Chen's code)."""
    if not a:
        raise Undefined("the block has no conv or linear weights")
    per_tensor = [float(np.mean(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)))) for x, y in zip(a, b)]
    if not all(math.isfinite(d) for d in per_tensor):
        raise Undefined("non-finite weights")
    return float(np.mean(per_tensor))


def t_metric(random: list[np.ndarray], pretrained: list[np.ndarray], finetuned: list[np.ndarray]) -> float:
    """T = D(random, fine-tuned) / D(pre-trained, fine-tuned): > 1 when fine-tuning stayed near the pre-trained.

    `random` is the pre-trained network's own initialisation (theta_r), not the fine-tuned run's.
    """
    far = mean_abs_distance(pretrained, finetuned)
    if not far > 0:
        raise Undefined("the fine-tuned weights equal the pre-trained ones (D = 0)")
    return mean_abs_distance(random, finetuned) / far


# --- Spearman ----------------------------------------------------------------------------------------------------


def ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties given the mean of the ranks they span."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    r = np.empty(len(x))
    r[order] = np.arange(1, len(x) + 1)
    for value in np.unique(x):
        tied = x == value
        r[tied] = r[tied].mean()
    return r


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho: Pearson's correlation of the ranks (nan when either side is constant or n < 2)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 2:
        return float("nan")
    rx, ry = ranks(x[keep]), ranks(y[keep])
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = math.sqrt(float(rx @ rx) * float(ry @ ry))
    return float(rx @ ry / denom) if denom > 0 else float("nan")
