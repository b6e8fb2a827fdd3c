"""From user input (arrays, DataFrames with ``category`` columns) to the network's two inputs.

Numeric columns become a float32 matrix (standardised with the training mean and deviation when
``scale_inputs``); categorical columns become integer codes shifted by one, 0 meaning missing or
unknown. Anything else (text, NaN, infinity) is refused with a message that says what to do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.validation import validate_data

from mlcraft.exceptions import DataError

__all__ = ["InvalidInputError", "NetworkInput", "encode_inputs", "input_error"]

ADVICE = (
    "mlcraft.nn networks take numbers: encode text and categorical columns first (mlcraft's pipeline does it), "
    "or pass categorical columns as pandas 'category' dtype; impute missing values and remove infinities"
)


class InvalidInputError(DataError, ValueError):
    """Input a network cannot use (text, NaN, infinity, one class...). Also a ``ValueError``."""


def input_error(exc: Exception) -> InvalidInputError:
    return InvalidInputError(f"{exc}\n{ADVICE}")


class NetworkInput:
    """What fit learned about the input columns, and the conversion of new rows."""

    def __init__(
        self, categorical: list[int], numeric: list[int], categories: list[Any], scale: bool
    ):
        self.categorical, self.numeric, self.categories, self.scale = (
            categorical,
            numeric,
            categories,
            scale,
        )
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    @property
    def cardinalities(self) -> list[int]:
        """Codes per categorical column, including the 0 slot for missing or unknown."""
        return [len(c) + 1 if isinstance(c, list) else int(c) + 1 for c in self.categories]

    def fit_scaling(self, numeric: np.ndarray) -> None:
        if self.scale and numeric.shape[1]:
            self.mean = numeric.mean(axis=0, dtype=np.float64)
            std = numeric.std(axis=0, dtype=np.float64)
            self.std = np.where(std > 0, std, 1.0)

    def split(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        numeric = X[:, self.numeric].astype(np.float32)
        if self.mean is not None:
            numeric = ((numeric - self.mean) / self.std).astype(np.float32)
        if not self.categorical:
            return np.ascontiguousarray(numeric), None
        raw = X[:, self.categorical]
        limits = np.asarray(self.cardinalities) - 1
        ok = np.isfinite(raw) & (raw >= 0) & (raw < limits)
        codes = np.where(ok, np.nan_to_num(raw, nan=-1.0) + 1, 0).astype(np.int64)
        return np.ascontiguousarray(numeric), codes


def _category_columns(est, X) -> list[int]:
    spec = est.categorical_features
    n = X.shape[1] if hasattr(X, "shape") and len(X.shape) == 2 else None
    if spec is None:
        return []
    if isinstance(spec, str):
        if spec != "from_dtype":
            raise ValueError(
                f"categorical_features must be 'from_dtype', None, indices or a mask, got {spec!r}"
            )
        if isinstance(X, pd.DataFrame):
            return [j for j, dt in enumerate(X.dtypes) if isinstance(dt, pd.CategoricalDtype)]
        return []
    spec = np.asarray(spec)
    if spec.dtype == bool:
        if n is not None and spec.size != n:
            raise ValueError(f"categorical_features mask has {spec.size} entries for {n} columns")
        return [int(j) for j in np.flatnonzero(spec)]
    return sorted(int(j) for j in spec)


def _as_codes(X, columns: list[int], categories: list[Any] | None):
    """A copy of the DataFrame with its ``category`` columns replaced by float codes (-1: missing)."""
    if not isinstance(X, pd.DataFrame) or not columns:
        return X
    X = X.copy()
    for k, j in enumerate(columns):
        col = X.iloc[:, j]
        if isinstance(col.dtype, pd.CategoricalDtype):
            if categories is not None and isinstance(categories[k], list):
                col = col.cat.set_categories(categories[k])
            X.isetitem(j, col.cat.codes.astype(np.float64))
    return X


def encode_inputs(
    est, X, y=None, *, reset: bool, y_numeric: bool = False, multi_output: bool = True
):
    """Validate ``X`` (and ``y``) with scikit-learn's rules; return (numeric, codes[, y]).

    On ``reset`` the column roles, categories and scaling are learned and kept in ``est._input``.
    """
    if reset:
        columns = _category_columns(est, X)
        categories = [
            list(X.iloc[:, j].cat.categories)
            if isinstance(X, pd.DataFrame) and isinstance(X.iloc[:, j].dtype, pd.CategoricalDtype)
            else None
            for j in columns
        ]
    else:
        columns = est._input.categorical
        categories = est._input.categories
    frame = _as_codes(X, columns, categories)
    try:
        if y is None and not reset:
            Xv = validate_data(est, frame, reset=False, dtype=[np.float32, np.float64])
        else:
            Xv, y = validate_data(
                est,
                frame,
                y,
                reset=reset,
                dtype=[np.float32, np.float64],
                y_numeric=y_numeric,
                multi_output=multi_output,
            )
    except ValueError as exc:
        raise input_error(exc) from exc
    if reset:
        _learn_columns(est, Xv, columns, categories)
    numeric, codes = est._input.split(Xv)
    return (numeric, codes) if y is None else (numeric, codes, y)


def _learn_columns(est, Xv: np.ndarray, columns: list[int], categories: list[Any]) -> None:
    if any(j < 0 or j >= Xv.shape[1] for j in columns):
        raise InvalidInputError(
            f"categorical_features {columns} out of range for {Xv.shape[1]} columns"
        )
    learned = []
    for k, j in enumerate(columns):
        if categories[k] is not None:
            learned.append(categories[k])
            continue
        col = Xv[:, j]
        valid = col[col >= 0]
        if np.any(valid != np.round(valid)):
            raise InvalidInputError(
                f"categorical column {j} holds non-integer values; pass integer codes (0, 1, 2...) or a 'category' column"
            )
        learned.append(int(valid.max()) + 1 if valid.size else 1)
    numeric = [j for j in range(Xv.shape[1]) if j not in set(columns)]
    est._input = NetworkInput(list(columns), numeric, learned, scale=est._scales_inputs())
    est._input.fit_scaling(Xv[:, numeric].astype(np.float64))
