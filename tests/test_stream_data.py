"""Parquet data larger than memory, read in batches: the limit, the split, the sample, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from mlcraft.config import parse_bytes
from mlcraft.core.data import stream
from mlcraft.exceptions import ConfigError, DataError
from mlcraft.tasks import get_kind


def frame(n=3_000, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, 4)), columns=["a", "b", "c", "d"])
    df["colour"] = rng.choice(["red", "green", "blue"], n)
    df["key"] = np.arange(n) * 7 + 3
    return df


def write_parts(df, directory, parts=3):
    directory.mkdir()
    for i, chunk in enumerate(np.array_split(np.arange(len(df)), parts)):
        df.iloc[chunk].to_parquet(directory / f"part-{i}.parquet", index=False)
    return directory


@pytest.mark.parametrize("id_column", [None, "key"])
def test_the_streamed_split_is_the_in_memory_split(tmp_path, id_column):
    df = frame()
    path = tmp_path / "data.parquet"
    df.to_parquet(path, index=False, row_group_size=700)
    loaded = pd.read_parquet(path)
    in_memory = (
        get_kind("embed")
        .split_test(loaded, None, test_size=0.2, seed=1, id_column=id_column)
        .is_test
    )
    source = stream.open_source(path)
    streamed = np.concatenate(
        [
            stream.batch_is_test(batch, test_size=0.2, id_column=id_column)
            for _, batch in source.batches(batch_rows=512)
        ]
    )
    assert 0.1 < in_memory.mean() < 0.3
    np.testing.assert_array_equal(streamed, in_memory)


def test_a_directory_reads_as_one_table_and_the_sample_is_seeded(tmp_path):
    df = frame()
    source = stream.open_source(write_parts(df, tmp_path / "parts"))
    assert (source.rows, source.columns) == (len(df), tuple(df.columns))
    whole = pd.concat([b for _, b in source.batches(batch_rows=500)])
    pd.testing.assert_frame_equal(whole.reset_index(drop=True), df)
    sample, positions = stream.draw_sample(source, 400, seed=3, batch_rows=333)
    again, _ = stream.draw_sample(source, 400, seed=3, batch_rows=1000)
    pd.testing.assert_frame_equal(sample, df.iloc[positions].reset_index(drop=True))
    pd.testing.assert_frame_equal(sample, again)
    assert len(np.unique(positions)) == 400


def test_the_limit_decides_what_streams(tmp_path, monkeypatch):
    path = tmp_path / "data.parquet"
    frame().to_parquet(path, index=False)
    monkeypatch.delenv("MLCRAFT_IN_MEMORY_LIMIT", raising=False)
    assert not stream.should_stream(path)  # 3,000 rows: far under 1/8 of any machine's memory
    monkeypatch.setenv("MLCRAFT_IN_MEMORY_LIMIT", "100kB")
    assert stream.in_memory_limit() == 100_000
    assert stream.should_stream(path)  # 3,000 x 6 x 8 bytes = 144 kB
    assert not stream.should_stream(tmp_path / "data.csv")  # CSV is loaded whole
    monkeypatch.setenv("MLCRAFT_IN_MEMORY_LIMIT", "lots")
    with pytest.raises(ConfigError, match="MLCRAFT_IN_MEMORY_LIMIT='lots' is not a size"):
        stream.in_memory_limit()
    assert parse_bytes("1.5GB", "x") == 1_500_000_000


def test_the_fingerprint_follows_the_content(tmp_path):
    df = frame()
    path = tmp_path / "data.parquet"
    df.to_parquet(path, index=False)
    first = stream.fingerprint(stream.open_source(path))
    assert stream.fingerprint(stream.open_source(path)) == first
    df.loc[5, "a"] = 99.0
    df.to_parquet(path, index=False)
    assert stream.fingerprint(stream.open_source(path)) != first


def test_bad_directories_are_refused_in_one_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no tables here")
    with pytest.raises(DataError, match="a directory with no Parquet files"):
        stream.open_source(empty)
    mixed = write_parts(frame(), tmp_path / "mixed", parts=2)
    frame().drop(columns=["d"]).to_parquet(mixed / "part-9.parquet", index=False)
    with pytest.raises(DataError, match="differ from those of part-0.parquet"):
        stream.open_source(mixed)


@pytest.mark.slow  # the real `mlcraft` command in a subprocess
def test_the_command_refuses_bad_directories_with_exit_2(tmp_path):
    mixed = write_parts(frame(), tmp_path / "mixed", parts=2)
    frame().astype({"key": float}).to_parquet(mixed / "part-9.parquet", index=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    for data, fragment in ((empty, "no Parquet files"), (mixed, "same columns")):
        result = run_cli("train", data, "--task", "embed", "--project", tmp_path / "p")
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0], result.stderr
        assert not (tmp_path / "p").exists()
