"""Forecasting families: panel models (:mod:`mlcraft.models.forecast`) behind one row adapter.

The engine fits and predicts **rows** (one per series and time stamp); a forecaster thinks in
whole series. :class:`PanelForecaster` is the bridge, a scikit-learn regressor:

- ``fit(X, y)``: ``X`` holds the rows' series ids, stamps and covariates (the "passthrough"
  preparation hands them over as they are), ``y`` their values. The rows are grouped into one
  history per series, oldest first, and the panel model is fitted on those histories.
- ``predict(X)``: each row asks for its series' value at its stamp, some steps after the last
  value the model saw of that series. The model forecasts each series as far as its furthest row
  asks and every row reads its step. A row at or before its series' last seen stamp is not
  forecast (NaN); a stamp off the series' grid is refused.
- ``update_history(X, y)``: the same fitted model, reading newer histories (``predict --history``:
  new data extends a series without retraining).

A backtest window's model is fitted on the rows before the window only (the kind's folds), so
what it forecasts never depended on the values it is scored on.

>>> import pandas as pd
>>> X = pd.DataFrame({"t": pd.date_range("2020-01", periods=8, freq="MS")})
>>> m = PanelForecaster(PanelBaseline("naive"), time="t", horizon=2, season=12, freq="MS")
>>> m.fit(X, np.arange(8.0)).predict(pd.DataFrame({"t": pd.to_datetime(["2020-10-01"])})).tolist()
[7.0]
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone

from mlcraft.core.data.timeseries import series_keys
from mlcraft.core.fit.family import BuildContext, Choice, Family, Float, Int
from mlcraft.exceptions import DataError, NotFittedError
from mlcraft.models.forecast import BASELINES, PanelBaseline, PanelInputs

__all__ = ["PanelForecaster", "FORECAST", "FAMILIES", "forecast_family", "holiday_counts"]

FORECAST = frozenset({"forecast"})


class PanelForecaster(RegressorMixin, BaseEstimator):
    """A panel model fitted and asked row by row (see the module's notes).

    Parameters
    ----------
    model : a panel model (``fit(series, *, horizon, season, inputs)`` / ``forecast``).
    time : str
        The time column. ``series_id``: the columns naming a series (empty: one series).
    horizon, season : int
        Steps the model is fitted to forecast; values per cycle.
    freq : str
        The pandas frequency of the stamps (every series on its regular grid).
    known : tuple of str
        Covariates known in the future (given for the rows to forecast). The other non-id
        columns are static per series when constant within every series, else past-only.
    country : str or None
        An ISO country code: the number of public holidays in each stamp's period (the
        ``holidays`` package) becomes a covariate known in the future, ``holidays``.
    """

    def __init__(
        self,
        model: Any = None,
        time: str = "ds",
        series_id: Sequence[str] = (),
        horizon: int = 1,
        season: int = 1,
        freq: str = "D",
        known: Sequence[str] = (),
        country: str | None = None,
    ):
        self.model = model
        self.time = time
        self.series_id = series_id
        self.horizon = horizon
        self.season = season
        self.freq = freq
        self.known = known
        self.country = country

    # -- shaping rows into series ------------------------------------------------------------------
    def _keys(self, X: pd.DataFrame) -> pd.Series:
        return series_keys(X, tuple(self.series_id or ())).reset_index(drop=True)

    def _roles(self, X: pd.DataFrame, keys: pd.Series) -> tuple[list[str], list[str], list[str]]:
        """(static, known, past) covariate columns of the fitted rows."""
        ids = {self.time, *(self.series_id or ())}
        others = [c for c in X.columns if c not in ids]
        known = [c for c in others if c in set(self.known or ())]
        rest = [c for c in others if c not in known]
        frame = X[rest].reset_index(drop=True)
        static = [c for c in rest if (frame[c].groupby(keys).nunique(dropna=False) <= 1).all()]
        return static, known, [c for c in rest if c not in static]

    def _split(self, X: pd.DataFrame, y: np.ndarray | None):
        """Rows grouped per series (fitted order): keys, histories, stamps, covariate blocks."""
        X = X.reset_index(drop=True)
        keys = self._keys(X)
        order = np.lexsort((X[self.time].to_numpy(), keys.to_numpy()))
        X, keys = X.iloc[order].reset_index(drop=True), keys.iloc[order].reset_index(drop=True)
        values = None if y is None else np.asarray(y, dtype=float)[order]
        groups = keys.groupby(keys, sort=False).indices
        names = list(groups)
        return names, groups, X, values

    def _inputs(self, X: pd.DataFrame, names, groups, future=None) -> PanelInputs:
        stamps = [pd.DatetimeIndex(X[self.time].to_numpy()[groups[k]]) for k in names]
        static = (
            pd.DataFrame({c: [X[c].iloc[groups[k][0]] for k in names] for c in self.static_})
            if self.static_
            else None
        )
        known = [
            self._with_holidays(X[self.known_].iloc[groups[k]].reset_index(drop=True), stamps[i])
            for i, k in enumerate(names)
        ]
        past = [X[self.past_].iloc[groups[k]].reset_index(drop=True) for k in names]
        return PanelInputs(
            stamps,
            self.freq,
            future=future,
            static=static,
            known=known if self.known_ or self.country else None,
            past=past if self.past_ else None,
        )

    # -- fitting -------------------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: Any) -> PanelForecaster:
        """Fit the panel model on one history per series (``y``: values, or the kind's frame
        whose first column is the value)."""
        values = y.iloc[:, 0] if isinstance(y, pd.DataFrame) else y
        names, groups, rows, v = self._split(X, np.asarray(values, dtype=float))
        self.static_, self.known_, self.past_ = self._roles(rows, self._keys(rows))
        self.series_ = names
        self.histories_ = {k: v[groups[k]] for k in names}
        self.rows_ = {k: rows.iloc[groups[k]].reset_index(drop=True) for k in names}
        inputs = self._inputs(rows, names, groups)
        model = clone(self.model) if self.model is not None else PanelBaseline()
        self.model_ = model.fit(
            [self.histories_[k] for k in names],
            horizon=int(self.horizon),
            season=int(self.season),
            inputs=inputs,
        )
        self.truncated_params_ = dict(getattr(self.model_, "truncated_params_", {}) or {})
        return self

    def update_history(self, X: pd.DataFrame, y: Any) -> PanelForecaster:
        """Forecast from now on from these histories (whole series, oldest first; other series
        keep theirs), without refitting: new data extends a series."""
        self._check_fitted()
        names, groups, rows, v = self._split(X, np.asarray(y, dtype=float))
        self.histories_ = {**self.histories_, **{k: v[groups[k]] for k in names}}
        self.rows_ = {
            **self.rows_,
            **{k: rows.iloc[groups[k]].reset_index(drop=True) for k in names},
        }
        self.series_ = list(dict.fromkeys([*self.series_, *names]))
        return self

    def with_history(self, X: pd.DataFrame, y: Any) -> PanelForecaster:
        """A copy of this model reading these histories (see :meth:`update_history`)."""
        return copy.copy(self).update_history(X, y)

    # -- forecasting -----------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("this PanelForecaster is not fitted yet: call fit first")

    def step_of(self, X: pd.DataFrame) -> tuple[pd.Series, np.ndarray]:
        """Each row's series key and its step after the last value seen of that series (1: next)."""
        self._check_fitted()
        X = X.reset_index(drop=True)
        keys = self._keys(X)
        steps = np.zeros(len(X), dtype=int)
        for key, idx in keys.groupby(keys, sort=False).indices.items():
            if key not in self.histories_:
                raise DataError(
                    f"series {key!r} has no history: the model never saw it; give its history (--history)"
                )
            last = self.rows_[key][self.time].iloc[-1]
            stamps = pd.DatetimeIndex(X[self.time].to_numpy()[idx])
            grid = pd.date_range(last, max(stamps.max(), last), freq=self.freq)
            pos = grid.get_indexer(stamps)
            off = (pos < 0) & (stamps > last)
            if off.any():
                raise DataError(
                    f"series {key!r}: {stamps[off][0]} is not on the {self.freq} grid after its last value at {last}"
                )
            steps[idx] = np.maximum(pos, 0)  # 0: at or before the last value (not forecast)
        return keys, steps

    def forecast_paths(
        self, names: list[str], horizon: int, future_rows: pd.DataFrame | None = None
    ):
        """``(len(names), horizon)`` forecasts after each named series' history."""
        hist = [self.histories_[k] for k in names]
        rows = pd.concat([self.rows_[k] for k in names], ignore_index=True)
        groups = self._keys(rows).groupby(self._keys(rows), sort=False).indices
        future = [
            pd.date_range(self.rows_[k][self.time].iloc[-1], periods=horizon + 1, freq=self.freq)[
                1:
            ]
            for k in names
        ]
        inputs = self._inputs(rows, names, groups, future)
        if self.known_ or self.country:
            inputs.known = [
                pd.concat(
                    [
                        self._with_holidays(self.rows_[k][self.known_], self.rows_[k][self.time]),
                        self._with_holidays(self._known_ahead(k, stamps, future_rows), stamps),
                    ],
                    ignore_index=True,
                )
                for k, stamps in zip(names, future)
            ]
        return np.asarray(self.model_.forecast(hist, horizon, inputs=inputs), dtype=float)

    def _with_holidays(self, known: pd.DataFrame, stamps: Any) -> pd.DataFrame:
        """``known`` with the holiday count of each stamp's period (``country`` set)."""
        if not self.country:
            return known
        out = known.reset_index(drop=True).copy()
        out["holidays"] = holiday_counts(pd.DatetimeIndex(stamps), self.freq, self.country)
        return out

    def _known_ahead(
        self, key: str, stamps: pd.DatetimeIndex, rows: pd.DataFrame | None
    ) -> pd.DataFrame:
        """The known covariates of ``key`` at each future stamp, from the rows asked for (NaN
        where no row gives them)."""
        if rows is None or not len(rows):
            return pd.DataFrame(np.nan, index=range(len(stamps)), columns=self.known_)
        mine = rows[(self._keys(rows) == key).to_numpy()]
        by_stamp = mine.drop_duplicates(self.time).set_index(self.time)[self.known_]
        return by_stamp.reindex(stamps).reset_index(drop=True)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Each row's forecast; NaN for a row at or before its series' last seen value."""
        keys, steps = self.step_of(X)
        X = X.reset_index(drop=True)
        out = np.full(len(X), np.nan)
        ahead = steps > 0
        if not ahead.any():
            return out
        names = list(dict.fromkeys(keys[ahead]))
        paths = self.forecast_paths(names, int(steps.max()), X[ahead].reset_index(drop=True))
        index = {k: i for i, k in enumerate(names)}
        rows = keys[ahead].map(index).to_numpy()
        out[ahead] = paths[rows, steps[ahead] - 1]
        return out


def holiday_counts(stamps: pd.DatetimeIndex, freq: str, country: str) -> np.ndarray:
    """Public holidays of ``country`` in each stamp's period (from the stamp to the next one).

    >>> holiday_counts(pd.DatetimeIndex(["2024-12-01", "2025-01-01"]), "MS", "US").tolist()
    [1, 2]
    """
    import holidays

    if not len(stamps):
        return np.zeros(0, dtype=int)
    ends = stamps + pd.tseries.frequencies.to_offset(freq)
    days = holidays.country_holidays(country, years=range(stamps.min().year, ends.max().year + 1))
    marked = np.array(sorted(pd.Timestamp(d) for d in days), dtype="datetime64[ns]")
    lo = np.searchsorted(marked, stamps.normalize().to_numpy(), side="left")
    hi = np.searchsorted(marked, ends.normalize().to_numpy(), side="left")
    return (hi - lo).astype(int)


# -- families ------------------------------------------------------------------------------------------
def forecast_family(make_model, **fields: Any) -> Family:
    """A forecasting family: ``make_model(params, context)`` gives the panel model; the adapter
    reads the kind's settings (time, series ids, horizon, frequency, season) from the context."""

    def build(params: Mapping[str, Any], ctx: BuildContext) -> PanelForecaster:
        o = ctx.options
        return PanelForecaster(
            make_model(params, ctx),
            time=o["time"],
            series_id=tuple(o.get("series_id") or ()),
            horizon=int(o["horizon"]),
            season=int(o.get("season") or 1),
            freq=str(o["frequency"]),
            known=tuple(o.get("known") or ()),
            country=o.get("country"),
        )

    return Family(
        tasks=FORECAST, categorical="passthrough", handles_missing=True, build=build, **fields
    )


