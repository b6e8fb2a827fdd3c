"""The model-family plugin interface and search-space dimensions.

A :class:`Family` is declared once (one file in :mod:`mlcraft.models`): how to build its estimator
for a task, which tasks it supports, what preparation it needs, what it costs and its search space.
The estimator it builds is a plain scikit-learn estimator (or an :mod:`mlcraft.nn` one); the family
itself is a declaration, not a wrapper, so saved pipelines hold the real estimator.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from mlcraft.tasks import ProblemKind, get_kind

__all__ = [
    "Int",
    "Float",
    "Choice",
    "Dimension",
    "Family",
    "Subsampled",
    "GrowWithin",
    "BuildContext",
    "fit_deadline",
    "time_left",
    "truncation",
    "default_memory",
    "preparation_space",
]

_DEADLINE: float | None = None  # wall-clock time (time.time()) by which the current fit must end


@contextlib.contextmanager
def fit_deadline(deadline: float | None) -> Iterator[None]:
    """Within this block, :func:`time_left` counts down to ``deadline`` (a ``time.time()`` value).

    Iterative estimators (boosting callbacks, forests grown in chunks, neural-network epochs) call
    :func:`time_left` between steps and stop early, recording what they fitted in
    ``truncated_params_`` so that the same model can be rebuilt (see :func:`truncation`).
    """
    global _DEADLINE
    previous, _DEADLINE = _DEADLINE, deadline
    try:
        yield
    finally:
        _DEADLINE = previous


def time_left() -> float:
    """Seconds until the deadline of the current fit (infinite when there is none)."""
    return math.inf if _DEADLINE is None else _DEADLINE - time.time()


def truncation(estimator: Any) -> dict[str, Any]:
    """Parameters that reproduce a fit the deadline cut short (empty when it ran to the end).

    Looks through pipelines and wrappers for a ``truncated_params_`` attribute.
    """
    steps = getattr(estimator, "steps", None)
    if steps:
        return truncation(steps[-1][1])
    found = getattr(estimator, "truncated_params_", None)
    if found:
        return dict(found)
    inner = getattr(estimator, "estimator_", None)
    return truncation(inner) if inner is not None else {}


def default_memory(n_rows: int, n_features: int, params: Mapping[str, Any]) -> float:
    """Bytes one fit needs when a family declares nothing better: a few copies of the data."""
    return 50e6 + 8.0 * n_rows * max(n_features, 1) * 6


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
    # the kind's own settings (ProblemKind.family_options): an embedding's ``dims``, anomaly
    # detection's ``contamination``
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> ProblemKind:
        """The kind of problem (``task`` is its name): ``ctx.kind.pick(regressor=..., classifier=...)``."""
        return get_kind(self.task)


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
    portfolio : callable or None
        ``portfolio(task, n_rows) -> [params, ...]``: known-good configurations tried right after
        the defaults, before the sampler proposes any (each may give only some parameters; the
        others keep their defaults).
    memory : callable or None
        ``memory(n_rows, n_features, params) -> bytes`` for one fit (default: :func:`default_memory`).
    priority : int
        Prior promise: families with a higher priority are cross-validated first, so that a short
        time limit is spent on the likely winners (AutoGluon and FLAML order their models alike).
    decided_by : callable or None
        ``decided_by(options) -> names or None``: the search dimensions that the kind's settings
        (``BuildContext.options``, e.g. a clustering's ``--clusters``) decide for this family: they
        are left out of the search and the build reads them from the options; None: the family
        cannot honour these settings (k-free clusterers given a number of clusters) and is left out.
        No callable: the settings change nothing here.
    semi_supervised : bool
        It learns from unlabelled rows too (``--semi-supervised``): it is fitted on a fold's
        labelled rows plus every unlabelled training row, whose target is missing (None); it is
        only tried on a project with ``--semi-supervised``. Other families never see those rows.
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
    portfolio: Callable[[str, int], list[dict[str, Any]]] | None = None
    memory: Callable[[int, int, Mapping[str, Any]], float] | None = None
    priority: int = 0
    semi_supervised: bool = False
    decided_by: Callable[[Mapping[str, Any]], tuple[str, ...] | None] | None = None

    def given(self, options: Mapping[str, Any]) -> Family | None:
        """This family for a project with the kind's settings ``options``: its space without the
        dimensions they decide, or None when it cannot honour them (see ``decided_by``)."""
        if self.decided_by is None:
            return self
        decided = self.decided_by(options)
        if decided is None:
            return None
        if not decided:
            return self
        return dataclasses.replace(self, space=_SpaceWithout(self.space, frozenset(decided)))

    def portfolio_params(self, task: str, n_rows: int) -> list[dict[str, Any]]:
        """The known-good configurations, each completed with the defaults (duplicates dropped)."""
        defaults = self.default_params(task, n_rows)
        out: list[dict[str, Any]] = []
        for partial in self.portfolio(task, n_rows) if self.portfolio else []:
            params = {**defaults, **{k: v for k, v in partial.items() if k in defaults}}
            if params != defaults and params not in out:
                out.append(params)
        return out

    def memory_bytes(self, n_rows: int, n_features: int, params: Mapping[str, Any]) -> float:
        """Estimated peak memory of one fit, in bytes."""
        estimate = self.memory or default_memory
        return float(estimate(n_rows, n_features, params))

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


@dataclass(frozen=True)
class _SpaceWithout:
    """A family's search space without some dimensions (picklable, unlike a closure)."""

    space: Callable[[str, int], dict[str, Dimension]]
    left_out: frozenset[str]

    def __call__(self, task: str, n_rows: int) -> dict[str, Dimension]:
        return {k: d for k, d in self.space(task, n_rows).items() if k not in self.left_out}


