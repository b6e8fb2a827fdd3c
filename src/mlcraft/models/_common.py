"""Helpers shared by the family declarations."""

from __future__ import annotations

import math

from sklearn.compose import TransformedTargetRegressor
from sklearn.preprocessing import StandardScaler

REGRESSION = frozenset({"regression"})
CLASSIFICATION = frozenset({"binary", "multiclass"})
ALL_TASKS = REGRESSION | CLASSIFICATION


def scaled_target(regressor):
    """Standardise the target for regressors whose defaults assume unit scale (SVR, SGD)."""
    return TransformedTargetRegressor(regressor=regressor, transformer=StandardScaler())


def nlogn(n: int) -> float:
    return n * math.log2(max(n, 2))
