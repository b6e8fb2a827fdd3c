"""What the book says to look for when exploring the data, as flags.

Heavy-tailed features (suggest a log), capped values (a spike at the maximum or minimum, like
housing's ``median_house_value`` at 500,001), high-cardinality categoricals, constant and empty
columns, duplicate and near-duplicate rows, and features that leak the target (near-perfect
correlation, or a single feature that predicts the target almost perfectly on rows it did not see).
Every check is vectorised and uses all the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlcraft.core.analysis.profile import category_codes
from mlcraft.core.data.schema import HIGH_CARDINALITY, Role, Schema

__all__ = [
    "Flag",
    "SKEW_LIMIT",
    "heavy_tails",
    "capped_values",
    "high_cardinality",
    "unused_columns",
    "duplicate_rows",
    "single_feature_skill",
    "leakage",
]

SKEW_LIMIT = (
    1.0  # skewness above which a feature is called heavy-tailed (the log transform's own limit)
)
SPIKE_MIN_ROWS = 10  # a capped value repeats at least this often...
SPIKE_RATIO = 4.0  # ...and this many times more often than the values next to it
SPIKE_NEIGHBOURS = 10
NEAR_BITS = (
    10  # near-duplicates: numbers equal to 10 significant bits (~3 digits), text ignoring case
)
LEAK_CORRELATION = 0.95
LEAK_SKILL = 0.95
SKILL_BINS = 32


@dataclass(frozen=True)
class Flag:
    """One finding: its kind, the column it concerns (if any), a sentence for people, and numbers."""

    kind: str
    column: str | None
    message: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _numbers(frame: pd.DataFrame, name: str) -> np.ndarray:
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def heavy_tails(
    frame: pd.DataFrame, columns: Sequence[str], limit: float = SKEW_LIMIT
) -> list[Flag]:
    """Columns whose skewness exceeds ``limit``; a log is suggested when they are non-negative."""
    flags = []
    for name in columns:
        x = _numbers(frame, name)
        skew = float(pd.Series(x).skew())
        if not np.isfinite(skew) or abs(skew) <= limit:
            continue
        low = float(np.nanmin(x))
        advice = (
            "consider a log transform (log1p)"
            if low >= 0
            else "consider a power transform (Yeo-Johnson)"
        )
        side = "right" if skew > 0 else "left"
        flags.append(
            Flag(
                "heavy_tail",
                name,
                f"{name} is heavy-tailed ({side} skew {skew:.1f}): {advice}",
                {"skew": skew, "min": low},
            )
        )
    return flags


def _spike(x: np.ndarray, at_max: bool) -> dict[str, Any] | None:
    finite = x[np.isfinite(x)]
    if finite.size < SPIKE_MIN_ROWS:
        return None
    edge = float(finite.max() if at_max else finite.min())
    if not at_max and edge == 0.0:
        return None  # many zeros are usually real (counts, free tickets), not a floor
    count = int((finite == edge).sum())
    if count < SPIKE_MIN_ROWS:
        return None
    rest = finite[finite != edge]
    if rest.size == 0:
        return None
    # the next distinct values beyond the edge, and how often each occurs
    k = min(rest.size, 50 * SPIKE_NEIGHBOURS)
    near = (
        np.partition(rest, rest.size - k)[rest.size - k :]
        if at_max
        else np.partition(rest, k - 1)[:k]
    )
    _, counts = np.unique(near, return_counts=True)
    if k < rest.size:  # the value farthest from the edge may be only partly inside the slice
        counts = counts[1:] if at_max else counts[:-1]
    if counts.size == 0:
        _, counts = np.unique(rest, return_counts=True)
    counts = counts[::-1][:SPIKE_NEIGHBOURS] if at_max else counts[:SPIKE_NEIGHBOURS]
    typical = max(1.0, float(np.median(counts)))
    if count < SPIKE_RATIO * typical:
        return None
    return {"value": edge, "count": count, "share": count / finite.size, "typical_count": typical}


def capped_values(frame: pd.DataFrame, columns: Sequence[str]) -> list[Flag]:
    """A spike at the maximum (or a non-zero minimum): values were probably capped there."""
    flags = []
    for name in columns:
        x = _numbers(frame, name)
        for at_max in (True, False):
            spike = _spike(x, at_max)
            if spike is None:
                continue
            where = "maximum" if at_max else "minimum"
            message = (
                f"{name} looks capped at its {where} {spike['value']:,.10g}: {spike['count']:,} rows "
                f"({spike['share']:.1%}) hold exactly that value, {spike['count'] / spike['typical_count']:.0f}x as many as the values "
                "next to it; find out whether the cap matters (collect the true values, or drop those rows)"
            )
            flags.append(Flag("capped", name, message, {"side": where, **spike}))
    return flags


def high_cardinality(
    frame: pd.DataFrame, columns: Sequence[str], limit: int = HIGH_CARDINALITY
) -> list[Flag]:
    """Categorical columns with more than ``limit`` distinct values."""
    flags = []
    for name in columns:
        n = int(frame[name].nunique(dropna=True))
        if n > limit:
            message = f"{name} has {n:,} distinct categories: rare ones are grouped; consider grouping or target statistics"
            flags.append(Flag("high_cardinality", name, message, {"n_unique": n}))
    return flags


def unused_columns(schema: Schema) -> list[Flag]:
    """Constant and empty columns (the schema drops them), with the reason."""
    flags = []
    for col in schema.columns:
        if col.role in (Role.CONSTANT, Role.EMPTY):
            flags.append(
                Flag(
                    col.role.value,
                    col.name,
                    f"{col.name}: {col.note}; it carries no information",
                    {},
                )
            )
    return flags


def _near_key(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers rounded to about three significant digits, text lower-cased and stripped."""
    out = {}
    for name in frame.columns:
        values = frame[name]
        if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
            values.dtype
        ):
            # round the binary mantissa to NEAR_BITS bits (relative precision 2**-10, ~3 digits): one integer step
            bits = values.to_numpy(dtype=float, na_value=np.nan).view(np.int64)
            out[name] = (bits + (1 << (51 - NEAR_BITS))) & ~((1 << (52 - NEAR_BITS)) - 1)
        elif pd.api.types.is_string_dtype(values.dtype) or values.dtype == object:
            codes, uniques = pd.factorize(values)  # normalise the distinct values, not every row
            normal = pd.factorize(pd.Index(uniques).astype(str).str.strip().str.lower())[0]
            out[name] = np.where(codes >= 0, normal[np.maximum(codes, 0)], -1)
        else:
            out[name] = values
    return pd.DataFrame(out, index=frame.index)


