"""Per-row flags for inputs a model serves but should not be trusted blindly on.

A value outside the numeric range seen in training, or a category never seen in training, is served
(the pipeline tolerates both) and flagged, so the client and the monitor can see it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlcraft.core.schema import FeatureColumns, Role, Schema, column_values

__all__ = ["input_flags", "OUT_OF_RANGE", "UNSEEN_CATEGORY"]

OUT_OF_RANGE = "out_of_range"
UNSEEN_CATEGORY = "unseen_category"


def input_flags(schema: Schema, features: pd.DataFrame | FeatureColumns) -> dict[int, list[dict[str, Any]]]:
    """Flags by row position for checked ``features`` (the output of ``Schema.coerce``).

    Examples
    --------
    >>> flags = input_flags(schema, features)  # doctest: +SKIP
    >>> flags[0]  # doctest: +SKIP
    [{'column': 'median_income', 'value': 99.0, 'issue': 'out_of_range', 'message': '...'}]
    """
    out: dict[int, list[dict[str, Any]]] = {}
    names = set(features.columns)
    for col in schema.columns:
        if col.name not in names:
            continue
        values = column_values(features, col.name)
        if col.role is Role.NUMERIC and col.low is not None and col.high is not None:
            numbers = values.astype(float)
            with np.errstate(invalid="ignore"):
                bad = np.flatnonzero((numbers < col.low) | (numbers > col.high))
            message = f"outside the training range [{col.low:g}, {col.high:g}]"
            for i in bad:
                out.setdefault(int(i), []).append({"column": col.name, "value": float(numbers[i]), "issue": OUT_OF_RANGE, "message": message})
        elif col.role is Role.CATEGORICAL and col.categories is not None:
            seen = set(col.categories)
            for i, v in enumerate(values):
                if isinstance(v, str) and v not in seen:
                    out.setdefault(i, []).append({"column": col.name, "value": v, "issue": UNSEEN_CATEGORY, "message": "category not seen in training"})
    return out