class _Wrapper(BaseEstimator):
    """A wrapper around ``estimator``: predicts with the fitted ``estimator_``, has its type."""

    def predict(self, X):
        check_is_fitted(self)
        return self.estimator_.predict(X)

    def predict_proba(self, X):
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self.estimator is not None:
            tags.estimator_type = self.estimator.__sklearn_tags__().estimator_type
        return tags


class Subsampled(_Wrapper):
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
                idx, _ = train_test_split(
                    np.arange(n),
                    train_size=self.max_rows,
                    random_state=self.random_state,
                    stratify=stratify,
                )
            except ValueError:
                idx, _ = train_test_split(
                    np.arange(n), train_size=self.max_rows, random_state=self.random_state
                )
            X = X.iloc[idx] if hasattr(X, "iloc") else np.asarray(X)[idx]
            y = np.asarray(y)[idx]
            self.subsampled_ = True
        else:
            self.subsampled_ = False
        self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        if hasattr(self.estimator_, "classes_"):
            self.classes_ = self.estimator_.classes_
        return self


class GrowWithin(_Wrapper):
    """Fit ``estimator`` with ``warm_start``, raising ``param`` by chunks, and stop at the deadline.

    For ensembles grown step by step (forests: ``n_estimators``; histogram boosting: ``max_iter``):
    the model is usable after each chunk, so a fit that would overrun :func:`time_left` ends early
    with what it has, and records it in ``truncated_params_``.
    """

    def __init__(self, estimator=None, param: str = "n_estimators", chunks: int = 8):
        self.estimator = estimator
        self.param = param
        self.chunks = chunks

    def fit(self, X, y, **fit_params):
        est = clone(self.estimator)
        target = int(est.get_params()[self.param])
        step = max(1, math.ceil(target / self.chunks))
        est.set_params(warm_start=True)
        grown, last = 0, 0.0
        self.truncated_params_ = {}
        while grown < target:
            if grown and time_left() < last * 1.2:
                self.truncated_params_ = {self.param: grown}
                break
            start = time.perf_counter()
            grown = min(grown + step, target)
            est.set_params(**{self.param: grown})
            est.fit(X, y, **fit_params)
            last = time.perf_counter() - start
            if getattr(est, "n_iter_", grown) < grown:  # stopped early by its own rule
                break
        est.set_params(warm_start=False)
        self.estimator_ = est
        if hasattr(est, "classes_"):
            self.classes_ = est.classes_
        return self


def preparation_space(family: Family, task: str) -> dict[str, Dimension]:
    """The searched preparation of a family: one ``prepare`` setting (added to its space by the
    search; its first trials keep the default, "none"): PCA keeping a share of the variance, or the
    book's cluster-similarity features (RBF similarity to k-means centres), see
    :data:`~mlcraft.core.data.preprocess.REDUCTIONS`. Only for the families that work on scaled,
    encoded columns in this process (linear models, SVMs, k-NN) of a kind with a target; trees
    split on single columns and gain nothing from either."""
    from mlcraft.core.data.preprocess import REDUCTIONS

    if not (family.needs_scaling and family.requires is None and get_kind(task).needs_target):
        return {}
    return {"prepare": Choice(REDUCTIONS, "none")}
