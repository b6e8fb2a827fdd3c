"""Exploration statistics of the training rows: missing values, summary statistics, value counts,
histograms, and how strongly each feature is associated with the target.

Everything here uses every row it is given (statistics are never computed on a sample) and is
vectorised: no Python loop runs over rows, so a million rows by thirty columns take seconds.

Associations with the target, one measure per pair of kinds:

==================  =====================================  ====================================
feature \\ target   numeric (regression) or binary (0/1)   multiclass
==================  =====================================  ====================================
numeric             Pearson's r (signed)                   correlation ratio (eta) by class
categorical         correlation ratio (eta) by category    Cramer's V
==================  =====================================  ====================================

Categories seen fewer than 5 times are pooled, as the preparation pools them, and eta and Cramer's
V are bias-corrected for the number of categories: a column with nearly one category per row
explains nothing about rows it has not seen, and is not ranked first for having many values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlcraft.core.data.preprocess import MIN_FREQUENCY

__all__ = [
    "HIST_BINS",
    "MAX_VALUE_COUNTS",
    "category_codes",
    "pool_rare",
    "missing_table",
    "describe_numeric",
    "value_counts",
    "histogram",
    "pearson",
    "correlation_ratio",
    "cramers_v",
    "associations",
    "correlation_matrix",
]

HIST_BINS = 50
MAX_VALUE_COUNTS = 20  # categories listed per column; the rest are summed as "other"


def category_codes(values: pd.Series, min_count: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes per row (missing values get their own code) and the categories as strings.

    Categories seen fewer than ``min_count`` times share one code, ``<rare>``.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    names = np.asarray([str(u) for u in uniques], dtype=object)
    if (codes < 0).any():
        codes = np.where(codes < 0, len(names), codes)
        names = np.append(names, "<missing>")
    codes = codes.astype(np.int64)
    if min_count > 1:
        codes = pool_rare(codes, min_count)
        if codes.max(initial=-1) >= len(names):
            names = np.append(names, "<rare>")
    return codes, names


def pool_rare(codes: np.ndarray, min_count: int) -> np.ndarray:
    """``codes`` with the categories seen fewer than ``min_count`` times sharing one new code."""
    if codes.size == 0:
        return codes
    rare = np.bincount(codes)[codes] < min_count
    return np.where(rare, codes.max() + 1, codes) if rare.any() else codes


def missing_table(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Missing values per column (count and share), most missing first."""
    counts = frame.isna().sum()
    n = max(len(frame), 1)
    rows = [{"column": str(c), "missing": int(v), "share": float(v) / n} for c, v in counts.items()]
    return sorted(rows, key=lambda r: (-r["missing"], r["column"]))


