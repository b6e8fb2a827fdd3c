"""explore / analyse / report on awkward projects: one clear line and exit 2 for what cannot be done,
notes for what can be done partly, never a traceback, and no report file left half-made. Also: the
exploration never reads a test row."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import mlcraft
from conftest import run_cli
from mlcraft.core.data.split import hash_fraction
from mlcraft.exceptions import MlcraftError
from test_bad_input import assert_refused

pytestmark = (
    pytest.mark.slow
)  # end-to-end: trains projects, runs explore/analyse/report; `make test-fast` leaves it out


def reports_of(project):
    root = project / "reports"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


@pytest.fixture(scope="module")
def binary_project(tmp_path_factory):
    """A small trained binary project (logistic regression only)."""
    r = np.random.default_rng(0)
    n = 300
    x = r.normal(size=n)
    frame = pd.DataFrame(
        {
            "x": x,
            "z": r.normal(size=n),
            "c": r.choice(["a", "b", "c"], n),
            "y": np.where(x + r.normal(size=n) > 0.3, "yes", "no"),
        }
    )
    path = tmp_path_factory.mktemp("binary") / "data.csv"
    frame.to_csv(path, index=False)
    project = path.parent / "project"
    result = run_cli(
        "train",
        path,
        "--target",
        "y",
        "--project",
        project,
        "--max-trials",
        "1",
        "--family",
        "logistic_regression",
    )
    assert result.returncode == 0, result.stderr
    return project


def test_analyse_and_report_without_a_trained_model_say_which_command_to_run(tmp_path):
    frame = pd.DataFrame({"x": np.arange(50.0), "y": np.arange(50.0) % 7 * 1.5})
    project = mlcraft.Project.create(tmp_path / "p", data=frame, target="y").path
    for command in ("analyse", "report"):
        assert_refused(
            run_cli(command, "--project", project),
            "no trained model yet",
            f"mlcraft train --project {project}",
        )
    assert reports_of(project) == []
    assert_refused(run_cli("explore", "--project", tmp_path / "nothing"), "no such project")


def test_options_that_cannot_apply_are_refused_and_leave_no_report(binary_project):
    before = reports_of(binary_project)
    # through the command line: one line, exit 2
    assert_refused(
        run_cli("analyse", "--project", binary_project, "--min-precision", "1.5"), "between 0 and 1"
    )
    assert_refused(
        run_cli("analyse", "--project", binary_project, "--model", "nosuch"),
        "no out-of-fold predictions for model 'nosuch'",
        "logistic_regression",
    )
    assert_refused(
        run_cli("explore", "--project", binary_project, "--size-by", "c"),
        "'c' is not a numeric column",
    )
    # the same errors from the Python API
    project = mlcraft.Project.open(binary_project)
    for call, match in [
        (lambda: project.analyse(min_precision=0.9, min_recall=0.9), "exactly one"),
        (lambda: project.analyse(version=9), "model version 9 does not exist"),
        (lambda: project.explore(size_by="nope"), "no such column"),
        (lambda: project.explore(plot_sample=5), "at least 100 rows"),
    ]:
        with pytest.raises(MlcraftError, match=match):
            call()
    assert reports_of(binary_project) == before
    assert mlcraft.Project.open(binary_project).registry.champion() == 1


def test_threshold_options_need_a_binary_task(tmp_path):
    r = np.random.default_rng(1)
    frame = pd.DataFrame({"x": r.normal(size=120), "y": r.normal(size=120)})
    frame.to_csv(tmp_path / "d.csv", index=False)
    project = tmp_path / "p"
    assert (
        run_cli(
            "train",
            tmp_path / "d.csv",
            "--target",
            "y",
            "--project",
            project,
            "--max-trials",
            "1",
            "--family",
            "ridge",
        ).returncode
        == 0
    )
    assert_refused(
        run_cli("analyse", "--project", project, "--min-recall", "0.8"), "binary task", "regression"
    )
    assert reports_of(project) == []


def test_no_numeric_feature_and_a_constant_column_are_explored_with_notes(tmp_path):
    r = np.random.default_rng(2)
    n = 200
    frame = pd.DataFrame(
        {
            "colour": r.choice(["red", "green", "blue"], n),
            "size": r.choice(["S", "M", "L"], n),
            "same": "k",
            "y": r.normal(size=n),
        }
    )
    project = mlcraft.Project.create(tmp_path / "p", data=frame, target="y").path
    result = run_cli("explore", "--project", project)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "note: no numeric feature" in result.stdout and "constant: same" in result.stdout
    doc = json.loads((project / "reports" / "explore" / "explore.json").read_text())
    assert doc["correlation"] is None and {a["feature"] for a in doc["associations"]} == {
        "colour",
        "size",
    }
    assert [f["column"] for f in doc["flags"] if f["kind"] == "constant"] == ["same"]


def test_a_fold_subset_with_a_single_class_is_left_out_of_the_learning_curve_with_a_note(tmp_path):
    r = np.random.default_rng(3)
    n = 120
    y = np.zeros(n, dtype=int)
    y[r.choice(n, 8, replace=False)] = 1  # about 6 positives among the training rows
    frame = pd.DataFrame({"x": r.normal(size=n) + 2 * y, "y": y})
    project = mlcraft.Project.create(
        tmp_path / "p", data=frame, target="y", max_trials=1, time_limit=None
    )
    project.train(families=["logistic_regression"], n_jobs=1)
    project = project.path
    result = run_cli("analyse", "--project", project)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "note: learning curve: left out training sizes" in result.stdout.replace("\n", " ")
    doc = json.loads(next((project / "reports" / "analysis").glob("*/analysis.json")).read_text())
    assert 0 < len(doc["learning_curve"]["sizes"]) < 5


def test_explore_never_reads_a_test_row(tmp_path):
    """Sentinel values placed only in rows the stable split sends to the test side never surface."""
    r = np.random.default_rng(4)
    n = 600
    ids = np.arange(1, n + 1)
    frame = pd.DataFrame(
        {"id": ids, "x": r.normal(size=n), "c": r.choice(["a", "b"], n), "y": r.normal(size=n)}
    )
    test_side = hash_fraction(frame["id"]) < 0.2
    frame.loc[test_side, "x"] = 987654.25
    frame.loc[test_side, "c"] = "SENTINELCAT"
    project = mlcraft.Project.create(tmp_path / "p", data=frame, target="y", id_column="id")
    assert project.workspace.read_split(project.config.dataset).tolist() == test_side.tolist()
    result = project.explore()
    text = (result.html.read_text() + json.dumps(result.document)).lower()
    assert "987654" not in text and "sentinelcat" not in text
    assert result.document["shape"]["rows"] == int((~test_side).sum())
    drifted = {f["column"] for f in result.flags if f["kind"] == "drift"}
    assert drifted == {
        "x",
        "c",
    }  # the sentinels shift the test side's summaries, and only that is seen


def test_rows_without_an_out_of_fold_prediction_are_left_out_with_a_note(binary_project, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(binary_project, copy)
    oof_path = next((copy / "runs").glob("*/oof.parquet"))
    oof = pd.read_parquet(oof_path)
    oof.loc[:4, [c for c in oof.columns if c.startswith("logistic_regression:")]] = np.nan
    oof.to_parquet(oof_path, index=False)
    result = mlcraft.Project.open(copy).analyse(learning_curve=False, importance=False)
    assert any("5 row(s) have no out-of-fold prediction" in note for note in result.notes)
    assert result.document["diagnostics"]["rows"] == len(oof) - 5
