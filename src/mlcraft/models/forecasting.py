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

    # learned state (set by fit): the series seen, and per series its values, stamps and
    # covariate rows
    series_: list[str]
    histories_: dict[str, np.ndarray]
    stamps_: dict[str, pd.DatetimeIndex]
    rows_: dict[str, pd.DataFrame]

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

    @property
    def _covariates(self) -> list[str]:
        return [*self.static_, *self.known_, *self.past_]

    def _store(self, names, groups, rows: pd.DataFrame, values: np.ndarray) -> None:
        """Keep each named series' values, stamps and (only if any) covariate rows."""
        times = rows[self.time].to_numpy()
        for k in names:
            self.histories_[k] = values[groups[k]]
            self.stamps_[k] = pd.DatetimeIndex(times[groups[k]])
        if self._covariates:
            block = rows[self._covariates]
            for k in names:
                self.rows_[k] = block.iloc[groups[k]].reset_index(drop=True)
        self.series_ = list(dict.fromkeys([*self.series_, *names]))

    def _inputs(self, names: list[str], future=None, ahead: pd.DataFrame | None = None):
        """The panel inputs of the named series' stored histories (``future``: the stamps to
        forecast; ``ahead``: rows giving the known covariates at those stamps)."""
        stamps = [self.stamps_[k] for k in names]
        static = (
            pd.DataFrame({c: [self.rows_[k][c].iloc[0] for k in names] for c in self.static_})
            if self.static_
            else None
        )
        known = None
        if self.known_ or self.country:
            known = []
            for i, k in enumerate(names):
                part = self._with_holidays(self._rows(k, self.known_), stamps[i])
                if future is not None:
                    later = self._known_ahead(k, future[i], ahead)
                    part = pd.concat(
                        [part, self._with_holidays(later, future[i])], ignore_index=True
                    )
                known.append(part)
        past = [self.rows_[k][self.past_] for k in names] if self.past_ else None
        return PanelInputs(stamps, self.freq, future=future, static=static, known=known, past=past)

    def _rows(self, key: str, columns: list[str]) -> pd.DataFrame:
        if key in self.rows_:
            return self.rows_[key][columns]
        return pd.DataFrame(index=range(len(self.histories_[key])), columns=columns)

    # -- fitting -------------------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: Any) -> PanelForecaster:
        """Fit the panel model on one history per series (``y``: values, or the kind's frame
        whose first column is the value)."""
        values = y.iloc[:, 0] if isinstance(y, pd.DataFrame) else y
        names, groups, rows, v = self._split(X, np.asarray(values, dtype=float))
        self.static_, self.known_, self.past_ = self._roles(rows, self._keys(rows))
        self.series_, self.histories_, self.stamps_, self.rows_ = [], {}, {}, {}
        self._store(names, groups, rows, v)
        model = clone(self.model) if self.model is not None else PanelBaseline()
        self.model_ = model.fit(
            [self.histories_[k] for k in names],
            horizon=int(self.horizon),
            season=int(self.season),
            inputs=self._inputs(names),
        )
        self.truncated_params_ = dict(getattr(self.model_, "truncated_params_", {}) or {})
        return self

    def update_history(self, X: pd.DataFrame, y: Any) -> PanelForecaster:
        """Forecast from now on from these histories (whole series, oldest first; other series
        keep theirs), without refitting: new data extends a series."""
        self._check_fitted()
        names, groups, rows, v = self._split(X, np.asarray(y, dtype=float))
        self.histories_, self.stamps_, self.rows_ = (
            dict(self.histories_),
            dict(self.stamps_),
            dict(self.rows_),
        )  # a copy (with_history) must not change the original's
        self._store(names, groups, rows, v)
        return self

    def with_history(self, X: pd.DataFrame, y: Any) -> PanelForecaster:
        """A copy of this model reading these histories (see :meth:`update_history`)."""
        return copy.copy(self).update_history(X, y)

    # -- forecasting -----------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("this PanelForecaster is not fitted yet: call fit first")

    def step_of(self, X: pd.DataFrame) -> tuple[pd.Series, np.ndarray]:
        """Each row's series key and its step after the last value seen of that series (1: next;
        0: at or before it, not forecast), all rows at once on one grid of the frequency."""
        self._check_fitted()
        X = X.reset_index(drop=True)
        keys = self._keys(X)
        unseen = [k for k in keys.unique() if k not in self.histories_]
        if unseen:
            raise DataError(
                f"series {unseen[0]!r} has no history: the model never saw it; give its history (--history)"
            )
        if not len(X):
            return keys, np.zeros(0, dtype=int)
        lasts = {k: self.stamps_[k][-1] for k in keys.unique()}
        last = pd.DatetimeIndex(keys.map(lasts).to_numpy())
        stamps = pd.DatetimeIndex(X[self.time].to_numpy())
        grid = pd.date_range(
            min(last.min(), stamps.min()), max(last.max(), stamps.max()), freq=self.freq
        )
        pos, origin = grid.get_indexer(stamps), grid.get_indexer(last)
        off = (pos < 0) & (stamps > last)
        if off.any() or (origin < 0).any():
            i = int(np.flatnonzero(off | (origin < 0))[0])
            raise DataError(
                f"series {keys.iloc[i]!r}: {stamps[i]} is not on the {self.freq} grid after its last value at {last[i]}"
            )
        return keys, np.maximum(pos - origin, 0)

    def _future(self, names: list[str], horizon: int) -> list[pd.DatetimeIndex]:
        """The ``horizon`` stamps after each named series' last value (one grid for all)."""
        lasts = pd.DatetimeIndex([self.stamps_[k][-1] for k in names])
        grid = pd.date_range(lasts.min(), lasts.max(), freq=self.freq)
        grid = grid.append(pd.date_range(grid[-1], periods=horizon + 1, freq=self.freq)[1:])
        at = grid.get_indexer(lasts)
        return [grid[i + 1 : i + 1 + horizon] for i in at]

    def forecast_paths(
        self, names: list[str], horizon: int, future_rows: pd.DataFrame | None = None
    ):
        """``(len(names), horizon)`` forecasts after each named series' history."""
        hist = [self.histories_[k] for k in names]
        inputs = self._inputs(names, self._future(names, horizon), future_rows)
        return np.asarray(self.model_.forecast(hist, horizon, inputs=inputs), dtype=float)

    def native_intervals(
        self, X: pd.DataFrame, levels: Sequence[int]
    ) -> dict[int, tuple[np.ndarray, np.ndarray]] | None:
        """The panel model's own intervals for the rows of ``X`` (``{level: (lo, hi)}``): the
        statistical models' quantiles, or the MC-dropout quantiles of a network (the book's
        method: 100 forecasts with dropout on); None when the model has neither."""
        keys, steps = self.step_of(X)
        names = list(dict.fromkeys(keys))
        horizon = int(steps.max()) if len(steps) else 1
        hist = [self.histories_[k] for k in names]
        if hasattr(self.model_, "predict_quantiles"):
            bands = self.model_.predict_quantiles(hist, horizon, levels=tuple(levels))
            bands = {int(k): v for k, v in bands.items()}
        elif hasattr(self.model_, "forecast_samples") and getattr(self.model_, "dropout", 0) > 0:
            samples = self.model_.forecast_samples(hist, horizon)
            bands = {
                int(lv): tuple(
                    np.quantile(samples, [(1 - lv / 100) / 2, (1 + lv / 100) / 2], axis=0)
                )
                for lv in levels
            }
        else:
            return None
        rows = keys.map({k: i for i, k in enumerate(names)}).to_numpy()
        at = np.clip(steps, 1, None) - 1
        return {lv: (lo[rows, at], hi[rows, at]) for lv, (lo, hi) in bands.items()}

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
LARGE_PANEL_ROWS = 200_000  # above this, the families start from their cheaper settings


