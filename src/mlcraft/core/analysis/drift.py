"""Distribution shift between the two sides of the test split, from summary statistics only.

Each side is reduced to a summary per feature (row count, missing share, mean, standard deviation,
and the share of rows in each of the training side's decile bins, or in each of its most frequent
categories plus "other"); no row and no value of the other side is kept. The sides are then
compared by the population stability index (PSI) of those shares and the shift of the mean in
training standard deviations. A PSI counts as a shift only when sampling noise cannot explain it:
with ``n_eff = 1 / (1/n_train + 1/n_test)``, ``n_eff * PSI`` follows roughly a chi-squared law with
(bins - 1) degrees of freedom when both sides come from one distribution (a small test side gives a
large PSI by chance alone); the 1% level is divided by the number of features compared. The target is never summarised on the test side.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "reference_bins",
    "side_summary",
    "compare_sides",
    "psi",
    "quantile_edges",
    "bin_shares",
    "PSI_MODERATE",
    "PSI_MAJOR",
]

N_BINS = 10
MAX_CATEGORIES = 20
MIN_CATEGORY_ROWS = (
    30  # rarer categories are pooled as "other": chosen on one side, they would look shifted
)
PSI_MODERATE = 0.1  # the usual reading: below 0.1 stable, 0.1 to 0.25 moderate, above 0.25 major
PSI_MAJOR = 0.25
MISSING_SHIFT = 0.05  # a change of 5 points in the missing share is reported
SIGNIFICANCE = (
    0.01  # a PSI is a shift only if sampling noise explains it with probability below this
)
EPS = 1e-4  # floor of a bin's share in PSI (an empty bin would make it infinite)


def quantile_edges(finite: np.ndarray, bins: int = N_BINS) -> np.ndarray:
    """The inner edges of ``bins`` quantile bins of finite values (repeated edges merged)."""
    return np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))


def bin_shares(finite: np.ndarray, edges: Sequence[float] | np.ndarray) -> np.ndarray:
    """The share of finite values in each bin cut at ``edges`` (``len(edges) + 1`` bins)."""
    cuts = np.asarray(edges, dtype=float)
    counts = np.bincount(np.searchsorted(cuts, finite, side="right"), minlength=cuts.size + 1)
    return counts / max(finite.size, 1)


def reference_bins(
    frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]
) -> dict[str, Any]:
    """Bin edges (training deciles) and the most frequent categories, from the training side.

    Only categories with at least 30 training rows are compared one by one; the rest are pooled,
    since rare categories picked as frequent on one side would look rarer on the other by chance.
    """
    edges = {}
    for name in numeric:
        x = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        finite = x[np.isfinite(x)]
        edges[name] = quantile_edges(finite).tolist() if finite.size else []
    categories = {}
    for name in categorical:
        counts = frame[name].value_counts()
        categories[name] = [
            str(v) for v in counts.index[counts.to_numpy() >= MIN_CATEGORY_ROWS][:MAX_CATEGORIES]
        ]
    return {"edges": edges, "categories": categories}


def side_summary(frame: pd.DataFrame, bins: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Summary statistics of one side of the split, over the bins of :func:`reference_bins`."""
    n = len(frame)
    out: dict[str, dict[str, Any]] = {}
    for name, edges in bins["edges"].items():
        x = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        finite = x[np.isfinite(x)]
        out[name] = {
            "rows": n,
            "missing_share": float(1 - finite.size / n) if n else 0.0,
            "mean": float(finite.mean()) if finite.size else None,
            "std": float(finite.std()) if finite.size > 1 else None,
            "shares": bin_shares(finite, edges).tolist(),
        }
    for name, categories in bins["categories"].items():
        values = frame[name]
        counts = values.value_counts(dropna=True)
        counts = counts.groupby(counts.index.astype(str)).sum()  # 1 and "1" are one category
        present = int(counts.sum())
        category_shares = [float(counts.get(c, 0)) / max(present, 1) for c in categories]
        out[name] = {
            "rows": n,
            "missing_share": float(values.isna().mean()) if n else 0.0,
            "shares": category_shares + [max(0.0, 1.0 - sum(category_shares))],
        }
    return out


def psi(expected: Sequence[float] | np.ndarray, actual: Sequence[float] | np.ndarray) -> float:
    """Population stability index between two vectors of shares over the same bins (each share
    floored at :data:`EPS`). The one PSI of mlcraft: ``explore`` and ``monitor`` both use it."""
    p = np.clip(np.asarray(expected, dtype=float), EPS, None)
    q = np.clip(np.asarray(actual, dtype=float), EPS, None)
    return float(((q - p) * np.log(q / p)).sum())


def _level(value: float) -> str:
    return "major" if value >= PSI_MAJOR else "moderate" if value >= PSI_MODERATE else "stable"


def _smoothed(shares: Sequence[float], n: float) -> np.ndarray:
    """Shares with half a row added to every bin, so that an empty bin of a small side stays finite."""
    counts = np.asarray(shares, dtype=float) * n
    return (counts + 0.5) / (n + 0.5 * len(counts))


def _noise_p_value(value: float, bins: int, n_train: float, n_test: float) -> float:
    """Probability of a PSI at least this large if both sides came from one distribution."""
    from scipy.stats import chi2

    if n_train <= 0 or n_test <= 0 or bins < 2:
        return 1.0
    n_eff = 1.0 / (1.0 / n_train + 1.0 / n_test)
    return float(chi2.sf(value * n_eff, bins - 1))


def compare_sides(
    train: dict[str, dict[str, Any]], test: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """One row per feature: PSI, the chance that noise explains it, its reading ("stable" when noise
    can explain it), the mean shift (in training SDs) and whether the missing share moved."""
    rows = []
    for name, ref in train.items():
        other = test.get(name)
        if other is None:
            continue
        counted = [side["rows"] * (1 - side["missing_share"]) for side in (ref, other)]
        value = psi(*(_smoothed(side["shares"], n) for side, n in zip((ref, other), counted)))
        p_value = _noise_p_value(value, len(ref["shares"]), *counted)
        level = (
            _level(value) if p_value < SIGNIFICANCE / max(len(train), 1) else "stable"
        )  # Bonferroni over features
        shift = None
        if ref.get("std") and ref.get("mean") is not None and other.get("mean") is not None:
            shift = (other["mean"] - ref["mean"]) / ref["std"]
        rows.append(
            {
                "feature": name,
                "psi": value,
                "p_value": p_value,
                "level": level,
                "mean_shift_sd": shift,
                "missing_train": ref["missing_share"],
                "missing_test": other["missing_share"],
                "missing_shift": abs(other["missing_share"] - ref["missing_share"])
                >= MISSING_SHIFT,
            }
        )
    return sorted(rows, key=lambda r: -r["psi"])
