"""Forecast analysis as data: backtest errors by horizon step and by series, residual checks, and
the exploration of series (STL decomposition, trend and seasonality strength, outliers, ACF).

Every function takes arrays (or a long frame) and returns plain dicts and lists (JSON-ready); the
figures are drawn in :mod:`mlcraft.plots`. Errors are scaled per series by MASE's scale, so that
series of any level can be pooled.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "series_columns",
    "infer_horizon",
    "backtest_steps",
    "acf_band",
    "ljung_box",
    "strength",
    "stl_parts",
    "robust_outliers",
    "forecast_diagnostics",
    "series_exploration",
]

SHOWN_SERIES = 4  # series whose backtest forecasts are drawn (largest first)
EXPLORED_SERIES = 12  # series drawn one panel each on the exploration page
MAX_LAGS = 24  # lags of the ACF / PACF
OUTLIER_SDS = 3.0  # an STL residual beyond this many robust SDs is flagged
MAD_TO_SD = 1.4826  # a normal distribution's SD per median absolute deviation
BAND_Z = 1.96  # the 95% band of an ACF under white noise: +-1.96 / sqrt(n)
HISTOGRAM_BINS = 20
ONE_SERIES = "(the series)"  # the name shown for the one series of a table without series ids
# STL's seasonal smoother (odd): forecast::mstl's first window (7 + 4); the non-robust fit, as
# robust STL degenerates on series of a few seasons (half its residuals called outliers)
SEASON_WINDOW = 11


def _runs(values: np.ndarray) -> list[int]:
    """Lengths of the runs of equal consecutive values."""
    if len(values) == 0:
        return []
    cuts = np.flatnonzero(values[1:] != values[:-1]) + 1
    return np.diff(np.concatenate([[0], cuts, [len(values)]])).tolist()


def series_columns(frame: pd.DataFrame, candidates: list[str], time: str | None) -> list[str]:
    """The columns among ``candidates`` that name a series: the fewest whose groups still hold
    each time stamp once (a covariate that varies within a series only splits series further, so
    it is dropped; dropping a series id merges series that share stamps, so it stays).

    >>> f = pd.DataFrame({"shop": list("aabb"), "promo": list("xyxx"), "t": [1, 2, 1, 2]})
    >>> series_columns(f, ["shop", "promo"], "t")
    ['shop']
    """
    if time is None:
        return list(candidates)
    kept = list(candidates)
    for col in reversed(candidates):
        rest = [c for c in kept if c != col]
        stamps = frame[time].reset_index(drop=True)
        keys = frame[rest].astype(str).agg("|".join, axis=1) if rest else pd.Series("", frame.index)
        pairs = pd.DataFrame({"k": keys.to_numpy(), "t": stamps.to_numpy()})
        if not pairs.duplicated().any():
            kept = rest
    return kept


def infer_horizon(keys: np.ndarray, times: np.ndarray, scale: np.ndarray) -> int:
    """The backtest horizon from the kept rows alone: every window's rows of a series share one
    MASE scale, so the shortest run of equal scales (in time order) is one window; it must divide
    every series' count of rows (else the greatest common divisor of those counts is used).

    >>> k = np.repeat(["a", "b"], 6); t = np.tile(np.arange(6), 2)
    >>> infer_horizon(k, t, np.array([1, 1, 1, 2, 2, 2, 3, 3, 3, 5, 5, 5.0]))
    3
    """
    counts, runs = [], []
    for key in pd.unique(keys):
        at = keys == key
        order = np.argsort(times[at], kind="stable")
        counts.append(int(at.sum()))
        runs += _runs(scale[at][order])
    whole = math.gcd(*counts) if counts else 1
    shortest = min(runs) if runs else whole
    return shortest if all(c % shortest == 0 for c in counts) else max(whole, 1)


def backtest_steps(keys: np.ndarray, times: np.ndarray, horizon: int) -> tuple[np.ndarray, ...]:
    """Each kept row's horizon step (1..H) and window (1 = the latest): a series' windowed rows
    are its training part's last K*H rows, so the j-th in time order is step ``j % H + 1``.

    >>> s, w = backtest_steps(np.array(["a"] * 4), np.array([3, 0, 1, 2]), 2)
    >>> s.tolist(), w.tolist()
    ([2, 1, 2, 1], [1, 2, 2, 1])
    """
    step, window = np.zeros(len(keys), dtype=int), np.zeros(len(keys), dtype=int)
    for key in pd.unique(keys):
        rows = np.flatnonzero(keys == key)
        rows = rows[np.argsort(times[rows], kind="stable")]
        j = np.arange(len(rows))
        step[rows] = j % horizon + 1
        window[rows] = (len(rows) - 1 - j) // horizon + 1
    return step, window


def acf_band(x: np.ndarray, nlags: int = MAX_LAGS) -> dict[str, Any]:
    """The autocorrelation of ``x`` at lags 1..nlags (fewer for a short series) and the 95% band
    of white noise, ``1.96 / sqrt(n)``.

    >>> out = acf_band(np.random.default_rng(0).normal(size=400), 10)
    >>> len(out["acf"]), round(out["band"], 3)
    (10, 0.098)
    """
    from statsmodels.tsa.stattools import acf

    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    lags = max(0, min(nlags, len(x) - 2))
    values = acf(x, nlags=lags, fft=False)[1:] if lags and np.std(x) > 0 else np.zeros(lags)
    return {"lags": list(range(1, lags + 1)), "acf": values.tolist(), "band": _band(len(x))}


def _band(n: int) -> float:
    return BAND_Z / math.sqrt(n) if n > 0 else float("nan")


def ljung_box(x: np.ndarray, lags: int | None = None) -> dict[str, Any]:
    """statsmodels' Ljung-Box test of no autocorrelation up to ``lags`` (default Hyndman's
    ``min(10, n // 5)``); p-value None for a series too short or constant.

    >>> noise, sine = np.random.default_rng(0).normal(size=200), np.sin(np.arange(200) / 3)
    >>> ljung_box(noise)["p_value"] > 0.05, ljung_box(sine)["p_value"] < 1e-6
    (True, True)
    """
    from statsmodels.stats.diagnostic import acorr_ljungbox

    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    lag = max(1, min(10, len(x) // 5)) if lags is None else lags
    if len(x) < lag + 3 or np.std(x) == 0:
        return {"lags": lag, "statistic": None, "p_value": None}
    table = acorr_ljungbox(x, lags=[lag])
    return {
        "lags": lag,
        "statistic": float(table["lb_stat"].iloc[0]),
        "p_value": float(table["lb_pvalue"].iloc[0]),
    }


def _named(keys: np.ndarray) -> np.ndarray:
    """Series keys with the one series of a table without ids named (its key is "")."""
    return np.where(keys == "", ONE_SERIES, keys)


def _histogram(x: np.ndarray, bins: int = HISTOGRAM_BINS) -> dict[str, list[float]]:
    counts, edges = np.histogram(x[np.isfinite(x)], bins=bins)
    return {"edges": edges.tolist(), "counts": counts.tolist()}


def _pooled_acf(residual: np.ndarray, keys: np.ndarray, times: np.ndarray) -> dict[str, Any]:
    """Each series' residual ACF (in time order), averaged weighted by length: under white noise
    its band is ``1.96 / sqrt(N)`` over all N residuals."""
    parts, weights = [], []
    for key in pd.unique(keys):
        at = np.flatnonzero(keys == key)
        r = residual[at[np.argsort(times[at], kind="stable")]]
        a = acf_band(r)["acf"]
        if a:
            parts.append(a)
            weights.append(len(r))
    if not parts:
        return {"lags": [], "acf": [], "band": float("nan")}
    lags = min(len(p) for p in parts)
    mean = np.average([p[:lags] for p in parts], axis=0, weights=weights)
    return {"lags": list(range(1, lags + 1)), "acf": mean.tolist(), "band": _band(sum(weights))}


def _by_series(err, residual, values, keys, times) -> list[dict[str, Any]]:
    out = []
    for key in pd.unique(keys):
        at = np.flatnonzero(keys == key)
        order = at[np.argsort(times[at], kind="stable")]
        out.append(
            {
                "series": str(key),
                "mase": float(np.mean(err[at])),
                "rows": len(at),
                "level": float(np.mean(np.abs(values[at]))),
                "ljung_box_p": ljung_box(residual[order])["p_value"],
            }
        )
    return sorted(out, key=lambda r: -r["mase"])


def _residual_checks(residual, keys, times, by_series) -> dict[str, Any]:
    tested = [r["ljung_box_p"] for r in by_series if r["ljung_box_p"] is not None]
    return {
        "histogram": _histogram(residual),
        "acf": _pooled_acf(residual, keys, times),
        "ljung_box_tested": len(tested),
        "ljung_box_rejected": int(sum(p < 0.05 for p in tested)),
    }


def _by_step(err: np.ndarray, step: np.ndarray, horizon: int) -> list[dict[str, Any]]:
    return [
        {"step": s, "mase": float(np.mean(err[step == s])), "rows": int((step == s).sum())}
        for s in range(1, horizon + 1)
        if (step == s).any()
    ]


def _paths(values, pred, window, keys, times, by_series) -> list[dict[str, Any]]:
    """The backtest forecasts and actuals of the ``SHOWN_SERIES`` largest series, in time order."""
    largest = sorted(by_series, key=lambda r: -r["level"])[:SHOWN_SERIES]
    out = []
    for row in largest:
        at = np.flatnonzero(keys.astype(str) == row["series"])
        at = at[np.argsort(times[at], kind="stable")]
        out.append(
            {
                "series": row["series"],
                "time": [str(t) for t in pd.to_datetime(times[at]).strftime("%Y-%m-%d %H:%M")]
                if np.issubdtype(times.dtype, np.datetime64)
                else [str(t) for t in times[at]],
                "actual": values[at].tolist(),
                "forecast": pred[at].tolist(),
                "window": window[at].tolist(),
            }
        )
    return out


def forecast_diagnostics(
    values: np.ndarray,
    pred: np.ndarray,
    scale: np.ndarray,
    keys: np.ndarray,
    times: np.ndarray,
    horizon: int | None = None,
) -> dict[str, Any]:
    """The backtest (out-of-fold) error analysis: MASE overall, per horizon step and per series
    (worst first), the forecasts of the largest series, and the residuals' histogram, pooled ACF
    and Ljung-Box p-values. Residuals are ``(actual - forecast) / scale``.

    >>> k = np.repeat(["a", "b"], 4); t = np.tile(np.arange(4), 2)
    >>> y = np.arange(8.0); d = forecast_diagnostics(y, y + 1, np.ones(8), k, t, horizon=2)
    >>> d["mase"], [s["mase"] for s in d["by_step"]], d["windows"]
    (1.0, [1.0, 1.0], 2)
    """
    values, pred = np.asarray(values, dtype=float), np.asarray(pred, dtype=float)
    keys = _named(np.asarray(keys).astype(str))
    h = infer_horizon(keys, times, scale) if horizon is None else horizon
    step, window = backtest_steps(keys, times, h)
    err = np.abs(values - pred) / scale
    residual = (values - pred) / scale
    by_series = _by_series(err, residual, values, keys, times)
    return {
        "rows": len(values),
        "series_count": len(by_series),
        "horizon": h,
        "windows": int(window.max()) if len(window) else 0,
        "mase": float(np.mean(err)),
        "rmse": float(np.sqrt(np.mean((values - pred) ** 2))),
        "mae": float(np.mean(np.abs(values - pred))),
        "bias": float(np.mean(pred - values)),
        "by_step": _by_step(err, step, h),
        "by_series": by_series,
        "paths": _paths(values, pred, window, keys, times, by_series),
        "residuals": _residual_checks(residual, keys, times, by_series),
    }


def stl_parts(values: np.ndarray, season: int) -> dict[str, np.ndarray] | None:
    """statsmodels' STL decomposition (trend, seasonal, residual); None when the series
    is shorter than two seasons or has no season (then :func:`strength` has no seasonal part)."""
    from statsmodels.tsa.seasonal import STL

    y = np.asarray(values, dtype=float)
    if season < 2 or len(y) < 2 * season + 1 or not np.isfinite(y).all():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = STL(y, period=season, seasonal=SEASON_WINDOW).fit()
    return {"trend": fit.trend, "seasonal": fit.seasonal, "residual": fit.resid}


def strength(parts: dict[str, np.ndarray]) -> dict[str, float]:
    """Hyndman's strength of trend and seasonality from an STL decomposition:
    ``F_T = max(0, 1 - var(R) / var(T + R))``, ``F_S = max(0, 1 - var(R) / var(S + R))``.

    >>> t = np.arange(48); out = strength(stl_parts(np.sin(2 * np.pi * t / 12), 12))
    >>> out["seasonal"] > 0.99
    True
    """
    r = parts["residual"]

    def one(part: np.ndarray) -> float:
        total = float(np.var(part + r))
        return 0.0 if total == 0 else max(0.0, 1.0 - float(np.var(r)) / total)

    return {"trend": one(parts["trend"]), "seasonal": one(parts["seasonal"])}


def robust_outliers(residual: np.ndarray, sds: float = OUTLIER_SDS) -> np.ndarray:
    """Positions whose residual lies beyond ``sds`` robust SDs (1.4826 MAD) of the median.

    >>> r = np.r_[np.random.default_rng(0).normal(size=50), 12.0]
    >>> robust_outliers(r).tolist()
    [50]
    """
    r = np.asarray(residual, dtype=float)
    centre = np.median(r)
    spread = MAD_TO_SD * np.median(np.abs(r - centre))
    if spread == 0:
        return np.array([], dtype=int)
    return np.flatnonzero(np.abs(r - centre) > sds * spread)


def _explore_one(key: str, y: np.ndarray, stamps: pd.Series, season: int) -> dict[str, Any]:
    parts = stl_parts(y, season)
    row: dict[str, Any] = {"series": key, "rows": len(y), "mean": float(np.mean(y))}
    row.update(strength(parts) if parts else {"trend": None, "seasonal": None})
    found = [] if parts is None else robust_outliers(parts["residual"]).tolist()
    row["outliers"] = len(found)
    row["outlier_times"] = [str(stamps.iloc[i].date()) for i in found]
    return row


def series_exploration(
    frame: pd.DataFrame, *, time: str, keys: pd.Series, target: str, season: int
) -> dict[str, Any]:
    """What the exploration shows of a long table of series: each series (the
    ``EXPLORED_SERIES`` largest by mean level, the rest summarised), Hyndman's trend and
    seasonality strengths and STL outliers per series, and the largest series' decomposition,
    ACF and PACF. ``keys`` names each row's series.
    """
    table = pd.DataFrame({"key": _named(keys.astype(str).to_numpy()), "t": frame[time].to_numpy()})
    table["y"] = pd.to_numeric(frame[target], errors="coerce").to_numpy()
    table = table.sort_values(["key", "t"], kind="stable")
    rows, shown = [], []
    for key, part in table.groupby("key", sort=False):
        y = part["y"].to_numpy(dtype=float)
        rows.append(_explore_one(str(key), y, part["t"].reset_index(drop=True), season))
    rows.sort(key=lambda r: -abs(r["mean"]))
    for r in rows[:EXPLORED_SERIES]:
        part = table[table["key"] == r["series"]]
        shown.append(
            {"series": r["series"], "time": part["t"].astype(str).tolist(), "y": part["y"].tolist()}
        )
    largest = table[table["key"] == rows[0]["series"]] if rows else table.iloc[:0]
    return {
        "season": season,
        "series_count": len(rows),
        "per_series": rows,
        "shown": shown,
        "not_shown": [r["series"] for r in rows[EXPLORED_SERIES:]],
        "largest": rows[0]["series"] if rows else None,
        **_one_series_view(largest["t"], largest["y"].to_numpy(dtype=float), season),
    }


def _one_series_view(stamps: pd.Series, y: np.ndarray, season: int) -> dict[str, Any]:
    """One series' STL decomposition (None if too short), ACF and PACF."""
    from statsmodels.tsa.stattools import pacf

    parts = stl_parts(y, season)
    lags = max(1, min(MAX_LAGS, len(y) // 2 - 1))
    return {
        "decomposition": None
        if parts is None
        else {
            "time": stamps.astype(str).tolist(),
            **{k: v.tolist() for k, v in parts.items()},
            "observed": y.tolist(),
        },
        "acf": acf_band(y, lags),
        "pacf": pacf(y, nlags=lags)[1:].tolist() if len(y) > 4 and np.std(y) > 0 else [],
    }
