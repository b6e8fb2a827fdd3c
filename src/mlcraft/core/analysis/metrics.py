"""Metrics by name: the usual scikit-learn scorer names and short aliases.

A :class:`Metric` scores predictions in natural units (RMSE in the target's unit, AUC in [0, 1]) and
knows its direction; search code compares ``metric.sign * value`` so that larger is always better.
Predictions are arrays: values for regression, class probabilities (columns in ``classes`` order) for
classification, cluster ids (-1: noise) for clustering, scored against the rows' reference
coordinates (an ``(n, d)`` matrix, the same space for every model).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn import metrics as skm

from mlcraft.core.analysis import anomalies
from mlcraft.core.analysis.clusters import SAMPLE as SILHOUETTE_MAX_ROWS
from mlcraft.core.analysis.clusters import external_cluster_scores
from mlcraft.core.data.targets import decide_labels
from mlcraft.exceptions import ConfigError
from mlcraft.tasks import get_kind

__all__ = [
    "Metric",
    "get_metric",
    "default_metric",
    "metric_names",
    "check_metric_target",
    "REFUSED",
    "Scorer",
    "external_cluster_scores",
    "SILHOUETTE_MAX_ROWS",
]


@dataclass(frozen=True)
class Metric:
    """A metric: its canonical name, what it needs and which way is better.

    ``_func`` is called as ``f(y, pred)`` for values (regression), and as ``f(y, pred, k, pos)`` for
    labels and probabilities, where ``y`` holds class positions, ``pred`` the chosen positions (labels)
    or the probability matrix, ``k`` the number of classes and ``pos`` the positive class's position
    (None for multiclass). Cluster scores are called as ``f(Y, ids)``: the rows' reference
    coordinates and their integer cluster ids (-1: noise). ``sklearn`` lists the scikit-learn scorer names it answers to (a ``neg_``
    name is the same metric, lower-is-better, reported as a positive value).
    """

    name: str
    tasks: frozenset[str]
    greater_is_better: bool
    needs: str  # "value" (regression), "label" or "proba" (classification), "clusters", "embedding", "anomaly", "forecast"
    _func: Callable[..., float] | None  # None: computed by Scorer from the name
    description: str
    sklearn: tuple[str, ...] = ()
    domain: str | None = None  # "positive" | "non-negative" | "above -1": what the target must be

    @property
    def sign(self) -> float:
        return 1.0 if self.greater_is_better else -1.0


def _rmse(y, p):
    return float(np.sqrt(skm.mean_squared_error(y, p)))


def _floor(func: Callable[..., float], low: float, *, strict: bool) -> Callable[[Any, Any], float]:
    """``func`` with predictions raised to the edge of its domain (a model may predict below it)."""
    edge = np.nextafter(low, np.inf) if strict else low

    def scored(y, p):
        return float(func(y, np.maximum(np.asarray(p, dtype=float), edge)))

    return scored


def _codes(k: int) -> list[int]:
    return list(range(k))


def _averaged(func: Callable[..., float], average: str) -> Callable[..., float]:
    """A precision/recall/F1/Jaccard averaged over classes."""
    return lambda y, c, k, pos: float(
        func(y, c, average=average, labels=_codes(k), zero_division=0)
    )


def _of_positive(func: Callable[..., float]) -> Callable[..., float]:
    """A precision/recall/F1/Jaccard of the positive class."""
    return lambda y, c, k, pos: float(func(y, c, pos_label=pos, zero_division=0))


def _likelihood_ratio(which: int) -> Callable[..., float]:
    """LR+ (0) or LR- (1) of the positive class, undefined ratios replaced by 1 as scikit-learn's scorers do."""

    def ratio(y, c, k, pos):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(
                skm.class_likelihood_ratios(y, c, labels=[1 - pos, pos], replace_undefined_by=1.0)[
                    which
                ]
            )

    return ratio


