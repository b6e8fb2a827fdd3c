"""Time series in a long table: stamps parsed, series checked, the frequency inferred, gaps filled.

A forecasting table has one row per series and time stamp (the "long" format of StatsForecast and
AutoGluon-TimeSeries): a time column, zero or more series-id columns (none: one series), the target
and covariates. :func:`regularise` checks it and puts every series on one regular grid:

- the time column must parse (the message names the row and the value); duplicate stamps within a
  series are refused (aggregate them first: only the user knows whether to sum or average);
- the frequency is inferred from the stamps (the most common step that pandas recognises), or given;
- missing stamps inside a series (gaps) are added as rows; their target is interpolated linearly
  between its neighbours and their covariates carried forward from the last stamp before the gap;
  the note says how many rows were added, in how many series. Nothing is filled silently.

The season (values per cycle) follows from the frequency: 12 for monthly, 4 for quarterly, 7 for
daily, 24 for hourly, 52 for weekly, 1 for yearly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlcraft.exceptions import DataError

__all__ = ["Regular", "regularise", "extend", "season_of", "series_keys", "position_in_series"]

# the season (values per cycle) of each pandas frequency's base unit
_SEASONS = {
    "Y": 1,
    "A": 1,
    "Q": 4,
    "M": 12,
    "W": 52,
    "D": 7,
    "B": 5,
    "h": 24,
    "H": 24,
    "min": 60,
    "T": 60,
    "s": 60,
    "S": 60,
}
SERIES_KEY = "__series__"  # a column of :func:`series_keys` (never stored)


@dataclass
class Regular:
    """A long table on a regular grid: sorted by series then time, gaps filled."""

    frame: pd.DataFrame
    freq: str
    season: int
    notes: list[str] = field(default_factory=list)
    filled: int = 0  # rows added for missing stamps


def season_of(freq: str) -> int:
    """Values per cycle for a pandas frequency (``"MS"`` -> 12, ``"QS-OCT"`` -> 4, ``"D"`` -> 7).

    >>> season_of("MS"), season_of("QS-OCT"), season_of("W-SUN"), season_of("YS-JAN"), season_of("2h")
    (12, 4, 52, 1, 24)
    """
    offset = pd.tseries.frequencies.to_offset(freq)
    code = offset.name.split("-")[0].lstrip("0123456789")
    for unit in sorted(_SEASONS, key=len, reverse=True):
        if code.startswith(unit) or code.rstrip("SE") == unit:
            return _SEASONS[unit]
    return 1


def series_keys(frame: pd.DataFrame, series_id: Sequence[str]) -> pd.Series:
    """One string key per row naming its series ("" when there is one series)."""
    if not series_id:
        return pd.Series("", index=frame.index)
    parts = [frame[c].astype(str) for c in series_id]
    key = parts[0]
    for p in parts[1:]:
        key = key + "|" + p
    return key


def position_in_series(keys: pd.Series) -> np.ndarray:
    """Each row's position from the end of its series (0: the last row), rows sorted by time."""
    return keys.groupby(keys, sort=False).cumcount(ascending=False).to_numpy()


def parse_time(
    values: pd.Series, column: str, where: str, line_of: Callable[[int], str] | None = None
) -> pd.Series:
    """The time column as timestamps; the first value that does not parse is named with its row."""
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = values
    else:
        stamps = pd.to_datetime(values, errors="coerce", format="mixed")
    at = line_of or (lambda i: f"row {i + 1}")
    bad = np.flatnonzero(stamps.isna().to_numpy())
    if len(bad):
        i = int(bad[0])
        raise DataError(
            f"{where}: time column {column!r} has {values.iloc[i]!r} at {at(i)}, which is not a "
            f"date or time ({len(bad)} such row(s)); fix or remove them"
        )
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert(None)
    return stamps


def infer_frequency(frame: pd.DataFrame, time: str, keys: pd.Series, where: str) -> str:
    """The most common frequency pandas infers over the series (each needs 3 stamps in a row)."""
    found: dict[str, int] = {}
    for _, stamps in frame[time].groupby(keys, sort=False):
        if len(stamps) < 3:
            continue
        freq = pd.infer_freq(pd.DatetimeIndex(stamps.to_numpy())[:200])
        if freq is None:  # gaps: the most common step of the series, if pandas names it
            steps = np.diff(stamps.to_numpy()).astype("timedelta64[ns]")
            common = pd.Series(steps).mode()
            freq = _step_name(stamps, common.iloc[0]) if len(common) else None
        if freq is not None:
            found[freq] = found.get(freq, 0) + 1
    if not found:
        raise DataError(
            f"{where}: the frequency of the time column {time!r} cannot be inferred (no series has "
            "three regularly spaced stamps); give it with --frequency (a pandas alias: D, W, MS, QS, YS, h)"
        )
    return max(found, key=lambda f: found[f])


def _step_name(stamps: pd.Series, step: np.timedelta64) -> str | None:
    """A pandas alias for a series whose common step is ``step`` (calendar units tried first)."""
    days = step / np.timedelta64(1, "D")
    for alias, low, high in (("MS", 28, 31), ("QS", 89, 92), ("YS", 365, 366), ("W", 7, 7)):
        if low <= days <= high:
            grid = pd.date_range(stamps.iloc[0], periods=3, freq=alias)
            return alias if grid[0] == stamps.iloc[0] else alias.rstrip("S")
    try:
        return pd.tseries.frequencies.to_offset(pd.Timedelta(step)).freqstr
    except ValueError:
        return None


