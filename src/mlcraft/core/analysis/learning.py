"""Learning curves with the book's reading of them, and permutation feature importance.

Both refit a model's pipeline on parts of the training rows only (never the test set): learning
curves on growing subsets of the cross-validation folds' training rows, scored on the fold held out;
permutation importance on one fold held out from a pipeline fitted on the rest.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlcraft.core.analysis.metrics import Scorer
from mlcraft.core.predict.pipeline import predict_array
from mlcraft.formatting import format_number

__all__ = [
    "SIZES",
    "LEARNING_FOLDS",
    "IMPORTANCE_REPEATS",
    "IMPORTANCE_ROWS",
    "SignedScorer",
    "learning_curve",
    "read_learning_curve",
    "permutation_importances",
    "resample_agreement",
    "AGREEMENT_REPEATS",
]

SIZES = (0.1, 0.325, 0.55, 0.775, 1.0)  # shares of each fold's training rows
AGREEMENT_REPEATS = 3  # random halvings of the training rows for resample_agreement
LEARNING_FOLDS = 3  # the first folds of the project's cross-validation
IMPORTANCE_REPEATS = 5
IMPORTANCE_ROWS = 5000  # held-out rows permuted (at most)
OVERFIT_GAP = 0.10  # train better than validation by more than 10% of the validation score
PLATEAU = 0.02  # validation improved by less than 2% over the last step


class SignedScorer:
    """``scorer(estimator, X, y)`` for scikit-learn: the metric, signed so that larger is better."""

    def __init__(self, scorer: Scorer, task: str):
        self.scorer, self.task = scorer, task

    def __call__(self, estimator: Any, X: pd.DataFrame, y: Any) -> float:
        pred = predict_array(estimator, X, self.task, self.scorer.classes)
        return self.scorer.sign * self.scorer(np.asarray(y), pred)


def learning_curve(
    build: Callable[[], Any],
    X: pd.DataFrame,
    y: pd.Series,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    scorer: Scorer,
    *,
    task: str,
    seed: int = 0,
    n_jobs: int = 1,
    sizes: Sequence[float] = SIZES,
) -> dict[str, Any]:
    """Train and validation scores (in the metric's own units) against the number of training rows.

    A size at which some fold's subset lacks a class (or the fit fails) is left out with a note.
    """
    from sklearn.model_selection import learning_curve as sk_learning_curve

    used = list(folds)[:LEARNING_FOLDS]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        n_rows, train, valid = sk_learning_curve(
            build(),
            X,
            y,
            train_sizes=np.asarray(sizes),
            cv=used,
            scoring=SignedScorer(scorer, task),
            shuffle=True,
            random_state=seed,
            n_jobs=n_jobs,
            error_score=np.nan,
        )
    train, valid = scorer.sign * train, scorer.sign * valid
    ok = np.isfinite(train).all(axis=1) & np.isfinite(valid).all(axis=1)
    notes = []
    if not ok.all():
        left = ", ".join(f"{n:,}" for n in n_rows[~ok])
        notes.append(
            f"learning curve: left out training sizes {left} (a fold's subset held a single class, or the fit failed)"
        )
    return {
        "metric": scorer.name,
        "greater_is_better": scorer.metric.greater_is_better,
        "folds": len(used),
        "sizes": n_rows[ok].tolist(),
        "train_mean": train[ok].mean(axis=1).tolist(),
        "train_std": train[ok].std(axis=1).tolist(),
        "valid_mean": valid[ok].mean(axis=1).tolist(),
        "valid_std": valid[ok].std(axis=1).tolist(),
        "notes": notes,
    }


def read_learning_curve(curve: dict[str, Any]) -> dict[str, str]:
    """The book's reading: a wide gap means overfitting; close curves on a plateau mean underfitting
    (if the score is not good enough); a validation score still improving means more data helps."""
    if len(curve["sizes"]) < 2:
        return {
            "verdict": "unknown",
            "text": "too few training sizes could be scored to read the curves",
        }
    sign = 1.0 if curve["greater_is_better"] else -1.0
    train, valid = curve["train_mean"][-1], curve["valid_mean"][-1]
    scale = max(abs(valid), 1e-12)
    gap = sign * (train - valid) / scale
    gain = sign * (curve["valid_mean"][-1] - curve["valid_mean"][-2]) / scale
    metric = curve["metric"]
    if gap > OVERFIT_GAP:
        text = (
            f"overfitting: the training {metric} ({format_number(train)}) is much better than the validation {metric} ({format_number(valid)}); "
            "regularise, simplify the model, or feed it more data"
        )
        verdict = "overfitting"
    elif gain > PLATEAU:
        text = f"the curves are close and the validation {metric} still improves with more rows: more data should help"
        verdict = "more data helps"
    else:
        text = (
            f"the curves are close and on a plateau: if the {metric} ({format_number(valid)}) is not good enough, the model underfits; "
            "more data will not help, a more powerful model or better features will"
        )
        verdict = "converged or underfitting"
    return {"verdict": verdict, "text": text, "gap": f"{gap:.3f}", "last_gain": f"{gain:.3f}"}


def permutation_importances(
    fitted: Any,
    X_valid: pd.DataFrame,
    y_valid: pd.Series,
    scorer: Scorer,
    *,
    task: str,
    seed: int = 0,
    n_jobs: int = 1,
    repeats: int = IMPORTANCE_REPEATS,
    max_rows: int = IMPORTANCE_ROWS,
) -> dict[str, Any]:
    """How much the score worsens when each feature's values are shuffled (mean and spread)."""
    from sklearn.inspection import permutation_importance

    if len(X_valid) > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(X_valid), max_rows, replace=False))
        X_valid, y_valid = X_valid.iloc[keep], y_valid.iloc[keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = permutation_importance(
            fitted,
            X_valid,
            y_valid,
            scoring=SignedScorer(scorer, task),
            n_repeats=repeats,
            random_state=seed,
            n_jobs=n_jobs,
        )
    rows: list[dict[str, Any]] = [
        {
            "feature": str(name),
            "mean": float(m),
            "std": float(s),
            "values": [float(v) for v in vals],
        }
        for name, m, s, vals in zip(
            X_valid.columns, result.importances_mean, result.importances_std, result.importances
        )
    ]
    rows.sort(key=lambda r: -r["mean"])
    return {"metric": scorer.name, "rows": len(X_valid), "repeats": repeats, "features": rows}


def resample_agreement(
    build: Callable[[], Any],
    X: pd.DataFrame,
    y: Any,
    agree: Callable[[np.ndarray, np.ndarray], float],
    *,
    task: str,
    classes: Sequence[Any] | None,
    seed: int,
    repeats: int = AGREEMENT_REPEATS,
) -> dict[str, Any]:
    """How much a model's answers depend on the rows it was fitted on: ``repeats`` times, the
    training rows are halved at random, the model fitted on each half, and ``agree`` (e.g. the
    adjusted Rand index of two clusterings) compares the two fits' answers on every row."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(repeats):
        order = rng.permutation(len(X))
        halves = order[: len(X) // 2], order[len(X) // 2 :]
        raws = []
        for half in halves:
            pipeline = build()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pipeline.fit(X.iloc[half], y.iloc[half])
            raws.append(predict_array(pipeline, X, task, classes))
        values.append(float(agree(raws[0], raws[1])))
    return {
        "mean": float(np.mean(values)),
        "std": float(np.std(values)),
        "values": values,
        "repeats": repeats,
        "rows": len(X),
    }
