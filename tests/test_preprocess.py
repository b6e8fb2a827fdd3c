"""Preparation: fitted on training rows only; rare and unknown categories; native categories; dates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlcraft.core.data.preprocess import DatetimeParts, LogHeavyTails, build_preprocessor
from mlcraft.core.data.schema import infer_schema


def frame(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "skewed": rng.lognormal(sigma=2, size=n),
            "cat": rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.48, 0.02]),
            "y": rng.normal(size=n),
        }
    )


def test_statistics_come_from_the_rows_it_is_fitted_on():
    train, other = frame(seed=0), frame(seed=1)
    train.loc[:9, "x"] = np.nan
    schema = infer_schema(train, "y")
    X, _ = schema.coerce(train)
    prep = build_preprocessor(schema, scale=True).fit(X)
    num = prep.named_transformers_["num"]
    assert num.named_steps["impute"].statistics_[0] == np.nanmedian(train["x"])
    assert np.allclose(
        num.named_steps["scale"].mean_[:2],
        np.nanmean(
            np.column_stack([train["x"].fillna(np.nanmedian(train["x"])), train["skewed"]]), axis=0
        ),
    )
    # transforming other rows does not change what was learned
    before = num.named_steps["impute"].statistics_.copy()
    prep.transform(schema.coerce(other)[0])
    assert np.array_equal(before, num.named_steps["impute"].statistics_)


def test_rare_categories_are_grouped_and_unknown_ones_tolerated():
    train = frame()
    schema = infer_schema(train, "y")
    prep = build_preprocessor(schema).fit(schema.coerce(train)[0])
    names = list(prep.get_feature_names_out())
    assert "cat__cat_infrequent_sklearn" in names and "cat__cat_c" not in names
    new = train.head(2).copy()
    new["cat"] = ["zzz", None]
    out = prep.transform(schema.coerce(new)[0])
    assert out.shape == (2, len(names)) and np.all(np.isfinite(out))


def test_native_mode_gives_category_dtype_first():
    train = frame()
    schema = infer_schema(train, "y")
    out = build_preprocessor(schema, categorical="native", impute=False).fit_transform(
        schema.coerce(train)[0]
    )
    assert isinstance(out, pd.DataFrame)
    assert isinstance(out.dtypes.iloc[0], pd.CategoricalDtype)
    new = train.head(3).copy()
    new["cat"] = ["a", "unseen", None]
    prep = build_preprocessor(schema, categorical="native", impute=False).fit(
        schema.coerce(train)[0]
    )
    codes = prep.transform(schema.coerce(new)[0]).iloc[:, 0]
    assert codes.notna().iloc[0] and codes.isna().iloc[1] and codes.isna().iloc[2]


def test_log_heavy_tails_picks_skewed_nonnegative_columns():
    train = frame()
    step = LogHeavyTails().fit(train[["x", "skewed"]].to_numpy())
    assert step.log_columns_.tolist() == [1]


def test_datetime_parts():
    dates = pd.DataFrame({"d": pd.to_datetime(["2024-03-05 14:00", None])})
    out = DatetimeParts().fit(dates).transform(dates)
    assert out[0].tolist() == [2024, 3, 5, 1, 14]
    assert np.isnan(out[1]).all()
