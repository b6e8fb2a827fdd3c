"""Anomaly and novelty detection: isolation forest, local outlier factor (novelty mode), one-class
SVM, elliptic envelope, Gaussian-mixture density (the book's method), PCA reconstruction error, and
a rank-averaged ensemble of detectors.

Every detector is scikit-learn's estimator after the usual preparation (scaled numbers, one-hot
categories), wrapped in :class:`Detector`: ``fit(X)`` fits it on the training rows (``y`` is ignored:
the engine passes the reference coordinates, and any known labels, which only score) and learns the
threshold at the contamination rate on the training rows' scores; ``predict(X)`` gives each row
``[score, flag]``, the score higher for more anomalous rows, the flag 1 above the threshold.

The contamination rate is the share of training rows flagged. A number fixes it; ``None`` (the
default, ``--contamination auto``) estimates it with a robust rule: the share of training rows
whose score is more than 3 robust standard deviations (1.4826 x the median absolute deviation)
above the median score, clipped to ``[1/n, 0.5]``. The rank-averaged ensemble takes the median of
its members' estimated rates.

>>> from sklearn.datasets import make_blobs
>>> X, _ = make_blobs(300, centers=[(0, 0)], random_state=0)
>>> X = np.vstack([X, [[9.0, 9.0], [-9.0, 8.0]]])
>>> model = Detector(IsolationForest(random_state=0), contamination=0.01).fit(X)
>>> model.predict([[0.0, 0.0], [10.0, 10.0]])[:, 1].tolist()
[0.0, 1.0]
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.covariance import EllipticEnvelope
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import LocalOutlierFactor
from sklearn.svm import OneClassSVM
from sklearn.utils.validation import check_is_fitted, validate_data

from mlcraft.core.fit.family import Choice, Family, Float, Int

__all__ = [
    "ANOMALY",
    "Detector",
    "RankAverage",
    "PCAReconstruction",
    "robust_rate",
    "threshold_at",
    "FAMILIES",
]

ANOMALY = frozenset({"anomaly"})
OCSVM_MAX_ROWS = 5_000  # the kernel matrix grows with the square of the rows (as the kernel SVM)
LOF_MAX_ROWS = 10_000  # its neighbour searches: 5.7 s on 20,000 x 10 rows, 2.2 s on 10,000
ENVELOPE_MAX_ROWS = 5_000  # minimum covariance determinant: repeated covariance fits
ROBUST_Z = 3.0
MAD_TO_SD = 1.4826  # the median absolute deviation of a normal variable, times this, is its SD


def robust_rate(scores: np.ndarray) -> float:
    """The share of ``scores`` above median + 3 x 1.4826 x MAD, clipped to ``[1/n, 0.5]``."""
    s = np.asarray(scores, dtype=float)
    s = s[np.isfinite(s)]
    n = max(len(s), 1)
    median = float(np.median(s)) if len(s) else 0.0
    mad = float(np.median(np.abs(s - median))) if len(s) else 0.0
    if mad <= 0:  # more than half the rows score the same: the rows strictly above them
        rate = float(np.mean(s > median)) if len(s) else 0.0
    else:
        rate = float(np.mean(s > median + ROBUST_Z * MAD_TO_SD * mad))
    return float(min(max(rate, 1.0 / n), 0.5))


def threshold_at(scores: np.ndarray, rate: float) -> float:
    """The score above which ``rate`` of ``scores`` lie (the (1 - rate) quantile)."""
    return float(np.quantile(np.asarray(scores, dtype=float), 1.0 - rate, method="higher"))


class PCAReconstruction(BaseEstimator):
    """PCA's reconstruction error: the squared distance of a row to its projection back from the
    principal components that keep ``variance`` of the variance (the book's chapter 8)."""

    def __init__(self, variance: float = 0.9, random_state: int | None = None):
        self.variance = variance
        self.random_state = random_state

    def fit(self, X, y=None):
        X = validate_data(self, X, dtype=np.float64)
        n_max = min(X.shape)
        pca = PCA(n_components=float(self.variance), svd_solver="full")
        if n_max <= 1:
            pca = PCA(n_components=n_max, svd_solver="full")
        self.pca_ = pca.fit(X)
        return self

    def score_samples(self, X):
        """Minus the reconstruction error (scikit-learn's convention: higher is more normal)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        back = self.pca_.inverse_transform(self.pca_.transform(X))
        return -np.sum((X - back) ** 2, axis=1)


class _Density(BaseEstimator):
    """A Gaussian mixture's log density (the book: anomalies lie in low-density regions)."""

    def __init__(
        self,
        n_components: int = 1,
        covariance_type: str = "full",
        random_state: int | None = None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.random_state = random_state

    def fit(self, X, y=None):
        X = validate_data(self, X, dtype=np.float64)
        k = max(1, min(int(self.n_components), X.shape[0] // 10 or 1))
        self.mixture_ = GaussianMixture(
            n_components=k,
            covariance_type=self.covariance_type,
            reg_covar=1e-4,  # a constant one-hot column within a component: see models.cluster
            n_init=1,
            random_state=self.random_state,
        ).fit(X)
        return self

    def score_samples(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.mixture_.score_samples(X)


class Detector(OutlierMixin, BaseEstimator):
    """A detector with a score and a flag: ``predict(X)`` is ``[score, flag]`` per row.

    Parameters
    ----------
    estimator : scikit-learn estimator with ``score_samples`` (higher: more normal)
        Fitted (a clone) on the training rows, or on ``max_rows`` of them drawn with ``random_state``.
    contamination : float or None
        The share of training rows flagged; None: :func:`robust_rate` of their scores.
    max_rows, random_state
        The subsample of large tables (one-class SVM, elliptic envelope, LOF).

    Attributes
    ----------
    train_scores_ : ndarray
        The training rows' scores, sorted (their empirical distribution: the rank-average's ruler).
    contamination_ : float
        The rate used; ``threshold_`` the score above which a row is flagged.
    """

    def __init__(
        self,
        estimator: Any = None,
        contamination: float | None = None,
        max_rows: int | None = None,
        random_state: int | None = None,
    ):
        self.estimator = estimator
        self.contamination = contamination
        self.max_rows = max_rows
        self.random_state = random_state

    def fit(self, X, y=None):
        self.fit_scores(X)
        return self

    def fit_scores(self, X) -> np.ndarray:
        """Fit on ``X`` and return its rows' scores (those the threshold was learnt on)."""
        X = validate_data(self, X, dtype=np.float64)
        n = X.shape[0]
        rows = np.arange(n)
        if self.max_rows is not None and n > self.max_rows:
            rng = np.random.default_rng(self.random_state)
            rows = np.sort(rng.choice(n, size=int(self.max_rows), replace=False))
        est = clone(self.estimator)
        with warnings.catch_warnings():
            # a singular covariance (constant or collinear columns): the envelope is still usable
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            warnings.filterwarnings("ignore", category=UserWarning)
            est.fit(X[rows])
        self.estimator_ = est
        own = getattr(est, "negative_outlier_factor_", None)
        if own is not None and len(rows) == n:
            # LOF: the training rows' own factors (each row not its own neighbour), as scikit-learn
            # sets its offset, and no second neighbour search over them
            scores = np.nan_to_num(-np.asarray(own, dtype=float), posinf=np.finfo(float).max)
        else:
            scores = self._scores(X)
        self.train_scores_ = np.sort(scores)
        self.contamination_ = (
            robust_rate(scores) if self.contamination is None else float(self.contamination)
        )
        self.threshold_ = threshold_at(scores, self.contamination_)
        return scores

    def _scores(self, X: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            out = -np.asarray(self.estimator_.score_samples(X), dtype=float)
        return np.nan_to_num(out, nan=np.inf, posinf=np.finfo(float).max)

    def score_samples(self, X) -> np.ndarray:
        """Each row's anomaly score (higher: more anomalous)."""
        check_is_fitted(self)
        return self._scores(validate_data(self, X, dtype=np.float64, reset=False))

    def predict(self, X) -> np.ndarray:
        """``[score, flag]`` per row; the flag is 1 above the threshold learnt in ``fit``."""
        s = self.score_samples(X)
        return np.column_stack([s, (s > self.threshold_).astype(float)])


class RankAverage(OutlierMixin, BaseEstimator):
    """Several detectors, each row scored by the mean over them of the empirical CDF of its score
    among the training rows' scores (its rank, in [0, 1]); the flag at the contamination rate of
    the ensemble's training scores (auto: the median of the members' estimated rates)."""

    def __init__(self, detectors: Any = None, contamination: float | None = None):
        self.detectors = detectors
        self.contamination = contamination

    def fit(self, X, y=None):
        X = validate_data(self, X, dtype=np.float64)
        self.detectors_ = [clone(d).set_params(contamination=None) for d in self.detectors]
        own = [d.fit_scores(X) for d in self.detectors_]  # no second scoring of the rows
        scores = np.mean(
            [
                np.searchsorted(d.train_scores_, s, side="right") / len(d.train_scores_)
                for d, s in zip(self.detectors_, own)
            ],
            axis=0,
        )
        self.contamination_ = (
            float(np.median([d.contamination_ for d in self.detectors_]))
            if self.contamination is None
            else float(self.contamination)
        )
        self.train_scores_ = np.sort(scores)
        self.threshold_ = threshold_at(scores, self.contamination_)
        return self

    def _scores(self, X: np.ndarray) -> np.ndarray:
        ranks = [
            np.searchsorted(d.train_scores_, d.score_samples(X), side="right")
            / len(d.train_scores_)
            for d in self.detectors_
        ]
        return np.mean(ranks, axis=0)

    def score_samples(self, X) -> np.ndarray:
        check_is_fitted(self)
        return self._scores(validate_data(self, X, dtype=np.float64, reset=False))

    def predict(self, X) -> np.ndarray:
        s = self.score_samples(X)
        return np.column_stack([s, (s > self.threshold_).astype(float)])


# -- builds --------------------------------------------------------------------------------------


def _rate(ctx) -> float | None:
    return ctx.options.get("contamination")


def _isolation_forest(p, ctx):
    inner = IsolationForest(
        n_estimators=p["n_estimators"],
        max_samples=p["max_samples"],
        random_state=ctx.seed,
        n_jobs=ctx.n_jobs,
    )
    return Detector(inner, contamination=_rate(ctx))


def _lof(p, ctx):
    inner = LocalOutlierFactor(n_neighbors=p["n_neighbors"], novelty=True, n_jobs=ctx.n_jobs)
    return Detector(inner, contamination=_rate(ctx), max_rows=LOF_MAX_ROWS, random_state=ctx.seed)


def _one_class_svm(p, ctx):
    inner = OneClassSVM(nu=p["nu"], gamma=p["gamma"])
    return Detector(inner, contamination=_rate(ctx), max_rows=OCSVM_MAX_ROWS, random_state=ctx.seed)


def _elliptic_envelope(p, ctx):
    inner = EllipticEnvelope(support_fraction=p["support_fraction"], random_state=ctx.seed)
    return Detector(
        inner, contamination=_rate(ctx), max_rows=ENVELOPE_MAX_ROWS, random_state=ctx.seed
    )


def _gmm_density(p, ctx):
    inner = _Density(p["n_components"], p["covariance_type"], random_state=ctx.seed)
    return Detector(inner, contamination=_rate(ctx))


def _pca_reconstruction(p, ctx):
    return Detector(PCAReconstruction(p["variance"]), contamination=_rate(ctx))


_MEMBERS = {
    "isolation_forest": lambda ctx: _isolation_forest(
        {"n_estimators": 200, "max_samples": "auto"}, ctx
    ),
    "lof": lambda ctx: _lof({"n_neighbors": 20}, ctx),
    "gmm_density": lambda ctx: _gmm_density({"n_components": 1, "covariance_type": "full"}, ctx),
    "pca_reconstruction": lambda ctx: _pca_reconstruction({"variance": 0.9}, ctx),
    "one_class_svm": lambda ctx: _one_class_svm({"nu": 0.1, "gamma": "scale"}, ctx),
}
DEFAULT_MEMBERS = "isolation_forest+lof+gmm_density+pca_reconstruction"


def _rank_average(p, ctx):
    members = [_MEMBERS[name](ctx) for name in str(p["members"]).split("+")]
    return RankAverage(members, contamination=_rate(ctx))


def _family(**fields: Any) -> Family:
    """An anomaly detector: distances and densities need scaled numbers and one-hot categories."""
    return Family(tasks=ANOMALY, needs_scaling=True, categorical="onehot", **fields)


# -- costs: seconds of one fit (training rows scored too) on one core, measured on Gaussian tables
# of 2,000, 20,000 and 50,000 rows x 10 columns at the defaults (a busy 2-core machine) --------


def _if_cost(n, d):  # 0.27 s, 0.73 s, 1.6 s
    return 0.2 + 3e-5 * n * (1 + d / 50)


def _lof_cost(n, d):  # 0.07 s at 2,000; 8.7 s at 50,000 (10,000 fitted)
    m = min(n, LOF_MAX_ROWS)
    # the rows beyond the cap are scored by a neighbour search (7 s for 40,000 more rows)
    return 0.02 + 1.5e-9 * m * m * max(d, 1) + 1.8e-5 * max(n - m, 0) * max(d, 1)


def _gmm_cost(n, d):  # 0.03 s, 0.26 s
    return 0.03 + 8e-8 * n * max(d, 1) * (1 + d / 4)


def _pca_cost(n, d):  # 0.09 s, 0.21 s
    return 0.05 + 8e-7 * n * max(d, 1)


def _envelope_cost(n, d):  # 0.71 s, 2.3 s (5,000 rows fitted)
    return 0.2 + 3e-6 * min(n, ENVELOPE_MAX_ROWS) * max(d, 1) ** 2 + 3e-8 * n * max(d, 1) ** 2


def _rank_cost(n, d):  # its members'
    return _if_cost(n, d) + _lof_cost(n, d) + _gmm_cost(n, d) + _pca_cost(n, d)


FAMILIES = [
    _family(
        name="rank_average",
        priority=90,
        build=_rank_average,
        space=lambda task, n: {
            "members": Choice(
                (
                    DEFAULT_MEMBERS,
                    "isolation_forest+lof+gmm_density",
                    "isolation_forest+gmm_density+pca_reconstruction",
                    "isolation_forest+lof+gmm_density+pca_reconstruction+one_class_svm",
                ),
                DEFAULT_MEMBERS,
            )
        },
        cost=_rank_cost,
        description="rank-averaged ensemble (mean empirical CDF of isolation forest, LOF, Gaussian density and PCA error)",
    ),
    _family(
        name="isolation_forest",
        priority=80,
        build=_isolation_forest,
        space=lambda task, n: {
            "n_estimators": Int(50, 500, 200, log=True),
            "max_samples": Choice(("auto", 0.5, 1.0), "auto"),
        },
        cost=_if_cost,
        description="isolation forest (rows isolated by few random splits are anomalous)",
    ),
    _family(
        name="lof",
        priority=70,
        build=_lof,
        space=lambda task, n: {"n_neighbors": Int(5, 100, 20, log=True)},
        cost=_lof_cost,
        description="local outlier factor (novelty mode: new rows scored against the training rows)",
    ),
    _family(
        name="gmm_density",
        priority=70,
        build=_gmm_density,
        space=lambda task, n: {
            "n_components": Int(1, 10, 1),
            "covariance_type": Choice(("full", "diag", "tied", "spherical"), "full"),
        },
        cost=_gmm_cost,
        description="Gaussian-mixture density (the book: flag the rows of lowest density)",
    ),
    _family(
        name="pca_reconstruction",
        priority=60,
        build=_pca_reconstruction,
        space=lambda task, n: {"variance": Float(0.5, 0.99, 0.9)},
        cost=_pca_cost,
        description="PCA reconstruction error (components keeping 90% of the variance)",
    ),
    _family(
        name="elliptic_envelope",
        priority=40,
        build=_elliptic_envelope,
        space=lambda task, n: {"support_fraction": Choice((None, 0.7, 0.9), None)},
        cost=_envelope_cost,
        description=f"elliptic envelope (robust covariance; fitted on at most {ENVELOPE_MAX_ROWS:,} rows)",
    ),
    _family(
        name="one_class_svm",
        priority=30,
        build=_one_class_svm,
        space=lambda task, n: {
            "nu": Float(0.01, 0.5, 0.1, log=True),
            "gamma": Choice(("scale", 0.01, 0.1, 1.0), "scale"),
        },
        cost=lambda n, d: 0.05 + 2.6e-8 * min(n, OCSVM_MAX_ROWS) ** 2 * (1 + d / 20),
        description=f"one-class SVM (RBF kernel; fitted on at most {OCSVM_MAX_ROWS:,} rows)",
    ),
]
