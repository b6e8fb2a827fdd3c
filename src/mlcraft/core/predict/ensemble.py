"""Ensembles built from out-of-fold predictions, scored honestly, and the estimator that serves them.

Methods (each gives weights or a blender from the members' out-of-fold predictions):

* ``caruana``: greedy ensemble selection with replacement (Caruana et al., 2004), as AutoGluon.
* ``stacking``: the book's blender, a second-level model on the members' predictions
  (non-negative least squares for regression, logistic regression on logits for classification).
* ``soft_vote`` / ``hard_vote``: the plain average of the members' predictions / of their votes.

Honesty: the members' out-of-fold predictions come from models that never saw the row. Methods
that learn (caruana, stacking) are themselves cross-validated on the same folds: the prediction
for a row in fold ``f`` uses weights or a blender fitted on the other folds' rows only, so an
ensemble's CV score is comparable with a single model's (no stacking leakage). The weights that
are saved are then fitted on all rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from mlcraft.core.analysis.metrics import Scorer
from mlcraft.core.predict.pipeline import align_proba

__all__ = ["METHODS", "Blend", "fit_blend", "cross_validated_blend", "EnsembleModel", "BaggedModel"]

METHODS = ("caruana", "stacking", "soft_vote", "hard_vote")
CARUANA_ROUNDS = 20
EPS = 1e-6


@dataclass
class Blend:
    """How members' predictions are combined: weights (sum 1) or a fitted second-level model."""

    method: str
    weights: np.ndarray
    blender: Any = None  # fitted scikit-learn model for "stacking"

    def combine(self, preds: Sequence[np.ndarray], task: str, scorer: Scorer | None = None) -> np.ndarray:
        """The ensemble's prediction from its members' predictions (values, or probabilities)."""
        if self.method == "stacking":
            features = _stack_features(preds, task)
            if task == "regression":
                return self.blender.predict(features)
            proba = self.blender.predict_proba(features)
            return align_proba(proba, list(self.blender.classes_), list(range(preds[0].shape[1])))
        if self.method == "hard_vote" and task != "regression":
            votes = np.zeros_like(preds[0], dtype=float)
            for w, p in zip(self.weights, preds):
                votes[np.arange(len(p)), np.argmax(p, axis=1)] += w
            return votes  # the weighted share of votes per class
        return sum(w * p for w, p in zip(self.weights, preds))


def _stack_features(preds: Sequence[np.ndarray], task: str) -> np.ndarray:
    if task == "regression":
        return np.column_stack(preds)
    clipped = [np.clip(p, EPS, 1 - EPS) for p in preds]
    if task == "binary":
        return np.column_stack([np.log(p[:, 1] / p[:, 0]) for p in clipped])
    return np.hstack([np.log(p) for p in clipped])


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


