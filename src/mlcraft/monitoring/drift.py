"""Drift between the training data (reference) and what the model is asked now (current).

Per feature: missing-value rate, mean shift (in reference standard deviations), standard-deviation
ratio, population stability index (PSI), and a test with an effect size: Kolmogorov-Smirnov for
numbers (statistic D), chi-squared for categories (Cramér's V), plus the share of unseen categories.
A test flags only when it is significant *and* its effect size is over the threshold, so a large
sample does not flag a difference too small to matter. Thresholds: :class:`MonitorSettings`,
overridable in the ``[monitor]`` section of mlcraft.toml.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from mlcraft.core.analysis.drift import bin_shares, psi, quantile_edges
from mlcraft.exceptions import ConfigError

__all__ = ["MonitorSettings", "numeric_drift", "categorical_drift", "psi", "Check"]


@dataclass(frozen=True)
class MonitorSettings:
    """Alert thresholds of ``mlcraft monitor`` (every default lives here).

    Set any of them in mlcraft.toml::

        [monitor]
        psi = 0.25
        latency_p99_ms = 50
    """

    psi: float = 0.2  # population stability index: > 0.2 is the usual "significant shift"
    ks_alpha: float = 0.01  # Kolmogorov-Smirnov p-value below which the difference is real...
    ks_statistic: float = 0.1  # ...and flagged only if D (max CDF gap) is at least this
    chi2_alpha: float = 0.01  # chi-squared p-value (categorical)...
    cramers_v: float = 0.1  # ...and flagged only if Cramér's V is at least this
    mean_shift: float = 0.5  # |mean change| in reference standard deviations
    std_ratio: float = 1.5  # larger / smaller standard deviation
    missing_increase: float = 0.05  # absolute increase of the missing-value rate
    new_category_share: float = 0.01  # share of rows with a category never seen in training
    prediction_psi: float = 0.2  # PSI of the predictions
    latency_p99_ms: float = 100.0  # server-side latency of /predict, 99th percentile
    error_rate: float = 0.05  # share of /predict requests answered with an error
    min_rows: int = 100  # fewer logged rows: drift is not judged
    min_labels: int = 30  # fewer labels in a window: live quality is not judged
    bins: int = 10  # quantile bins of the reference for PSI
    window: str = "1d"  # time window of the live metric

    @classmethod
    def from_config(cls, section: dict[str, Any] | None) -> MonitorSettings:
        section = dict(section or {})
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(section) - set(names))
        if unknown:
            raise ConfigError(
                f"mlcraft.toml [monitor]: unknown setting(s) {', '.join(unknown)}; known: {', '.join(names)}"
            )
        for key, value in section.items():
            wanted = (
                str if names[key].type == "str" else (int if names[key].type == "int" else float)
            )
            if wanted is not str and (
                isinstance(value, bool) or not isinstance(value, (int, float))
            ):
                raise ConfigError(f"mlcraft.toml [monitor]: {key} = {value!r} must be a number")
            section[key] = wanted(value)
        return cls(**section)


@dataclass(frozen=True)
class Check:
    """One measured statistic against its threshold."""

    name: str
    value: float | None
    threshold: float | None
    flagged: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _missing(ref_missing: float, cur_missing: float, s: MonitorSettings) -> Check:
    increase = cur_missing - ref_missing
    return Check(
        "missing_rate",
        cur_missing,
        s.missing_increase,
        increase > s.missing_increase,
        f"{ref_missing:.1%} in training, {cur_missing:.1%} now",
    )


def numeric_drift(
    ref: np.ndarray, cur: np.ndarray, s: MonitorSettings, *, psi_threshold: float | None = None
) -> list[Check]:
    """Checks for one numeric column (NaN is missing)."""
    ref, cur = np.asarray(ref, dtype=float), np.asarray(cur, dtype=float)
    ref_ok, cur_ok = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    checks = [
        _missing(
            float(np.isnan(ref).mean()) if ref.size else 0.0,
            float(np.isnan(cur).mean()) if cur.size else 0.0,
            s,
        )
    ]
    if ref_ok.size < 2 or cur_ok.size < 2:
        return checks
    r_mean, r_std, c_mean, c_std = ref_ok.mean(), ref_ok.std(), cur_ok.mean(), cur_ok.std()
    shift = (
        abs(c_mean - r_mean) / r_std if r_std > 0 else (0.0 if c_mean == r_mean else float("inf"))
    )
    checks.append(
        Check(
            "mean_shift",
            float(shift),
            s.mean_shift,
            shift > s.mean_shift,
            f"mean {r_mean:.6g} in training, {c_mean:.6g} now (in training standard deviations)",
        )
    )
    ratio = (
        max(c_std, r_std) / min(c_std, r_std)
        if min(c_std, r_std) > 0
        else (1.0 if c_std == r_std else float("inf"))
    )
    checks.append(
        Check(
            "std_ratio",
            float(ratio),
            s.std_ratio,
            ratio > s.std_ratio,
            f"std {r_std:.6g} in training, {c_std:.6g} now",
        )
    )
    edges = quantile_edges(ref_ok, s.bins)
    value = psi(bin_shares(ref_ok, edges), bin_shares(cur_ok, edges))
    limit = s.psi if psi_threshold is None else psi_threshold
    checks.append(
        Check(
            "psi",
            value,
            limit,
            value > limit,
            f"{edges.size + 1} quantile bins of the training data",
        )
    )
    ks = stats.ks_2samp(ref_ok, cur_ok)
    flagged = bool(ks.pvalue < s.ks_alpha and ks.statistic >= s.ks_statistic)
    checks.append(
        Check(
            "ks",
            float(ks.statistic),
            s.ks_statistic,
            flagged,
            f"Kolmogorov-Smirnov D={ks.statistic:.3f}, p={ks.pvalue:.2g} (flag: p<{s.ks_alpha} and D>={s.ks_statistic})",
        )
    )
    return checks


def categorical_drift(
    ref: np.ndarray,
    cur: np.ndarray,
    s: MonitorSettings,
    *,
    known: set[str] | None = None,
    psi_threshold: float | None = None,
) -> list[Check]:
    """Checks for one categorical column (values as strings; None/NaN is missing)."""
    ref_missing = np.array([not isinstance(v, str) for v in ref], dtype=bool)
    cur_missing = np.array([not isinstance(v, str) for v in cur], dtype=bool)
    checks = [
        _missing(
            float(ref_missing.mean()) if len(ref) else 0.0,
            float(cur_missing.mean()) if len(cur) else 0.0,
            s,
        )
    ]
    r, c = np.asarray(ref, dtype=object)[~ref_missing], np.asarray(cur, dtype=object)[~cur_missing]
    if r.size == 0 or c.size == 0:
        return checks
    seen = known if known is not None else set(r.tolist())
    new = [v for v in c.tolist() if v not in seen]
    share = len(new) / c.size
    examples = ", ".join(repr(v) for v in sorted(set(new))[:3])
    checks.append(
        Check(
            "new_categories",
            share,
            s.new_category_share,
            share > s.new_category_share,
            f"{len(set(new))} unseen categor{'y' if len(set(new)) == 1 else 'ies'}"
            + (f" ({examples})" if new else ""),
        )
    )
    cats = sorted(set(r.tolist()) | set(c.tolist()))
    index = {v: i for i, v in enumerate(cats)}
    ref_counts = np.bincount([index[v] for v in r], minlength=len(cats))
    cur_counts = np.bincount([index[v] for v in c], minlength=len(cats))
    value = psi(ref_counts / r.size, cur_counts / c.size)
    limit = s.psi if psi_threshold is None else psi_threshold
    checks.append(Check("psi", value, limit, value > limit, f"{len(cats)} categories"))
    if len(cats) >= 2:
        chi2, p, _, _ = stats.chi2_contingency(np.vstack([ref_counts, cur_counts]))
        v = float(np.sqrt(chi2 / (r.size + c.size)))
        flagged = bool(p < s.chi2_alpha and v >= s.cramers_v)
        checks.append(
            Check(
                "chi2",
                v,
                s.cramers_v,
                flagged,
                f"chi-squared={chi2:.3g}, p={p:.2g}, Cramér's V={v:.3f} (flag: p<{s.chi2_alpha} and V>={s.cramers_v})",
            )
        )
    return checks
