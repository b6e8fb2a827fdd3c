"""The kinds of problem on a table with a target column: regression, binary and multiclass."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlcraft.core.data import framing
from mlcraft.core.data.split import TestSplit, cv_folds, split_test
from mlcraft.exceptions import ConfigError, DataError
from mlcraft.tasks.base import Folds, ProblemKind, get_kind, register_kind

__all__ = ["Regression", "Binary", "Multiclass", "infer_kind", "decide_labels", "align_proba"]

MAX_INT_CLASSES = 20  # an integer target with at most this many values is read as classes
_POSITIVE_WORDS = {"1", "true", "yes", "y", "t", "positive", "pos", "survived"}


def align_proba(
    proba: np.ndarray, fitted_classes: Sequence[Any], classes: Sequence[Any]
) -> np.ndarray:
    """Columns of ``proba`` (in ``fitted_classes`` order) rearranged to ``classes``; absent ones are 0."""
    fitted = list(fitted_classes)
    if fitted == list(classes):
        return proba
    out = np.zeros((proba.shape[0], len(classes)))
    for j, cls in enumerate(classes):
        if cls in fitted:
            out[:, j] = proba[:, fitted.index(cls)]
    return out


def decide_labels(
    proba: np.ndarray,
    classes: Sequence[Any],
    positive_class: Any = None,
    threshold: float | None = None,
) -> np.ndarray:
    """Class labels from probabilities: the positive class above ``threshold`` (binary), else the argmax.

    Missing probabilities count as 0 (a model that returned NaN for a class never picks it).

    Examples
    --------
    >>> import numpy as np
    >>> decide_labels(np.array([[0.7, 0.3], [0.2, 0.8]]), ["no", "yes"], "yes", 0.25).tolist()
    ['yes', 'yes']
    """
    proba = np.nan_to_num(proba, nan=0.0, posinf=1.0, neginf=0.0)
    labels = np.asarray(classes, dtype=object)
    if len(labels) == 2 and positive_class is not None and threshold is not None:
        pos = list(classes).index(positive_class)
        return labels[np.where(proba[:, pos] >= threshold, pos, 1 - pos)]
    return labels[np.argmax(proba, axis=1)]


class _Table(ProblemKind):
    """Rows of a table, a target column: a stable or stratified test split, k-fold CV."""

    def split_test(
        self,
        frame: pd.DataFrame,
        target: str,
        *,
        test_size: float,
        seed: int,
        id_column: str | None = None,
        stratify_on: str | None = None,
    ) -> TestSplit:
        return split_test(
            frame,
            target,
            classification=self.classification,
            test_size=test_size,
            seed=seed,
            id_column=id_column,
            stratify_on=stratify_on,
        )

    def folds(self, y: pd.Series, *, n_folds: int, seed: int) -> Folds:
        return cv_folds(y, classification=self.classification, n_folds=n_folds, seed=seed)


@register_kind
class Regression(_Table):
    name = "regression"
    description = "predict a number"
    classification = False
    numeric_target = True
    estimator_type = "regressor"
    default_metric = "rmse"

    def check_target(self, present: pd.Series, target: str) -> None:
        if not pd.api.types.is_numeric_dtype(present.dtype):
            raise DataError(
                f"target {target!r} is not numeric, so it cannot be a regression target; use --task binary or multiclass"
            )

    def empty_output(self, n_rows: int, classes: Sequence[Any] | None) -> np.ndarray:
        return np.zeros(n_rows)

    def predict_raw(self, estimator: Any, X: Any, classes: Sequence[Any] | None) -> np.ndarray:
        return np.asarray(estimator.predict(X), dtype=float).ravel()

    def labels(
        self,
        raw: np.ndarray,
        classes: Sequence[Any] | None,
        positive_class: Any = None,
        threshold: float | None = None,
    ) -> np.ndarray:
        return raw


class _Classes(_Table):
    classification = True
    numeric_target = False
    estimator_type = "classifier"

    def classes(self, y: pd.Series) -> list[Any] | None:
        return framing.class_labels(y)

    def empty_output(self, n_rows: int, classes: Sequence[Any] | None) -> np.ndarray:
        return np.zeros((n_rows, len(classes or ())))

    def predict_raw(self, estimator: Any, X: Any, classes: Sequence[Any] | None) -> np.ndarray:
        proba = np.asarray(estimator.predict_proba(X), dtype=float)
        return align_proba(
            proba, estimator.classes_, estimator.classes_ if classes is None else classes
        )

    def labels(
        self,
        raw: np.ndarray,
        classes: Sequence[Any] | None,
        positive_class: Any = None,
        threshold: float | None = None,
    ) -> np.ndarray:
        return decide_labels(raw, classes or [], positive_class, threshold)


@register_kind
class Binary(_Classes):
    name = "binary"
    description = "predict one of two classes"
    has_positive_class = True
    default_metric = "roc_auc"

    def check_target(self, present: pd.Series, target: str) -> None:
        n_classes = present.nunique()
        if n_classes != 2:
            raise DataError(
                f"target {target!r} has {n_classes} classes, not 2; use --task multiclass"
            )

    def positive_class(self, values: pd.Series, requested: Any = None) -> Any:
        """The requested class, else 1/True/"yes"..., else the minority class."""
        classes = framing.class_labels(values)
        if requested is not None:
            for cls in classes:
                if str(cls) == str(requested):
                    return cls
            raise ConfigError(
                f"--positive-class {requested!r} is not a class of the target (classes: {classes})"
            )
        for cls in classes:
            if str(cls).strip().lower() in _POSITIVE_WORDS:
                return cls
        counts = values.value_counts()
        return framing.to_native(counts.index[-1])


@register_kind
class Multiclass(_Classes):
    name = "multiclass"
    description = "predict one of three or more classes"
    default_metric = "log_loss"

    def check_target(self, present: pd.Series, target: str) -> None:
        n_classes = present.nunique()
        if n_classes < 3:
            raise DataError(f"target {target!r} has {n_classes} classes; use --task binary")


def infer_kind(values: pd.Series) -> ProblemKind:
    """Regression, binary or multiclass, from the target's values.

    Examples
    --------
    >>> import pandas as pd
    >>> infer_kind(pd.Series([0, 1, 1])).name, infer_kind(pd.Series([0.5, 1.25, 3.0])).name
    ('binary', 'regression')
    """
    present = values.dropna()
    n_unique = present.nunique()
    if n_unique == 2:
        return get_kind(Binary.name)
    dtype = present.dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        return get_kind(Multiclass.name)
    integral = pd.api.types.is_integer_dtype(dtype) or bool(
        np.all(np.mod(present.to_numpy(dtype=float), 1) == 0)
    )
    if integral and n_unique <= MAX_INT_CLASSES:
        return get_kind(Multiclass.name)
    return get_kind(Regression.name)