def regularise(
    frame: pd.DataFrame,
    *,
    time: str,
    series_id: Sequence[str],
    target: str | None,
    frequency: str | None,
    where: str,
    line_of: Callable[[int], str] | None = None,
) -> Regular:
    """Check a long table and put each series on one regular grid (see the module's notes)."""
    frame = frame.copy()
    frame[time] = parse_time(frame[time], time, where, line_of)
    for col in series_id:
        if frame[col].isna().any():
            i = int(np.flatnonzero(frame[col].isna().to_numpy())[0])
            at = line_of or (lambda j: f"row {j + 1}")
            raise DataError(
                f"{where}: series id {col!r} is missing at {at(i)}; every row needs its series"
            )
    keys = series_keys(frame, series_id)
    dup = pd.DataFrame({"k": keys, "t": frame[time]}).duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        name = f"series {keys.iloc[i]!r}" if series_id else "the series"
        raise DataError(
            f"{where}: {name} has the time stamp {frame[time].iloc[i]} more than once "
            f"({int(dup.sum())} repeated row(s)); aggregate them first (sum or mean per stamp), or "
            "give the column(s) that tell the series apart with --series-id"
        )
    order = np.lexsort((frame[time].to_numpy(), keys.to_numpy()))
    frame = frame.iloc[order].reset_index(drop=True)
    keys = keys.iloc[order].reset_index(drop=True)
    freq = frequency if frequency is not None else infer_frequency(frame, time, keys, where)
    try:
        season = season_of(freq)
    except ValueError:
        raise DataError(
            f"--frequency {freq!r} is not a pandas frequency alias; use one of D, W, MS, QS, YS, h"
        ) from None
    gappy = _series_with_gaps(frame[time], keys, freq)
    filled, parts, touched = 0, [], 0
    for key, block in frame.groupby(keys, sort=False):
        if gappy is not None and key not in gappy:  # on the grid, no gap: as it is
            parts.append(block)
            continue
        grid = pd.date_range(block[time].iloc[0], block[time].iloc[-1], freq=freq)
        off_grid = ~block[time].isin(grid)
        if off_grid.any():
            raise DataError(
                f"{where}: time stamp {block[time][off_grid].iloc[0]} is not on the "
                f"{freq!r} grid of its series; give the right --frequency or resample the data first"
            )
        if len(grid) > len(block):
            touched += 1
            filled += len(grid) - len(block)
            block = _fill(block, time, grid, target, series_id)
        parts.append(block)
    out = pd.concat(parts, ignore_index=True) if parts else frame
    notes = [f"frequency {freq} (season {season})" + (" as given" if frequency else ", inferred")]
    if filled:
        notes.append(
            f"{filled} missing time stamp(s) in {touched} series added as rows: the target "
            "interpolated linearly between its neighbours, covariates carried forward"
        )
    return Regular(out, freq, season, notes, filled)


def _series_with_gaps(stamps: pd.Series, keys: pd.Series, freq: str) -> set[str] | None:
    """The series with missing stamps, found on one grid of ``freq`` for all rows at once; None
    when some stamp is off that grid (each series is then checked on its own grid)."""
    if not len(stamps):
        return set()
    grid = pd.date_range(stamps.min(), stamps.max(), freq=freq)
    pos = pd.Series(grid.get_indexer(pd.DatetimeIndex(stamps)), index=stamps.index)
    if (pos < 0).any():
        return None
    by = pos.groupby(keys.to_numpy(), sort=False)
    span = by.max() - by.min() + 1
    return set(span.index[(span > by.size()).to_numpy()])


def _fill(
    block: pd.DataFrame,
    time: str,
    grid: pd.DatetimeIndex,
    target: str | None,
    series_id: Sequence[str],
) -> pd.DataFrame:
    """The rows of one series with the missing stamps of ``grid`` added (see :func:`regularise`)."""
    full = block.set_index(time).reindex(grid)
    full.index.name = time
    if target is not None and target in full.columns:
        values = pd.to_numeric(full[target], errors="coerce")
        full[target] = values.interpolate(method="linear", limit_area="inside")
    others = [c for c in full.columns if c != target]
    full[others] = full[others].ffill()
    for c in series_id:
        full[c] = block[c].iloc[0]
    return full.reset_index()[list(block.columns)]


def extend(
    stored: pd.DataFrame,
    newer: pd.DataFrame,
    *,
    time: str,
    series_id: tuple[str, ...],
    target: str,
    frequency: str,
    where: str,
    line_of: Callable[[int], str] | None = None,
) -> Regular:
    """``stored`` rows followed by ``newer`` ones (checked: stamps parsed, one per series and
    stamp), the newer winning on a shared stamp, on the series' regular grid."""
    newer = regularise(
        newer,
        time=time,
        series_id=series_id,
        target=target,
        frequency=frequency,
        where=where,
        line_of=line_of,
    ).frame
    both = pd.concat([stored, newer.reindex(columns=stored.columns)], ignore_index=True)
    keys = series_keys(both, series_id)
    both = both[~pd.DataFrame({"k": keys, "t": both[time]}).duplicated(keep="last").to_numpy()]
    return regularise(
        both, time=time, series_id=series_id, target=target, frequency=frequency, where=where
    )
