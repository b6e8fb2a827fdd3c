"""The model-family plugin interface and search-space dimensions.

A :class:`Family` is declared once (one file in :mod:`mlcraft.models`): how to build its estimator
for a task, which tasks it supports, what preparation it needs, what it costs and its search space.
The estimator it builds is a plain scikit-learn estimator (or an :mod:`mlcraft.nn` one); the family
itself is a declaration, not a wrapper, so saved pipelines hold the real estimator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

__all__ = ["Int", "Float", "Choice", "Dimension", "Family", "Subsampled", "BuildContext"]


@dataclass(frozen=True)
class Int:
    """An integer hyperparameter in ``[low, high]`` (log scale if ``log``)."""

    low: int
    high: int
    default: int
    log: bool = False


@dataclass(frozen=True)
class Float:
    """A real hyperparameter in ``[low, high]`` (log scale if ``log``)."""

    low: float
    high: float
    default: float
    log: bool = False


@dataclass(frozen=True)
class Choice:
    """A categorical hyperparameter."""

    choices: tuple[Any, ...]
    default: Any


Dimension = Int | Float | Choice


@dataclass(frozen=True)
class BuildContext:
    """What a family may need to know when it builds its estimator."""

    task: str
    n_rows: int
    n_features: int
    seed: int
    n_jobs: int = 1


@dataclass(frozen=True)
class Family:
    """A model family, declared once.

    Parameters
    ----------
    name : str
        Registry name (``random_forest``...).
    tasks : frozenset of str
        Tasks it supports ("regression", "binary", "multiclass").
    build : callable
        ``build(params, context) -> estimator``: a fresh, unfitted estimator.
    space : callable
        ``space(task, n_rows) -> {param: Dimension}``; each dimension's default is the first trial.
    needs_scaling : bool
        Standardise numeric inputs (and log heavy tails) before this family.
    categorical : {"onehot", "ordinal", "native"}
        How categorical columns reach it.
    handles_missing : bool
        It accepts NaN in numeric columns (imputation is skipped).
    cost : callable
        ``cost(n_rows, n_features) -> seconds`` for one fit on one core of a reference machine.
    fixed : mapping
        Parameters always passed to ``build`` (not searched).
    requires : str or None
        An optional module the family needs (e.g. "torch"); without it the family is unavailable.
    """

    name: str
    tasks: frozenset[str]
    build: Callable[[Mapping[str, Any], BuildContext], Any]
    space: Callable[[str, int], dict[str, Dimension]]
    cost: Callable[[int, int], float]
    needs_scaling: bool = False
    categorical: str = "onehot"
    handles_missing: bool = False
    description: str = ""
    requires: str | None = None
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def supports(self, task: str) -> bool:
        return task in self.tasks

    def available(self) -> bool:
        if self.requires is None:
            return True
        import importlib.util

        return importlib.util.find_spec(self.requires) is not None

    def default_params(self, task: str, n_rows: int) -> dict[str, Any]:
        """The first trial: every dimension at its default."""
        return {name: dim.default for name, dim in self.space(task, n_rows).items()}

    def make(self, params: Mapping[str, Any], context: BuildContext) -> Any:
        return self.build({**self.fixed, **params}, context)


class Subsampled(BaseEstimator):
    """Fit ``estimator`` on at most ``max_rows`` rows (stratified for classifiers).

    For families whose training cost grows faster than the data (kernel SVMs): the book trains them
    on a subsample when the data is large.
    """

    def __init__(self, estimator=None, max_rows: int = 20_000, random_state: int | None = None):
        self.estimator = estimator
        self.max_rows = max_rows
        self.random_state = random_state

    def fit(self, X, y, **fit_params):
        n = len(y)
        if n > self.max_rows:
            stratify = np.asarray(y) if is_classifier(self.estimator) else None
            try:
                idx, _ = train_test_split(np.arange(n), train_size=self.max_rows, random_state=self.random_state, stratify=stratify)
            except ValueError:
                idx, _ = train_test_split(np.arange(n), train_size=self.max_rows, random_state=self.random_state)
            X = X.iloc[idx] if hasattr(X, "iloc") else np.asarray(X)[idx]
            y = np.asarray(y)[idx]
            self.subsampled_ = True
        else:
            self.subsampled_ = False
        self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        if hasattr(self.estimator_, "classes_"):
            self.classes_ = self.estimator_.classes_
        return self

    def predict(self, X):
        check_is_fitted(self)
        return self.estimator_.predict(X)

    def predict_proba(self, X):
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self.estimator is not None:
            inner = self.estimator.__sklearn_tags__()
            tags.estimator_type = inner.estimator_type
        return tags
