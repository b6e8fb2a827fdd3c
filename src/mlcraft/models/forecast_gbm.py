"""One LightGBM model over all series (a global model) on the panel protocol.

>>> import numpy as np
>>> y = [10 + np.sin(np.arange(60) * np.pi / 6) + k for k in range(3)]
>>> model = GlobalBoosting(n_estimators=20).fit(y, horizon=4, season=12)
>>> model.forecast(y, 4).shape
(3, 4)

How the data is shaped
----------------------
- **Rows.** Every position ``t`` of every series (with at least one value at or before it) is a
  forecast origin; its target is the value ``step`` positions later. Lags that reach before the
  series' start are missing (LightGBM's NaN), so short series train and forecast too.
- **Features of a row.** Lags ``1..L`` (``L = lags`` or ``max(2 * season, 8)``, capped by the
  longest series), the mean and standard deviation of the last ``w`` lags for ``w`` in
  ``{3, season, 2 * season}`` (at most ``L``); calendar parts of the *target's* stamp (month,
  quarter, ISO week, day of week, day of month, hour, minute: those that vary in the fitted
  stamps); static covariates; known covariates at the target's stamp; past covariates at the
  origin (so lagged by at least ``step``). Category columns go to LightGBM as categorical.
- **Scaling.** Per row, lags and target are divided by the mean absolute value of the lag window
  (``normalise="mean"``), by the last value (``"last"``) or not at all (``"none"``); with
  ``difference=True`` the last value is subtracted first (the model learns changes).
- **Strategies.** ``recursive``: one model of one step, its forecasts fed back as lags (past
  covariates then hold their last observed value). ``direct``: one model per horizon step, all
  on the same origin features (built once); chosen over one model with the step as a feature
  because that multiplies the rows by the horizon, where separate models each train on the rows
  once and each fits its own step's error. A horizon beyond the fitted steps rolls the direct
  forecasts forward as new history.
- **Deadline.** Each model stops adding trees when :func:`mlcraft.core.fit.family.time_left`
  is short; direct stops adding steps. ``truncated_params_`` records ``n_estimators`` (recursive,
  or direct's first step) or ``steps`` (the direct models fitted; later steps roll forward).
- **Determinism.** ``deterministic=True, force_row_wise=True, num_threads=1`` and ``seed``.

Measured (one thread of the shared 2-core machine, lightgbm 4.7; 10,000 generated monthly
series of 200 points, season 12, h=12, default lags 24): recursive with 300 trees fits in
102.5 s and forecasts in 2.6 s (the issue's 120 s target holds on one core); with 100 trees
34.6 s + 0.9 s. Direct costs one model per step: 100 trees x 12 steps on 1,000 such series took
56 s (~560 s for 10,000): on big panels use recursive, or direct with fewer ``steps``.
Training dominates (about 1.5e-7 s per row and tree); building the features is ~1.5 s per
600,000 rows.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from mlcraft.core.fit.family import Choice, Dimension, Float, Int, time_left
from mlcraft.exceptions import ConfigError, DataError, NotFittedError
from mlcraft.models.forecast import check_series

__all__ = ["GlobalBoosting", "SEARCH_SPACE", "STRATEGIES", "NORMALISE", "seconds"]

STRATEGIES = ("recursive", "direct")
NORMALISE = ("mean", "last", "none")
MIN_LAGS = 8  # default lags: max(2 * season, MIN_LAGS)
MIN_SCALE = 1e-8  # a window whose scale is below this is scaled by 1
CALENDAR_PARTS = ("month", "quarter", "week", "dayofweek", "day", "hour", "minute")
# the calendar parts worth reading at each frequency (by the offset's name, without anchor)
FREQ_PARTS = {
    "Q": ("quarter",),
    "M": ("month", "quarter"),
    "SM": ("month", "quarter", "day"),
    "W": ("month", "week"),
    "D": ("month", "week", "dayofweek", "day"),
    "B": ("month", "week", "dayofweek", "day"),
    "C": ("month", "week", "dayofweek", "day"),
    "h": ("month", "dayofweek", "hour"),
    "min": ("dayofweek", "hour", "minute"),
}
DEADLINE_ROUNDS = 10  # trees before the deadline may stop a model
SEARCH_SPACE: dict[str, Dimension] = {
    "strategy": Choice(STRATEGIES, "recursive"),
    "n_estimators": Int(50, 1000, 300, log=True),
    "learning_rate": Float(0.01, 0.3, 0.05, log=True),
    "num_leaves": Int(8, 128, 31, log=True),
    "min_child_samples": Int(5, 100, 20, log=True),
    "normalise": Choice(NORMALISE, "mean"),
    "difference": Choice((False, True), False),
}
# seconds per training row and tree on one core, measured (the module's notes); a rough guide
ROW_TREE_S = 1.7e-7


def seconds(n_series: int, length: int, horizon: int = 1, **params: Any) -> float:
    """Estimated seconds to fit ``GlobalBoosting(**params)`` on ``n_series`` of ``length``.

    >>> seconds(100, 200) < seconds(10_000, 200)
    True
    """
    trees = params.get("n_estimators", 300)
    steps = horizon if params.get("strategy", "recursive") == "direct" else 1
    return 1.0 + ROW_TREE_S * n_series * length * trees * steps


# -- features ---------------------------------------------------------------------------------
def _windows(y: np.ndarray, lags: int, origins: np.ndarray) -> np.ndarray:
    """``(len(origins), lags)``: column ``k`` holds ``y[t - k]`` (NaN before the start)."""
    padded = np.concatenate([np.full(lags - 1, np.nan), y])
    return np.lib.stride_tricks.sliding_window_view(padded, lags)[origins, ::-1]


def _core(
    win: np.ndarray, normalise: str, difference: bool, rolls: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scaled lags and rolling statistics of windows ``(m, L)``; and each row's base and scale."""
    last = win[:, 0]
    if normalise == "mean":
        scale = np.nanmean(np.abs(win), axis=1)
    elif normalise == "last":
        scale = np.abs(last)
    else:
        scale = np.ones(len(win))
    scale = np.where(np.isfinite(scale) & (scale > MIN_SCALE), scale, 1.0)
    base = last if difference else np.zeros(len(win))
    scaled = (win - base[:, None]) / scale[:, None]
    parts = [scaled]
    with np.errstate(all="ignore"):
        for w in rolls:
            part = scaled[:, :w]
            parts += [np.nanmean(part, axis=1)[:, None], np.nanstd(part, axis=1)[:, None]]
    return np.hstack(parts), base, scale


