"""StatsForecast's local models (ETS, ARIMA, Theta, CES) on the panel protocol, one series at a time.

>>> import numpy as np
>>> y = 10 + np.sin(np.arange(48) * np.pi / 6)
>>> model = StatsModel("theta").fit([y], horizon=6, season=12)  # doctest: +SKIP
>>> model.forecast([y], 6).shape  # doctest: +SKIP
(1, 6)

How it works
------------
- **Local.** Each series gets its own model (StatsForecast's classes on numpy arrays,
  ``Model(season_length=m).forecast(y=..., h=...)``). Nothing is shared across series, so ``fit``
  fits every series and keeps its forecast of the fitted horizon (``forecasts_``); ``forecast``
  answers a history it has seen from there and **refits** any other history from scratch (a new
  or longer history costs one fit of that series, see the timings below).
- **Short histories.** A history shorter than ``2 * season + 2`` is fitted without seasonality;
  one shorter than :data:`MIN_MODEL_LENGTH`, or one whose fit fails or gives a non-finite
  forecast, gets the naive forecast (its last value) and naive intervals. Never NaN.
- **Intervals.** :meth:`StatsModel.predict_quantiles` gives StatsForecast's own prediction
  intervals (``level=[80, 95]``).
- **Parallelism.** One core (the engine runs folds in parallel processes).

Timings (one core of the shared 2-core machine, statsforecast 2.1.1; 300 generated 200-point
monthly series, season 12, h=12, fit + forecast; milliseconds per series, then the estimate for
10,000 series on 2 cores): auto_ets 128 (~640 s), auto_arima 258 with the approximation
(~1,290 s; 950 ms without it, measured on 10 series), auto_theta 27 (~136 s), theta 3.5 (~17 s),
optimized_theta 14 (~70 s), dynamic_optimized_theta 9.4 (~47 s), auto_ces 6.4 (~32 s).
Fixed ETS models are cheaper than the full AutoETS search: "ZZN" 9, "AZA" 34, "ZZA" 68,
"AAA" damped 25. The issue's target (10,000 x 200 in 120 s on 2 cores) holds for theta,
dynamic_optimized_theta, optimized_theta and auto_ces, nearly for auto_theta, not for auto_ets
(~5x over) or auto_arima (~10x over): on big panels search the cheap methods first. Intervals
cost little more, except auto_ces's (about 15x its point forecast).
"""

from __future__ import annotations

import hashlib
import warnings
from statistics import NormalDist
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from mlcraft.core.fit.family import Choice, Dimension, time_left
from mlcraft.exceptions import ConfigError, NotFittedError
from mlcraft.models.forecast import check_series

__all__ = ["StatsModel", "METHODS", "SEARCH_SPACES", "PER_SERIES_S", "seconds"]

METHODS = (
    "auto_ets",
    "auto_arima",
    "auto_theta",
    "theta",
    "optimized_theta",
    "dynamic_theta",
    "dynamic_optimized_theta",
    "auto_ces",
)
MIN_MODEL_LENGTH = 4  # fewer values: the naive forecast
DEADLINE_MARGIN_S = 1.0  # fit stops caching forecasts when less is left (forecast refits the rest)
REFERENCE_LENGTH = 200  # the length PER_SERIES_S was measured on
# measured seconds per 200-point monthly series (module docstring), one core
PER_SERIES_S = {
    "auto_ets": 0.128,
    "auto_arima": 0.258,
    "auto_theta": 0.027,
    "theta": 0.0035,
    "optimized_theta": 0.014,
    "dynamic_theta": 0.0035,
    "dynamic_optimized_theta": 0.0094,
    "auto_ces": 0.0064,
}
ETS_MODELS = ("ZZZ", "ZZN", "ZZA", "AAN", "AAA", "ANA", "MAM")
SEARCH_SPACES: dict[str, dict[str, Dimension]] = {
    "auto_ets": {
        "ets_model": Choice(ETS_MODELS, "ZZZ"),
        "damped": Choice((None, True, False), None),
        "seasonal": Choice((True, False), True),
    },
    "auto_arima": {
        "arima_approximation": Choice((True, False), True),
        "seasonal": Choice((True, False), True),
    },
    "auto_theta": {
        "decomposition": Choice(("multiplicative", "additive"), "multiplicative"),
        "seasonal": Choice((True, False), True),
    },
    "theta": {
        "decomposition": Choice(("multiplicative", "additive"), "multiplicative"),
        "seasonal": Choice((True, False), True),
    },
    "optimized_theta": {
        "decomposition": Choice(("multiplicative", "additive"), "multiplicative"),
        "seasonal": Choice((True, False), True),
    },
    "dynamic_theta": {
        "decomposition": Choice(("multiplicative", "additive"), "multiplicative"),
        "seasonal": Choice((True, False), True),
    },
    "dynamic_optimized_theta": {
        "decomposition": Choice(("multiplicative", "additive"), "multiplicative"),
        "seasonal": Choice((True, False), True),
    },
    "auto_ces": {
        "ces_model": Choice(("Z", "N", "S", "P", "F"), "Z"),
        "seasonal": Choice((True, False), True),
    },
}


