"""Forecasting: the next ``horizon`` values of one or many time series (the book's chapter 15).

The data is a long table (one row per series and time stamp; see :mod:`mlcraft.core.data.timeseries`).
Time is split the only honest way:

- **Test**: the last ``horizon`` rows of every series, set aside first and read only by ``evaluate``.
- **Folds** are backtest windows: window ``k`` (1 = the latest) holds out the ``horizon`` rows
  of each series that end ``(k - 1) * horizon`` rows before the end of its training part; the
  window's models are fitted on the rows *before* them only (an expanding window). A fold never
  holds a row that is not strictly before its held-out rows in the same series: no window sees its
  own future, by construction (a test checks it). A series too short for a window sits it out.

Each held-out row is scored against its own scale (MASE's): the mean absolute error of the seasonal
naive forecast over its series' history before the window. The engine's target is a frame of two
columns, the value and that scale (:data:`SCALE`); the metrics (``needs="forecast"``) read both,
the models fit the first. Rows in no window have no scale (NaN) and are never scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlcraft.core.data import timeseries
from mlcraft.core.data.split import TestSplit
from mlcraft.exceptions import ConfigError, DataError
from mlcraft.formatting import format_number
from mlcraft.tasks.base import Folds, register_kind
from mlcraft.tasks.tabular import Regression

__all__ = [
    "Forecast",
    "SCALE",
    "MIN_HISTORY",
    "LEVELS",
    "seasonal_scale",
    "series_scales",
    "conformal_intervals",
    "weighted_quantile_loss",
    "adapters_in",
]

SCALE = "__scale__"  # the second column of the engine's target: each scored row's MASE scale
MIN_HISTORY = 3  # values a series needs before a window (or the test) to be forecast from
LEVELS = (80, 95)  # the prediction intervals' levels (percent)


def _conformal_quantile(errors: np.ndarray, level: int) -> float:
    """The split-conformal quantile: the ceil((n + 1) level)-th smallest error (inf if n too small)."""
    e = np.sort(errors[np.isfinite(errors)])
    rank = int(np.ceil((len(e) + 1) * level / 100.0))
    return float(e[rank - 1]) if 0 < rank <= len(e) else float("inf")


def conformal_intervals(
    errors: np.ndarray, step: np.ndarray, window: np.ndarray, horizon: int
) -> dict[str, Any]:
    """Per horizon step and level (every whole percent, so that ``predict --levels`` may ask for
    any), the conformal quantile of the backtest errors scaled by their series' MASE scale (so one
    quantile serves series of any level): the interval is the forecast plus or minus that quantile
    times the series' scale. The coverage is measured for the default :data:`LEVELS` window by
    window, each window's errors against quantiles from the other windows (None with one window).

    >>> e = np.abs(np.random.default_rng(0).normal(size=400))
    >>> out = conformal_intervals(e, np.tile([1, 2], 200), np.repeat([0, 1, 2, 3], 100), 2)
    >>> len(out["scaled"]), len(out["scaled"]["80"]), 0.7 < out["backtest_coverage"]["80"] < 0.9
    (99, 2, True)
    """
    scored = (window >= 0) & np.isfinite(errors)
    windows = np.unique(window[scored])

    def quantiles(rows: np.ndarray, level: int) -> list[float]:
        out = []
        for s in range(1, horizon + 1):
            at = rows & (step == s)
            out.append(_conformal_quantile(errors[at if at.sum() >= 5 else rows], level))
        return out

    scaled = {str(level): quantiles(scored, level) for level in range(1, 100)}  # any level
    coverage: dict[str, float | None] = {}
    for level in LEVELS:
        if len(windows) < 2:
            coverage[str(level)] = None
            continue
        hits = []
        for w in windows:
            q = np.array(quantiles(scored & (window != w), level))
            rows = scored & (window == w)
            hits.append(errors[rows] <= q[np.clip(step[rows], 1, horizon) - 1])
        coverage[str(level)] = float(np.mean(np.concatenate(hits)))
    return {
        "method": "conformal: quantiles of the backtest errors per horizon step, scaled per series",
        "levels": list(LEVELS),
        "scaled": scaled,
        "backtest_coverage": coverage,
        "errors": int(scored.sum()),
    }


def seasonal_scale(values: np.ndarray, season: int) -> float:
    """MASE's scale: the in-sample mean absolute error of the seasonal naive forecast (lag
    ``season``; lag 1 when the history is shorter than two seasons, or when that error is 0);
    1.0 for a flat history, so that its errors still count.

    >>> round(seasonal_scale(np.array([1.0, 2.0, 4.0, 8.0]), 1), 4), seasonal_scale(np.ones(5), 1)
    (2.3333, 1.0)
    """
    y = np.asarray(values, dtype=float)
    y = y[np.isfinite(y)]
    for m in (season, 1) if len(y) > 2 * season else (1,):
        if len(y) > m:
            d = float(np.mean(np.abs(y[m:] - y[:-m])))
            if d > 0:
                return d
    return 1.0


def _check_country(country: str) -> None:
    """Refuse a country the ``holidays`` package does not know."""
    try:
        import holidays
    except ImportError:
        raise ConfigError(
            "--country needs the holidays package: pip install 'mlcraft[forecast]'"
        ) from None
    try:
        holidays.country_holidays(country)
    except NotImplementedError:
        raise ConfigError(
            f"--country {country!r}: not a country code the holidays package knows (e.g. US, GB, FR, DE)"
        ) from None


def _checked_settings(
    frame: pd.DataFrame, target: str, settings: dict[str, Any], where: str
) -> tuple[str, tuple[str, ...], tuple[str, ...], int]:
    """(time, series ids, known covariates, horizon), refused in one line where they do not fit."""
    time, horizon = settings.get("time"), settings.get("horizon")
    series_id = tuple(settings.get("series_id") or ())
    if time is None:
        raise ConfigError("--task forecast needs the time column: --time COL")
    if horizon is None:
        raise ConfigError("--task forecast needs how far to forecast: --horizon H (time steps)")
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ConfigError(f"--horizon {horizon!r}: give a whole number of time steps, at least 1")
    known = tuple(settings.get("known") or ())
    for col in (time, *series_id, *known):
        if col not in frame.columns:
            raise DataError(f"{where}: column {col!r} (--time / --series-id / --known) not found")
        if col == target:
            raise ConfigError(
                f"{col!r} is the target; it cannot also be --time, --series-id or --known"
            )
    if set(known) & {time, *series_id}:
        raise ConfigError("--known names covariates, not the time or series-id columns")
    if settings.get("country") is not None:
        _check_country(settings["country"])
    return str(time), series_id, known, int(horizon)


def adapters_in(model: Any) -> list[Any]:
    """The row adapters of panel models inside a fitted model (anything with ``update_history``,
    through pipelines' steps and ensembles' members)."""
    if hasattr(model, "update_history"):
        return [model]
    found: list[Any] = []
    for _, step in getattr(model, "steps", None) or []:
        found += adapters_in(step)
    for member in getattr(model, "members", None) or []:
        found += adapters_in(member)
    return found


def weighted_quantile_loss(
    values: np.ndarray, point: np.ndarray, bands: dict[int, tuple[np.ndarray, np.ndarray]]
) -> float:
    """The weighted quantile loss of a probabilistic forecast (as in GluonTS and the fev
    benchmark): the pinball losses at the quantiles the bands' edges and the point forecast
    stand for, summed over rows, times 2, over the sum of absolute values, averaged over quantiles.

    >>> y = np.array([1.0, 2.0, 3.0])
    >>> round(weighted_quantile_loss(y, y, {80: (y - 1, y + 1)}), 4)  # (0 + 0.1 + 0.1) / 3
    0.0667
    """
    quantiles = {0.5: point}
    for level, (lo, hi) in bands.items():
        tail = (1 - level / 100.0) / 2
        quantiles[tail], quantiles[1 - tail] = lo, hi
    scale = float(np.sum(np.abs(values))) or 1.0
    losses = []
    for q, forecast in quantiles.items():
        diff = values - forecast
        losses.append(2.0 * float(np.sum(np.maximum(q * diff, (q - 1) * diff))) / scale)
    return float(np.mean(losses))


def series_scales(values: np.ndarray, keys: np.ndarray, season: int) -> pd.Series:
    """Each series' :func:`seasonal_scale`, indexed by its key (``keys``: one per value).

    >>> series_scales(np.array([1.0, 2.0, 5.0, 5.0]), np.array(["a", "a", "b", "b"]), 1).tolist()
    [1.0, 1.0]
    """
    by = pd.Series(np.asarray(values, dtype=float)).groupby(np.asarray(keys), sort=False)
    return by.apply(lambda v: seasonal_scale(v.to_numpy(), season))


@register_kind
class Forecast(Regression):
    name = "forecast"
    description = "forecast the next values of time series"
    default_metric = "mase"
    settings = ("time", "series_id", "horizon", "frequency", "season", "known", "country")
    baseline_family = "seasonal_naive"  # the leaderboard's reference: what a forecaster beats first

    # -- framing ---------------------------------------------------------------------------------
    def prepare_frame(
        self,
        frame: pd.DataFrame,
        target: str,
        settings: dict[str, Any],
        *,
        where: str,
        line_of: Any = None,
    ) -> tuple[pd.DataFrame, dict[str, Any], list[str]]:
        """Check the settings, put the series on a regular grid and drop the ones too short."""
        time, series_id, known, horizon = _checked_settings(frame, target, settings, where)
        regular = timeseries.regularise(
            frame,
            time=time,
            series_id=series_id,
            target=target,
            frequency=settings.get("frequency"),
            where=where,
            line_of=line_of,
        )
        out, notes = self._drop_short(regular.frame, time, series_id, int(horizon), where)
        season = settings.get("season") or regular.season
        settled = {
            **settings,
            "series_id": series_id or None,
            "known": known or None,
            "horizon": int(horizon),
            "frequency": regular.freq,
            "season": int(season),
        }
        return out, settled, regular.notes + notes

    def _drop_short(
        self, frame: pd.DataFrame, time: str, series_id: tuple, horizon: int, where: str
    ) -> tuple[pd.DataFrame, list[str]]:
        keys = timeseries.series_keys(frame, series_id)
        length = keys.map(keys.value_counts())
        need = 2 * horizon + MIN_HISTORY  # the test horizon, one backtest window, some history
        short = (length < need).to_numpy()
        if short.all():
            raise DataError(
                f"{where}: every series is shorter than {need} rows (the test horizon of "
                f"{horizon}, one backtest window of {horizon} and {MIN_HISTORY} values of history); "
                "give a shorter --horizon or longer series"
            )
        if not short.any():
            return frame, []
        dropped = int(keys[short].nunique())
        return frame[~short].reset_index(drop=True), [
            f"{dropped} series shorter than {need} rows (test horizon + one backtest window + "
            f"{MIN_HISTORY} values) left out"
        ]

    def forced_categorical(self, settings: dict[str, Any]) -> tuple[str, ...]:
        """The series-id columns stay features (categories), however many series there are."""
        return tuple(settings.get("series_id") or ())

    # -- split and folds -------------------------------------------------------------------------
    def split_test(
        self,
        frame: pd.DataFrame,
        target: str | None,
        *,
        test_size: float,
        seed: int,
        id_column: str | None = None,
        stratify_on: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> TestSplit:
        """The last ``horizon`` rows of every series (``test_size`` 0: no test set)."""
        s = settings or {}
        if stratify_on is not None:
            raise ConfigError(
                "--stratify-on does not apply to --task forecast (time decides the split)"
            )
        keys = timeseries.series_keys(frame, tuple(s.get("series_id") or ()))
        if test_size == 0:
            return TestSplit(np.zeros(len(frame), dtype=bool), "none")
        position = timeseries.position_in_series(keys)
        return TestSplit(position < int(s["horizon"]), "last horizon")

    def folds(
        self,
        y: pd.Series,
        *,
        n_folds: int,
        seed: int,
        features: pd.DataFrame | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Folds:
        """Backtest windows, latest first (see the module's notes); at most ``n_folds``."""
        if features is None or settings is None:
            raise ValueError("forecast folds need the rows' series and time (features, settings)")
        keys = timeseries.series_keys(features, tuple(settings.get("series_id") or ()))
        position = timeseries.position_in_series(keys)
        length = keys.map(keys.value_counts()).to_numpy()
        h = int(settings["horizon"])
        folds: Folds = []
        for k in range(1, n_folds + 1):
            held = (position >= (k - 1) * h) & (position < k * h) & (length - k * h >= MIN_HISTORY)
            if not held.any():
                break
            folds.append((np.flatnonzero(position >= k * h), np.flatnonzero(held)))
        if not folds:
            raise DataError(
                f"no series is long enough for one backtest window of {h} rows after "
                f"{MIN_HISTORY} values of history; give a shorter --horizon or longer series"
            )
        return folds

    def scored_target(
        self,
        y: pd.Series,
        features: pd.DataFrame,
        folds: Folds,
        settings: dict[str, Any],
    ) -> pd.DataFrame:
        """The value and, for each row held out by a window, its MASE scale from the history
        before that window (NaN for rows in no window)."""
        keys = timeseries.series_keys(features, tuple(settings.get("series_id") or ()))
        values = y.to_numpy(dtype=float)
        scale = np.full(len(y), np.nan)
        season = int(settings["season"])
        for train, held in folds:
            scales = series_scales(values[train], keys.to_numpy()[train], season)
            scale[held] = keys.iloc[held].map(scales).to_numpy(dtype=float)
        return pd.DataFrame({y.name: values, SCALE: scale})

    def test_target(
        self,
        y_test: pd.Series,
        test_features: pd.DataFrame,
        training: Any,
        settings: dict[str, Any],
    ) -> pd.DataFrame:
        """The test rows' value and MASE scale, from their series' whole training part."""
        y_train, train_features = training()
        series_id = tuple(settings.get("series_id") or ())
        train_keys = timeseries.series_keys(train_features, series_id).to_numpy()
        scales = series_scales(y_train.to_numpy(dtype=float), train_keys, int(settings["season"]))
        keys = timeseries.series_keys(test_features, series_id)
        return pd.DataFrame(
            {
                y_test.name: y_test.to_numpy(dtype=float),
                SCALE: keys.map(scales).to_numpy(dtype=float),
            }
        )

    fold_models_serve = False  # a backtest window's model never saw the latest rows
    forecasts = True
    external_test = False  # the test rows are the last horizon of every series

    def model_metadata(
        self,
        oof: np.ndarray,
        y: Any,
        features: pd.DataFrame,
        folds: Folds,
        settings: dict[str, Any],
    ) -> dict[str, Any]:
        """Conformal prediction intervals from the champion's backtest errors (see
        :func:`conformal_intervals`)."""
        if not isinstance(y, pd.DataFrame):
            return {}
        keys = timeseries.series_keys(features, tuple(settings.get("series_id") or ()))
        position = timeseries.position_in_series(keys)
        h = int(settings["horizon"])
        step, window = np.zeros(len(y), dtype=int), np.full(len(y), -1)
        for i, (_, held) in enumerate(folds):
            step[held], window[held] = (i + 1) * h - position[held], i
        errors = (
            np.abs(np.asarray(oof, dtype=float) - y.iloc[:, 0].to_numpy()) / y[SCALE].to_numpy()
        )
        return {"intervals": conformal_intervals(errors, step, window, h)}

    def regrow(
        self, combined: pd.DataFrame, target: str, settings: dict[str, Any], *, where: str
    ) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
        """New rows extend the series: the newer row wins on a shared stamp, the whole is put on
        the grid again, and the test rows become the new last horizon of every series."""
        series_id = tuple(settings.get("series_id") or ())
        keys = timeseries.series_keys(combined, series_id)
        stamps = timeseries.parse_time(combined[settings["time"]], settings["time"], where)
        newest = ~pd.DataFrame({"k": keys, "t": stamps}).duplicated(keep="last").to_numpy()
        frame, _, notes = self.prepare_frame(
            combined[newest].reset_index(drop=True), target, dict(settings), where=where
        )
        split = self.split_test(frame, target, test_size=1.0, seed=0, settings=settings)
        return frame, split.is_test, notes[1:]

    def before_scoring(self, model: Any, features: pd.DataFrame, values: np.ndarray) -> None:
        """Every panel model inside ``model`` forecasts from these histories from now on."""
        for adapter in adapters_in(model):
            adapter.update_history(features, values)

    def live_target(self, labels: np.ndarray, inputs: list[dict[str, Any]], model: Any) -> Any:
        """The labels and each row's MASE scale, from its series' history in the model (NaN for
        a series the model has no history of: not scored)."""
        adapters = adapters_in(model)
        if not adapters or not inputs:
            return labels
        first = adapters[0]
        keys = timeseries.series_keys(pd.DataFrame(inputs), tuple(first.series_id or ()))
        season = int(first.season)
        scales = {
            k: seasonal_scale(first.histories_[k], season)
            for k in keys.unique()
            if k in first.histories_
        }
        return np.column_stack([labels, keys.map(scales).to_numpy(dtype=float)])

    def resampling_groups(self, features: pd.DataFrame, settings: dict[str, Any]) -> Any:
        """The series: the test score's interval is across series."""
        return timeseries.series_keys(features, tuple(settings.get("series_id") or ())).to_numpy()

    def test_details(
        self,
        y: Any,
        raw: np.ndarray,
        features: pd.DataFrame,
        settings: dict[str, Any],
        metadata: dict[str, Any],
    ) -> dict[str, Any] | None:
        """MASE per series, and the conformal intervals' coverage and weighted quantile loss on
        the test horizon."""
        keys = timeseries.series_keys(features, tuple(settings.get("series_id") or ()))
        values, scale = y.iloc[:, 0].to_numpy(), y[SCALE].to_numpy()
        pred = np.asarray(raw, dtype=float)
        scaled = np.abs(pred - values) / scale
        per_series = (
            pd.Series(scaled)
            .groupby(keys.to_numpy(), sort=False)
            .mean()
            .sort_values(ascending=False)
        )
        out: dict[str, Any] = {
            "per_series": [{"series": k, "mase": float(v)} for k, v in per_series.items()],
            "summary": [
                f"MASE per series: median {format_number(float(per_series.median()))}, worst "
                f"{per_series.index[0] or 'the series'} {format_number(float(per_series.iloc[0]))} "
                f"({len(per_series)} series)"
            ],
        }
        intervals = metadata.get("intervals")
        if intervals is None:
            return out
        step = int(settings["horizon"]) - timeseries.position_in_series(keys)
        coverage, bands = {}, {}
        for level in intervals["levels"]:
            q = np.asarray(intervals["scaled"][str(level)], dtype=float)[np.clip(step, 1, None) - 1]
            lo, hi = pred - q * scale, pred + q * scale
            bands[level] = (lo, hi)
            coverage[str(level)] = float(np.mean((values >= lo) & (values <= hi)))
        out["interval_coverage"] = coverage
        out["backtest_coverage"] = intervals.get("backtest_coverage")
        out["weighted_quantile_loss"] = weighted_quantile_loss(values, pred, bands)
        out["summary"].append(
            "prediction intervals on the test horizon: "
            + ", ".join(f"{lv}% cover {coverage[str(lv)]:.0%}" for lv in intervals["levels"])
            + f"; weighted quantile loss {format_number(out['weighted_quantile_loss'])}"
        )
        return out

    # -- outputs ---------------------------------------------------------------------------------
    def empty_output(self, n_rows: int, classes: Sequence[Any] | None) -> np.ndarray:
        return np.full(n_rows, np.nan)  # rows in no window are never forecast

    # -- analysis --------------------------------------------------------------------------------
    report_section = "forecast"
    row_refits = False  # learning curves and importance on random rows of a series mean nothing

    def diagnose(
        self,
        y: np.ndarray,
        raw: np.ndarray,
        *,
        classes: Sequence[Any] | None,
        positive_class: Any = None,
        threshold: float | None = None,
        categories: dict[str, pd.Series] | None = None,
        known: pd.Series | None = None,
        features: pd.DataFrame | None = None,
        settings: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The backtest error analysis of the rows the windows forecast (see
        :func:`mlcraft.core.analysis.forecasting.forecast_diagnostics`). The series, the time
        column and the horizon are the project's (``settings``); without them the series are
        named by the fewest categorical features that hold each stamp once per series
        (:func:`~mlcraft.core.analysis.forecasting.series_columns`), time by the datetime
        feature, and the horizon is read off the rows' MASE scales."""
        from mlcraft.core.analysis import forecasting

        target = np.asarray(y, dtype=float).reshape(len(y), -1)
        values = target[:, 0]
        scale = target[:, 1] if target.shape[1] > 1 else np.ones(len(values))
        pred = np.asarray(raw, dtype=float)
        rows = np.isfinite(pred) & np.isfinite(values) & np.isfinite(scale)
        feats = features if features is not None else pd.DataFrame(index=range(len(values)))
        s = settings or {}
        stamps = feats.select_dtypes(include=["datetime", "datetimetz"]).columns
        time = (
            s.get("time")
            if s.get("time") in feats.columns
            else (stamps[0] if len(stamps) else None)
        )
        ids = (
            tuple(s.get("series_id") or ())
            if s.get("time") is not None
            else forecasting.series_columns(feats, list(categories or ()), time)
        )
        keys = timeseries.series_keys(feats, tuple(ids)).to_numpy()
        times = feats[time].to_numpy() if time is not None else np.arange(len(values))
        return forecasting.forecast_diagnostics(
            values[rows], pred[rows], scale[rows], keys[rows], times[rows], horizon=s.get("horizon")
        )

    def explore_extras(self, frame: pd.DataFrame, config: Any, notes: list[str]) -> dict | None:
        """Each series, its STL strengths and outliers, the largest one's decomposition, ACF
        and PACF; and the gaps loading filled (the dataset's notes)."""
        from mlcraft.core.analysis import forecasting

        keys = timeseries.series_keys(frame, tuple(config.series_id or ()))
        out = forecasting.series_exploration(
            frame, time=str(config.time), keys=keys, target=config.target, season=config.season
        )
        return {"section": "series", "notes": list(notes), **out}

    def diagnostics_summary(self, diagnostics: dict[str, Any]) -> list[str]:
        d = diagnostics
        lines = [
            f"backtest MASE {format_number(d['mase'])}, RMSE {format_number(d['rmse'])}, "
            f"MAE {format_number(d['mae'])} over {d['rows']:,} forecast row(s) of "
            f"{d['series_count']:,} series ({d['windows']} window(s) of {d['horizon']} step(s))"
        ]
        if d["by_step"]:
            first, last = d["by_step"][0], d["by_step"][-1]
            lines.append(
                f"MASE at step {first['step']} {format_number(first['mase'])}, "
                f"at step {last['step']} {format_number(last['mase'])}"
            )
        if d["by_series"]:
            worst = d["by_series"][0]
            lines.append(f"worst series {worst['series']}: MASE {format_number(worst['mase'])}")
        return lines
