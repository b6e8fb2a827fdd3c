"""Distribution shift between the two sides of the test split, from summary statistics only.

Each side is reduced to a summary per feature (row count, missing share, mean, standard deviation,
and the share of rows in each of the training side's decile bins, or in each of its most frequent
categories plus "other"); no row and no value of the other side is kept. The sides are then
compared by the population stability index (PSI) of those shares and the shift of the mean in
training standard deviations. The target is never summarised on the test side.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["reference_bins", "side_summary", "compare_sides", "psi", "PSI_MODERATE", "PSI_MAJOR"]

N_BINS = 10
MAX_CATEGORIES = 20
PSI_MODERATE = 0.1  # the usual reading: below 0.1 stable, 0.1 to 0.25 moderate, above 0.25 major
PSI_MAJOR = 0.25
MISSING_SHIFT = 0.05  # a change of 5 points in the missing share is reported
EPS = 1e-4


def reference_bins(frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]) -> dict[str, Any]:
    """Bin edges (training deciles) and the most frequent categories, from the training side."""
    edges = {}
    for name in numeric:
        x = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        finite = x[np.isfinite(x)]
        edges[name] = np.unique(np.quantile(finite, np.linspace(0, 1, N_BINS + 1)[1:-1])).tolist() if finite.size else []
    categories = {name: [str(v) for v in frame[name].value_counts().index[:MAX_CATEGORIES]] for name in categorical}
    return {"edges": edges, "categories": categories}


def side_summary(frame: pd.DataFrame, bins: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Summary statistics of one side of the split, over the bins of :func:`reference_bins`."""
    n = len(frame)
    out: dict[str, dict[str, Any]] = {}
    for name, edges in bins["edges"].items():
        x = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        finite = x[np.isfinite(x)]
        shares = np.bincount(np.searchsorted(np.asarray(edges), finite, side="right"), minlength=len(edges) + 1)
        out[name] = {
            "rows": n,
            "missing_share": float(1 - finite.size / n) if n else 0.0,
            "mean": float(finite.mean()) if finite.size else None,
            "std": float(finite.std()) if finite.size > 1 else None,
            "shares": (shares / max(finite.size, 1)).tolist(),
        }
    for name, categories in bins["categories"].items():
        values = frame[name]
        present = values.dropna().astype(str)
        counts = present.value_counts()
        shares = [float(counts.get(c, 0)) / max(len(present), 1) for c in categories]
        out[name] = {
            "rows": n,
            "missing_share": float(values.isna().mean()) if n else 0.0,
            "shares": shares + [max(0.0, 1.0 - sum(shares))],
        }
    return out


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index between two vectors of shares."""
    p = np.clip(np.asarray(expected, dtype=float), EPS, None)
    q = np.clip(np.asarray(actual, dtype=float), EPS, None)
    return float(((q - p) * np.log(q / p)).sum())


def _level(value: float) -> str:
    return "major" if value >= PSI_MAJOR else "moderate" if value >= PSI_MODERATE else "stable"


def compare_sides(train: dict[str, dict[str, Any]], test: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per feature: PSI, its reading, the mean shift (in training SDs) and the missing shift."""
    rows = []
    for name, ref in train.items():
        other = test.get(name)
        if other is None:
            continue
        value = psi(ref["shares"], other["shares"])
        shift = None
        if ref.get("std") and ref.get("mean") is not None and other.get("mean") is not None:
            shift = (other["mean"] - ref["mean"]) / ref["std"]
        rows.append(
            {
                "feature": name,
                "psi": value,
                "level": _level(value),
                "mean_shift_sd": shift,
                "missing_train": ref["missing_share"],
                "missing_test": other["missing_share"],
                "missing_shift": abs(other["missing_share"] - ref["missing_share"]) >= MISSING_SHIFT,
            }
        )
    return sorted(rows, key=lambda r: -r["psi"])
