"""`mlcraft predict` on files larger than memory: chunks, global line numbers, atomic output, constant memory."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import mlcraft
from conftest import run_cli


@pytest.fixture(scope="module")
def project(tmp_path_factory, housing_csv):
    frame = pd.read_csv(housing_csv).head(3000)
    proj = mlcraft.Project.create(
        tmp_path_factory.mktemp("batch") / "p",
        data=frame,
        target="median_house_value",
        max_trials=1,
        time_limit=None,
    )
    proj.train(families=["ridge"], n_jobs=1)
    return proj, pd.read_csv(housing_csv).drop(columns="median_house_value")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_chunked_scoring_equals_in_memory_scoring(project, tmp_path, fmt):
    proj, X = project
    source = tmp_path / f"in.{fmt}"
    X.to_csv(source, index=False) if fmt == "csv" else X.to_parquet(source, index=False)
    seen = []
    summary = proj.predict_file(
        source, tmp_path / f"out.{fmt}", progress=lambda d, t, u: seen.append((d, t, u))
    )
    from mlcraft.api.predict import predict_file

    small = predict_file(proj, source, tmp_path / f"small.{fmt}", chunk_rows=1000)
    read = pd.read_csv if fmt == "csv" else pd.read_parquet
    whole = proj.predict(X)
    assert summary.rows == small.rows == len(X)
    np.testing.assert_allclose(
        read(tmp_path / f"small.{fmt}")["median_house_value"],
        whole["median_house_value"],
        rtol=1e-9,
    )
    np.testing.assert_allclose(
        read(tmp_path / f"out.{fmt}")["median_house_value"], whole["median_house_value"], rtol=1e-9
    )
    assert (
        seen and seen[-1][0] == seen[-1][1] and seen[-1][2] == ("bytes" if fmt == "csv" else "rows")
    )


def test_a_bad_value_in_a_late_chunk_names_its_line_and_writes_nothing(project, tmp_path):
    proj, X = project
    bad = X.head(5000).astype({"total_rooms": object})
    bad.loc[4321, "total_rooms"] = "lots"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    from mlcraft.api.predict import predict_file
    from mlcraft.exceptions import SchemaError

    with pytest.raises(
        SchemaError, match="column 'total_rooms' expects numbers, but line 4323 holds 'lots'"
    ):
        predict_file(proj, tmp_path / "bad.csv", tmp_path / "out.csv", chunk_rows=1000)
    assert not (tmp_path / "out.csv").exists() and [p.name for p in tmp_path.iterdir()] == [
        "bad.csv"
    ]
    result = run_cli(
        "predict", tmp_path / "bad.csv", "--project", proj.path, "--out", tmp_path / "out.csv"
    )
    assert (
        result.returncode == 2 and result.stderr.count("\n") == 1 and "line 4323" in result.stderr
    )


PEAK = """
import resource, sys
import mlcraft
from mlcraft.api.predict import predict_file
project = mlcraft.Project.open(sys.argv[1])
predict_file(project, sys.argv[2], sys.argv[3], chunk_rows=20000)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.mark.slow  # end-to-end: scores files of 20,000 and 200,000+ rows in subprocesses
def test_memory_does_not_grow_with_the_file(project, tmp_path):
    proj, X = project
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    X.head(20_000).to_csv(small, index=False)
    big = pd.concat([X] * 12, ignore_index=True)  # ~250,000 rows, ~25 MB of CSV
    big.to_csv(large, index=False)
    peaks = []
    for source in (small, large):
        out = subprocess.run(
            [sys.executable, "-c", PEAK, str(proj.path), str(source), str(tmp_path / "o.csv")],
            capture_output=True,
            text=True,
            check=True,
        )
        peaks.append(int(out.stdout.strip().splitlines()[-1]) / 1024)  # MiB
    # 12x the rows; the in-memory frame of the large file alone would be ~60 MiB more
    assert peaks[1] - peaks[0] < 40, peaks
    assert len(pd.read_csv(tmp_path / "o.csv")) == len(big)