def describe_numeric(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """The ``describe()`` table of numeric columns, one dict per column."""
    if not columns:
        return []
    table = frame[list(columns)].apply(pd.to_numeric, errors="coerce").describe().T
    table["skew"] = frame[list(columns)].skew(numeric_only=True)
    rows = []
    for name, row in table.iterrows():
        rows.append({"column": str(name), **{str(k): _num(v) for k, v in row.items()}})
    return rows


def value_counts(values: pd.Series, top: int = MAX_VALUE_COUNTS) -> dict[str, Any]:
    """The ``top`` most frequent values with counts and shares, the rest as "other", and missing."""
    n = max(len(values), 1)
    counts = values.value_counts(dropna=True)
    shown = counts.iloc[:top]
    return {
        "n_unique": int(len(counts)),
        "values": [
            {"value": str(k), "count": int(v), "share": int(v) / n} for k, v in shown.items()
        ],
        "other": int(counts.iloc[top:].sum()),
        "missing": int(values.isna().sum()),
    }


def histogram(values: np.ndarray, bins: int = HIST_BINS) -> dict[str, Any]:
    """Counts in ``bins`` equal-width bins over the finite values (all of them, never a sample)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"edges": [], "counts": [], "n": 0}
    low, high = float(finite.min()), float(finite.max())
    if low == high:
        low, high = low - 0.5, high + 0.5
    counts, edges = np.histogram(finite, bins=bins, range=(low, high))
    return {"edges": edges.tolist(), "counts": counts.tolist(), "n": int(finite.size)}


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r over the rows where both are finite (NaN when undefined)."""
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return float("nan")
    xs, ys = x[ok] - x[ok].mean(), y[ok] - y[ok].mean()
    denom = np.sqrt((xs * xs).sum() * (ys * ys).sum())
    return float((xs * ys).sum() / denom) if denom > 0 else float("nan")


def correlation_ratio(codes: np.ndarray, values: np.ndarray) -> float:
    """Eta: the share of the spread of ``values`` explained by the groups in ``codes`` (square root).

    Adjusted for the number of groups, like adjusted R^2 (epsilon squared), so that a column with
    nearly one category per row does not look predictive merely by having many categories.
    """
    ok = np.isfinite(values) & (codes >= 0)
    n = int(ok.sum())
    if n < 3:
        return float("nan")
    c, v = codes[ok], values[ok]
    counts = np.bincount(c)
    sums = np.bincount(c, weights=v)
    total_ss = float(((v - v.mean()) ** 2).sum())
    k = int((counts > 0).sum())
    if total_ss <= 0 or k >= n:
        return float("nan") if total_ss <= 0 else 0.0
    nonzero = counts > 0
    means = sums[nonzero] / counts[nonzero]
    between = float((counts[nonzero] * (means - v.mean()) ** 2).sum())
    adjusted = 1.0 - ((total_ss - between) / (n - k)) / (total_ss / (n - 1))
    return float(np.sqrt(min(max(adjusted, 0.0), 1.0)))


def cramers_v(codes_a: np.ndarray, codes_b: np.ndarray) -> float:
    """Cramer's V between two categorical variables given as codes (0 = none, 1 = determined).

    With Bergsma's bias correction, so that many sparse categories do not inflate it.
    """
    from scipy.stats.contingency import association

    _, a = np.unique(codes_a, return_inverse=True)
    _, b = np.unique(codes_b, return_inverse=True)
    na, nb = int(a.max()) + 1, int(b.max()) + 1
    n = len(a)
    if na < 2 or nb < 2 or n < 3:
        return float("nan")
    table = np.bincount(a * nb + b, minlength=na * nb).reshape(na, nb)
    phi2 = float(association(table, method="cramer")) ** 2 * (min(na, nb) - 1)
    phi2 = max(0.0, phi2 - (na - 1) * (nb - 1) / (n - 1))
    ra, rb = na - (na - 1) ** 2 / (n - 1), nb - (nb - 1) ** 2 / (n - 1)
    denom = min(ra - 1, rb - 1)
    return float(np.sqrt(phi2 / denom)) if denom > 0 else float("nan")


def associations(
    frame: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    y_numbers: np.ndarray | None,
    y_labels: pd.Series,
    codes: dict[str, np.ndarray] | None = None,
) -> list[dict[str, Any]]:
    """How strongly each feature goes with the target, strongest first (see the module's table).

    ``codes`` may hold the categorical columns' codes (from :func:`category_codes`) already computed.
    """
    codes = codes or {}
    rows = []
    class_codes = None if y_numbers is not None else category_codes(y_labels)[0]
    for name in numeric:
        x = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if y_numbers is not None:
            rows.append(
                {
                    "feature": name,
                    "kind": "numeric",
                    "measure": "pearson",
                    "value": pearson(x, y_numbers),
                }
            )
        elif class_codes is not None:
            rows.append(
                {
                    "feature": name,
                    "kind": "numeric",
                    "measure": "eta",
                    "value": correlation_ratio(class_codes, x),
                }
            )
    for name in categorical:
        pooled = pool_rare(
            codes[name] if name in codes else category_codes(frame[name])[0], MIN_FREQUENCY
        )
        if y_numbers is not None:
            rows.append(
                {
                    "feature": name,
                    "kind": "categorical",
                    "measure": "eta",
                    "value": correlation_ratio(pooled, y_numbers),
                }
            )
        elif class_codes is not None:
            rows.append(
                {
                    "feature": name,
                    "kind": "categorical",
                    "measure": "cramers_v",
                    "value": cramers_v(pooled, class_codes),
                }
            )
    return sorted(
        rows, key=lambda r: (-abs(r["value"]) if np.isfinite(r["value"]) else 1.0, r["feature"])
    )


def correlation_matrix(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Pearson correlations between ``columns``, each pair over the rows where both have a value.

    The same numbers as ``DataFrame.corr()``, from a few matrix products (seconds faster on a million rows).
    """
    X = (
        frame[list(columns)]
        .apply(pd.to_numeric, errors="coerce")
        .to_numpy(dtype=float, na_value=np.nan)
    )
    present = np.isfinite(X)
    M = present.astype(float)
    X0 = np.where(present, X, 0.0)
    n = M.T @ M  # rows where both columns have a value
    sx = X0.T @ M  # sum of column i over the rows where j has a value
    sxx = (X0 * X0).T @ M
    sxy = X0.T @ X0
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = sxy - sx * sx.T / n
        var_i = sxx - sx * sx / n
        var_i[var_i <= 1e-12 * np.abs(sxx)] = np.nan  # constant over those rows (up to rounding)
        corr = cov / np.sqrt(var_i * var_i.T)
    corr[n < 2] = np.nan
    corr = np.clip(corr, -1.0, 1.0)
    return pd.DataFrame(corr, index=list(columns), columns=list(columns))


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None
