"""The kinds of problem on a table with a target column: regression, binary and multiclass."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlcraft.core.analysis import diagnostics
from mlcraft.core.data import framing
from mlcraft.core.data.split import TestSplit, cv_folds, split_test
from mlcraft.core.data.targets import align_proba, decide_labels
from mlcraft.exceptions import ConfigError, DataError
from mlcraft.formatting import format_number
from mlcraft.tasks.base import Folds, ProblemKind, get_kind, register_kind

__all__ = ["Regression", "Binary", "Multiclass", "infer_kind", "decide_labels", "align_proba"]

IMBALANCE_SHARE = 0.2  # a class below this share of the rows is flagged as a limitation
MAX_INT_CLASSES = 20  # an integer target with at most this many values is read as classes
_POSITIVE_WORDS = {"1", "true", "yes", "y", "t", "positive", "pos", "survived"}


class _Table(ProblemKind):
    """Rows of a table, a target column: a stable or stratified test split, k-fold CV."""

    def split_test(
        self,
        frame: pd.DataFrame,
        target: str | None,
        *,
        test_size: float,
        seed: int,
        id_column: str | None = None,
        stratify_on: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> TestSplit:
        if target is None:
            raise ConfigError(f"--task {self.name} needs the column to predict: --target COL")
        return split_test(
            frame,
            target,
            classification=self.classification,
            test_size=test_size,
            seed=seed,
            id_column=id_column,
            stratify_on=stratify_on,
        )

    def folds(
        self,
        y: pd.Series,
        *,
        n_folds: int,
        seed: int,
        features: pd.DataFrame | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Folds:
        return cv_folds(y, classification=self.classification, n_folds=n_folds, seed=seed)


@register_kind
class Regression(_Table):
    name = "regression"
    description = "predict a number"
    classification = False
    numeric_target = True
    estimator_type = "regressor"
    default_metric = "rmse"
    report_section = "regression"

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

    def target_numbers(self, y: pd.Series, positive_class: Any = None) -> np.ndarray | None:
        return pd.to_numeric(y, errors="coerce").to_numpy(dtype=float, na_value=np.nan)

    def diagnose(
        self,
        y: np.ndarray,
        raw: np.ndarray,
        *,
        classes: Sequence[Any] | None,
        positive_class: Any = None,
        threshold: float | None = None,
        categories: dict[str, pd.Series] | None = None,
        known: pd.Series | None = None,
        features: pd.DataFrame | None = None,
        settings: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return diagnostics.regression_diagnostics(y, raw, categories)

    def diagnostics_summary(self, diagnostics: dict[str, Any]) -> list[str]:
        d = diagnostics
        return [
            f"out-of-fold RMSE {format_number(d['rmse'])}, MAE {format_number(d['mae'])}, R2 {format_number(d['r2'])}"
        ]

    def outputs(
        self, raw: np.ndarray, labels: np.ndarray, classes: Sequence[Any] | None
    ) -> tuple[list[Any], list[dict[str, float]] | None]:
        return [v if math.isfinite(v) else None for v in raw.tolist()], None

    def logged_raw(
        self, values: Sequence[Any], probabilities: Sequence[dict[str, float] | None], classes
    ) -> np.ndarray:
        return np.array(values, dtype=float)

    def label_values(self, values: pd.Series, where: Callable[[int], str]) -> list[Any]:
        numbers = pd.to_numeric(values, errors="coerce")
        bad = numbers.isna().to_numpy()
        if bad.any():
            raise DataError(f"{where(int(np.flatnonzero(bad)[0]))} is not a number")
        return numbers.astype(float).tolist()


class _Classes(_Table):
    classification = True
    semi_supervised = True
    numeric_target = False
    estimator_type = "classifier"
    report_section = "classification"

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

    def target_limitations(self, value_counts: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
        rare = [c for c in value_counts if c["share"] < IMBALANCE_SHARE]
        if not rare:
            return []
        listed = ", ".join(f"{c['value']} ({c['share']:.1%})" for c in rare[:3])
        return [
            {
                "kind": "class imbalance",
                "text": f"rare class(es): {listed}; accuracy is misleading, read precision and recall per class",
            }
        ]

    def diagnose(
        self,
        y: np.ndarray,
        raw: np.ndarray,
        *,
        classes: Sequence[Any] | None,
        positive_class: Any = None,
        threshold: float | None = None,
        categories: dict[str, pd.Series] | None = None,
        known: pd.Series | None = None,
        features: pd.DataFrame | None = None,
        settings: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        positive = str(positive_class) if self.has_positive_class else None
        return diagnostics.classification_diagnostics(y, raw, classes or [], positive, threshold)

    def diagnostics_summary(self, diagnostics: dict[str, Any]) -> list[str]:
        d = diagnostics
        lines = [
            f"out-of-fold accuracy {format_number(d['scores']['accuracy'])}, macro F1 {format_number(d['scores']['averages']['macro']['f1'])}"
        ]
        return lines + [f"confusion: {c['text']}" for c in d["confusion"]["largest"][:3]]

    def outputs(
        self, raw: np.ndarray, labels: np.ndarray, classes: Sequence[Any] | None
    ) -> tuple[list[Any], list[dict[str, float]] | None]:
        raw = np.nan_to_num(raw, nan=0.0, posinf=1.0, neginf=0.0)
        names = [str(framing.to_native(c)) for c in classes or []]
        proba = [dict(zip(names, row)) for row in raw.tolist()]
        return [framing.to_native(v) for v in labels], proba

    def logged_raw(
        self, values: Sequence[Any], probabilities: Sequence[dict[str, float] | None], classes
    ) -> np.ndarray:
        names = [str(framing.to_native(c)) for c in classes or []]
        return np.array(
            [[(p or {}).get(n, 0.0) for n in names] for p in probabilities], dtype=float
        )


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

    def target_numbers(self, y: pd.Series, positive_class: Any = None) -> np.ndarray | None:
        out = (y.astype(str) == str(positive_class)).to_numpy(dtype=float)
        out[y.isna().to_numpy()] = np.nan
        return out


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
