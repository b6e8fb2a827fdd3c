"""The models that serve an ensemble: a fitted :class:`Blend` of members, and k-fold bagging.

How the blend is fitted (and scored honestly) is :mod:`mlcraft.core.fit.blending`. Methods:

* ``caruana``: greedy ensemble selection with replacement (Caruana et al., 2004), as AutoGluon.
* ``stacking``: the book's blender, a second-level model on the members' predictions
  (non-negative least squares for regression, logistic regression on logits for classification).
* ``soft_vote`` / ``hard_vote``: the plain average of the members' predictions / of their votes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator

from mlcraft.tasks import align_proba, get_kind

if TYPE_CHECKING:
    from mlcraft.core.analysis.metrics import Scorer

__all__ = ["Blend", "stack_features", "EnsembleModel", "BaggedModel"]

EPS = 1e-6


@dataclass
class Blend:
    """How members' predictions are combined: weights (sum 1) or a fitted second-level model."""

    method: str
    weights: np.ndarray
    blender: Any = None  # fitted scikit-learn model for "stacking"

    def combine(
        self, preds: Sequence[np.ndarray], task: str, scorer: Scorer | None = None
    ) -> np.ndarray:
        """The ensemble's prediction from its members' predictions (values, or probabilities)."""
        kind = get_kind(task)
        if self.method == "stacking":
            columns = (
                list(range(preds[0].shape[1])) if kind.classification else None
            )  # the members' class positions
            features = stack_features(preds, task)
            rows = np.isfinite(features).all(axis=1)
            if rows.all():
                return kind.predict_raw(self.blender, features, columns)
            out = np.full((len(features), *np.shape(preds[0])[1:]), np.nan)  # a row some member
            if rows.any():  # did not predict (a forecast's past rows) is not predicted
                out[rows] = kind.predict_raw(self.blender, features[rows], columns)
            return out
        if self.method == "hard_vote" and kind.classification:
            votes = np.zeros_like(preds[0], dtype=float)
            for w, p in zip(self.weights, preds):
                votes[np.arange(len(p)), np.argmax(p, axis=1)] += w
            return votes  # the weighted share of votes per class
        return sum(w * p for w, p in zip(self.weights, preds))


def stack_features(preds: Sequence[np.ndarray], task: str) -> np.ndarray:
    """The blender's inputs: members' values, or their log-odds (two classes) or log-probabilities."""
    kind = get_kind(task)
    if not kind.classification:
        return np.column_stack(preds)
    clipped = [np.clip(p, EPS, 1 - EPS) for p in preds]
    if kind.has_positive_class:
        return np.column_stack([np.log(p[:, 1] / p[:, 0]) for p in clipped])
    return np.hstack([np.log(p) for p in clipped])


class EnsembleModel(BaseEstimator):
    """Fitted members (pipelines) combined by a :class:`Blend`; predicts like one pipeline.

    ``predict`` gives values (regression) or labels, ``predict_proba`` class probabilities in
    ``classes_`` order, so a :class:`~mlcraft.core.predict.pipeline.FittedModel` serves it unchanged.
    """

    def __init__(
        self, members=None, blend=None, task: str = "regression", classes=None, names=None
    ):
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
            keys.append(
                joblib.hash(steps[0][1])
                if steps and len(steps) == 2 and steps[0][0] == "prepare"
                else None
            )
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
            out.append(get_kind(self.task).predict_raw(model, inputs, self.classes))
        return out

    def predict_from(self, outputs: list[np.ndarray]) -> np.ndarray:
        """``predict`` from the members' outputs (values, or labels)."""
        combined = self.blend.combine(outputs, self.task)
        if not get_kind(self.task).classification:
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

    def __mlcraft_compile__(
        self, compiler: Any, task: str, classes: Sequence[Any] | None
    ) -> Callable[[Any], np.ndarray]:
        """This ensemble's compiled form (:func:`mlcraft.core.predict.compiled.compile_predictor`):
        each member's compiled estimator, a preparation shared by members run once per call.

        ``compiler`` is a :class:`~mlcraft.core.predict.compiled.Compiler` (``parts`` of a member
        pipeline, ``predictor`` of any other member); ``NotCompilable`` from it propagates."""
        kind = get_kind(task)
        order = self.classes if classes is None else classes  # (as predict_raw)
        keys = getattr(self, "prepare_keys_", None) or [None] * len(self.members)
        members: list[tuple[Any, Any, Any]] = []  # (shared preparation key, preparation, estimator)
        paths: list[str] = []
        preps: dict[Any, Any] = {}
        for member, key in zip(self.members, keys):
            if getattr(member, "steps", None) is None:
                whole = compiler.predictor(member, task, self.classes)
                members.append((None, None, whole))
                paths.append(getattr(whole, "path", "generic"))
                continue
            parts = compiler.parts(member, task, self.classes)
            prep = parts.prepare if key is None else preps.setdefault(key, parts.prepare)
            members.append((key, prep, parts.estimator))
            paths.append(parts.path)

        def ensemble_output(features: Any) -> np.ndarray:
            prepared: dict[Any, np.ndarray] = {}
            outputs = []
            for key, prep, estimator in members:
                if prep is None:
                    outputs.append(estimator(features))
                    continue
                if key is None:
                    X = prep(features)
                elif key in prepared:
                    X = prepared[key]
                else:
                    X = prepared[key] = prep(features)
                outputs.append(estimator(X))
            if not kind.classification:
                return np.asarray(self.predict_from(outputs), dtype=float).ravel()
            return align_proba(self.proba_from(outputs), self.classes_, order)

        vars(ensemble_output)["single_threaded"] = all(
            getattr(e, "single_threaded", False) for _, _, e in members
        )
        vars(ensemble_output)["path"] = f"{type(self).__name__}[{', '.join(paths)}]"
        return ensemble_output

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = get_kind(self.task).estimator_type
        return tags

    def __repr__(self, N_CHAR_MAX=700):
        # scikit-learn's pretty printer walks every member's parameters: far too slow here
        method = getattr(self.blend, "method", "mean")
        weights = getattr(self.blend, "weights", None)
        parts = (
            [f"{n}: {w:.3f}" for n, w in zip(self.names or [], weights)]
            if weights is not None
            else list(self.names or [])
        )
        return f"{type(self).__name__}({method}; {', '.join(parts)})"


class BaggedModel(EnsembleModel):
    """k-fold bagging: the k models of a member's cross-validation, averaged (nothing refitted)."""

    def __init__(self, members=None, task: str = "regression", classes=None, names=None):
        super().__init__(members=members, blend=None, task=task, classes=classes, names=names)

    def predict_from(self, outputs: list[np.ndarray]) -> np.ndarray:
        combined = sum(outputs, np.zeros_like(outputs[0])) / len(outputs)
        return (
            self.classes_[np.argmax(combined, axis=1)]
            if get_kind(self.task).classification
            else combined
        )

    def proba_from(self, outputs: list[np.ndarray]) -> np.ndarray:
        return sum(outputs, np.zeros_like(outputs[0])) / len(outputs)
