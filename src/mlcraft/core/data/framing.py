"""Framing: which task the target implies, and which class is positive."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlcraft.exceptions import ConfigError, DataError
from mlcraft.jsonsafe import native

__all__ = ["infer_task", "check_target", "choose_positive_class", "class_labels", "to_native"]

MAX_INT_CLASSES = 20
_POSITIVE_WORDS = {"1", "true", "yes", "y", "t", "positive", "pos", "survived"}


to_native = native  # a numpy scalar as the Python value (for TOML/JSON): mlcraft.jsonsafe.native


def check_target(values: pd.Series, target: str) -> pd.Series:
    """Refuse a target that cannot be learned; return its non-missing values."""
    present = values.dropna()
    if present.empty:
        raise DataError(f"target {target!r} is entirely missing; fill in the labels or pick another --target")
    if present.nunique() < 2:
        raise DataError(
            f"target {target!r} has a single value ({to_native(present.iloc[0])!r}): there is nothing to learn; "
            "classification needs at least two classes"
        )
    if pd.api.types.is_float_dtype(present.dtype) and np.isinf(present.to_numpy(dtype=float)).any():
        raise DataError(f"target {target!r} has infinite values; replace or remove those rows")
    return present


def infer_task(values: pd.Series) -> str:
    """Regression, binary or multiclass, from the target's values.

    Examples
    --------
    >>> import pandas as pd
    >>> infer_task(pd.Series([0, 1, 1])), infer_task(pd.Series([0.5, 1.25, 3.0]))
    ('binary', 'regression')
    """
    present = values.dropna()
    n_unique = present.nunique()
    if n_unique == 2:
        return "binary"
    dtype = present.dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        return "multiclass"
    integral = pd.api.types.is_integer_dtype(dtype) or bool(np.all(np.mod(present.to_numpy(dtype=float), 1) == 0))
    if integral and n_unique <= MAX_INT_CLASSES:
        return "multiclass"
    return "regression"


def class_labels(values: pd.Series) -> list[Any]:
    """The sorted distinct classes, as Python values."""
    return [to_native(v) for v in np.unique(values.dropna().to_numpy())]


def choose_positive_class(values: pd.Series, task: str, requested: Any = None) -> Any:
    """The positive class for a binary task: requested, else 1/True/"yes"..., else the minority class."""
    if task != "binary":
        if requested is not None:
            raise ConfigError(f"--positive-class only applies to binary tasks (this task is {task})")
        return None
    classes = class_labels(values)
    if requested is not None:
        for cls in classes:
            if str(cls) == str(requested):
                return cls
        raise ConfigError(f"--positive-class {requested!r} is not a class of the target (classes: {classes})")
    for cls in classes:
        if str(cls).strip().lower() in _POSITIVE_WORDS:
            return cls
    counts = values.value_counts()
    return to_native(counts.index[-1])