def _normalised(proba: np.ndarray) -> np.ndarray:
    return proba / np.clip(proba.sum(axis=1, keepdims=True), 1e-12, None)


def _roc_auc(multi_class: str, average: str) -> Callable[..., float]:
    def auc(y, proba, k, pos):
        if k == 2:
            return _binary_auc(y == pos, proba[:, pos])
        return float(
            skm.roc_auc_score(
                y, _normalised(proba), multi_class=multi_class, average=average, labels=_codes(k)
            )
        )

    return auc


def _average_precision(y, proba, k, pos):
    if k == 2:
        return float(skm.average_precision_score(y == pos, proba[:, pos]))
    from sklearn.preprocessing import label_binarize

    return float(
        skm.average_precision_score(label_binarize(y, classes=_codes(k)), proba, average="macro")
    )


def _brier(y, proba, k, pos):
    if k == 2:
        return float(skm.brier_score_loss(y == pos, proba[:, pos]))
    return float(skm.brier_score_loss(y, _normalised(proba), labels=_codes(k)))


def _d2_brier(y, proba, k, pos):
    if k == 2:
        return float(skm.d2_brier_score(y == pos, proba[:, pos]))
    return float(skm.d2_brier_score(y, _normalised(proba), labels=_codes(k)))


def _log_loss(y, proba, k, pos):
    return float(skm.log_loss(y, proba, labels=_codes(k)))


def _d2_log_loss(y, proba, k, pos):
    return float(skm.d2_log_loss_score(y, _normalised(proba), labels=_codes(k)))


def _top2(y, proba, k, pos):
    return float(skm.top_k_accuracy_score(y, proba, k=2, labels=_codes(k)))


# -- clustering: internal scores of cluster ids against the rows' reference coordinates ----------

_WORST_DAVIES_BOULDIN = 1e6  # "lower is better" with fewer than 2 clusters: large, finite


MIN_CLUSTER_SHARE = 0.01  # a group of fewer rows (and of 1 row) is scored as noise, not a cluster
MIN_CLUSTER_OF_MEAN = 0.1  # ... and so is a group under a tenth of the clusters' mean size


