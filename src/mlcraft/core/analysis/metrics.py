"""Metrics by name: the usual scikit-learn scorer names and short aliases.

A :class:`Metric` scores predictions in natural units (RMSE in the target's unit, AUC in [0, 1]) and
knows its direction; search code compares ``metric.sign * value`` so that larger is always better.
Predictions are arrays: values for regression, class probabilities (columns in ``classes`` order) for
classification.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn import metrics as skm

from mlcraft.exceptions import ConfigError

__all__ = ["Metric", "get_metric", "default_metric", "metric_names", "Scorer", "decide_labels"]


@dataclass(frozen=True)
class Metric:
    """A metric: its canonical name, what it needs and which way is better."""

    name: str
    tasks: frozenset[str]
    greater_is_better: bool
    needs: str  # "value" (regression), "label" or "proba"
    _func: Callable[..., float] | None  # None: computed by Scorer from the name
    description: str

    @property
    def sign(self) -> float:
        return 1.0 if self.greater_is_better else -1.0


def _rmse(y, p):
    return float(np.sqrt(skm.mean_squared_error(y, p)))


_REG = frozenset({"regression"})
_CLS = frozenset({"binary", "multiclass"})
_BIN = frozenset({"binary"})

_METRICS = [
    Metric("rmse", _REG, False, "value", _rmse, "root mean squared error"),
    Metric("mse", _REG, False, "value", skm.mean_squared_error, "mean squared error"),
    Metric("mae", _REG, False, "value", skm.mean_absolute_error, "mean absolute error"),
    Metric("median_ae", _REG, False, "value", skm.median_absolute_error, "median absolute error"),
    Metric("mape", _REG, False, "value", skm.mean_absolute_percentage_error, "mean absolute percentage error"),
    Metric("r2", _REG, True, "value", skm.r2_score, "coefficient of determination"),
    Metric("roc_auc", _CLS, True, "proba", None, "area under the ROC curve (one-vs-rest for multiclass)"),
    Metric("average_precision", _BIN, True, "proba", None, "area under the precision-recall curve"),
    Metric("log_loss", _CLS, False, "proba", None, "cross-entropy of the class probabilities"),
    Metric("brier", _BIN, False, "proba", None, "Brier score"),
    Metric("accuracy", _CLS, True, "label", skm.accuracy_score, "share of correct labels"),
    Metric("balanced_accuracy", _CLS, True, "label", skm.balanced_accuracy_score, "mean recall per class"),
    Metric("f1", _BIN, True, "label", None, "F1 of the positive class"),
    Metric("precision", _BIN, True, "label", None, "precision of the positive class"),
    Metric("recall", _BIN, True, "label", None, "recall of the positive class"),
    Metric("f1_macro", _CLS, True, "label", None, "F1 averaged over classes"),
    Metric("f1_micro", _CLS, True, "label", None, "F1 over all decisions"),
    Metric("f1_weighted", _CLS, True, "label", None, "F1 averaged over classes, weighted by support"),
]
_BY_NAME = {m.name: m for m in _METRICS}
_ALIASES = {
    "neg_root_mean_squared_error": "rmse",
    "neg_mean_squared_error": "mse",
    "neg_mean_absolute_error": "mae",
    "neg_median_absolute_error": "median_ae",
    "neg_mean_absolute_percentage_error": "mape",
    "auc": "roc_auc",
    "roc_auc_ovr": "roc_auc",
    "neg_log_loss": "log_loss",
    "logloss": "log_loss",
    "neg_brier_score": "brier",
    "f1_binary": "f1",
}
_DEFAULTS = {"regression": "rmse", "binary": "roc_auc", "multiclass": "log_loss"}


def metric_names() -> list[str]:
    return sorted(_BY_NAME) + sorted(_ALIASES)


def default_metric(task: str) -> str:
    return _DEFAULTS[task]


def get_metric(name: str, task: str | None = None) -> Metric:
    """The metric called ``name`` (scikit-learn scorer names accepted), checked against ``task``."""
    key = name.strip().lower()
    metric = _BY_NAME.get(_ALIASES.get(key, key))
    if metric is None:
        raise ConfigError(f"unknown metric {name!r}; choose one of: {', '.join(sorted(_BY_NAME))} (or a scikit-learn scorer name)")
    if task is not None and task not in metric.tasks:
        raise ConfigError(f"metric {metric.name!r} does not apply to a {task} task; use e.g. {default_metric(task)!r}")
    return metric


def decide_labels(proba: np.ndarray, classes: Sequence[Any], positive_class: Any = None, threshold: float | None = None) -> np.ndarray:
    """Class labels from probabilities: the positive class above ``threshold`` (binary), else the argmax."""
    labels = np.asarray(classes, dtype=object)
    if len(labels) == 2 and positive_class is not None and threshold is not None:
        pos = list(classes).index(positive_class)
        return labels[np.where(proba[:, pos] >= threshold, pos, 1 - pos)]
    return labels[np.argmax(proba, axis=1)]


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
        return pd.Categorical(np.asarray(y_true, dtype=object), categories=list(self._classes)).codes.astype(int)

    def bind(self, y_true: np.ndarray) -> Callable[[np.ndarray], float]:
        """``pred -> self(y_true, pred)`` for many predictions of the same rows (greedy ensemble
        selection makes thousands of calls). The targets are read once, and RMSE, MSE, log loss and
        binary ROC AUC are computed with NumPy alone: the same values (to rounding) without
        scikit-learn's input checks, which cost milliseconds a call on small data."""
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
            return lambda pred: _binary_auc(y_pos, np.clip(np.asarray(pred, dtype=float)[:, pos], 0.0, 1.0))
        return lambda pred: self(y_true, pred)

    def __call__(self, y_true: np.ndarray, pred: np.ndarray) -> float:
        m = self.metric
        if m.needs == "value":
            assert m._func is not None  # every regression metric has its function
            return float(m._func(y_true, pred))
        # classification is scored on class positions: labels of any type behave the same
        y = self.class_index(y_true)
        k = len(self._classes)
        proba = np.clip(np.asarray(pred, dtype=float), 0.0, 1.0)
        if m.needs == "label":
            positive = None if self.positive_class is None else list(self._classes).index(self.positive_class)
            chosen = decide_labels(proba, list(range(k)), positive, self.threshold if positive is not None else None).astype(int)
            if m._func is not None:
                return float(m._func(y, chosen))
            if m.name.startswith("f1_"):
                return float(skm.f1_score(y, chosen, average=m.name[3:], labels=list(range(k)), zero_division=0))
            func = {"f1": skm.f1_score, "precision": skm.precision_score, "recall": skm.recall_score}[m.name]
            return float(func(y, chosen, pos_label=positive, zero_division=0))
        if m.name == "log_loss":
            return float(skm.log_loss(y, proba, labels=list(range(k))))
        if k == 2:
            pos = list(self._classes).index(self.positive_class)
            y_pos = y == pos
            if m.name == "roc_auc":
                return _binary_auc(y_pos, proba[:, pos])
            if m.name == "average_precision":
                return float(skm.average_precision_score(y_pos, proba[:, pos]))
            return float(skm.brier_score_loss(y_pos, proba[:, pos]))
        proba = proba / np.clip(proba.sum(axis=1, keepdims=True), 1e-12, None)
        return float(skm.roc_auc_score(y, proba, multi_class="ovr", labels=list(range(k))))