def _calendar(stamps: pd.DatetimeIndex, parts: tuple[str, ...]) -> np.ndarray:
    cols = []
    for part in parts:
        values = stamps.isocalendar().week if part == "week" else getattr(stamps, part)
        cols.append(np.asarray(values, dtype=np.float64))
    return np.column_stack(cols) if cols else np.empty((len(stamps), 0))


def _freq_parts(freq: str | None) -> tuple[str, ...] | None:
    """The calendar parts that mean something at ``freq`` (None: unknown, keep those that vary).

    >>> _freq_parts("MS"), _freq_parts("QS-JAN"), _freq_parts("YS")
    (('month', 'quarter'), ('quarter',), ())
    """
    if not freq:
        return None
    try:
        name = pd.tseries.frequencies.to_offset(freq).name
    except ValueError:
        return None
    base = name.split("-")[0].rstrip("SE") or name.split("-")[0]
    if base in ("Y", "A", "BY", "BA"):
        return ()
    if base in ("T",):
        base = "min"
    if base in ("H", "BH"):
        base = "h"
    if base.startswith("B") and base not in FREQ_PARTS:
        base = base[1:]
    return FREQ_PARTS.get(base)


def _categories(frame: pd.DataFrame) -> dict[str, list]:
    """The categories of the non-numeric columns of ``frame`` (sorted, as strings)."""
    return {
        c: sorted(map(str, pd.unique(frame[c].dropna())))
        for c in frame.columns
        if not pd.api.types.is_numeric_dtype(frame[c]) or frame[c].dtype == bool
    }


def _encode(frame: pd.DataFrame, cols: list[str], cats: dict[str, list]) -> np.ndarray:
    out = np.empty((len(frame), len(cols)))
    for j, c in enumerate(cols):
        if c not in frame.columns:
            raise DataError(f"covariate column {c!r} is missing at forecast time: give it")
        if c in cats:
            codes = pd.Categorical(frame[c].astype(str), categories=cats[c]).codes
            out[:, j] = np.where(codes < 0, np.nan, codes)
        else:
            out[:, j] = pd.to_numeric(frame[c], errors="coerce")
    return out


def _stacked(frames: list[pd.DataFrame], cols: list[str], cats: dict) -> list[np.ndarray]:
    """Encode every series' frame at once; one array per series."""
    if not cols:
        return [np.empty((len(f), 0)) for f in frames]
    big = _encode(pd.concat([f[cols] for f in frames], ignore_index=True), cols, cats)
    return np.split(big, np.cumsum([len(f) for f in frames])[:-1])


