"""Framing helpers shared by every kind of problem: a learnable target, its classes as Python values.

Which kind a target implies and which class is positive are the kinds' own (:mod:`mlcraft.tasks`); the
objective shown is the user's own words, or a generated sentence."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlcraft.exceptions import DataError
from mlcraft.jsonsafe import native

__all__ = ["check_target", "class_labels", "to_native"]


to_native = native  # a numpy scalar as the Python value (for TOML/JSON): mlcraft.jsonsafe.native


def check_target(values: pd.Series, target: str) -> pd.Series:
    """Refuse a target that cannot be learned; return its non-missing values."""
    present = values.dropna()
    if present.empty:
        raise DataError(
            f"target {target!r} is entirely missing; fill in the labels or pick another --target"
        )
    if present.nunique() < 2:
        raise DataError(
            f"target {target!r} has a single value ({to_native(present.iloc[0])!r}): there is nothing to learn; "
            "classification needs at least two classes"
        )
    if pd.api.types.is_float_dtype(present.dtype) and np.isinf(present.to_numpy(dtype=float)).any():
        raise DataError(f"target {target!r} has infinite values; replace or remove those rows")
    return present


def class_labels(values: pd.Series) -> list[Any]:
    """The sorted distinct classes, as Python values."""
    return [to_native(v) for v in np.unique(values.dropna().to_numpy())]


def objective(
    given: str | None, target: str | None, task: str, n_features: int, goal: str | None = None
) -> dict[str, str]:
    """The objective to show: the user's own words (``--objective``), else a generated sentence.

    ``source`` says which (``"user"`` or ``"generated"``), so that a page can say it was generated.
    """
    if given is not None and given.strip():
        return {"text": given.strip(), "source": "user"}
    if target is None:  # a kind without a target
        what = goal or f"{task} the rows"  # goal: the kind's own phrase (ProblemKind.goal)
        return {"text": f"{what} by {n_features} feature(s)", "source": "generated"}
    return {
        "text": f"predict {target} ({task}) from {n_features} feature(s)",
        "source": "generated",
    }
