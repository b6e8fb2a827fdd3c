"""Forecasts of a forecasting project: the next ``horizon`` values of every series, with intervals.

The saved model was fitted on the training rows; it forecasts from the **whole** known history
(training and test rows, plus any newer rows given as ``history``) without retraining: each panel
model reads the longer histories (``ProblemKind.before_scoring``). Intervals are the
conformal ones the run measured on its backtest windows (``FittedModel.metadata["intervals"]``):
the forecast plus or minus the scaled error quantile of its horizon step times its series' scale.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlcraft.api.predict import write_table
from mlcraft.core.data import timeseries
from mlcraft.core.data.load import load_table
from mlcraft.exceptions import ConfigError, DataError

if TYPE_CHECKING:
    from mlcraft.api.project import Project

__all__ = ["forecast", "write_forecast", "read_history", "with_recent_history"]


def _history(project: Project, history: str | os.PathLike[str] | pd.DataFrame | None):
    """Every known row (stored rows, then the newer ``history`` rows, which win on a shared stamp),
    on the series' regular grid; and notes on what was added."""
    cfg = project.config
    frame = project.dataset()
    if history is None:
        return frame, []
    table = load_table(history, encoding=None)
    missing = [c for c in frame.columns if c not in table.frame.columns]
    if missing:
        raise ConfigError(
            f"{table.source}: --history needs the training data's columns; missing {', '.join(map(repr, missing))}"
        )
    regular = timeseries.extend(
        frame,
        table.frame[list(frame.columns)],
        time=str(cfg.time),
        series_id=tuple(cfg.series_id or ()),
        target=str(cfg.target),
        frequency=str(cfg.frequency),
        where=table.source,
        line_of=table.line_of,
    )
    return regular.frame, [
        f"{len(table.frame):,} row(s) of history from {table.source}"
    ] + regular.notes[1:]


def read_history(model: Any, frame: pd.DataFrame) -> np.ndarray:
    """Let a saved forecaster read every row of ``frame`` as its series' history (not refitted);
    returns the target's values."""
    target = model.schema.target
    known, _ = model.schema.coerce(frame, where="history")
    values = pd.to_numeric(frame[target], errors="coerce").to_numpy(dtype=float)
    model.kind.before_scoring(model.pipeline, known, values)
    return values


def with_recent_history(model: Any, stored: pd.DataFrame, recent: pd.DataFrame, where: str) -> Any:
    """A copy of a saved forecaster that reads, for the series in ``recent`` (rows with a
    value: a request's recent history), their stored rows extended by those (which win on a
    shared stamp); the model itself is untouched. Used by ``serve``'s ``/predict``."""
    import copy

    from mlcraft.tasks.forecast import adapters_in

    adapter = adapters_in(model.pipeline)[0]
    series_id = tuple(adapter.series_id or ())
    mine = timeseries.series_keys(stored, series_id).isin(
        set(timeseries.series_keys(recent, series_id))
    )
    regular = timeseries.extend(
        stored[mine.to_numpy()],
        recent,
        time=str(adapter.time),
        series_id=series_id,
        target=model.schema.target,
        frequency=str(adapter.freq),
        where=where,
    )
    copied = copy.copy(model)
    copied.pipeline = copy.deepcopy(model.pipeline)
    read_history(copied, regular.frame)
    return copied


def _future_rows(frame: pd.DataFrame, cfg: Any) -> pd.DataFrame:
    """The next ``horizon`` stamps of every series (one grid of the frequency for all); the other
    columns carried from the series' last row."""
    h = int(cfg.horizon)
    keys = timeseries.series_keys(frame, tuple(cfg.series_id or ()))
    last = frame.groupby(keys, sort=False).tail(1).reset_index(drop=True)
    lasts = pd.DatetimeIndex(last[cfg.time])
    span = len(pd.date_range(lasts.min(), lasts.max(), freq=cfg.frequency))
    grid = pd.date_range(lasts.min(), periods=span + h, freq=cfg.frequency)
    at = np.repeat(grid.get_indexer(lasts), h) + np.tile(np.arange(1, h + 1), len(last))
    out = last.loc[last.index.repeat(h)].reset_index(drop=True)
    out[cfg.time] = grid[at]
    out[cfg.target] = np.nan
    return out


def _with_future_covariates(future: pd.DataFrame, given: Any, cfg: Any) -> pd.DataFrame:
    """The known covariates of the forecast rows, from ``given`` (a file or a frame with the
    series ids, the time column and the ``--known`` columns for every stamp of the horizon)."""
    known = list(cfg.known or ())
    if not known:
        if given is not None:
            raise ConfigError(
                "--future-covariates: this project was trained without covariates known in the future (--known); leave it out, or train with --known COL"
            )
        return future
    if given is None:
        raise ConfigError(
            f"this project forecasts with covariates known in the future ({', '.join(known)}): give their values for the next {cfg.horizon} stamp(s) of every series with --future-covariates FILE"
        )
    table = load_table(given, encoding=None)
    ids = [*(cfg.series_id or ()), cfg.time]
    missing = [c for c in [*ids, *known] if c not in table.frame.columns]
    if missing:
        raise DataError(
            f"{table.source}: --future-covariates needs the column(s) {', '.join(map(repr, missing))}"
        )
    values = table.frame[[*ids, *known]].copy()
    values[cfg.time] = timeseries.parse_time(
        values[cfg.time], cfg.time, table.source, table.line_of
    )
    for c in cfg.series_id or ():
        values[c] = values[c].astype(str)
    merged = (
        future.drop(columns=known)
        .assign(**{c: future[c].astype(str) for c in cfg.series_id or ()})
        .merge(values.drop_duplicates(ids, keep="last"), on=ids, how="left")
    )
    absent = merged[known].isna().any(axis=1).to_numpy()
    if absent.any():
        row = merged[absent].iloc[0]
        where = ", ".join(f"{c}={row[c]}" for c in cfg.series_id or ())
        raise DataError(
            f"{table.source}: the future covariates are missing for {int(absent.sum())} forecast row(s), first {where + ' at ' if where else ''}{row[cfg.time]}: give {', '.join(known)} for every stamp of the horizon"
        )
    return merged


