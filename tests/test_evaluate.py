"""Confidence intervals."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mlcraft.core.analysis.evaluate import score_with_interval
from mlcraft.core.analysis.metrics import Scorer, get_metric


def test_rmse_interval_is_the_books_t_interval():
    rng = np.random.default_rng(0)
    y, p = rng.normal(size=500), rng.normal(size=500)
    sq = (y - p) ** 2
    low, high = np.sqrt(stats.t.interval(0.95, len(sq) - 1, loc=sq.mean(), scale=stats.sem(sq)))
    iv = score_with_interval(Scorer(get_metric("rmse")), y, p)
    assert iv.method == "t-interval"
    assert iv.low == pytest.approx(low) and iv.high == pytest.approx(high)
    assert iv.low < iv.value < iv.high


def test_bootstrap_interval_is_seeded_and_contains_the_score():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    p1 = np.clip(0.3 + 0.4 * y + rng.normal(scale=0.2, size=300), 0, 1)
    proba = np.column_stack([1 - p1, p1])
    scorer = Scorer(get_metric("roc_auc"), classes=[0, 1], positive_class=1)
    a = score_with_interval(scorer, y, proba, seed=3)
    b = score_with_interval(scorer, y, proba, seed=3)
    assert a == b and a.method.startswith("bootstrap")
    assert a.low < a.value < a.high and 0 < a.high - a.low < 0.2
