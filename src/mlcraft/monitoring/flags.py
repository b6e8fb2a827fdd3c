"""Per-row flags for inputs a model serves but should not be trusted blindly on.

A value outside the numeric range seen in training, or a category never seen in training, is served
(the pipeline tolerates both) and flagged, so the client and the monitor can see it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from mlcraft.core.data.schema import (
    ColumnInfo,
    FeatureColumns,
    Role,
    Schema,
    category_set,
    column_values,
)

__all__ = ["input_flags", "OUT_OF_RANGE", "UNSEEN_CATEGORY"]

OUT_OF_RANGE = "out_of_range"
UNSEEN_CATEGORY = "unseen_category"
PLAIN_ROWS = 8  # up to this many rows, ranges are checked value by value


@functools.lru_cache(maxsize=64)
def _bounds(pairs: tuple[tuple[float, float], ...]) -> tuple[np.ndarray, np.ndarray]:
    """Training ranges as column vectors, built once per model (requests are checked against them)."""
    bounds = np.asarray(pairs, dtype=float)
    return bounds[:, :1], bounds[:, 1:]


def _outside(
    ranged: list[ColumnInfo], features: pd.DataFrame | FeatureColumns
) -> Iterator[tuple[ColumnInfo, int, float]]:
    """``(column, row, value)`` for each value outside its column's training range, column by column
    (NaN compares as False: missing is not out of range)."""
    if not ranged:
        return
    if len(features) <= PLAIN_ROWS:  # a few rows: plain comparisons cost less than NumPy's calls
        for col in ranged:
            for i, v in enumerate(
                np.asarray(column_values(features, col.name), dtype=float).tolist()
            ):
                if v < col.low or v > col.high:
                    yield col, i, v
        return
    numbers = np.vstack([np.asarray(column_values(features, c.name), dtype=float) for c in ranged])
    low, high = _bounds(tuple((c.low, c.high) for c in ranged))
    with np.errstate(invalid="ignore"):
        outside = (numbers < low) | (numbers > high)
    for j in np.flatnonzero(
        outside.any(axis=1)
    ):  # one comparison for all columns; rows only where needed
        for k in np.flatnonzero(outside[j]):
            yield ranged[j], int(k), float(numbers[j, k])


def input_flags(
    schema: Schema, features: pd.DataFrame | FeatureColumns
) -> dict[int, list[dict[str, Any]]]:
    """Flags by row position for checked ``features`` (the output of ``Schema.coerce``).

    Examples
    --------
    >>> flags = input_flags(schema, features)  # doctest: +SKIP
    >>> flags[0]  # doctest: +SKIP
    [{'column': 'median_income', 'value': 99.0, 'issue': 'out_of_range', 'message': '...'}]
    """
    out: dict[int, list[dict[str, Any]]] = {}
    names = set(features.columns)
    ranged = [
        c
        for c in schema.columns
        if c.role is Role.NUMERIC and c.low is not None and c.high is not None and c.name in names
    ]
    for col, i, value in _outside(ranged, features):
        out.setdefault(i, []).append(
            {
                "column": col.name,
                "value": value,
                "issue": OUT_OF_RANGE,
                "message": f"outside the training range [{col.low:g}, {col.high:g}]",
            }
        )
    for col in schema.columns:
        if col.role is Role.CATEGORICAL and col.categories is not None and col.name in names:
            seen = category_set(col.categories)
            for i, v in enumerate(column_values(features, col.name)):
                if isinstance(v, str) and v not in seen:
                    out.setdefault(i, []).append(
                        {
                            "column": col.name,
                            "value": v,
                            "issue": UNSEEN_CATEGORY,
                            "message": "category not seen in training",
                        }
                    )
    if (
        out and ranged and any(c.role is Role.CATEGORICAL for c in schema.columns)
    ):  # within a row: the schema's column order
        position = {c.name: k for k, c in enumerate(schema.columns)}
        for row in out.values():
            row.sort(key=lambda f: position[f["column"]])
    return dict(sorted(out.items()))