def duplicate_rows(frame: pd.DataFrame, features: Sequence[str], target: str | None) -> list[Flag]:
    """Exact and near-duplicate rows over the features, and duplicates whose targets disagree."""
    if not features:
        return []
    feats = frame[list(features)]
    exact_hash = pd.util.hash_pandas_object(feats, index=False)
    near_hash = pd.util.hash_pandas_object(_near_key(feats), index=False)
    exact = int(exact_hash.duplicated().sum())
    near = int(near_hash.duplicated().sum())
    flags = []
    n = max(len(frame), 1)
    if exact:
        conflicting = 0
        if target is not None:
            pairs = pd.DataFrame(
                {
                    "h": exact_hash.to_numpy(),
                    "y": pd.util.hash_pandas_object(frame[target], index=False).to_numpy(),
                }
            )
            conflicting = int((pairs.groupby("h")["y"].nunique() > 1).sum())
        extra = f"; {conflicting:,} group(s) of them disagree on {target}" if conflicting else ""
        flags.append(
            Flag(
                "duplicates",
                None,
                f"{exact:,} rows ({exact / n:.1%}) repeat another row's features exactly{extra}",
                {"count": exact, "conflicting_groups": conflicting},
            )
        )
    if near > exact:
        flags.append(
            Flag(
                "near_duplicates",
                None,
                f"{near - exact:,} more rows are near-duplicates (numbers equal to about 3 significant digits, text ignoring case)",
                {"count": near - exact},
            )
        )
    return flags


