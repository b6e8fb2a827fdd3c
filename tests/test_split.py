"""The test split: stable by identifier hash, stratified otherwise; CV folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlcraft.core.data.split import cv_folds, hash_fraction, split_test
from mlcraft.exceptions import DataError


def test_hash_split_is_stable_when_rows_are_added():
    old = pd.DataFrame({"id": np.arange(2000), "y": np.arange(2000) % 2})
    new = pd.concat(
        [old, pd.DataFrame({"id": np.arange(2000, 2500), "y": 1})], ignore_index=True
    ).sample(frac=1, random_state=3)
    a = split_test(old, "y", classification=True, test_size=0.2, seed=0, id_column="id")
    b = split_test(
        new.reset_index(drop=True), "y", classification=True, test_size=0.2, seed=99, id_column="id"
    )
    assert a.method == b.method == "hash"
    side_old = dict(zip(old["id"], a.is_test))
    side_new = dict(zip(new["id"], b.is_test))
    assert all(side_new[i] == side_old[i] for i in old["id"])
    assert 0.17 < a.is_test.mean() < 0.23


def test_hash_treats_integral_floats_like_ints():
    assert np.array_equal(
        hash_fraction(pd.Series([1, 2, 3])), hash_fraction(pd.Series([1.0, 2.0, 3.0]))
    )


def test_stratified_split_keeps_class_proportions():
    y = np.array([0] * 900 + [1] * 100)
    s = split_test(pd.DataFrame({"y": y}), "y", classification=True, test_size=0.2, seed=0)
    assert s.method == "stratified" and s.n_test == 200
    assert y[s.is_test].mean() == pytest.approx(0.1)


def test_regression_is_stratified_on_target_quantiles_and_stratify_on():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"income": rng.lognormal(size=2000), "y": rng.normal(size=2000)})
    s = split_test(frame, "y", classification=False, test_size=0.2, seed=0, stratify_on="income")
    assert s.method == "stratified"
    bins = pd.qcut(frame["income"], 5, labels=False)
    assert np.allclose(
        pd.Series(bins[s.is_test]).value_counts(normalize=True).sort_index(), 0.2, atol=0.01
    )
    with pytest.raises(DataError, match="no such column"):
        split_test(frame, "y", classification=False, test_size=0.2, seed=0, stratify_on="nope")


def test_same_seed_same_split_and_zero_test_size():
    frame = pd.DataFrame({"y": np.arange(100.0)})
    a = split_test(frame, "y", classification=False, test_size=0.2, seed=1)
    b = split_test(frame, "y", classification=False, test_size=0.2, seed=1)
    assert np.array_equal(a.is_test, b.is_test)
    assert split_test(frame, "y", classification=False, test_size=0, seed=1).n_test == 0


def test_cv_folds_partition_the_rows():
    y = pd.Series(np.arange(100) % 3)
    folds = cv_folds(y, classification=True, n_folds=5, seed=0)
    held = np.concatenate([va for _, va in folds])
    assert sorted(held) == list(range(100))
    for tr, va in folds:
        assert not set(tr) & set(va)
    with pytest.raises(DataError, match="single training row"):
        cv_folds(pd.Series([0] * 20 + [1]), classification=True, n_folds=5, seed=0)
