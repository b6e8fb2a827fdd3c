"""Test-set scores with a 95% confidence interval.

RMSE, MSE and MAE use the t-interval on the per-row errors (the book's ``stats.t.interval`` on
squared errors, then the square root for RMSE). Every other metric uses a seeded percentile bootstrap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from mlcraft.core.analysis.metrics import Scorer

__all__ = ["Interval", "score_with_interval", "paired_difference"]

N_BOOTSTRAP = 1000


@dataclass(frozen=True)
class Interval:
    """A score with its confidence interval."""

    metric: str
    value: float
    low: float
    high: float
    confidence: float
    method: str
    n: int

    def to_dict(self) -> dict:
        return {
            "metric": self.metric,
            "value": self.value,
            "ci_low": self.low,
            "ci_high": self.high,
            "confidence": self.confidence,
            "ci_method": self.method,
            "n": self.n,
        }


def _t_interval(per_row: np.ndarray, confidence: float) -> tuple[float, float]:
    n = per_row.size
    if n < 2 or np.all(per_row == per_row[0]):
        mean = float(per_row.mean())
        return mean, mean
    low, high = stats.t.interval(confidence, n - 1, loc=per_row.mean(), scale=stats.sem(per_row))
    return float(max(low, 0.0)), float(high)


def _bootstrap(statistic, n: int, seed: int, n_bootstrap: int) -> list[float]:
    """``statistic(rows)`` on seeded resamples of ``n`` rows (a resample where it is undefined is skipped)."""
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_bootstrap):
        try:
            draws.append(statistic(rng.integers(0, n, n)))
        except ValueError:  # a resample with a single class: AUC undefined
            continue
    return draws


def score_with_interval(
    scorer: Scorer,
    y_true: np.ndarray,
    pred: np.ndarray,
    *,
    confidence: float = 0.95,
    seed: int = 0,
    n_bootstrap: int = N_BOOTSTRAP,
    groups: np.ndarray | None = None,
) -> Interval:
    """The metric on ``(y_true, pred)`` and its confidence interval.

    ``groups`` (one label per row, e.g. a forecast's series): the bootstrap resamples whole groups,
    so the interval is across groups (rows of one series are not independent draws).

    Examples
    --------
    >>> import numpy as np
    >>> from mlcraft.core.analysis.metrics import Scorer, get_metric
    >>> iv = score_with_interval(Scorer(get_metric("rmse")), np.zeros(100), np.linspace(-1, 1, 100))
    >>> iv.low < iv.value < iv.high
    True
    """
    y_true = np.asarray(y_true)
    pred = np.asarray(pred)
    value = scorer(y_true, pred)
    name = scorer.name
    n = len(y_true)
    if groups is not None:
        return _grouped_interval(scorer, y_true, pred, groups, confidence, seed, n_bootstrap)
    if name in ("rmse", "mse", "mae") and scorer.metric.needs == "value":
        errors = y_true.astype(float) - pred.astype(float)
        per_row = np.abs(errors) if name == "mae" else errors**2
        low, high = _t_interval(per_row, confidence)
        if name == "rmse":
            low, high = np.sqrt(low), np.sqrt(high)
        return Interval(name, value, float(low), float(high), confidence, "t-interval", n)
    draws = _bootstrap(lambda idx: scorer(y_true[idx], pred[idx]), n, seed, n_bootstrap)
    if not draws:
        return Interval(name, value, value, value, confidence, "bootstrap (no valid resample)", n)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(draws, [alpha, 1 - alpha])
    return Interval(
        name, value, float(low), float(high), confidence, f"bootstrap ({len(draws)} resamples)", n
    )


def _grouped_interval(scorer, y_true, pred, groups, confidence, seed, n_bootstrap) -> Interval:
    """:func:`score_with_interval` resampling whole groups of rows."""
    value = scorer(y_true, pred)
    codes, _ = pd.factorize(pd.Series(np.asarray(groups)).astype(str))
    members = [np.flatnonzero(codes == g) for g in range(codes.max() + 1)]
    if len(members) < 2:
        n = len(y_true)
        return Interval(scorer.name, value, value, value, confidence, "one group: no interval", n)

    def statistic(picked: np.ndarray) -> float:
        rows = np.concatenate([members[g] for g in picked])
        return scorer(y_true[rows], pred[rows])

    draws = [d for d in _bootstrap(statistic, len(members), seed, n_bootstrap) if np.isfinite(d)]
    alpha = (1 - confidence) / 2
    low, high = np.quantile(draws, [alpha, 1 - alpha]) if draws else (value, value)
    how = f"bootstrap over {len(members)} series ({len(draws)} resamples)"
    return Interval(scorer.name, value, float(low), float(high), confidence, how, len(y_true))


def paired_difference(
    scorer_a: Scorer,
    scorer_b: Scorer,
    y_true: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    *,
    confidence: float = 0.95,
    seed: int = 0,
    n_bootstrap: int = N_BOOTSTRAP,
) -> Interval:
    """How much better model B scores than model A on the same rows, with a paired bootstrap interval.

    The difference is in the metric's units and oriented so that positive means B is better
    (``sign * (score_b - score_a)``). Both models are scored on the same resampled rows, so the
    interval reflects the noise of the comparison, not of each score alone.

    Examples
    --------
    >>> import numpy as np
    >>> from mlcraft.core.analysis.metrics import Scorer, get_metric
    >>> s = Scorer(get_metric("rmse"))
    >>> y = np.linspace(0, 1, 200)
    >>> d = paired_difference(s, s, y, y + 0.5, y + 0.1)
    >>> d.low > 0
    True
    """
    y_true, pred_a, pred_b = np.asarray(y_true), np.asarray(pred_a), np.asarray(pred_b)
    sign = scorer_a.sign
    value = sign * (scorer_b(y_true, pred_b) - scorer_a(y_true, pred_a))
    n = len(y_true)
    draws = _bootstrap(
        lambda idx: (
            sign * (scorer_b(y_true[idx], pred_b[idx]) - scorer_a(y_true[idx], pred_a[idx]))
        ),
        n,
        seed,
        n_bootstrap,
    )
    if not draws:
        return Interval(
            scorer_a.name,
            value,
            value,
            value,
            confidence,
            "paired bootstrap (no valid resample)",
            n,
        )
    alpha = (1 - confidence) / 2
    low, high = np.quantile(draws, [alpha, 1 - alpha])
    return Interval(
        scorer_a.name,
        float(value),
        float(low),
        float(high),
        confidence,
        f"paired bootstrap ({len(draws)} resamples)",
        n,
    )