def fit_blend(method: str, preds: Sequence[np.ndarray], y: np.ndarray, scorer: Scorer, task: str) -> Blend:
    """Fit ``method`` on members' out-of-fold predictions ``preds`` for targets ``y``."""
    m = len(preds)
    if method in ("soft_vote", "hard_vote"):
        return Blend(method, np.full(m, 1.0 / m))
    if method == "caruana":
        return Blend(method, _caruana(preds, y, scorer, CARUANA_ROUNDS))
    if method == "stacking":
        features = _stack_features(preds, task)
        if task == "regression":
            from sklearn.linear_model import LinearRegression

            blender = LinearRegression(positive=True).fit(features, y)
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
    """
    oof = np.zeros_like(preds[0], dtype=float)
    scores = []
    for train_idx, val_idx in folds:
        blend = fit_blend(method, [p[train_idx] for p in preds], y[train_idx], scorer, task)
        oof[val_idx] = blend.combine([p[val_idx] for p in preds], task)
        scores.append(scorer(y[val_idx], oof[val_idx]))
    return scores, oof, fit_blend(method, preds, y, scorer, task)


class EnsembleModel(BaseEstimator):
    """Fitted members (pipelines) combined by a :class:`Blend`; predicts like one pipeline.

    ``predict`` gives values (regression) or labels, ``predict_proba`` class probabilities in
    ``classes_`` order, so a :class:`~mlcraft.core.predict.pipeline.FittedModel` serves it unchanged.
    """

    def __init__(self, members=None, blend=None, task: str = "regression", classes=None, names=None):
        self.members = members
        self.blend = blend
        self.task = task
        self.classes = classes
        self.names = names

    @property
    def classes_(self):
        return np.asarray(self.classes, dtype=object) if self.classes is not None else None

    def fit(self, X, y):
        """Fit every member on ``X, y`` (each a clone of the member given); the blend is kept as it is
        (it was learnt on out-of-fold predictions). Used to refit a saved ensemble on other rows."""
        from sklearn.base import clone

        self.members = [clone(member).fit(X, y) for member in self.members]
        return self.share_preparation()

    def share_preparation(self) -> EnsembleModel:
        """Find members whose fitted preparation steps are identical (same settings, fitted on the
        same rows), so that predictions transform the input once per distinct preparation."""
        import joblib

        keys = []
        for member in self.members:
            steps = getattr(member, "steps", None)
            keys.append(joblib.hash(steps[0][1]) if steps and len(steps) == 2 and steps[0][0] == "prepare" else None)
        self.prepare_keys_ = keys
        return self

    def _member_outputs(self, X) -> list[np.ndarray]:
        keys = getattr(self, "prepare_keys_", None) or [None] * len(self.members)
        prepared: dict[str, Any] = {}
        out = []
        for member, key in zip(self.members, keys):
            if key is not None:
                if key not in prepared:
                    prepared[key] = member.steps[0][1].transform(X)
                model, inputs = member.steps[1][1], prepared[key]
            else:
                model, inputs = member, X
            if self.task == "regression":
                out.append(np.asarray(model.predict(inputs), dtype=float).ravel())
            else:
                out.append(align_proba(np.asarray(model.predict_proba(inputs), dtype=float), model.classes_, self.classes))
        return out

    def predict_from(self, outputs: list[np.ndarray]) -> np.ndarray:
        """``predict`` from the members' outputs (values, or labels)."""
        combined = self.blend.combine(outputs, self.task)
        if self.task == "regression":
            return combined
        return self.classes_[np.argmax(combined, axis=1)]

    def proba_from(self, outputs: list[np.ndarray]) -> np.ndarray:
        """``predict_proba`` from the members' outputs (probabilities in ``classes_`` order)."""
        proba = np.clip(self.blend.combine(outputs, self.task), 0.0, None)
        return proba / np.clip(proba.sum(axis=1, keepdims=True), EPS, None)

    def predict(self, X):
        return self.predict_from(self._member_outputs(X))

    def predict_proba(self, X):
        return self.proba_from(self._member_outputs(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "regressor" if self.task == "regression" else "classifier"
        return tags

    def __repr__(self, N_CHAR_MAX=700):
        # scikit-learn's pretty printer walks every member's parameters: far too slow here
        method = getattr(self.blend, "method", "mean")
        weights = getattr(self.blend, "weights", None)
        parts = [f"{n}: {w:.3f}" for n, w in zip(self.names or [], weights)] if weights is not None else list(self.names or [])
        return f"{type(self).__name__}({method}; {', '.join(parts)})"


class BaggedModel(EnsembleModel):
    """k-fold bagging: the k models of a member's cross-validation, averaged (nothing refitted)."""

    def __init__(self, members=None, task: str = "regression", classes=None, names=None):
        super().__init__(members=members, blend=None, task=task, classes=classes, names=names)

    def predict_from(self, outputs: list[np.ndarray]) -> np.ndarray:
        combined = sum(outputs, np.zeros_like(outputs[0])) / len(outputs)
        return combined if self.task == "regression" else self.classes_[np.argmax(combined, axis=1)]

    def proba_from(self, outputs: list[np.ndarray]) -> np.ndarray:
        return sum(outputs, np.zeros_like(outputs[0])) / len(outputs)
