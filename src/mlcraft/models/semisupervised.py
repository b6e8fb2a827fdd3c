"""Semi-supervised classifiers: they learn from the labelled rows and from rows without a label.

Used with ``--semi-supervised``: the engine fits them on a fold's labelled rows plus every
unlabelled training row, whose target is None (``Family.semi_supervised``); supervised families see
the labelled rows only. Each estimator here encodes the classes of the labelled rows and gives
scikit-learn's semi-supervised estimators their convention (``-1``: unlabelled).

- ``representatives``: the book's method (chapter 9, "Using clustering for semi-supervised
  learning"): k-means on every row, each cluster takes the majority label of its labelled rows and
  propagates it to its unlabelled rows nearest the centre (a percentile of the cluster's distances),
  then a logistic regression is fitted on the labelled and propagated rows.
- ``label_spreading``: :class:`sklearn.semi_supervised.LabelSpreading` (knn or rbf kernel).
- ``self_training``: :class:`sklearn.semi_supervised.SelfTrainingClassifier` around a logistic
  regression or a random forest (it labels its own confident predictions and refits).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.cluster import KMeans
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading, SelfTrainingClassifier
from sklearn.utils.validation import check_array, check_is_fitted

from mlcraft.core.fit.family import Choice, Family, Float, Int
from mlcraft.models._common import CLASSIFICATION

__all__ = [
    "FAMILIES",
    "RepresentativesClassifier",
    "SpreadingClassifier",
    "SelfTrainedClassifier",
    "encode_partial",
]

SCALE = Choice((True, False), True)  # standardise the numbers first (pixels may rather not)
MAX_SPREAD_ROWS = 4000  # label spreading's rbf kernel is a dense rows x rows matrix


def encode_partial(y) -> tuple[np.ndarray, np.ndarray]:
    """The classes of the labelled values of ``y`` (missing: None/NaN) and codes, ``-1`` for unlabelled.

    Examples
    --------
    >>> classes, codes = encode_partial(["b", None, "a", "b"])
    >>> classes.tolist(), codes.tolist()
    (['a', 'b'], [1, -1, 0, 1])
    """
    values = np.asarray(pd.Series(list(y), dtype=object))
    known = ~pd.isna(values)
    classes = np.array(sorted(set(values[known].tolist())))
    codes = np.full(len(values), -1, dtype=int)
    lookup = {c: i for i, c in enumerate(classes.tolist())}
    codes[known] = [lookup[v] for v in values[known].tolist()]
    return classes, codes


class _Partial(ClassifierMixin, BaseEstimator):
    """A classifier fitted on rows of which some have no label; probabilities over ``classes_``."""

    scale: bool

    def _prepare(self, X, y):
        X = check_array(X, accept_sparse="csr", dtype=float)
        self.scaler_ = (
            StandardScaler(with_mean=not hasattr(X, "toarray")).fit(X) if self.scale else None
        )
        X = self._scaled(X)
        self.classes_, codes = encode_partial(y)
        if len(self.classes_) < 2:
            raise ValueError("the labelled rows hold fewer than two classes")
        self.n_labelled_ = int((codes >= 0).sum())
        return X, codes

    def _scaled(self, X):
        X = check_array(X, accept_sparse="csr", dtype=float)
        return X if self.scaler_ is None else self.scaler_.transform(X)

    def _proba(self, proba: np.ndarray, codes) -> np.ndarray:
        """``proba`` (columns: the class codes ``codes``) over every class, rows summing to one."""
        out = np.zeros((proba.shape[0], len(self.classes_)))
        out[:, np.asarray(codes, dtype=int)] = np.nan_to_num(proba, nan=0.0)
        total = out.sum(axis=1, keepdims=True)
        empty = total[:, 0] <= 0
        out[empty] = 1.0 / len(self.classes_)
        total[empty] = 1.0
        return out / total

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class RepresentativesClassifier(_Partial):
    """The book's cluster representatives: k-means, label propagation within clusters, a classifier.

    Parameters
    ----------
    clusters_per_label : float
        k-means clusters per labelled row (the book: 50 clusters for 50 labels).
    percentile : float
        Each cluster's label reaches its unlabelled rows up to this percentile of their distances to
        the centre (100: the whole cluster; the book also tries 20).
    C : float
        Inverse regularisation of the logistic regression fitted on the propagated labels.
    """

    def __init__(
        self,
        clusters_per_label: float = 1.0,
        percentile: float = 50.0,
        C: float = 1.0,
        scale: bool = True,
        random_state: int | None = None,
    ):
        self.scale = scale
        self.clusters_per_label = clusters_per_label
        self.percentile = percentile
        self.C = C
        self.random_state = random_state

    def fit(self, X, y):
        X, codes = self._prepare(X, y)
        n = X.shape[0]
        k = int(np.clip(round(self.clusters_per_label * self.n_labelled_), 2, max(2, n - 1)))
        kmeans = KMeans(n_clusters=k, n_init=3, random_state=self.random_state).fit(X)
        cluster = kmeans.labels_
        distance = kmeans.transform(X)[np.arange(n), cluster]
        train = codes.copy()
        for c in range(k):
            members = cluster == c
            known = codes[members & (codes >= 0)]
            if not len(known):
                continue  # a cluster without a labelled row propagates nothing
            label = int(np.bincount(known).argmax())
            limit = np.percentile(distance[members], self.percentile)
            train[members & (codes < 0) & (distance <= limit)] = label
        use = train >= 0
        self.n_propagated_ = int(use.sum()) - self.n_labelled_
        self.kmeans_ = kmeans
        self.model_ = LogisticRegression(C=self.C, max_iter=2000).fit(X[use], train[use])
        return self

    def predict_proba(self, X):
        check_is_fitted(self)
        X = self._scaled(X)
        return self._proba(self.model_.predict_proba(X), self.model_.classes_)


class SpreadingClassifier(_Partial):
    """scikit-learn's label spreading; ``gamma`` is relative to the data's scale (as SVC's "scale")."""

    def __init__(
        self,
        kernel: str = "knn",
        n_neighbors: int = 7,
        gamma: float = 20.0,
        alpha: float = 0.2,
        scale: bool = True,
        random_state: int | None = None,
    ):
        self.scale = scale
        self.kernel = kernel
        self.n_neighbors = n_neighbors
        self.gamma = gamma
        self.alpha = alpha
        self.random_state = random_state

    def fit(self, X, y):
        X, codes = self._prepare(X, y)
        X = X.toarray() if hasattr(X, "toarray") else X
        if self.kernel == "rbf" and len(codes) > MAX_SPREAD_ROWS:  # keep every labelled row
            rng = np.random.default_rng(self.random_state)
            unlabelled = rng.permutation(np.flatnonzero(codes < 0))
            keep = np.sort(
                np.r_[
                    np.flatnonzero(codes >= 0),
                    unlabelled[: max(0, MAX_SPREAD_ROWS - self.n_labelled_)],
                ]
            )
            X, codes = X[keep], codes[keep]
        scale = 1.0 / max(X.shape[1] * float(X.var()), 1e-12)
        self.model_ = LabelSpreading(
            kernel=self.kernel,
            n_neighbors=int(min(self.n_neighbors, len(codes) - 1)),
            gamma=self.gamma * scale,
            alpha=self.alpha,
            max_iter=100,
        ).fit(X, codes)
        return self

    def predict_proba(self, X):
        check_is_fitted(self)
        X = self._scaled(X)
        X = X.toarray() if hasattr(X, "toarray") else X
        with np.errstate(invalid="ignore", divide="ignore"):  # a row far from all: uniform
            proba = self.model_.predict_proba(X)
        return self._proba(proba, self.model_.classes_)


class SelfTrainedClassifier(_Partial):
    """scikit-learn's self-training around ``base`` ("logistic" or "random_forest")."""

    def __init__(
        self,
        base: str = "logistic",
        threshold: float = 0.9,
        C: float = 1.0,
        max_iter: int = 10,
        scale: bool = True,
        random_state: int | None = None,
    ):
        self.scale = scale
        self.base = base
        self.threshold = threshold
        self.C = C
        self.max_iter = max_iter
        self.random_state = random_state

    def _base(self):
        if self.base == "random_forest":
            return RandomForestClassifier(n_estimators=100, random_state=self.random_state)
        return LogisticRegression(C=self.C, max_iter=2000)

    def fit(self, X, y):
        X, codes = self._prepare(X, y)
        with warnings.catch_warnings():  # "no unlabeled samples": then it is its base classifier
            warnings.simplefilter("ignore", UserWarning)
            self.model_ = SelfTrainingClassifier(
                clone(self._base()), threshold=self.threshold, max_iter=self.max_iter
            ).fit(X, codes)
        return self

    def predict_proba(self, X):
        check_is_fitted(self)
        X = self._scaled(X)
        return self._proba(self.model_.predict_proba(X), self.model_.classes_)


def _memory(n: int, d: int, p) -> float:
    return 100e6 + 8.0 * n * d * 6


FAMILIES = [
    Family(
        name="representatives",
        priority=70,
        tasks=CLASSIFICATION,
        semi_supervised=True,
        build=lambda p, ctx: RepresentativesClassifier(
            clusters_per_label=p["clusters_per_label"],
            percentile=p["percentile"],
            C=p["C"],
            scale=p["scale"],
            random_state=ctx.seed,
        ),
        space=lambda task, n: {
            "clusters_per_label": Float(0.5, 3.0, 1.0),
            "percentile": Float(10.0, 100.0, 50.0),
            "C": Float(1e-2, 1e2, 1.0, log=True),
            "scale": SCALE,
        },
        portfolio=lambda task, n: [
            {"scale": False},
            {"percentile": 20.0},
            {"percentile": 100.0},
            {"clusters_per_label": 2.0},
        ],
        cost=lambda n, d: 0.5 + 2e-5 * n * d,
        needs_scaling=False,  # standardised inside, or not: "scale" is searched
        memory=_memory,
        description="the book's cluster representatives: k-means, labels propagated within clusters, logistic regression",
    ),
    Family(
        name="label_spreading",
        priority=70,
        tasks=CLASSIFICATION,
        semi_supervised=True,
        build=lambda p, ctx: SpreadingClassifier(
            kernel=p["kernel"],
            n_neighbors=p["n_neighbors"],
            gamma=p["gamma"],
            alpha=p["alpha"],
            scale=p["scale"],
            random_state=ctx.seed,
        ),
        space=lambda task, n: {
            "kernel": Choice(("knn", "rbf"), "knn"),
            "n_neighbors": Int(3, 30, 7, log=True),
            "gamma": Float(3.0, 100.0, 20.0, log=True),
            "alpha": Float(0.01, 0.8, 0.2, log=True),
            "scale": SCALE,
        },
        portfolio=lambda task, n: [
            {"scale": False},
            {"kernel": "rbf"},
            {"n_neighbors": 15, "scale": False},
        ],
        cost=lambda n, d: 0.5 + 2e-5 * n * d,
        needs_scaling=False,  # standardised inside, or not: "scale" is searched
        memory=lambda n, d, p: 100e6 + 8.0 * MAX_SPREAD_ROWS**2 * 3,
        description="scikit-learn's label spreading over a knn or rbf graph of all rows",
    ),
    Family(
        name="self_training",
        priority=60,
        tasks=CLASSIFICATION,
        semi_supervised=True,
        build=lambda p, ctx: SelfTrainedClassifier(
            base=p["base"],
            threshold=p["threshold"],
            C=p["C"],
            scale=p["scale"],
            random_state=ctx.seed,
        ),
        space=lambda task, n: {
            "base": Choice(("logistic", "random_forest"), "logistic"),
            "threshold": Float(0.5, 0.99, 0.9),
            "C": Float(1e-2, 1e2, 1.0, log=True),
            "scale": SCALE,
        },
        portfolio=lambda task, n: [
            {"scale": False},
            {"base": "random_forest", "threshold": 0.7},
        ],
        cost=lambda n, d: 1.0 + 1e-4 * n * d,
        needs_scaling=False,  # standardised inside, or not: "scale" is searched
        memory=_memory,
        description="scikit-learn's self-training: a classifier labels its confident predictions and refits",
    ),
]
