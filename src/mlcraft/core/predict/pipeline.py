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

from mlcraft.core.data.preprocess import build_preprocessor, reduction_step
from mlcraft.core.data.schema import FeatureColumns, Schema
from mlcraft.core.fit.family import BuildContext, Family
from mlcraft.core.predict.compiled import verified_predictor
from mlcraft.core.predict.threads import MULTITHREAD_ROWS
from mlcraft.core.predict.threads import one_thread as _one_thread
from mlcraft.tasks import ProblemKind, get_kind

__all__ = ["make_pipeline", "predict_array", "FittedModel", "Prediction", "proba_column"]


PREPARE_PREFIX = "prepare_"  # searched settings of the preparation, not of the estimator


def make_pipeline(
    family: Family, schema: Schema, params: Mapping[str, Any], context: BuildContext
) -> Pipeline:
    """Preparation (as the family needs it) followed by the family's estimator, unfitted; the
    ``prepare_*`` settings of a trial (:func:`~mlcraft.core.fit.family.preparation_space`) add a
    reduction step between them and are not passed to the estimator."""
    prepare = build_preprocessor(
        schema,
        scale=family.needs_scaling,
        categorical=family.categorical,
        log_heavy_tails=family.needs_scaling,
        impute=not family.handles_missing,
    )
    own = {k: v for k, v in params.items() if not k.startswith(PREPARE_PREFIX)}
    reduce = reduction_step(dict(params), context.seed)
    middle = [] if reduce is None else [("reduce", reduce)]
    return Pipeline([("prepare", prepare), *middle, ("model", family.make(own, context))])


def predict_array(
    pipeline: Any, X: pd.DataFrame, task: str | ProblemKind, classes: Sequence[Any] | None
) -> np.ndarray:
    """The raw output of a fitted pipeline for the kind of problem ``task`` (see ``ProblemKind.predict_raw``)."""
    return get_kind(task).predict_raw(pipeline, X, classes)


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
        """The name of the predicted column: the target's, or the kind's for a kind without one."""
        return self.schema.target or self.kind.name

    @property
    def kind(self) -> ProblemKind:
        """The kind of problem the model solves (``task`` is its name)."""
        return get_kind(self.task)

    def labels(self, raw: np.ndarray) -> np.ndarray:
        """Predictions from raw output: the values, or the class decided with this model's threshold."""
        return self.kind.labels(raw, self.classes, self.positive_class, self.threshold)

    def predict_raw(self, features: pd.DataFrame | FeatureColumns) -> np.ndarray:
        """Pipeline output for already-checked features (values, or probabilities by class).

        Batches below :data:`MULTITHREAD_ROWS` rows run on one thread: OpenMP start-up and
        contention cost more than they save there (one row: milliseconds, not hundreds). They
        take the compiled path (:mod:`mlcraft.core.predict.compiled`) when the model has one.
        """
        return self.kind.served_raw(self.pipeline, _frame(features), self._search_raw(features))

    def _search_raw(self, features: pd.DataFrame | FeatureColumns) -> np.ndarray:
        if len(features) >= MULTITHREAD_ROWS:
            return predict_array(self.pipeline, _frame(features), self.task, self.classes)
        fast = self.compiled()
        if fast is not None:
            # (a compiled path that sets its own thread count needs no thread-pool limit)
            with (
                contextlib.nullcontext()
                if getattr(fast, "single_threaded", False)
                else _one_thread()
            ):
                with contextlib.suppress(
                    Exception
                ):  # input the compiled path cannot take: scikit-learn's path decides
                    return fast(features)
        with _one_thread():
            return predict_array(self.pipeline, _frame(features), self.task, self.classes)

    def compiled(self):
        """The verified compiled predictor (built once, not saved), or None if there is none."""
        fast = self.__dict__.get("_compiled")
        if fast is None:
            fast = verified_predictor(self.pipeline, self.schema, self.task, self.classes) or False
            self.__dict__["_compiled"] = fast
        return fast or None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop(
            "_compiled", None
        )  # rebuilt after loading: a saved model is the same bytes either way
        return state

    def predict(self, data: pd.DataFrame, *, where: str = "input", line_of=None) -> Prediction:
        """Check ``data`` against the training schema and predict.

        Returns the kind's predicted columns (one named like the target by default), plus
        ``proba_<class>`` columns for classification.
        """
        features, notes = self.schema.coerce(data, where=where, line_of=line_of)
        raw = self.predict_raw(features)
        columns = self.kind.prediction_columns(raw, self.labels(raw), self.target, self.classes)
        frame = pd.DataFrame(columns, index=data.index)
        if self.kind.classification:
            for j, cls in enumerate(self.classes or []):
                frame[proba_column(cls)] = raw[:, j]
            if self.classes and all(
                isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in self.classes
            ):
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
