"""A fitted model: preprocessing + estimator (one scikit-learn Pipeline) + schema + metadata.

The :class:`FittedModel` is exactly what is saved, loaded and served: it checks input against the
training schema, runs the pipeline, and returns predictions (and class probabilities).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from mlcraft.core.fit.family import BuildContext, Family
from mlcraft.core.analysis.metrics import decide_labels
from mlcraft.core.data.preprocess import build_preprocessor
from mlcraft.core.data.schema import FeatureColumns, Schema

__all__ = ["make_pipeline", "predict_array", "align_proba", "FittedModel", "Prediction", "proba_column"]


def make_pipeline(family: Family, schema: Schema, params: Mapping[str, Any], context: BuildContext) -> Pipeline:
    """Preparation (as the family needs it) followed by the family's estimator, unfitted."""
    prepare = build_preprocessor(
        schema,
        scale=family.needs_scaling,
        categorical=family.categorical,
        log_heavy_tails=family.needs_scaling,
        impute=not family.handles_missing,
    )
    return Pipeline([("prepare", prepare), ("model", family.make(params, context))])


def align_proba(proba: np.ndarray, fitted_classes: Sequence[Any], classes: Sequence[Any]) -> np.ndarray:
    """Columns of ``proba`` (in ``fitted_classes`` order) rearranged to ``classes``; absent ones are 0."""
    fitted = list(fitted_classes)
    if fitted == list(classes):
        return proba
    out = np.zeros((proba.shape[0], len(classes)))
    for j, cls in enumerate(classes):
        if cls in fitted:
            out[:, j] = proba[:, fitted.index(cls)]
    return out


def predict_array(pipeline: Any, X: pd.DataFrame, task: str, classes: Sequence[Any] | None) -> np.ndarray:
    """Values (regression) or class probabilities in ``classes`` order (classification)."""
    if task == "regression":
        return np.asarray(pipeline.predict(X), dtype=float).ravel()
    proba = np.asarray(pipeline.predict_proba(X), dtype=float)
    return align_proba(proba, pipeline.classes_, pipeline.classes_ if classes is None else classes)


_CONTROLLER: Any = None
MULTITHREAD_ROWS = 100_000  # below this, predictions run on one thread (faster, and steady under load)


def _one_thread():
    """A cached threadpool limit (creating one per call would cost milliseconds)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1)


def _frame(features: pd.DataFrame | FeatureColumns) -> pd.DataFrame:
    return features.to_frame() if isinstance(features, FeatureColumns) else features


def proba_column(cls: Any) -> str:
    return f"proba_{cls}"


@dataclass
class Prediction:
    """Predictions for a table, plus notes about its input (ignored columns, unseen categories)."""

    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)


@dataclass
class FittedModel:
    """A trained pipeline with everything needed to serve it.

    Examples
    --------
    >>> model.predict(df).frame.columns.tolist()  # doctest: +SKIP
    ['Survived', 'proba_0', 'proba_1']
    """

    pipeline: Pipeline
    schema: Schema
    task: str
    family: str
    params: dict[str, Any]
    classes: list[Any] | None = None
    positive_class: Any = None
    threshold: float | None = None  # binary decision threshold on the positive class (None: argmax)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def target(self) -> str:
        return self.schema.target

    def predict_raw(self, features: pd.DataFrame | FeatureColumns) -> np.ndarray:
        """Pipeline output for already-checked features (values, or probabilities by class).

        Batches below :data:`MULTITHREAD_ROWS` rows run on one thread: OpenMP start-up and
        contention cost more than they save there (one row: milliseconds, not hundreds). They
        take the compiled path (:mod:`mlcraft.core.predict.compiled`) when the model has one.
        """
        if len(features) >= MULTITHREAD_ROWS:
            return predict_array(self.pipeline, _frame(features), self.task, self.classes)
        fast = self.compiled()
        if fast is not None:
            # (a compiled path that sets its own thread count needs no thread-pool limit)
            with contextlib.nullcontext() if getattr(fast, "single_threaded", False) else _one_thread():
                with contextlib.suppress(Exception):  # input the compiled path cannot take: scikit-learn's path decides
                    return fast(features)
        with _one_thread():
            return predict_array(self.pipeline, _frame(features), self.task, self.classes)

    def compiled(self):
        """The verified compiled predictor (built once, not saved), or None if there is none."""
        fast = self.__dict__.get("_compiled")
        if fast is None:
            from mlcraft.core.predict.compiled import verified_predictor

            fast = verified_predictor(self.pipeline, self.schema, self.task, self.classes) or False
            self.__dict__["_compiled"] = fast
        return fast or None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_compiled", None)  # rebuilt after loading: a saved model is the same bytes either way
        return state

    def predict(self, data: pd.DataFrame, *, where: str = "input", line_of=None) -> Prediction:
        """Check ``data`` against the training schema and predict.

        Returns one column named like the target, plus ``proba_<class>`` columns for classification.
        """
        features, notes = self.schema.coerce(data, where=where, line_of=line_of)
        raw = self.predict_raw(features)
        if self.task == "regression":
            frame = pd.DataFrame({self.target: raw}, index=data.index)
        else:
            assert self.classes is not None  # a classifier keeps its classes
            labels = decide_labels(raw, self.classes, self.positive_class, self.threshold)
            frame = pd.DataFrame({self.target: labels}, index=data.index)
            for j, cls in enumerate(self.classes):
                frame[proba_column(cls)] = raw[:, j]
            if self.classes and all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in self.classes):
                frame[self.target] = frame[self.target].astype("int64")
        return Prediction(frame, notes)

    def save(self, path: str | Path) -> None:
        import joblib

        from mlcraft.atomic import atomic_path

        with atomic_path(path) as tmp:
            joblib.dump(self, tmp, compress=3)

    @staticmethod
    def load(path: str | Path) -> FittedModel:
        import joblib

        model = joblib.load(path)
        if not isinstance(model, FittedModel):
            raise TypeError(f"{path} does not hold an mlcraft model")
        return model
