"""Bad input: one clear line on stderr, exit code 2, no traceback, no project left half-made."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli

pytestmark = pytest.mark.slow  # end-to-end: the real `mlcraft` command in a subprocess, each run; `make test-fast` leaves it out


def assert_refused(result, *fragments):
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def train(path, tmp_path, *extra):
    project = tmp_path / "proj"
    result = run_cli("train", path, "--target", "y", "--project", project, "--max-trials", "1", *extra)
    return result, project


def good_frame(n=40):
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b"], n), "y": rng.normal(size=n)})


CASES = {
    "empty file": (b"", ["empty", "give a file"]),
    "header only": (b"x,y\n", ["no data rows"]),
    "missing target": (b"x,z\n1,2\n3,4\n", ["target column 'y' not found"]),
    "target all missing": (b"x,y\n1,\n2,\n3,\n", ["entirely missing"]),
    "single class": (b"x,y\n1,a\n2,a\n3,a\n", ["single value", "at least two classes"]),
    "infinite values": (b"x,y\n1,1\ninf,2\n3,3\n", ["column 'x'", "infinite", "line 3"]),
    "number too large to compute with": (b"x,y\n1,1\n1e200,2\n3,3\n", ["column 'x'", "too large", "line 3"]),
    "duplicate columns": (b"x,x,y\n1,2,3\n", ["'x' appears more than once", "rename"]),
    "non-UTF-8 bytes": (b"x,y\n1,2\n\x81\x00\x9d,\x01\n", ["not UTF-8", "re-save the file as UTF-8"]),
    "ragged csv": (b"x,y\n1,2\n3\n4,5\n", ["line 3 has 1 fields", "header has 2"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_file_is_refused(tmp_path, case):
    content, fragments = CASES[case]
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    result, project = train(path, tmp_path)
    assert_refused(result, *fragments)
    assert not project.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


def test_unreadable_paths_are_refused(tmp_path):
    result, project = train(tmp_path / "nope.csv", tmp_path)
    assert_refused(result, "no such file")
    result, project = train(tmp_path, tmp_path)
    assert_refused(result, "is a directory")
    assert not project.exists()


def test_column_of_all_nan_is_dropped_with_a_note(tmp_path):
    frame = good_frame().assign(blank=np.nan)
    frame.to_csv(tmp_path / "d.csv", index=False)
    result, project = train(tmp_path / "d.csv", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "blank: entirely missing: dropped" in result.stdout


def test_only_all_nan_features_is_refused(tmp_path):
    pd.DataFrame({"blank": [np.nan] * 10, "y": np.arange(10.0)}).to_csv(tmp_path / "d.csv", index=False)
    result, project = train(tmp_path / "d.csv", tmp_path)
    assert_refused(result, "no usable feature columns")
    assert not project.exists()


def test_bad_options_are_refused(tmp_path):
    good_frame().to_csv(tmp_path / "d.csv", index=False)
    assert_refused(train(tmp_path / "d.csv", tmp_path, "--metric", "bogus")[0], "unknown metric 'bogus'")
    assert_refused(train(tmp_path / "d.csv", tmp_path, "--metric", "roc_auc")[0], "does not apply to a regression task")
    assert_refused(train(tmp_path / "d.csv", tmp_path, "--task", "nonsense")[0], "--task 'nonsense'")
    assert_refused(train(tmp_path / "d.csv", tmp_path, "--test-size", "1.5")[0], "test size 1.5")
    assert_refused(run_cli("evaluate", "--project", tmp_path / "none"), "no such project")
    assert not (tmp_path / "proj").exists()