def _baseline(params: Mapping[str, Any], ctx: BuildContext) -> PanelBaseline:
    return PanelBaseline(**params)


def _neural(arch: str | None = None):
    def make(params: Mapping[str, Any], ctx: BuildContext):
        from mlcraft.nn.forecast import NeuralForecaster

        p = dict(params)
        if arch is not None:
            p["arch"] = arch
        return NeuralForecaster(seed=ctx.seed, num_threads=1, **p)  # folds run in processes

    return make


def _stats(method: str | None = None):
    def make(params: Mapping[str, Any], ctx: BuildContext):
        from mlcraft.models.forecast_stats import StatsModel

        p = dict(params)
        return StatsModel(method=p.pop("method", method), **p)

    return make


def _stats_cost(*methods: str):
    """Seconds for one fit: the measured time per 200-point series, per row (the slowest method)."""

    def cost(n, d):
        from mlcraft.models.forecast_stats import PER_SERIES_S, REFERENCE_LENGTH

        return 0.05 + max(PER_SERIES_S[m] for m in methods) * n / REFERENCE_LENGTH

    return cost


def _stats_space(method: str):
    def space(task, n):
        from mlcraft.models.forecast_stats import SEARCH_SPACES

        return dict(SEARCH_SPACES[method])

    return space


