"""Column roles and the input contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlcraft.core.data.schema import Role, as_category_strings, detect_identifier, infer_schema
from mlcraft.exceptions import DataError, SchemaError


@pytest.fixture
def mixed() -> pd.DataFrame:
    n = 60
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "user_id": np.arange(1000, 1000 + n),
            "price": rng.normal(10, 2, n),
            "rooms": rng.integers(1, 5, n),
            "flag": rng.integers(0, 2, n).astype(bool),
            "city": rng.choice(["paris", "lyon", "nice"], n),
            "when": pd.date_range("2024-01-01", periods=n, freq="D").astype(str),
            "review": [f"a fairly long free text review number {i} with words" for i in range(n)],
            "code": [f"K{i:04d}" for i in range(n)],
            "const": 7,
            "empty": np.nan,
            "y": rng.normal(size=n),
        }
    )


def roles(schema):
    return {c.name: c.role for c in schema.columns}


def test_roles_are_inferred(mixed):
    got = roles(infer_schema(mixed, "y", id_column="user_id"))
    assert got == {
        "user_id": Role.IDENTIFIER,
        "price": Role.NUMERIC,
        "rooms": Role.CATEGORICAL,
        "flag": Role.CATEGORICAL,
        "city": Role.CATEGORICAL,
        "when": Role.DATETIME,
        "review": Role.TEXT,
        "code": Role.IDENTIFIER,
        "const": Role.CONSTANT,
        "empty": Role.EMPTY,
    }


def test_dropped_columns_have_notes(mixed):
    schema = infer_schema(mixed, "y")
    for name in ("review", "const", "empty"):
        assert "dropped" in schema.column(name).note


def test_user_overrides(mixed):
    schema = infer_schema(mixed, "y", categorical=["price"], drop=["city"])
    assert schema.column("price").role is Role.CATEGORICAL
    assert schema.column("city").role is Role.DROPPED
    with pytest.raises(DataError, match="not found"):
        infer_schema(mixed, "y", drop=["nope"])
    with pytest.raises(DataError, match="is the target"):
        infer_schema(mixed, "y", drop=["y"])


def test_identifier_detection(mixed, titanic_csv):
    assert detect_identifier(mixed, "y") == "user_id"
    titanic = pd.read_csv(titanic_csv)
    assert detect_identifier(titanic, "Survived") == "PassengerId"
    assert roles(infer_schema(titanic, "Survived", id_column="PassengerId"))["Name"] is Role.TEXT
    housing = pd.DataFrame({"a": [1.5, 2.5, 3.5], "y": [1, 2, 3]})
    assert detect_identifier(housing, "y") is None


def test_no_usable_feature_is_an_error():
    frame = pd.DataFrame({"empty": [np.nan] * 5, "y": [1.0, 2.0, 3.0, 4.0, 5.0]})
    with pytest.raises(DataError, match="no usable feature columns"):
        infer_schema(frame, "y")


def test_coerce_checks_and_converts(mixed):
    schema = infer_schema(mixed, "y", id_column="user_id")
    features, notes = schema.coerce(mixed.assign(extra=1))
    assert list(features.columns) == schema.features
    assert any("ignored 1 column" in n for n in notes)
    assert pd.api.types.is_datetime64_any_dtype(features["when"])
    with pytest.raises(SchemaError, match=r"missing column\(s\) 'price'"):
        schema.coerce(mixed.drop(columns=["price"]))
    bad = mixed.astype({"price": object})
    bad.loc[3, "price"] = "ten"
    with pytest.raises(SchemaError, match=r"column 'price' expects numbers, but row 4 holds 'ten'"):
        schema.coerce(bad)
    bad = mixed.copy()
    bad.loc[0, "price"] = np.inf
    with pytest.raises(SchemaError, match="infinite"):
        schema.coerce(bad)
    bad = mixed.copy()
    bad.loc[0, "when"] = "not a date"
    with pytest.raises(SchemaError, match="expects dates"):
        schema.coerce(bad)


def test_unseen_categories_are_a_note_not_an_error(mixed):
    schema = infer_schema(mixed, "y")
    new = mixed.head(3).copy()
    new.loc[0, "city"] = "marseille"
    _, notes = schema.coerce(new)
    assert any("not seen in training" in n and "marseille" in n for n in notes)


def test_numbers_in_strings_and_blanks_are_accepted(mixed):
    schema = infer_schema(mixed, "y")
    new = mixed.head(2).astype({"price": object})
    new.loc[0, "price"] = " 12.5 "
    new.loc[1, "price"] = ""
    features, _ = schema.coerce(new)
    assert features["price"].iloc[0] == 12.5 and np.isnan(features["price"].iloc[1])


def test_category_strings_agree_across_types():
    out = as_category_strings(pd.Series([1, 1.0, "1", True, None, 2.5], dtype=object))
    assert list(out[:4]) == ["1", "1", "1", "True"]
    assert pd.isna(out[4]) and out[5] == "2.5"


@pytest.mark.parametrize(
    "series",
    [
        pd.Series([1, 2, 3, 2]),
        pd.Series([1.0, 2.5, np.nan, 3.0, -0.0]),
        pd.Series([True, False, True]),
        pd.Series(["a", None, "b"]),
        pd.Series(["a", "b"], dtype="string"),
        pd.Series([1, None, 3], dtype="Int64"),
        pd.Series([True, None], dtype="boolean"),
        pd.Series([1e300, 2.0**60]),
    ],
)
def test_vectorised_category_strings_match_the_elementwise_rule(series):
    from mlcraft.core.data.schema import _category_strings_elementwise

    fast, slow = as_category_strings(series), _category_strings_elementwise(series)
    assert [None if pd.isna(v) else v for v in fast] == [None if pd.isna(v) else v for v in slow]


def test_schema_round_trips_through_json(mixed):
    from mlcraft.core.data.schema import Schema

    schema = infer_schema(mixed, "y")
    assert Schema.from_dict(schema.to_dict()) == schema


@pytest.fixture
def plain_schema():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "price": rng.normal(10, 2, 80),
            "rooms": rng.normal(3, 1, 80),
            "city": rng.choice(["paris", "lyon", "nice"], 80),
            "y": rng.normal(size=80),
        }
    )
    frame.loc[::9, "city"] = None
    return infer_schema(frame, "y")


def test_records_checked_without_a_frame_match_the_frame_path(plain_schema):
    from mlcraft.core.data.schema import column_values

    records = [
        {"price": 12.5, "rooms": 3, "city": "paris"},
        {"price": None, "rooms": 2.0, "city": None, "extra": "ignored", "y": 1.0},
        {"price": 1e9, "rooms": -4, "city": "atlantis"},  # out of range, unseen: served, noted
        {"price": float("nan"), "rooms": 0, "city": "atlantis", "more": 1},
    ]
    fast = plain_schema.coerce_records(records)
    assert fast is not None
    features, notes = fast
    expected, expected_notes = plain_schema.coerce(pd.DataFrame.from_records(records))
    assert (
        notes == expected_notes
        and any("atlantis" in n for n in notes)
        and any("extra, more" in n for n in notes)
    )
    assert len(features) == 4 and features.columns == list(expected.columns)
    for name in expected.columns:
        got, want = column_values(features, name), expected[name].to_numpy()
        assert got.dtype == want.dtype
        assert pd.Series(got).equals(pd.Series(want)), name


@pytest.mark.parametrize(
    "records",
    [
        [{"price": 1.0, "city": "paris"}],  # a missing key: the frame path names it (or fills it)
        [{"price": "12.5", "rooms": 1, "city": "paris"}],  # a number written as a string
        [{"price": True, "rooms": 1, "city": "paris"}],
        [{"price": 1e200, "rooms": 1, "city": "paris"}],  # too large: the frame path refuses it
        [{"price": 10**400, "rooms": 1, "city": "paris"}],
        [{"price": 1.0, "rooms": 1, "city": 7}],  # a category that is not a string
        [{"price": 1.0, "rooms": 1, "city": ["a"]}],
        [{"price": 1.0, "rooms": 1, "city": "paris"}] * 65,  # many records
    ],
)
def test_anything_unusual_takes_the_frame_path(plain_schema, records):
    assert plain_schema.coerce_records(records) is None


def test_a_datetime_schema_takes_the_frame_path(mixed):
    schema = infer_schema(mixed, "y", id_column="user_id")
    record = mixed.drop(columns="y").iloc[0].to_dict()
    assert schema.coerce_records([record]) is None


def test_flags_are_the_same_for_records_checked_with_or_without_a_frame(plain_schema):
    from mlcraft.monitoring import input_flags

    records = [
        {"price": 1e9, "rooms": 3, "city": "atlantis"},
        {"price": 10.0, "rooms": 3, "city": "paris"},
        {"price": None, "rooms": -50, "city": "x"},
    ]
    fast, _ = plain_schema.coerce_records(records)
    frame, _ = plain_schema.coerce(pd.DataFrame.from_records(records))
    flags = input_flags(plain_schema, fast)
    assert flags == input_flags(plain_schema, frame)
    assert sorted(flags) == [0, 2]
    assert [f["column"] for f in flags[0]] == [
        c.name for c in plain_schema.columns if c.name in ("price", "city")
    ]  # schema order
    assert {f["issue"] for f in flags[2]} == {"out_of_range", "unseen_category"}


def test_flags_of_a_few_rows_match_the_same_rows_in_a_large_batch(plain_schema):
    from mlcraft.monitoring import flags as flagging

    records = [
        {"price": 1e9, "rooms": 3, "city": "atlantis"},
        {"price": 10.0, "rooms": 3, "city": "paris"},
        {"price": None, "rooms": -50, "city": "x"},
    ]
    few, _ = plain_schema.coerce_records(records)  # checked value by value
    many, _ = plain_schema.coerce_records(records * 10)  # 30 rows: checked with NumPy
    assert len(few) <= flagging.PLAIN_ROWS < len(many)
    small, large = flagging.input_flags(plain_schema, few), flagging.input_flags(plain_schema, many)
    assert sorted(large) == [i for i in range(30) if i % 3 != 1]
    assert all(large[i] == small[i % 3] for i in large)
    assert small[0][0] == {
        "column": "price",
        "value": 1e9,
        "issue": "out_of_range",
        "message": small[0][0]["message"],
    }


def test_a_schema_pickles_the_same_after_checking_records(plain_schema):
    import pickle

    before = pickle.dumps(plain_schema)
    assert plain_schema.coerce_records([{"price": 1.0, "rooms": 2, "city": "paris"}]) is not None
    assert pickle.dumps(plain_schema) == before  # the per-schema plan is not part of a saved model
    assert pickle.loads(before) == plain_schema
