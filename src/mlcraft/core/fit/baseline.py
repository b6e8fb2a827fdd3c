"""The naive baseline: what a model that ignores the features scores, on the same folds and scorer.

Every leaderboard shows it (model and family ``baseline``), so every score has its reference. It is
computed beside the search, never inside it: it is not a candidate, is never tuned, never an ensemble
member and never the champion. It costs a few milliseconds (a mean or the class shares per fold).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlcraft.core.analysis.metrics import Scorer
from mlcraft.core.fit.search import CVResult
from mlcraft.core.fit.status import BASELINE, TrialStatus
from mlcraft.core.predict.pipeline import predict_array
from mlcraft.tasks import get_kind

__all__ = ["BASELINE", "naive_baseline", "naive_estimator", "describe"]

_WHAT = {
    "mean": 'DummyRegressor(strategy="mean"): the mean target of each fold\'s training rows',
    "prior": 'DummyClassifier(strategy="prior"): the class shares of each fold\'s training rows',
    "seasonal_naive": "the seasonal naive forecast: each series' value one season before",
}


def describe(result: CVResult) -> dict:
    """The baseline row for a run's records: what it predicts, its status and mean score."""
    strategy = str(result.params.get("strategy"))
    mean = result.mean if result.ok else None
    return {
        "model": result.name,
        "strategy": strategy,
        "estimator": _WHAT.get(strategy, str(strategy)),
        "status": result.status,
        "mean": mean,
    }


def naive_estimator(classification: bool):
    """An unfitted scikit-learn dummy: the training mean (regression), the class shares (classification)."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    return DummyClassifier(strategy="prior") if classification else DummyRegressor(strategy="mean")


def naive_baseline(
    X: pd.DataFrame,
    y: pd.Series,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    scorer: Scorer,
    task: str,
    reference: tuple[str, Callable[[], Any]] | None = None,
) -> CVResult:
    """Cross-validate the naive estimator on ``folds`` with ``scorer``: a leaderboard row, never fatal.

    The dummy ignores the features, so it is fitted on a zero-width stand-in of ``X`` (same rows).
    Classification is recognised by the scorer's classes (set exactly when the task has classes).
    ``reference``: ``(strategy, build)`` of the kind's own reference model (a forecast's seasonal
    naive, ``ProblemKind.baseline_family``) instead of the dummy; it reads the features.
    """
    classification = scorer.classes is not None
    if reference is None:
        strategy = naive_estimator(classification).strategy
        features = pd.DataFrame(index=range(len(X)))  # the dummy never reads a feature
        build = lambda: naive_estimator(classification)  # noqa: E731
    else:
        (strategy, build), features = reference, X
    result = CVResult(BASELINE, BASELINE, {"strategy": strategy})
    y_values = y.to_numpy()
    oof = get_kind(task).empty_output(len(y), scorer.classes)
    fit_times, predict_times = [], []
    try:
        for train_idx, val_idx in folds:
            model = build()
            start = time.perf_counter()
            model.fit(features.iloc[train_idx], y.iloc[train_idx])
            fit_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            pred = predict_array(model, features.iloc[val_idx], task, scorer.classes)
            predict_times.append(time.perf_counter() - start)
            oof[val_idx] = pred
            result.scores.append(scorer(y_values[val_idx], pred))
    except Exception as exc:  # the reference must never end a run
        result.status = TrialStatus.FAILED
        result.note = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
        result.traceback = traceback.format_exc()
        return result
    result.fit_time = float(np.mean(fit_times)) if fit_times else 0.0
    result.predict_time = float(np.mean(predict_times)) if predict_times else 0.0
    result.oof = oof
    if not np.all(np.isfinite(result.scores)):
        result.status, result.note = TrialStatus.FAILED, "non-finite score on a fold"
    return result