def _feature_codes(values: pd.Series, kind: str) -> np.ndarray:
    if kind == "numeric":
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        finite = x[np.isfinite(x)]
        if finite.size == 0:
            return np.zeros(len(x), dtype=np.int64)
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, SKILL_BINS + 1)[1:-1]))
        codes = np.searchsorted(edges, x, side="right").astype(np.int64)
        return np.where(np.isfinite(x), codes, len(edges) + 1)
    return category_codes(values)[0]


def single_feature_skill(
    codes: np.ndarray,
    y: np.ndarray,
    *,
    classification: bool,
    seed: int = 0,
    fit: np.ndarray | None = None,
) -> float:
    """How well one feature alone predicts the target on rows it did not see (1 = perfectly).

    The feature's bins (or categories) learn the target's mean (or majority class) on a random half
    of the rows (``fit``, a random half by default); the other half is predicted. Regression: R^2. Classification: accuracy above the
    majority class, scaled so that 0 is no better and 1 is perfect.
    """
    if fit is None:
        fit = np.random.default_rng(seed).random(len(codes)) < 0.5
    held = ~fit
    if fit.sum() < 2 or held.sum() < 2:
        return float("nan")
    n_codes = int(codes.max()) + 1
    if not classification:
        counts = np.bincount(codes[fit], minlength=n_codes)
        sums = np.bincount(codes[fit], weights=y[fit], minlength=n_codes)
        overall = float(y[fit].mean())
        means = np.where(counts > 0, sums / np.maximum(counts, 1), overall)
        pred, truth = means[codes[held]], y[held]
        total = float(((truth - truth.mean()) ** 2).sum())
        return float(1.0 - ((truth - pred) ** 2).sum() / total) if total > 0 else float("nan")
    classes = y.astype(np.int64)
    k = int(classes.max()) + 1
    table = np.bincount(codes[fit] * k + classes[fit], minlength=n_codes * k).reshape(n_codes, k)
    majority = int(np.bincount(classes[fit], minlength=k).argmax())
    best = np.where(table.sum(axis=1) > 0, table.argmax(axis=1), majority)
    accuracy = float((best[codes[held]] == classes[held]).mean())
    base = float((classes[held] == majority).mean())
    return float((accuracy - base) / (1.0 - base)) if base < 1.0 else float("nan")


def leakage(
    frame: pd.DataFrame,
    features: dict[str, str],
    target: np.ndarray,
    *,
    classification: bool,
    correlations: dict[str, float],
    seed: int = 0,
    codes: dict[str, np.ndarray] | None = None,
) -> list[Flag]:
    """Features suspected of leaking the target: |r| >= 0.95, or single-feature skill >= 0.95.

    ``features`` maps each feature to its kind ("numeric" or "categorical"); ``target`` holds numbers
    (regression) or class codes (classification); ``correlations`` holds Pearson's r where defined;
    ``codes`` may hold categorical columns' codes already computed.
    """
    flags = []
    codes = codes or {}
    known = np.isfinite(target) if not classification else np.ones(len(target), dtype=bool)
    fit = np.random.default_rng(seed).random(int(known.sum())) < 0.5
    for name, kind in features.items():
        reasons, detail = [], {}
        r = correlations.get(name)
        if r is not None and np.isfinite(r) and abs(r) >= LEAK_CORRELATION:
            reasons.append(f"correlation {r:+.3f} with the target")
            detail["correlation"] = r
        feature = codes[name] if name in codes else _feature_codes(frame[name], kind)
        skill = single_feature_skill(
            feature[known], target[known], classification=classification, fit=fit
        )
        if np.isfinite(skill) and skill >= LEAK_SKILL:
            reasons.append(f"alone it predicts the target on unseen rows with skill {skill:.3f}")
            detail["skill"] = skill
        if reasons:
            message = f"{name} may leak the target ({'; '.join(reasons)}): check it is known at prediction time"
            flags.append(Flag("leakage", name, message, detail))
    return flags
