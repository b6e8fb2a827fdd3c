"""Fitting an ensemble's blend on its members' out-of-fold predictions, scored honestly.

Methods (each gives weights or a blender from the members' out-of-fold predictions):

* ``caruana``: greedy ensemble selection with replacement (Caruana et al., 2004), as AutoGluon.
* ``stacking``: the book's blender, a second-level model on the members' predictions
  (non-negative least squares for regression, logistic regression on logits for classification).
* ``soft_vote`` / ``hard_vote``: the plain average of the members' predictions / of their votes.

Honesty: the members' out-of-fold predictions come from models that never saw the row. Methods
that learn (caruana, stacking) are themselves cross-validated on the same folds: the prediction
for a row in fold ``f`` uses weights or a blender fitted on the other folds' rows only, so an
ensemble's CV score is comparable with a single model's (no stacking leakage). The weights that
are saved are then fitted on all rows. The fitted :class:`~mlcraft.core.predict.ensemble.Blend`
and the models that serve it live in :mod:`mlcraft.core.predict.ensemble`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlcraft.core.analysis.metrics import Scorer
from mlcraft.core.predict.ensemble import EPS, Blend, stack_features
from mlcraft.tasks import get_kind

__all__ = ["METHODS", "CARUANA_ROUNDS", "fit_blend", "cross_validated_blend"]

METHODS = ("caruana", "stacking", "soft_vote", "hard_vote")
CARUANA_ROUNDS = 20


def _caruana(preds: Sequence[np.ndarray], y: np.ndarray, scorer: Scorer, rounds: int) -> np.ndarray:
    counts = np.zeros(len(preds))
    total = np.zeros_like(preds[0], dtype=float)
    score = scorer.bind(y)
    for r in range(rounds):
        scores = [scorer.sign * score((total + p) / (r + 1)) for p in preds]
        j = int(np.argmax(scores))  # ties: the first (the better-ranked member)
        counts[j] += 1
        total += preds[j]
    return counts / counts.sum()


def fit_blend(
    method: str, preds: Sequence[np.ndarray], y: np.ndarray, scorer: Scorer, task: str
) -> Blend:
    """Fit ``method`` on members' out-of-fold predictions ``preds`` for targets ``y``."""
    m = len(preds)
    if method in ("soft_vote", "hard_vote"):
        return Blend(method, np.full(m, 1.0 / m))
    if method == "caruana":
        return Blend(method, _caruana(preds, y, scorer, CARUANA_ROUNDS))
    if method == "stacking":
        features = stack_features(preds, task)
        if not get_kind(task).classification:
            from sklearn.linear_model import LinearRegression

            target = y[:, 0] if np.ndim(y) == 2 else y  # a forecast's [value, scale]: the value
            blender = LinearRegression(positive=True).fit(features, target)
            weights = blender.coef_ / max(blender.coef_.sum(), EPS)
        else:
            from sklearn.linear_model import LogisticRegression

            codes = scorer.class_index(y)
            blender = LogisticRegression(C=1.0, max_iter=1000).fit(features, codes)
            weights = np.full(m, 1.0 / m)
        return Blend(method, weights, blender)
    raise ValueError(f"unknown ensemble method {method!r}; choose one of {', '.join(METHODS)}")


def cross_validated_blend(
    method: str,
    preds: Sequence[np.ndarray],
    y: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    scorer: Scorer,
    task: str,
) -> tuple[list[float], np.ndarray, Blend]:
    """Per-fold scores and out-of-fold predictions of the ensemble, then the blend fitted on all rows.

    For fold ``f`` the blend is fitted on the other folds' rows and applied to fold ``f``'s rows.
    Only rows every member predicted out of fold are fitted on (a forecast's backtest windows leave
    the oldest rows unpredicted); a fold with none of them is blended with equal weights.
    """
    oof = (
        np.full(np.shape(preds[0]), np.nan)
        if _has_gaps(preds)
        else np.zeros_like(preds[0], dtype=float)
    )
    predicted = _predicted_rows(preds)
    scores = []
    for train_idx, val_idx in folds:
        fit_rows = train_idx[predicted[train_idx]]
        blend = (
            fit_blend(method, [p[fit_rows] for p in preds], y[fit_rows], scorer, task)
            if len(fit_rows)
            else Blend("soft_vote", np.full(len(preds), 1.0 / len(preds)))
        )
        oof[val_idx] = blend.combine([p[val_idx] for p in preds], task)
        scores.append(scorer(y[val_idx], oof[val_idx]))
    rows = np.flatnonzero(predicted)
    return scores, oof, fit_blend(method, [p[rows] for p in preds], y[rows], scorer, task)


def _predicted_rows(preds: Sequence[np.ndarray]) -> np.ndarray:
    """Rows that every member predicted (no NaN)."""
    ok = np.ones(len(preds[0]), dtype=bool)
    for p in preds:
        values = np.asarray(p, dtype=float)
        ok &= np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    return ok


def _has_gaps(preds: Sequence[np.ndarray]) -> bool:
    return not bool(_predicted_rows(preds).all())
