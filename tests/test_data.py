"""Loading: CSV dialects and encodings, Parquet, DataFrames, and bad input refused clearly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlcraft.core.data.load import check_finite, frame_hash, load_table, require_columns
from mlcraft.exceptions import DataError


def write(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("delim", [",", ";", "\t", "|"])
def test_delimiter_is_detected(tmp_path, delim):
    text = (
        delim.join(["a", "b", "c"])
        + "\n"
        + "\n".join(delim.join([str(i), f"x{i}", "1.5"]) for i in range(20))
        + "\n"
    )
    table = load_table(write(tmp_path / "d.csv", text.encode()))
    assert list(table.frame.columns) == ["a", "b", "c"]
    assert table.frame.shape == (20, 3)


def test_cp1252_file_is_read_with_a_note(tmp_path):
    path = write(tmp_path / "latin.csv", "name,price\ncafé,3.5\nthé,2.0\n".encode("cp1252"))
    table = load_table(path)
    assert table.frame["name"].tolist() == ["café", "thé"]
    assert any("Windows-1252" in n for n in table.notes)


def test_utf16_with_bom_is_read(tmp_path):
    path = write(tmp_path / "u16.csv", "a,b\n1,é\n2,ü\n".encode("utf-16"))
    assert load_table(path).frame["b"].tolist() == ["é", "ü"]


def test_binary_bytes_are_refused(tmp_path):
    path = write(tmp_path / "bin.csv", b"a,b\n1,2\n\x81\x00\x9d,\x00\x01\n")
    with pytest.raises(DataError, match=r"not UTF-8 .*offset \d+.*re-save the file as UTF-8"):
        load_table(path)


def test_ragged_row_names_its_line(tmp_path):
    path = write(tmp_path / "r.csv", b"a,b,c\n1,2,3\n4,5\n6,7,8\n")
    with pytest.raises(DataError, match=r"line 3 has 2 fields but the header has 3"):
        load_table(path)


def test_long_row_names_its_line(tmp_path):
    path = write(tmp_path / "r.csv", b"a,b\n1,2\n3,4\n5,6,7\n")
    with pytest.raises(DataError, match=r"line 4 has 3 fields"):
        load_table(path)


def test_quoted_delimiters_and_newlines_are_not_ragged(tmp_path):
    path = write(tmp_path / "q.csv", b'a,b\n"x, y",1\n"multi\nline",2\n')
    assert load_table(path).frame.shape == (2, 2)


def test_duplicate_header_is_refused(tmp_path):
    path = write(tmp_path / "dup.csv", b"a,b,a\n1,2,3\n")
    with pytest.raises(DataError, match=r"column name 'a' appears more than once"):
        load_table(path)


def test_duplicate_dataframe_columns_are_refused():
    frame = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(DataError, match="appears more than once"):
        load_table(frame)


@pytest.mark.parametrize(
    "content, message",
    [(b"", "empty"), (b"a,b\n", "no data rows"), (b"\n\n", "no header row")],
)
def test_empty_inputs(tmp_path, content, message):
    with pytest.raises(DataError, match=message):
        load_table(write(tmp_path / "e.csv", content))


def test_unreadable_paths(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_table(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="is a directory"):
        load_table(tmp_path)


def test_parquet_round_trip_and_damaged_parquet(tmp_path):
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None]})
    frame.to_parquet(tmp_path / "f.parquet")
    assert load_table(tmp_path / "f.parquet").frame.equals(frame)
    write(tmp_path / "bad.parquet", b"PAR1 not really parquet")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        load_table(tmp_path / "bad.parquet")


def test_infinite_values_are_named_with_their_line(tmp_path):
    table = load_table(write(tmp_path / "inf.csv", b"a,b\n1,2\n3,inf\n"))
    with pytest.raises(DataError, match=r"column 'b' has 1 infinite value\(s\) \(first at line 3"):
        check_finite(table.frame, table.source, table.line_of)


def test_missing_column_suggests_close_names():
    with pytest.raises(
        DataError, match=r"'median_house_valu' not found; did you mean 'median_house_value'"
    ):
        require_columns(
            pd.DataFrame({"median_house_value": [1]}), ["median_house_valu"], "data.csv"
        )


def test_frame_hash_depends_on_content_only():
    a = pd.DataFrame({"x": [1.0, 2.0], "c": ["u", "v"]})
    assert frame_hash(a) == frame_hash(a.copy())
    b = a.copy()
    b.loc[1, "x"] = 2.5
    assert frame_hash(a) != frame_hash(b)
    assert len(frame_hash(a)) == 16


def test_mixed_object_columns_become_strings():
    frame = pd.DataFrame({"m": pd.Series([1, "a", None], dtype=object)})
    out = load_table(frame).frame
    assert out["m"].tolist()[:2] == ["1", "a"] and pd.isna(out["m"].iloc[2])
    assert np.isnan(np.nan)
