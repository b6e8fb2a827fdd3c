"""Exploration statistics, flags and the drift check, on data made to show (or not show) each thing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlcraft.core.analysis import drift, flags, profile
from mlcraft.core.data.schema import infer_schema


def rng(seed=0):
    return np.random.default_rng(seed)


def test_associations_use_the_right_measure_and_rank_by_strength():
    r = rng()
    n = 2000
    x = r.normal(size=n)
    frame = pd.DataFrame(
        {
            "strong": x,
            "weak": r.normal(size=n),
            "cat": np.where(x > 0, "hi", "lo"),
            "noise_cat": r.choice(list("abc"), n),
        }
    )
    y = 3 * x + r.normal(scale=0.5, size=n)
    rows = profile.associations(frame, ["strong", "weak"], ["cat", "noise_cat"], y, pd.Series(y))
    assert [r["feature"] for r in rows][:2] == ["strong", "cat"]
    by = {r["feature"]: r for r in rows}
    assert by["strong"]["measure"] == "pearson" and by["strong"]["value"] == pytest.approx(
        np.corrcoef(x, y)[0, 1]
    )
    assert by["cat"]["measure"] == "eta" and 0.7 < by["cat"]["value"] <= 1
    assert abs(by["weak"]["value"]) < 0.1 and by["noise_cat"]["value"] < 0.1
    # a multiclass target: eta for numeric features, Cramer's V for categorical ones
    labels = pd.Series(np.where(x > 0.5, "a", np.where(x < -0.5, "b", "c")))
    multi = {
        r["feature"]: r for r in profile.associations(frame, ["strong"], ["cat"], None, labels)
    }
    assert multi["strong"]["measure"] == "eta" and multi["strong"]["value"] > 0.8
    assert multi["cat"]["measure"] == "cramers_v" and 0.6 < multi["cat"]["value"] < 1


def test_correlation_ratio_and_cramers_v_bounds():
    codes = np.array([0, 0, 1, 1])
    assert profile.correlation_ratio(codes, np.array([1.0, 1.0, 5.0, 5.0])) == pytest.approx(1.0)
    assert profile.correlation_ratio(codes, np.array([1.0, 5.0, 1.0, 5.0])) == pytest.approx(0.0)
    assert profile.cramers_v(
        np.array([0, 0, 1, 1] * 10), np.array([0, 0, 1, 1] * 10)
    ) == pytest.approx(1.0)


def test_histogram_counts_every_finite_value_and_value_counts_sum_up():
    x = np.array([1.0, 2.0, np.nan, 3.0, 3.0])
    h = profile.histogram(x, bins=3)
    assert sum(h["counts"]) == 4 and h["n"] == 4
    vc = profile.value_counts(
        pd.Series(["a"] * 30 + ["b"] * 5 + [None] * 2 + [f"r{i}" for i in range(25)]), top=2
    )
    assert [v["value"] for v in vc["values"]] == ["a", "b"]
    assert vc["other"] == 25 and vc["missing"] == 2 and vc["n_unique"] == 27


def test_heavy_tails_suggest_log_for_positive_skewed_columns_only():
    r = rng()
    frame = pd.DataFrame(
        {
            "skewed": r.lognormal(0, 1.2, 5000),
            "normal": r.normal(size=5000),
            "neg": -r.lognormal(0, 1.2, 5000),
        }
    )
    found = {f.column: f for f in flags.heavy_tails(frame, list(frame.columns))}
    assert set(found) == {"skewed", "neg"}
    assert "log" in found["skewed"].message and "Yeo-Johnson" in found["neg"].message


def test_capped_values_fire_on_a_spike_at_the_maximum_and_not_on_smooth_data():
    r = rng()
    value = np.minimum(r.lognormal(12, 0.5, 20000).round(-2), 500001.0)
    frame = pd.DataFrame(
        {
            "value": value,
            "smooth": r.normal(size=20000),
            "ints": r.integers(0, 50, 20000).astype(float),
            "zeros": np.maximum(r.normal(size=20000), 0),
        }
    )
    found = flags.capped_values(frame, list(frame.columns))
    assert [(f.column, f.detail["side"]) for f in found] == [("value", "maximum")]
    assert found[0].detail["value"] == 500001.0 and "500,001" in found[0].message


def test_high_cardinality_unused_columns_and_duplicates():
    frame = pd.DataFrame(
        {
            "code": [f"c{i % 80}" for i in range(400)],
            "x": np.arange(400) % 100 * 1.0,
            "k": ["A"] * 400,
            "y": np.arange(400) % 7,
        }
    )
    assert [f.column for f in flags.high_cardinality(frame, ["code"])] == ["code"]
    schema = infer_schema(frame, "y")
    assert [f.kind for f in flags.unused_columns(schema)] == ["constant"]
    assert (
        flags.duplicate_rows(frame, ["code", "x"], "y") == []
    )  # the (code, x) pairs are all distinct
    frame2 = pd.DataFrame(
        {"a": [1.0, 1.0, 1.0004, 5.0], "b": ["x", "x", "X ", "z"], "y": [1, 2, 1, 1]}
    )
    kinds = {f.kind: f for f in flags.duplicate_rows(frame2, ["a", "b"], "y")}
    assert kinds["duplicates"].detail == {"count": 1, "conflicting_groups": 1}
    assert kinds["near_duplicates"].detail["count"] == 1


def test_leakage_flags_a_copied_target_but_not_honest_features():
    r = rng()
    n = 4000
    x = r.normal(size=n)
    y = 2 * x + r.normal(size=n)
    frame = pd.DataFrame(
        {
            "x": x,
            "leak": y + r.normal(scale=0.01, size=n),
            "cat_leak": np.round(y).astype(str),
            "honest_cat": r.choice(list("abcd"), n),
        }
    )
    kinds = {
        "x": "numeric",
        "leak": "numeric",
        "cat_leak": "categorical",
        "honest_cat": "categorical",
    }
    corr = {name: profile.pearson(frame[name].to_numpy(), y) for name in ("x", "leak")}
    found = {
        f.column: f for f in flags.leakage(frame, kinds, y, classification=False, correlations=corr)
    }
    assert set(found) == {"leak", "cat_leak"}
    assert "correlation" in found["leak"].detail and "skill" in found["cat_leak"].detail
    labels = (y > 0).astype(float)
    found = {
        f.column
        for f in flags.leakage(
            frame.assign(label_copy=labels.astype(int).astype(str)),
            {**kinds, "label_copy": "categorical"},
            labels,
            classification=True,
            correlations={},
        )
    }
    assert "label_copy" in found and "x" not in found


def test_drift_is_computed_from_summaries_and_fires_on_a_shift():
    r = rng()
    train = pd.DataFrame({"x": r.normal(size=5000), "c": r.choice(list("abc"), 5000)})
    same = pd.DataFrame({"x": r.normal(size=1000), "c": r.choice(list("abc"), 1000)})
    moved = pd.DataFrame({"x": r.normal(loc=1.0, size=1000), "c": r.choice(list("abz"), 1000)})
    bins = drift.reference_bins(train, ["x"], ["c"])
    summary = drift.side_summary(moved, bins)
    assert set(summary["x"]) == {
        "rows",
        "missing_share",
        "mean",
        "std",
        "shares",
    }  # no values, no rows
    assert "z" not in str(summary)  # an unseen category is only counted as "other"
    ref = drift.side_summary(train, bins)
    stable = {r["feature"]: r for r in drift.compare_sides(ref, drift.side_summary(same, bins))}
    shifted = {r["feature"]: r for r in drift.compare_sides(ref, summary)}
    assert stable["x"]["level"] == "stable" and stable["c"]["level"] == "stable"
    assert shifted["x"]["level"] == "major" and shifted["x"]["mean_shift_sd"] == pytest.approx(
        1.0, abs=0.15
    )
    assert shifted["c"]["psi"] > drift.PSI_MODERATE


def test_correlation_matrix_equals_pandas_pairwise_complete():
    r = rng(5)
    X = r.normal(size=(3000, 5))
    X[:, 1] += 2 * X[:, 0]
    X[:, 4] = 7.0  # constant: undefined correlation
    X[r.random(X.shape) < 0.15] = np.nan
    frame = pd.DataFrame(X, columns=list("abcde"))
    ours = profile.correlation_matrix(frame, list("abcde"))
    expected = frame.corr()
    assert np.allclose(ours.to_numpy()[:4, :4], expected.to_numpy()[:4, :4], atol=1e-12)
    assert np.isnan(expected["e"]).all() and not np.isfinite(ours["e"].to_numpy()[:4]).any()