THETAS = ("auto_theta", "optimized_theta", "dynamic_optimized_theta", "theta", "dynamic_theta")


def _boosting(params: Mapping[str, Any], ctx: BuildContext):
    from mlcraft.models.forecast_gbm import GlobalBoosting

    return GlobalBoosting(seed=ctx.seed, **params)


def _boosting_space(task, n):
    from mlcraft.models.forecast_gbm import SEARCH_SPACE

    return dict(SEARCH_SPACE)


def _boosting_cost(n, d):  # 1.7e-7 s per row and tree (forecast_gbm's measurement), 300 trees
    return 0.2 + 1.7e-7 * n * 300 * 2


def _nn_space(hidden: int, epochs: int) -> dict[str, Any]:
    return {
        "window": Int(8, 96, 24, log=True),
        "hidden": Int(8, 128, hidden, log=True),
        "dropout": Float(0.0, 0.4, 0.1),
        "lr": Float(3e-4, 1e-2, 1e-3, log=True),
        "epochs": Int(10, 200, epochs, log=True),
    }


def _nn_cost(n, d):  # rows of all series; about 1 ms per training window and epoch on 2 cores
    return 1.0 + 2e-4 * n * 30


FAMILIES = [
    forecast_family(
        _baseline,
        name="seasonal_naive",
        description="the classic baselines: naive, seasonal naive, drift, mean, seasonal window average",
        priority=100,
        space=lambda task, n: {
            "method": Choice(BASELINES, "seasonal_naive"),
            "window": Int(1, 4, 2),
        },
        cost=lambda n, d: 0.01 + 1e-6 * n,
    ),
    forecast_family(
        _stats(),
        name="theta",
        description="Theta methods (StatsForecast): AutoTheta, optimised and dynamic Theta",
        requires="statsforecast",
        priority=95,
        space=lambda task, n: {
            "method": Choice(THETAS, "auto_theta"),
            **_stats_space("auto_theta")(task, n),
        },
        cost=_stats_cost("auto_theta"),
    ),
    forecast_family(
        _stats("auto_ets"),
        name="ets",
        description="exponential smoothing state space models (StatsForecast's AutoETS)",
        requires="statsforecast",
        priority=90,
        space=_stats_space("auto_ets"),
        cost=_stats_cost("auto_ets"),
    ),
    forecast_family(
        _boosting,
        name="lightgbm_lags",
        description="one LightGBM over all series: lags, rolling statistics, calendar, covariates (recursive or direct)",
        requires="lightgbm",
        priority=85,
        space=_boosting_space,
        cost=_boosting_cost,
    ),
    forecast_family(
        _stats("auto_arima"),
        name="arima",
        description="ARIMA with its orders chosen automatically (StatsForecast's AutoARIMA)",
        requires="statsforecast",
        priority=70,
        space=_stats_space("auto_arima"),
        cost=_stats_cost("auto_arima"),
    ),
    forecast_family(
        _stats("auto_ces"),
        name="ces",
        description="complex exponential smoothing (StatsForecast's AutoCES)",
        requires="statsforecast",
        priority=60,
        space=_stats_space("auto_ces"),
        cost=_stats_cost("auto_ces"),
    ),
    forecast_family(
        _neural("linear"),
        name="window_linear",
        description="a linear layer over the last window (the book's first model)",
        requires="torch",
        priority=40,
        space=lambda task, n: {
            "window": Int(8, 96, 24, log=True),
            "lr": Float(1e-3, 3e-2, 5e-3, log=True),
            "epochs": Int(20, 300, 100, log=True),
        },
        cost=lambda n, d: 0.5 + 2e-5 * n * 30,
    ),
    forecast_family(
        _neural(),
        name="rnn_forecast",
        description="recurrent networks: simple and deep RNN, LSTM, GRU, 1D convolution + GRU (sequence to sequence)",
        requires="torch",
        priority=30,
        space=lambda task, n: {
            "arch": Choice(("gru", "lstm", "conv_gru", "rnn", "deep_rnn"), "gru"),
            "layers": Int(1, 3, 1),
            "seq2seq": Choice((True, False), True),
            **_nn_space(32, 60),
        },
        cost=_nn_cost,
    ),
    forecast_family(
        _neural("wavenet"),
        name="wavenet",
        description="WaveNet: stacked dilated causal convolutions",
        requires="torch",
        priority=20,
        space=lambda task, n: {"layers": Int(1, 3, 1), **_nn_space(32, 60)},
        cost=_nn_cost,
    ),
    forecast_family(
        _neural("nbeats"),
        name="nbeats",
        description="N-BEATS: blocks of fully connected layers with backcast and forecast",
        requires="torch",
        priority=35,
        space=lambda task, n: {"layers": Int(1, 3, 1), **_nn_space(64, 60)},
        cost=_nn_cost,
    ),
]