def forecast(
    project: Project,
    *,
    version: int | None = None,
    history: str | os.PathLike[str] | pd.DataFrame | None = None,
    future_covariates: str | os.PathLike[str] | pd.DataFrame | None = None,
    levels: Sequence[int] | None = None,
    method: str = "conformal",
) -> tuple[pd.DataFrame, list[str]]:
    """The next ``horizon`` values of every series with their intervals, and notes.

    Columns: the series ids, the time column, the target (the forecast), then
    ``<target>_lo_<level>`` and ``<target>_hi_<level>`` for each interval level.
    """
    from mlcraft.tasks.forecast import series_scales

    cfg = project.config
    if not getattr(project.kind, "forecasts", False):
        raise ConfigError(
            f"{project.path} is a {cfg.task} project: give the rows to predict (mlcraft predict DATA)"
        )
    model = project.load_model(version)
    frame, notes = _history(project, history)
    values = read_history(model, frame)
    future = _with_future_covariates(_future_rows(frame, cfg), future_covariates, cfg)
    features, _ = model.schema.coerce(future, where="forecast rows")
    point = model.predict_raw(features)
    out = future[[*(cfg.series_id or ()), cfg.time]].copy()
    out[cfg.target] = point
    series_id = tuple(cfg.series_id or ())
    scales = series_scales(
        values, timeseries.series_keys(frame, series_id).to_numpy(), int(cfg.season or 1)
    )
    future_keys = timeseries.series_keys(future, series_id)
    scale = future_keys.map(scales).to_numpy()
    step = future.groupby(future_keys).cumcount()
    if method == "native":
        return _native(model, features, out, point, levels, cfg, notes)
    if method != "conformal":
        raise ConfigError(f"--intervals {method!r}: choose conformal or native")
    intervals = model.metadata.get("intervals")
    if intervals is None:
        notes.append("no prediction intervals: the run kept no backtest errors for this model")
        return out, notes
    for level in _levels(levels, intervals):
        q = np.asarray(intervals["scaled"][str(level)], dtype=float)[step.to_numpy()]
        if not np.isfinite(q).all():
            notes.append(
                f"{level}% intervals are unbounded (-inf, inf): the backtest kept too few errors per horizon step ({intervals.get('errors', 0)} in all) for that level; use more series or folds, or a lower level"
            )
        out[f"{cfg.target}_lo_{level}"] = point - q * scale
        out[f"{cfg.target}_hi_{level}"] = point + q * scale
    return out, notes


def _native(model, features, out, point, levels, cfg, notes) -> tuple[pd.DataFrame, list[str]]:
    """The champion's own intervals (``--intervals native``): a single statistical model's
    quantiles or a network's MC-dropout quantiles."""
    steps = getattr(model.pipeline, "steps", None) or []
    final: Any = steps[-1][1] if steps else None
    asked = list(levels) if levels is not None else [80, 95]
    native = getattr(final, "native_intervals", None)
    bands = native(features, asked) if native is not None else None
    if bands is None:
        raise ConfigError(
            f"--intervals native: the champion ({model.family}) has no intervals of its own (a statistical model or a network with dropout has); use --intervals conformal"
        )
    for level in sorted(bands):
        out[f"{cfg.target}_lo_{level}"] = bands[level][0]
        out[f"{cfg.target}_hi_{level}"] = bands[level][1]
    notes.append(
        "native intervals: the model's own quantiles (statistical models) or MC dropout (networks); unlike the conformal ones, their coverage was not measured on the backtest windows"
    )
    return out, notes


def _levels(levels: Sequence[int] | None, intervals: dict[str, Any]) -> list[int]:
    """The interval levels asked for (whole percents), checked; default: the run's."""
    if levels is None:
        return list(intervals["levels"])
    out = []
    for level in levels:
        if (
            isinstance(level, bool)
            or not isinstance(level, (int, np.integer))
            or not 0 < level < 100
        ):
            raise ConfigError(
                f"--levels {level!r}: give whole percents between 1 and 99, e.g. 80,95"
            )
        if str(int(level)) not in intervals["scaled"]:
            raise ConfigError(
                f"--levels {level}: this model keeps its intervals at {', '.join(map(str, intervals['levels']))}% only; retrain it for other levels"
            )
        out.append(int(level))
    return sorted(set(out))


def write_forecast(
    project: Project,
    out: str | os.PathLike[str],
    *,
    version: int | None = None,
    history: str | os.PathLike[str] | pd.DataFrame | None = None,
    future_covariates: str | os.PathLike[str] | pd.DataFrame | None = None,
    levels: Sequence[int] | None = None,
    method: str = "conformal",
) -> tuple[Path, int, list[str]]:
    """:func:`forecast` written to ``out`` (CSV or Parquet, atomically): (path, rows, notes)."""
    frame, notes = forecast(
        project,
        version=version,
        history=history,
        future_covariates=future_covariates,
        levels=levels,
        method=method,
    )
    return write_table(frame, out), len(frame), notes
