"""The panel protocol every forecasting model implements, and the classic baselines on it.

A panel model sees whole series, never rows::

    fit(series: list[np.ndarray], *, horizon: int, season: int, inputs: PanelInputs | None = None) -> self
    forecast(histories: list[np.ndarray], horizon: int, inputs: PanelInputs | None = None) -> np.ndarray

``series`` and ``histories`` are the values of each series, oldest first, on a regular grid (gaps
already filled); ``forecast`` answers ``(n_series, horizon)``: the next ``horizon`` values after
each history. ``inputs`` carries what a model may read besides the values (stamps, covariates);
models that read none of it ignore it. The row adapter (:mod:`mlcraft.models.forecasting`) turns
a panel model into the estimator the engine fits on rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from mlcraft.exceptions import DataError

__all__ = ["PanelBaseline", "PanelInputs", "BASELINES", "check_series"]


def check_series(series: Any, what: str, *, min_length: int = 1) -> list[np.ndarray]:
    """The panel protocol's series checked: a list of 1-D arrays of finite numbers, each at least
    ``min_length`` long (a ``DataError`` names the series and the position otherwise).

    >>> [len(s) for s in check_series([[1, 2], [3.0]], "series")]
    [2, 1]
    """
    if isinstance(series, np.ndarray) and series.ndim == 1:
        raise DataError(f"{what} must be a list of 1-D arrays (one per series), got one 1-D array")
    try:
        items = list(series)
    except TypeError:
        raise DataError(
            f"{what} must be a list of 1-D arrays (one per series), got {type(series).__name__}"
        ) from None
    if not items:
        raise DataError(f"{what} is empty: give at least one series")
    out = []
    for i, s in enumerate(items):
        try:
            a = np.asarray(s, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{what}[{i}] holds values that are not numbers") from None
        if a.ndim != 1:
            raise DataError(f"{what}[{i}] has shape {a.shape}: each series must be 1-D")
        if len(a) < min_length:
            raise DataError(f"{what}[{i}] is empty: each series needs at least one value")
        bad = np.flatnonzero(~np.isfinite(a))
        if bad.size:
            raise DataError(
                f"{what}[{i}] has a missing or infinite value at position {int(bad[0])} "
                f"({bad.size} in all): fill or drop them before forecasting"
            )
        out.append(a)
    return out


@dataclass
class PanelInputs:
    """What a panel model may read besides the values, one entry per series (same order).

    stamps : the time stamps of each history's values (``len(stamps[i]) == len(series[i])``).
    freq : the series' frequency (a pandas offset alias: "MS", "D", "QS-JAN"...).
    future : at forecast time, the ``horizon`` stamps to forecast for each series (else None).
    static : one row per series of covariates that never change (numeric or category dtype), or None.
    known : per series, covariates known in the future, one row per stamp: the history's rows at
        fit time, the history's rows then the ``horizon`` future rows at forecast time; or None.
    past : per series, covariates observed only up to the last value (one row per history stamp),
        or None; a model may read them lagged only.
    """

    stamps: list[pd.DatetimeIndex]
    freq: str
    future: list[pd.DatetimeIndex] | None = None
    static: pd.DataFrame | None = None
    known: list[pd.DataFrame] | None = None
    past: list[pd.DataFrame] | None = None


BASELINES = ("naive", "seasonal_naive", "drift", "mean", "seasonal_window_average")


class PanelBaseline(BaseEstimator):
    """The classic baselines (Hyndman & Athanasopoulos, ch. 5; the book's chapter 15).

    Examples
    --------
    >>> m = PanelBaseline("seasonal_naive").fit([np.arange(8.0)], horizon=3, season=4)
    >>> m.forecast([np.arange(8.0)], 3).tolist()
    [[4.0, 5.0, 6.0]]
    """

    def __init__(self, method: str = "seasonal_naive", window: int = 2):
        self.method = method
        self.window = window

    def fit(
        self,
        series: list[np.ndarray],
        *,
        horizon: int,
        season: int,
        inputs: PanelInputs | None = None,
    ) -> PanelBaseline:
        if self.method not in BASELINES:
            raise ValueError(f"method {self.method!r}: choose one of {', '.join(BASELINES)}")
        if horizon < 1 or season < 1:
            raise ValueError("horizon and season must be at least 1")
        self.horizon_, self.season_ = horizon, season
        return self

    def forecast(
        self, histories: list[np.ndarray], horizon: int, inputs: PanelInputs | None = None
    ) -> np.ndarray:
        return np.vstack([self._one(np.asarray(h, dtype=float), horizon) for h in histories])

    def _one(self, y: np.ndarray, horizon: int) -> np.ndarray:
        if len(y) == 0:
            return np.full(horizon, np.nan)
        steps = np.arange(1, horizon + 1)
        m = self.season_ if len(y) >= self.season_ else 1
        if self.method == "naive":
            return np.full(horizon, y[-1])
        if self.method == "mean":
            return np.full(horizon, y.mean())
        if self.method == "drift":
            slope = (y[-1] - y[0]) / (len(y) - 1) if len(y) > 1 else 0.0
            return y[-1] + slope * steps
        last = y[-m:]
        if self.method == "seasonal_naive":
            return last[(steps - 1) % m]
        k = max(1, min(self.window, len(y) // m))  # seasonal window average over k seasons
        seasons = y[len(y) - k * m :].reshape(k, m).mean(axis=0)
        return seasons[(steps - 1) % m]