def _clustered(Y: Any, labels: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """The rows of ``Y`` in clusters and their labels, and how many clusters they form.

    Noise rows, and rows of a cluster holding fewer than 1% of the rows, or under a tenth of the
    clusters' mean size, or a single row, are left out: a few outlying rows split off as
    "clusters" would otherwise make a clustering of everything else into one group look well
    separated (on the digits' pixels, mean shift: silhouette 0.29 for 98% of the rows in one
    cluster; HDBSCAN: 0.16 for two clusters of 98% and 2%)."""
    Y = np.asarray(Y, dtype=float)
    if Y.ndim == 1:
        Y = Y.reshape(-1, 1)
    labels = np.asarray(labels)
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    mean_size = counts.sum() / len(ids) if len(ids) else 0.0
    smallest = max(
        2, math.ceil(MIN_CLUSTER_SHARE * len(labels)), math.ceil(MIN_CLUSTER_OF_MEAN * mean_size)
    )
    keep = np.isin(labels, ids[counts >= smallest])
    return Y[keep], labels[keep], int(len(np.unique(labels[keep])))


def _silhouette(Y, labels) -> float:
    """Mean silhouette over (at most 2,000 seeded-sampled) rows; noise rows (and those of tiny
    clusters, see :func:`_clustered`) count as 0; -1.0 when the others form fewer than 2 clusters."""
    Y = np.asarray(Y, dtype=float)
    labels = np.asarray(labels)
    if len(labels) > SILHOUETTE_MAX_ROWS:  # the same rows for every model of these rows
        rows = np.sort(
            np.random.default_rng(0).choice(len(labels), SILHOUETTE_MAX_ROWS, replace=False)
        )
        Y, labels = Y[rows], labels[rows]
    X, kept, k = _clustered(Y, labels)
    if k < 2:
        return -1.0
    if k >= len(kept):  # every row its own cluster: each silhouette is 0 by definition
        return 0.0
    return float(skm.silhouette_samples(X, kept).sum() / len(labels))


def _calinski_harabasz(Y, labels) -> float:
    """Calinski-Harabasz index of the non-noise rows; 0.0 with fewer than 2 clusters."""
    X, kept, k = _clustered(Y, labels)
    if k < 2 or k >= len(kept):
        return 0.0
    return float(skm.calinski_harabasz_score(X, kept))


def _davies_bouldin(Y, labels) -> float:
    """Davies-Bouldin index of the non-noise rows (lower is better); 1e6 with fewer than 2 clusters."""
    X, kept, k = _clustered(Y, labels)
    if k < 2 or k >= len(kept):
        return _WORST_DAVIES_BOULDIN
    return float(skm.davies_bouldin_score(X, kept))


_CLUSTER = frozenset({"cluster"})
_EMBED = frozenset({"embed"})

TRUSTWORTHINESS_MAX_ROWS = 1_000  # rows compared (its cost grows with their square)
TRUSTWORTHINESS_NEIGHBOURS = 5  # scikit-learn's default


def _trustworthiness(Y, embedded) -> float:
    """scikit-learn's trustworthiness of an embedding of the rows whose reference coordinates are
    ``Y``: 1 when each row's nearest neighbours in the embedding are also near it in ``Y``.
    Rows without an embedding (NaN) are left out, repeated rows count once; at most 1,000
    seeded-sampled rows."""
    from sklearn.manifold import trustworthiness

    Y = np.asarray(Y, dtype=float)
    E = np.asarray(embedded, dtype=float)
    if E.ndim == 1:
        E = E.reshape(-1, 1)
    keep = np.isfinite(E).all(axis=1)
    Y, E = Y[keep], E[keep]
    # a row repeated (a bootstrap resample) is its own nearest neighbour at distance 0 in both
    # spaces, and the ties make its ranks arbitrary: each distinct row counts once
    _, first = np.unique(np.c_[Y, E], axis=0, return_index=True)
    if len(first) < len(Y):
        first = np.sort(first)
        Y, E = Y[first], E[first]
    if len(Y) > TRUSTWORTHINESS_MAX_ROWS:  # the same rows for every model of these rows
        rows = np.sort(
            np.random.default_rng(0).choice(len(Y), TRUSTWORTHINESS_MAX_ROWS, replace=False)
        )
        Y, E = Y[rows], E[rows]
    k = min(TRUSTWORTHINESS_NEIGHBOURS, (len(Y) - 1) // 2 - 1)
    if k < 1:
        return 0.0
    return float(trustworthiness(Y, E, n_neighbors=k))


_REG = frozenset({"regression"})
_CLS = frozenset({"binary", "multiclass"})
_BIN = frozenset({"binary"})
_MULTI = frozenset({"multiclass"})

# the one table: every metric mlcraft computes, from public scikit-learn functions, and the scorer
# names it answers to (scikit-learn's get_scorer_names(); tests walk that list against this table)
_METRICS = [
    Metric(
        "rmse",
        _REG,
        False,
        "value",
        _rmse,
        "root mean squared error",
        ("neg_root_mean_squared_error",),
    ),
    Metric(
        "mse",
        _REG,
        False,
        "value",
        skm.mean_squared_error,
        "mean squared error",
        ("neg_mean_squared_error",),
    ),
    Metric(
        "mae",
        _REG,
        False,
        "value",
        skm.mean_absolute_error,
        "mean absolute error",
        ("neg_mean_absolute_error",),
    ),
    Metric(
        "median_ae",
        _REG,
        False,
        "value",
        skm.median_absolute_error,
        "median absolute error",
        ("neg_median_absolute_error",),
    ),
    Metric(
        "mape",
        _REG,
        False,
        "value",
        skm.mean_absolute_percentage_error,
        "mean absolute percentage error",
        ("neg_mean_absolute_percentage_error",),
    ),
    Metric(
        "max_error",
        _REG,
        False,
        "value",
        skm.max_error,
        "largest absolute error",
        ("neg_max_error",),
    ),
    Metric(
        "msle",
        _REG,
        False,
        "value",
        _floor(skm.mean_squared_log_error, -1.0, strict=True),
        "mean squared logarithmic error (of 1 + value)",
        ("neg_mean_squared_log_error",),
        "above -1",
    ),
    Metric(
        "rmsle",
        _REG,
        False,
        "value",
        _floor(skm.root_mean_squared_log_error, -1.0, strict=True),
        "root mean squared logarithmic error (of 1 + value)",
        ("neg_root_mean_squared_log_error",),
        "above -1",
    ),
    Metric(
        "poisson_deviance",
        _REG,
        False,
        "value",
        _floor(skm.mean_poisson_deviance, 0.0, strict=True),
        "mean Poisson deviance",
        ("neg_mean_poisson_deviance",),
        "non-negative",
    ),
    Metric(
        "gamma_deviance",
        _REG,
        False,
        "value",
        _floor(skm.mean_gamma_deviance, 0.0, strict=True),
        "mean gamma deviance",
        ("neg_mean_gamma_deviance",),
        "positive",
    ),
    Metric("r2", _REG, True, "value", skm.r2_score, "coefficient of determination", ("r2",)),
    Metric(
        "explained_variance",
        _REG,
        True,
        "value",
        skm.explained_variance_score,
        "explained variance",
        ("explained_variance",),
    ),
    Metric(
        "d2_absolute_error",
        _REG,
        True,
        "value",
        skm.d2_absolute_error_score,
        "share of the absolute error of the median explained",
        ("d2_absolute_error_score",),
    ),
    Metric(
        "roc_auc",
        _CLS,
        True,
        "proba",
        _roc_auc("ovr", "macro"),
        "area under the ROC curve (one-vs-rest for multiclass)",
        ("roc_auc", "roc_auc_ovr"),
    ),
    Metric(
        "roc_auc_ovr_weighted",
        _CLS,
        True,
        "proba",
        _roc_auc("ovr", "weighted"),
        "area under the ROC curve, one-vs-rest, weighted by class support",
        ("roc_auc_ovr_weighted",),
    ),
    Metric(
        "roc_auc_ovo",
        _CLS,
        True,
        "proba",
        _roc_auc("ovo", "macro"),
        "area under the ROC curve, one-vs-one",
        ("roc_auc_ovo",),
    ),
    Metric(
        "roc_auc_ovo_weighted",
        _CLS,
        True,
        "proba",
        _roc_auc("ovo", "weighted"),
        "area under the ROC curve, one-vs-one, weighted by class support",
        ("roc_auc_ovo_weighted",),
    ),
    Metric(
        "average_precision",
        _CLS,
        True,
        "proba",
        _average_precision,
        "area under the precision-recall curve (macro over classes for multiclass)",
        ("average_precision",),
    ),
    Metric(
        "log_loss",
        _CLS,
        False,
        "proba",
        _log_loss,
        "cross-entropy of the class probabilities",
        ("neg_log_loss",),
    ),
    Metric(
        "d2_log_loss",
        _CLS,
        True,
        "proba",
        _d2_log_loss,
        "share of the log loss of the class shares explained",
        ("d2_log_loss_score",),
    ),
    Metric("brier", _CLS, False, "proba", _brier, "Brier score", ("neg_brier_score",)),
    Metric(
        "d2_brier",
        _CLS,
        True,
        "proba",
        _d2_brier,
        "share of the Brier score of the class shares explained",
        ("d2_brier_score",),
    ),
    Metric(
        "top_k_accuracy",
        _MULTI,
        True,
        "proba",
        _top2,
        "share of rows whose class is among the two most probable",
        ("top_k_accuracy",),
    ),
    Metric(
        "accuracy",
        _CLS,
        True,
        "label",
        lambda y, c, k, pos: float(skm.accuracy_score(y, c)),
        "share of correct labels",
        ("accuracy",),
    ),
    Metric(
        "balanced_accuracy",
        _CLS,
        True,
        "label",
        lambda y, c, k, pos: float(skm.balanced_accuracy_score(y, c)),
        "mean recall per class",
        ("balanced_accuracy",),
    ),
    Metric(
        "mcc",
        _CLS,
        True,
        "label",
        lambda y, c, k, pos: float(skm.matthews_corrcoef(y, c)),
        "Matthews correlation coefficient",
        ("matthews_corrcoef",),
    ),
    Metric(
        "f1", _BIN, True, "label", _of_positive(skm.f1_score), "F1 of the positive class", ("f1",)
    ),
    Metric(
        "precision",
        _BIN,
        True,
        "label",
        _of_positive(skm.precision_score),
        "precision of the positive class",
        ("precision",),
    ),
    Metric(
        "recall",
        _BIN,
        True,
        "label",
        _of_positive(skm.recall_score),
        "recall of the positive class",
        ("recall",),
    ),
    Metric(
        "jaccard",
        _BIN,
        True,
        "label",
        _of_positive(skm.jaccard_score),
        "Jaccard index of the positive class",
        ("jaccard",),
    ),
    Metric(
        "positive_likelihood_ratio",
        _BIN,
        True,
        "label",
        _likelihood_ratio(0),
        "positive likelihood ratio (LR+)",
        ("positive_likelihood_ratio",),
    ),
    Metric(
        "negative_likelihood_ratio",
        _BIN,
        False,
        "label",
        _likelihood_ratio(1),
        "negative likelihood ratio (LR-)",
        ("neg_negative_likelihood_ratio",),
    ),
] + [
    Metric(
        f"{base}_{average}",
        _CLS,
        True,
        "label",
        _averaged(func, average),
        f"{what} {how}",
        (f"{base}_{average}",),
    )
    for base, func, what in (
        ("f1", skm.f1_score, "F1"),
        ("precision", skm.precision_score, "precision"),
        ("recall", skm.recall_score, "recall"),
        ("jaccard", skm.jaccard_score, "Jaccard index"),
    )
    for average, how in (
        ("macro", "averaged over classes"),
        ("micro", "over all decisions"),
        ("weighted", "averaged over classes, weighted by support"),
    )
]
# clustering: scored against the rows' reference coordinates (the scores against known labels are
# external_cluster_scores, never a metric to search by)
_METRICS += [
    Metric(
        "silhouette",
        _CLUSTER,
        True,
        "clusters",
        _silhouette,
        "mean silhouette of the rows (noise counts as 0; sampled to 2,000 rows)",
    ),
    Metric(
        "calinski_harabasz",
        _CLUSTER,
        True,
        "clusters",
        _calinski_harabasz,
        "Calinski-Harabasz index: between- over within-cluster dispersion (noise left out)",
    ),
    Metric(
        "davies_bouldin",
        _CLUSTER,
        False,
        "clusters",
        _davies_bouldin,
        "Davies-Bouldin index: mean similarity of each cluster to its closest (noise left out)",
    ),
]
# embeddings: scored against the rows' reference coordinates, like clusterings
_METRICS += [
    Metric(
        "trustworthiness",
        _EMBED,
        True,
        "embedding",
        _trustworthiness,
        "trustworthiness: how far each row's nearest neighbours in the embedding are near it in the prepared columns (1: all; 5 neighbours, sampled to 1,000 rows)",
    ),
]
# anomaly detection: scores and flags ("anomaly"), against the rows' reference coordinates with the
# known labels (1 = anomaly, NaN without them) as their last column; see core.analysis.anomalies
_ANOMALY = frozenset({"anomaly"})
_METRICS += [
    Metric(
        "consensus",
        _ANOMALY,
        True,
        "anomaly",
        anomalies.consensus,
        "rank correlation of the scores with a model-free outlyingness of the rows (no labels needed)",
    ),
    Metric(
        "precision_at_rate",
        _ANOMALY,
        True,
        "anomaly",
        anomalies.precision_at_rate,
        "share of known anomalies among the flagged rows (needs --labels)",
    ),
]
# forecasting: scored on the rows a backtest window (or the test horizon) forecasts, against the
# target frame [value, MASE scale] (tasks.forecast): rows without a scale are in no window
_FORECAST = frozenset({"forecast"})


def _forecast_rows(Y, pred) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, forecasts, scales) of the scored rows; a scored row left unforecast is NaN."""
    Y = np.asarray(Y, dtype=float)
    p = np.asarray(pred, dtype=float).ravel()
    if Y.ndim == 1:  # plain values (no scales): every row is scored, on the scale 1
        Y = np.column_stack([Y, np.ones(len(Y))])
    rows = np.isfinite(Y[:, 1])
    return Y[rows, 0], p[rows], Y[rows, 1]


def _forecast_metric(error: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray], root=False):
    def scored(Y, pred) -> float:
        y, p, scale = _forecast_rows(Y, pred)
        if not len(y) or not np.isfinite(p).all():
            return float("nan")
        value = float(np.mean(error(y, p, scale)))
        return float(np.sqrt(value)) if root else value

    return scored


def _smape_terms(y, p, scale):
    denominator = np.abs(y) + np.abs(p)
    return np.where(
        denominator > 0, 2.0 * np.abs(p - y) / np.where(denominator > 0, denominator, 1), 0.0
    )


def _mape_terms(y, p, scale):
    return np.abs(p - y) / np.maximum(np.abs(y), np.finfo(float).eps)


_METRICS += [
    Metric(
        "mase",
        _FORECAST,
        False,
        "forecast",
        _forecast_metric(lambda y, p, s: np.abs(p - y) / s),
        "mean absolute scaled error: the error over the in-sample seasonal naive error of its series",
    ),
    Metric(
        "smape",
        _FORECAST,
        False,
        "forecast",
        _forecast_metric(_smape_terms),
        "symmetric mean absolute percentage error (0 to 2)",
    ),
]
_FORECAST_SHARED = {
    "rmse": _forecast_metric(lambda y, p, s: (p - y) ** 2, root=True),
    "mae": _forecast_metric(lambda y, p, s: np.abs(p - y)),
    "mape": _forecast_metric(_mape_terms),
}

# names shared with classification, with their anomaly-detection meaning (scores against --labels)
_FOR_TASK = {
    ("roc_auc", "anomaly"): Metric(
        "roc_auc",
        _ANOMALY,
        True,
        "anomaly",
        anomalies.roc_auc,
        "ROC AUC of the anomaly scores against the known anomalies (needs --labels)",
        ("roc_auc",),
    ),
    ("average_precision", "anomaly"): Metric(
        "average_precision",
        _ANOMALY,
        True,
        "anomaly",
        anomalies.average_precision,
        "average precision of the anomaly scores against the known anomalies (needs --labels)",
        ("average_precision",),
    ),
}
_FOR_TASK.update(
    {
        (name, "forecast"): Metric(
            name, _FORECAST, False, "forecast", func, f"{name.upper()} of the forecast rows"
        )
        for name, func in _FORECAST_SHARED.items()
    }
)
_BY_NAME = {m.name: m for m in _METRICS}
_ALIASES = {
    **{name: m.name for m in _METRICS for name in m.sklearn if name != m.name},
    "auc": "roc_auc",
    "logloss": "log_loss",
    "f1_binary": "f1",
    "matthews": "mcc",
}
_CLUSTERING = "compares a clustering with known labels (it ignores which label is which): mlcraft reports it when known labels are given (external_cluster_scores), never as a metric to search by"
_MULTILABEL = "averages over the labels of a multilabel target, which mlcraft does not train; use the _macro, _micro or _weighted form"
# scikit-learn scorer names that mlcraft refuses, and why (every other name in get_scorer_names() is in the table)
REFUSED = {
    **{
        name: _CLUSTERING
        for name in (
            "adjusted_mutual_info_score",
            "adjusted_rand_score",
            "completeness_score",
            "fowlkes_mallows_score",
            "homogeneity_score",
            "mutual_info_score",
            "normalized_mutual_info_score",
            "rand_score",
            "v_measure_score",
        )
    },
    **{f"{base}_samples": _MULTILABEL for base in ("f1", "precision", "recall", "jaccard")},
}
_WHY_NOT = {
    (
        "top_k_accuracy",
        "binary",
    ): "with two classes the true class is always among the two most probable (a score of 1)",
}


def metric_names() -> list[str]:
    return sorted(_BY_NAME) + sorted(_ALIASES)


def default_metric(task: str) -> str:
    """The kind's default metric (``ProblemKind.default_metric``)."""
    return get_kind(task).default_metric


def get_metric(name: str, task: str | None = None) -> Metric:
    """The metric called ``name`` (scikit-learn scorer names accepted), checked against ``task``."""
    key = name.strip().lower()
    if key in REFUSED:
        raise ConfigError(
            f"metric {name!r} is a scikit-learn scorer mlcraft does not use: it {REFUSED[key]}"
        )
    metric = _BY_NAME.get(_ALIASES.get(key, key))
    if metric is None:
        raise ConfigError(
            f"unknown metric {name!r}; choose one of: {', '.join(sorted(_BY_NAME))} (or a scikit-learn scorer name)"
        )
    if task is not None and (metric.name, task) in _FOR_TASK:
        return _FOR_TASK[(metric.name, task)]
    if task is not None and task not in metric.tasks:
        why = _WHY_NOT.get((metric.name, task))
        raise ConfigError(
            f"metric {metric.name!r} does not apply to a {task} task{': ' + why if why else ''}; use e.g. {default_metric(task)!r}"
        )
    return metric


def check_metric_target(metric: Metric, values: Any, target: str) -> None:
    """Refuse a metric whose domain the target leaves (e.g. the gamma deviance of a target with zeros)."""
    if metric.domain is None:
        return
    y = np.asarray(values, dtype=float)
    y = y[~np.isnan(y)]
    bad = {"positive": y <= 0, "non-negative": y < 0, "above -1": y <= -1}[metric.domain]
    if bad.any():
        raise ConfigError(
            f"metric {metric.name!r} needs a target that is {metric.domain}, but {target!r} has {int(bad.sum())} value(s) "
            f"that are not (the smallest is {y.min():g}); choose another --metric, e.g. 'rmse'"
        )


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the Mann-Whitney identity (ties count one half, as in ``roc_auc_score``).

    The same value as scikit-learn's, about 20 times faster on small arrays: the ensembles score
    thousands of candidate blends.
    """
    from scipy.stats import rankdata

    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float(skm.roc_auc_score(positive, score))  # raises the usual error: one class only
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@dataclass(frozen=True)
class Scorer:
    """A metric bound to a task's classes: ``scorer(y_true, predictions) -> value``."""

    metric: Metric
    classes: Sequence[Any] | None = None
    positive_class: Any = None
    threshold: float = 0.5

    @property
    def name(self) -> str:
        return self.metric.name

    @property
    def _classes(self) -> Sequence[Any]:
        if self.classes is None:
            raise ValueError(f"{self.metric.name}: a classification scorer needs the classes")
        return self.classes

    @property
    def sign(self) -> float:
        return self.metric.sign

    def labels(self, proba: np.ndarray) -> np.ndarray:
        return decide_labels(proba, self._classes, self.positive_class, self.threshold)

    def class_index(self, y_true: np.ndarray) -> np.ndarray:
        """Each label's position in ``classes`` (-1 for a label the model never saw)."""
        import pandas as pd

        # vectorised (the ensembles score thousands of candidate blends): same matching as a dict
        return pd.Categorical(
            np.asarray(y_true, dtype=object), categories=list(self._classes)
        ).codes.astype(int)

    def bind(self, y_true: np.ndarray) -> Callable[[np.ndarray], float]:
        """``pred -> self(y_true, pred)`` for many predictions of the same rows (greedy ensemble
        selection makes thousands of calls). The targets are read once, and RMSE, MSE, log loss and
        binary ROC AUC are computed with NumPy alone: the same values (to rounding) without
        scikit-learn's input checks, which cost milliseconds a call on small data. The other
        metrics (the cluster scores among them) take the checked call."""
        m = self.metric
        if m.name in ("rmse", "mse") and np.ndim(y_true) == 1:
            y = np.asarray(y_true, dtype=float)
            root = m.name == "rmse"

            def squared(pred: np.ndarray) -> float:
                d = y - np.asarray(pred, dtype=float)
                mse = float(np.mean(d * d))
                return float(np.sqrt(mse)) if root else mse

            return squared
        if m.needs != "proba":
            return lambda pred: self(y_true, pred)
        codes = self.class_index(y_true)
        if codes.min(initial=0) < 0:  # a label the model never saw: the checked path says so
            return lambda pred: self(y_true, pred)
        rows = np.arange(len(codes))
        if m.name == "log_loss":
            eps = np.finfo(float).eps

            def log_loss(pred: np.ndarray) -> float:
                picked = np.clip(np.asarray(pred, dtype=float)[rows, codes], eps, 1.0 - eps)
                return float(-np.mean(np.log(picked)))

            return log_loss
        if m.name == "roc_auc" and len(self._classes) == 2:
            pos = list(self._classes).index(self.positive_class)
            y_pos = codes == pos
            return lambda pred: _binary_auc(
                y_pos, np.clip(np.asarray(pred, dtype=float)[:, pos], 0.0, 1.0)
            )
        return lambda pred: self(y_true, pred)

    def __call__(self, y_true: np.ndarray, pred: np.ndarray) -> float:
        m = self.metric
        if m.needs == "value":
            assert m._func is not None  # every regression metric has its function
            return float(m._func(y_true, pred))
        if m.needs in ("embedding", "forecast"):  # reference coordinates and embedding
            # coordinates; a forecast's [value, scale] frame and its forecasts
            assert m._func is not None
            return float(m._func(y_true, pred))
        if m.needs == "anomaly":  # reference coordinates (+ known labels) and [score, flag]
            assert m._func is not None
            return float(m._func(np.asarray(y_true, dtype=float), np.asarray(pred, dtype=float)))
        if m.needs == "clusters":
            # reference coordinates and cluster ids (floats from a fold array; NaN: not predicted)
            assert m._func is not None
            ids = np.asarray(pred, dtype=float)
            ids = ids[:, 0] if ids.ndim == 2 else ids  # [cluster, memberships...] (a mixture's)
            labels = np.where(np.isfinite(ids), np.rint(ids), -1).astype(np.int64)
            return float(m._func(np.asarray(y_true, dtype=float), labels))
        # classification is scored on class positions: labels of any type behave the same
        y = self.class_index(y_true)
        k = len(self._classes)
        proba = np.clip(np.asarray(pred, dtype=float), 0.0, 1.0)
        positive = (
            None if self.positive_class is None else list(self._classes).index(self.positive_class)
        )
        assert m._func is not None  # every classification metric has its function
        if m.needs == "label":
            chosen = decide_labels(
                proba, list(range(k)), positive, self.threshold if positive is not None else None
            ).astype(int)
            return float(m._func(y, chosen, k, positive))
        return float(m._func(y, proba, k, positive))