def _theta_default(n: int) -> str:
    """AutoTheta (27 ms a 200-point series) on small panels, the dynamic optimised Theta (9 ms)
    on large ones: the first trial must fit in the time limit, or the family is skipped."""
    return "auto_theta" if n < LARGE_PANEL_ROWS else "dynamic_optimized_theta"


def _theta_space(task, n):
    return {"method": Choice(THETAS, _theta_default(n)), **_stats_space("auto_theta")(task, n)}


def _theta_cost(n, d):
    return _stats_cost(_theta_default(n))(n, d)


def _boosting(params: Mapping[str, Any], ctx: BuildContext):
    from mlcraft.models.forecast_gbm import GlobalBoosting

    return GlobalBoosting(seed=ctx.seed, **params)


def _boosting_trees(n: int) -> int:
    """300 trees by default; 100 on large panels (the first trial must fit in the time limit)."""
    return 300 if n < LARGE_PANEL_ROWS else 100


def _boosting_space(task, n):
    from mlcraft.models.forecast_gbm import SEARCH_SPACE

    trees = SEARCH_SPACE["n_estimators"]
    return {
        **SEARCH_SPACE,
        "n_estimators": Int(trees.low, trees.high, _boosting_trees(n), log=True),
    }


def _boosting_cost(n, d):  # 1.7e-7 s per row and tree (forecast_gbm's measurement, one core)
    return 0.2 + 1.7e-7 * n * _boosting_trees(n)


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
        space=_theta_space,
        cost=_theta_cost,
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
