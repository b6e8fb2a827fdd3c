"""Forecasting baselines on the panel protocol (issue 16, first slice; not yet registered).

Each model implements only::

    fit(series: list[np.ndarray], *, horizon: int, season: int) -> self  # histories, oldest first
    forecast(histories: list[np.ndarray], horizon: int) -> np.ndarray     # (n_series, horizon)

The row adapter and the ``forecast`` kind that will register these as families are not written yet.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PanelBaseline", "BASELINES"]

BASELINES = ("naive", "seasonal_naive", "drift", "mean", "seasonal_window_average")


class PanelBaseline:
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

    def fit(self, series: list[np.ndarray], *, horizon: int, season: int) -> PanelBaseline:
        if self.method not in BASELINES:
            raise ValueError(f"method {self.method!r}: choose one of {', '.join(BASELINES)}")
        if horizon < 1 or season < 1:
            raise ValueError("horizon and season must be at least 1")
        self.horizon_, self.season_ = horizon, season
        return self

    def forecast(self, histories: list[np.ndarray], horizon: int) -> np.ndarray:
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