def seconds(n_series: int, length: int, method: str = "auto_ets") -> float:
    """Estimated seconds to fit and forecast ``n_series`` series of ``length`` values on one core.

    Linear in the length from the measurements in :data:`PER_SERIES_S` (a rough guide).

    >>> round(seconds(1000, 200, "theta"), 1)
    3.5
    """
    if method not in PER_SERIES_S:
        raise ConfigError(f"method {method!r}: choose one of {', '.join(METHODS)}")
    return PER_SERIES_S[method] * n_series * max(length, 1) / REFERENCE_LENGTH


def _key(y: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(y).tobytes(), digest_size=16).digest()


def _naive(y: np.ndarray, horizon: int, levels: tuple[float, ...]) -> dict[str, np.ndarray]:
    """The naive forecast and its normal intervals (random walk, sd of the steps)."""
    out = {"mean": np.full(horizon, y[-1])}
    sd = float(np.std(np.diff(y))) if len(y) > 2 else 0.0
    spread = sd * np.sqrt(np.arange(1, horizon + 1))
    for level in levels:
        z = NormalDist().inv_cdf(0.5 + level / 200)
        out[f"lo-{level:g}"], out[f"hi-{level:g}"] = y[-1] - z * spread, y[-1] + z * spread
    return out


class StatsModel(BaseEstimator):
    """One StatsForecast model per series (see the module's notes).

    Parameters
    ----------
    method : {"auto_ets", "auto_arima", "auto_theta", "theta", "optimized_theta", \
"dynamic_theta", "dynamic_optimized_theta", "auto_ces"}
        The StatsForecast class: AutoETS, AutoARIMA, AutoTheta, Theta, OptimizedTheta,
        DynamicTheta, DynamicOptimizedTheta, AutoCES.
    ets_model : str
        ETS's error, trend and season letters (``Z`` = chosen by AICc): "ZZZ", "ZZN", "AAA"...
    damped : bool or None
        ETS: damped trend (True), none (False), or chosen (None).
    decomposition : {"multiplicative", "additive"}
        The Theta methods' seasonal decomposition.
    arima_approximation : bool
        AutoARIMA: select orders by conditional sums of squares (much faster on long series).
    ces_model : {"Z", "N", "S", "P", "F"}
        AutoCES's seasonality: chosen, none, simple, partial, full.
    seasonal : bool
        Use the ``season`` given to ``fit`` (False: every model non-seasonal).

    Attributes
    ----------
    horizon_, season_ : what the fit used. forecasts_ : forecasts of the fitted horizon, keyed
    by a digest of each fitted series. fallbacks_ : fitted series that got the naive forecast.

    Examples
    --------
    >>> y = 10 + np.sin(np.arange(48) * np.pi / 6)
    >>> StatsModel("theta").fit([y], horizon=3, season=12).forecast([y], 3).shape
    (1, 3)
    """

    def __init__(
        self,
        method: str = "auto_ets",
        ets_model: str = "ZZZ",
        damped: bool | None = None,
        decomposition: str = "multiplicative",
        arima_approximation: bool = True,
        ces_model: str = "Z",
        seasonal: bool = True,
    ):
        self.method = method
        self.ets_model = ets_model
        self.damped = damped
        self.decomposition = decomposition
        self.arima_approximation = arima_approximation
        self.ces_model = ces_model
        self.seasonal = seasonal

    def _check_settings(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"method {self.method!r}: choose one of {', '.join(METHODS)}")
        if not (isinstance(self.ets_model, str) and len(self.ets_model) == 3):
            raise ConfigError(f"ets_model must be 3 letters like 'ZZZ', got {self.ets_model!r}")
        if self.decomposition not in ("multiplicative", "additive"):
            raise ConfigError(
                f"decomposition must be 'multiplicative' or 'additive', got {self.decomposition!r}"
            )

    def _model(self, m: int) -> Any:
        from statsforecast import models as sf

        if self.method == "auto_ets":
            return sf.AutoETS(season_length=m, model=self.ets_model, damped=self.damped)
        if self.method == "auto_arima":
            return sf.AutoARIMA(season_length=m, approximation=bool(self.arima_approximation))
        if self.method == "auto_ces":
            return sf.AutoCES(season_length=m, model=self.ces_model if m > 1 else "N")
        theta = {
            "auto_theta": sf.AutoTheta,
            "theta": sf.Theta,
            "optimized_theta": sf.OptimizedTheta,
            "dynamic_theta": sf.DynamicTheta,
            "dynamic_optimized_theta": sf.DynamicOptimizedTheta,
        }[self.method]
        return theta(season_length=m, decomposition_type=self.decomposition)

    def _one(self, y: np.ndarray, horizon: int, levels: tuple[float, ...]) -> tuple[dict, bool]:
        """Forecast (and intervals) of one history; True when it fell back to naive."""
        if len(y) < MIN_MODEL_LENGTH or np.ptp(y) == 0:
            return _naive(y, horizon, levels), True
        m = self.season_ if self.seasonal and len(y) >= 2 * self.season_ + 2 else 1
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                level = [float(v) for v in levels] or None
                out = self._model(m).forecast(y=y, h=horizon, level=level)
        except Exception:  # noqa: BLE001  # any numerical failure of one series: naive
            return _naive(y, horizon, levels), True
        out = {k: np.asarray(v, dtype=float) for k, v in out.items()}
        for v in levels:  # StatsForecast names them after the level as passed: "lo-80.0"
            out[f"lo-{v:g}"], out[f"hi-{v:g}"] = out.pop(f"lo-{v}"), out.pop(f"hi-{v}")
        if not all(np.isfinite(v).all() for v in out.values()):
            return _naive(y, horizon, levels), True
        return out, False

    def fit(
        self, series: list[np.ndarray], *, horizon: int, season: int = 1, inputs: Any = None
    ) -> StatsModel:
        """Fit each series and keep its forecast of ``horizon`` steps (``inputs`` are not read).

        Stops early when the fit's deadline is near; ``forecast`` then fits the rest itself.
        """
        self._check_settings()
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
            raise ConfigError(f"horizon must be a whole number of steps >= 1, got {horizon!r}")
        if isinstance(season, bool) or not isinstance(season, (int, np.integer)) or season < 1:
            raise ConfigError(f"season must be a whole number >= 1, got {season!r}")
        data = check_series(series, "series")
        self.horizon_, self.season_ = int(horizon), int(season)
        self.forecasts_: dict[bytes, np.ndarray] = {}
        self.fallbacks_ = 0
        self.truncated_params_: dict[str, Any] = {}  # a local model is never cut short
        for y in data:
            if time_left() < DEADLINE_MARGIN_S:
                break
            out, fell_back = self._one(y, self.horizon_, ())
            self.forecasts_[_key(y)] = out["mean"]
            self.fallbacks_ += int(fell_back)
        return self

    def forecast(self, histories: list[np.ndarray], horizon: int, inputs: Any = None) -> np.ndarray:
        """The next ``horizon`` values of each history, ``(n_series, horizon)``.

        A fitted history within the fitted horizon is answered from ``forecasts_``; any other
        history (new, longer, or a longer horizon) is fitted now.
        """
        if not hasattr(self, "forecasts_"):
            raise NotFittedError("this StatsModel is not fitted yet: call fit first")
        data = check_series(histories, "histories")
        rows = []
        for y in data:
            cached = self.forecasts_.get(_key(y)) if horizon <= self.horizon_ else None
            rows.append(
                cached[:horizon] if cached is not None else self._one(y, horizon, ())[0]["mean"]
            )
        return np.vstack(rows)

    def predict_quantiles(
        self, histories: list[np.ndarray], horizon: int, levels: tuple[float, ...] = (80, 95)
    ) -> dict[float, tuple[np.ndarray, np.ndarray]]:
        """StatsForecast's prediction intervals: ``{level: (lo, hi)}``, each ``(n_series, horizon)``.

        ``levels`` are coverages in percent (``80`` = the 10% and 90% quantiles).
        """
        if not hasattr(self, "forecasts_"):
            raise NotFittedError("this StatsModel is not fitted yet: call fit first")
        levels = tuple(float(v) for v in levels)
        if not all(0 < v < 100 for v in levels):
            raise ConfigError(f"levels must be percentages strictly between 0 and 100: {levels}")
        outs = [self._one(y, horizon, levels)[0] for y in check_series(histories, "histories")]
        return {
            v: (
                np.vstack([o[f"lo-{v:g}"] for o in outs]),
                np.vstack([o[f"hi-{v:g}"] for o in outs]),
            )
            for v in levels
        }