class _StopAtDeadline:
    """LightGBM callback: end a model's training when the fit's deadline is near."""

    def __init__(self):
        self.last: float | None = None
        self.fired = False

    def __call__(self, env):
        import lightgbm

        now = time.perf_counter()
        step = 0.0 if self.last is None else now - self.last
        self.last = now
        if env.iteration >= DEADLINE_ROUNDS and time_left() < 3 * step + 0.05:
            self.fired = True
            raise lightgbm.callback.EarlyStopException(env.iteration, [])


# -- the estimator ----------------------------------------------------------------------------
class GlobalBoosting(BaseEstimator):
    """One LightGBM model (or one per horizon step) over all series; see the module's notes.

    Parameters
    ----------
    strategy : {"recursive", "direct"}
        One one-step model fed back, or one model per horizon step.
    lags : int or None
        Lagged values per row (None: ``max(2 * season, 8)``); capped by the longest series.
    n_estimators, learning_rate, num_leaves, min_child_samples : LightGBM's (per model).
    normalise : {"mean", "last", "none"}
        Per-row scale of lags and target: the window's mean absolute value, the last value, 1.
    difference : bool
        Subtract the last value from lags and target (the model learns changes).
    steps : int or None
        direct: models fitted (steps ``1..steps``; None: the horizon); later steps roll forward.
    seed : int
        LightGBM's seed (the fit is deterministic for a fixed seed).

    Attributes
    ----------
    horizon_, season_, lags_, steps_ : what the fit used (``steps_``: models; 1 if recursive).
    models_ : the LightGBM boosters. feature_names_ : their features, in order.
    truncated_params_ : what the deadline cut (see the module's notes), else ``{}``.

    Examples
    --------
    >>> y = [np.arange(30.0) + k for k in range(4)]
    >>> GlobalBoosting(n_estimators=10).fit(y, horizon=2, season=1).forecast(y, 2).shape
    (4, 2)
    """

    def __init__(
        self,
        strategy: str = "recursive",
        lags: int | None = None,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 20,
        normalise: str = "mean",
        difference: bool = False,
        steps: int | None = None,
        seed: int = 0,
    ):
        self.strategy = strategy
        self.lags = lags
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.normalise = normalise
        self.difference = difference
        self.steps = steps
        self.seed = seed

    # -- settings ---------------------------------------------------------------------------
    def _check_settings(self, horizon: Any, season: Any) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"strategy must be one of {', '.join(STRATEGIES)}: {self.strategy!r}")
        if self.normalise not in NORMALISE:
            raise ConfigError(
                f"normalise must be one of {', '.join(NORMALISE)}: {self.normalise!r}"
            )
        whole = {"horizon": horizon, "season": season, "n_estimators": self.n_estimators}
        whole |= {"num_leaves": self.num_leaves, "min_child_samples": self.min_child_samples}
        for name in ("lags", "steps"):
            if getattr(self, name) is not None:
                whole[name] = getattr(self, name)
        for name, value in whole.items():
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
        if not float(self.learning_rate) > 0:
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate!r}")

    def _params(self) -> dict[str, Any]:
        return {
            "objective": "l2",
            "learning_rate": float(self.learning_rate),
            "num_leaves": int(self.num_leaves),
            "min_child_samples": int(self.min_child_samples),
            "seed": int(self.seed),
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": 1,
            "verbose": -1,
        }

    # -- side information (stamps and covariates) --------------------------------------------
    def _layout(self, inputs: Any) -> None:
        """Which calendar parts and covariate columns the model reads (learned at fit)."""
        self.calendar_: tuple[str, ...] = ()
        self.cats_: dict[str, dict[str, list]] = {"static": {}, "known": {}, "past": {}}
        self.columns_: dict[str, list[str]] = {"static": [], "known": [], "past": []}
        if inputs is None:
            return
        if inputs.stamps:
            every = inputs.stamps[0].append(list(inputs.stamps[1:]))
            cal = _calendar(every, CALENDAR_PARTS)
            varies = [len(np.unique(cal[:, j])) > 1 for j in range(cal.shape[1])]
            useful = _freq_parts(inputs.freq)
            self.calendar_ = tuple(
                p for p, v in zip(CALENDAR_PARTS, varies) if v and (useful is None or p in useful)
            )
        frames = {"static": [inputs.static] if inputs.static is not None else None}
        frames |= {"known": inputs.known, "past": inputs.past}
        for group, items in frames.items():
            if items:
                big = pd.concat(items, ignore_index=True)
                self.columns_[group] = [str(c) for c in big.columns]
                self.cats_[group] = _categories(big)

    def _side(self, data: list[np.ndarray], inputs: Any, extra: int) -> dict[str, list]:
        """Per series: calendar and known rows for every position (history then ``extra``
        future positions), the static row, and the past rows (history only)."""
        n = len(data)
        lengths = [len(y) + extra for y in data]
        cal = [np.full((k, len(self.calendar_)), np.nan) for k in lengths]
        if self.calendar_:
            stamps = self._stamps(data, inputs, extra)
            every = _calendar(stamps[0].append(list(stamps[1:])), self.calendar_)
            cal = np.split(every, np.cumsum([len(s) for s in stamps])[:-1])
        out: dict[str, list] = {"calendar": list(cal)}
        if self.columns_["static"]:
            static = None if inputs is None else inputs.static
            if static is None or len(static) != n:
                raise DataError(f"the model reads static covariates: pass {n} rows (one a series)")
            cols, cats = self.columns_["static"], self.cats_["static"]
            out["static"] = list(_encode(static.reset_index(drop=True), cols, cats))
        else:
            out["static"] = [np.empty(0)] * n
        for group, rows in (("known", lengths), ("past", [len(y) for y in data])):
            cols = self.columns_[group]
            items = getattr(inputs, group, None) if cols else None
            if not cols:
                out[group] = [np.empty((k, 0)) for k in rows]
                continue
            if items is None or len(items) != n:
                raise DataError(f"the model reads {group} covariates: pass them for all {n} series")
            for i, f in enumerate(items):
                if len(f) < rows[i]:
                    raise DataError(
                        f"{group} covariates of series {i} have {len(f)} rows, {rows[i]} needed "
                        "(known ones: the history's rows then the horizon's at forecast time)"
                    )
            out[group] = _stacked(
                [f.iloc[: rows[i]] for i, f in enumerate(items)], cols, self.cats_[group]
            )
        return out

    def _stamps(self, data: list[np.ndarray], inputs: Any, extra: int) -> list[pd.DatetimeIndex]:
        if inputs is None or inputs.stamps is None:
            raise DataError("the model reads calendar features: pass inputs with the stamps")
        stamps = list(inputs.stamps)
        if extra:
            future = inputs.future or [
                pd.date_range(s[-1], periods=extra + 1, freq=inputs.freq)[1:] for s in stamps
            ]
            stamps = [s.append(f[:extra]) for s, f in zip(stamps, future)]
        return stamps

    # -- rows ---------------------------------------------------------------------------------
    def _rows(self, core, side, i, origins, targets_at) -> np.ndarray:
        """Feature rows of series ``i``: core features, then the side columns."""
        static = np.broadcast_to(side["static"][i], (len(origins), len(side["static"][i])))
        return np.hstack(
            [
                core,
                side["calendar"][i][targets_at],
                static,
                side["known"][i][targets_at],
                side["past"][i][np.minimum(origins, len(side["past"][i]) - 1)],
            ]
        )

    def _training_set(self, data, side, step) -> tuple[np.ndarray, np.ndarray] | None:
        """Rows and scaled targets of one step ahead (None: no series is long enough)."""
        xs, ys = [], []
        for i, y in enumerate(data):
            origins = np.arange(len(y) - step)
            if not len(origins):
                continue
            core, base, scale = _core(
                _windows(y, self.lags_, origins), self.normalise, self.difference, self.rolls_
            )
            xs.append(self._rows(core, side, i, origins, origins + step))
            ys.append((y[origins + step] - base) / scale)
        if not xs:
            return None
        return np.vstack(xs).astype(np.float32), np.concatenate(ys)

    def _names(self) -> list[str]:
        names = [f"lag_{k}" for k in range(1, self.lags_ + 1)]
        names += [f"roll_{s}_{w}" for w in self.rolls_ for s in ("mean", "std")]
        names += [f"cal_{p}" for p in self.calendar_]
        return names + [f"{g}_{c}" for g in ("static", "known", "past") for c in self.columns_[g]]

    def _categorical(self) -> list[int]:
        first = self.lags_ + 2 * len(self.rolls_) + len(self.calendar_)
        out = []
        for group in ("static", "known", "past"):
            out += [first + j for j, c in enumerate(self.columns_[group]) if c in self.cats_[group]]
            first += len(self.columns_[group])
        return out

    # -- fitting ------------------------------------------------------------------------------
    def _train(self, X: np.ndarray, target: np.ndarray) -> tuple[Any, bool]:
        """One booster, and whether the deadline stopped it."""
        import lightgbm

        train = lightgbm.Dataset(
            X,
            target,
            feature_name=self.feature_names_,
            categorical_feature=self._categorical(),
            free_raw_data=True,
        )
        deadline = _StopAtDeadline()
        booster = lightgbm.train(
            self._params(), train, num_boost_round=int(self.n_estimators), callbacks=[deadline]
        )
        return booster, deadline.fired

    def fit(
        self, series: list[np.ndarray], *, horizon: int, season: int = 1, inputs: Any = None
    ) -> GlobalBoosting:
        """Train on every origin of every series (``inputs``: stamps and covariates, optional)."""
        self._check_settings(horizon, season)
        data = check_series(series, "series")
        self.horizon_, self.season_ = int(horizon), int(season)
        wanted = self.lags if self.lags is not None else max(2 * self.season_, MIN_LAGS)
        self.lags_ = int(max(1, min(wanted, max(len(y) for y in data) - 1)))
        rolls = {w for w in (3, self.season_, 2 * self.season_) if 2 <= w <= self.lags_}
        self.rolls_ = tuple(sorted(rolls))
        self._layout(inputs)
        self.feature_names_ = self._names()
        side = self._side(data, inputs, 0)
        steps = 1
        if self.strategy == "direct":
            steps = self.horizon_ if self.steps is None else min(int(self.steps), self.horizon_)
        self.models_: list[Any] = []
        self.truncated_params_: dict[str, Any] = {}
        last_took = 0.0
        for step in range(1, steps + 1):
            if self.models_ and time_left() < 1.5 * last_took:
                self.truncated_params_["steps"] = len(self.models_)
                break
            started = time.perf_counter()
            rows = self._training_set(data, side, step)
            if rows is None:  # no series this long: later steps roll forward
                break
            booster, fired = self._train(*rows)
            if fired and self.models_:  # keep whole models only: roll from the last
                self.truncated_params_["steps"] = len(self.models_)
                break
            if fired:
                self.truncated_params_ = {"n_estimators": booster.current_iteration()}
            self.models_.append(booster)
            last_took = time.perf_counter() - started
        if not self.models_:
            raise DataError("no series has the 2 values a training row needs: give longer series")
        self.steps_ = len(self.models_)
        return self

    # -- forecasting --------------------------------------------------------------------------
    def forecast(self, histories: list[np.ndarray], horizon: int, inputs: Any = None) -> np.ndarray:
        """The next ``horizon`` values of each history, ``(n_series, horizon)``.

        Any histories work (the model is global): new series, or longer ones than at fit;
        ``inputs`` must then hold the same kinds of covariates as at fit, with the future rows
        of the known ones and the future stamps (or the stamps and ``freq``).
        """
        if not hasattr(self, "models_"):
            raise NotFittedError("this GlobalBoosting is not fitted yet: call fit first")
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
            raise ConfigError(f"horizon must be a whole number of steps >= 1, got {horizon!r}")
        data = check_series(histories, "histories")
        side = self._side(data, inputs, int(horizon))
        n_hist = np.array([len(y) for y in data])
        fut = {
            g: np.stack([a[k : k + horizon] for a, k in zip(side[g], n_hist)])
            for g in ("calendar", "known")
        }
        static = np.vstack(side["static"]) if self.columns_["static"] else np.empty((len(data), 0))
        past = np.vstack([p[-1:] for p in side["past"]])
        win = np.vstack([_windows(y, self.lags_, np.array([len(y) - 1]))[0] for y in data])
        out = np.empty((len(data), horizon))
        done = 0
        while done < horizon:
            core, base, scale = _core(win, self.normalise, self.difference, self.rolls_)
            block = min(self.steps_, horizon - done)
            for h in range(1, block + 1):
                g = done + h - 1  # the target's index in the horizon
                rows = np.hstack([core, fut["calendar"][:, g], static, fut["known"][:, g], past])
                pred = self.models_[h - 1].predict(rows.astype(np.float32), num_threads=1)
                out[:, g] = base + scale * pred
            win = np.hstack([out[:, done : done + block][:, ::-1], win])[:, : self.lags_]
            done += block
        return out
