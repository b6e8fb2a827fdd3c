"""End-to-end: the CLI on housing and titanic, as a user types it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import mlcraft
from conftest import run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def housing_project(tmp_path_factory, housing_csv):
    root = tmp_path_factory.mktemp("housing")
    project = root / "runs" / "housing"
    result = run_cli(
        "train",
        housing_csv,
        "--target",
        "median_house_value",
        "--project",
        project,
        "--time-limit",
        "60",
    )
    assert result.returncode == 0, result.stderr
    return project, result


def test_housing_train_prints_schema_then_leaderboard_and_saves_everything(housing_project):
    project, result = housing_project
    out = result.stdout
    assert out.index("inferred schema") < out.index("leaderboard (cross-validation)")
    assert "ocean_proximity" in out and "categorical" in out
    assert "champion: model version 1" in out
    run = next((project / "runs").iterdir())
    for name in (
        "leaderboard.csv",
        "leaderboard.json",
        "cv_scores.csv",
        "oof.parquet",
        "chosen.json",
        "pipeline.txt",
        "log.txt",
    ):
        assert (run / name).is_file(), name
    board = pd.read_csv(run / "leaderboard.csv")
    assert {"rmse_mean", "rmse_std", "fit_time_s", "predict_time_s"} <= set(board.columns)
    assert board.loc[0, "rank"] == 1 and board.loc[0, "status"] == "ok"
    assert (board["status"] == "ok").sum() >= 8
    folds = pd.read_csv(run / "cv_scores.csv")
    assert folds.groupby("model").size().eq(5).all()
    meta = json.loads((project / "models" / "1" / "meta.json").read_text())
    assert {"dataset", "metric", "cv_mean", "libraries", "seed", "sha256"} <= set(meta)
    assert mlcraft.Project.open(project).registry.champion() == 1


def test_housing_predict_writes_target_column_and_warns_about_extra_columns(
    housing_project, housing_csv, tmp_path
):
    project, _ = housing_project
    new = pd.read_csv(housing_csv).drop(columns=["median_house_value"]).head(100).assign(note="x")
    new.to_csv(tmp_path / "new_districts.csv", index=False)
    out = tmp_path / "predictions.csv"
    result = run_cli("predict", tmp_path / "new_districts.csv", "--project", project, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "ignored 1 column" in result.stdout
    pred = pd.read_csv(out)
    assert list(pred.columns) == ["median_house_value"] and len(pred) == 100
    assert pred["median_house_value"].between(0, 1_000_000).all()


def test_housing_evaluate_gives_interval_and_warns_on_snooping(housing_project):
    project, _ = housing_project
    first = run_cli("evaluate", "--project", project)
    assert first.returncode == 0, first.stderr
    assert "test rmse of model version 1" in first.stdout and "95% CI" in first.stdout
    record = json.loads(next((project / "evaluations").glob("*-v1.json")).read_text())
    assert record["ci_low"] < record["value"] < record["ci_high"]
    assert record["value"] < 60_000
    # more tuning after looking at the test set, then a second look: data snooping
    again = run_cli("train", "--project", project, "--max-trials", "2")
    assert again.returncode == 0, again.stderr
    second = run_cli("evaluate", "--project", project)
    assert second.returncode == 0
    assert "data snooping" in second.stdout


def test_predict_bad_input_names_column_and_value(housing_project, housing_csv, tmp_path):
    project, _ = housing_project
    new = pd.read_csv(housing_csv).head(5).astype({"total_rooms": object})
    new.loc[2, "total_rooms"] = "lots"
    new.to_csv(tmp_path / "bad.csv", index=False)
    out = tmp_path / "p.csv"
    result = run_cli("predict", tmp_path / "bad.csv", "--project", project, "--out", out)
    assert result.returncode == 2
    assert "column 'total_rooms' expects numbers, but line 4 holds 'lots'" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
    new.drop(columns=["median_income"]).to_csv(tmp_path / "missing.csv", index=False)
    result = run_cli("predict", tmp_path / "missing.csv", "--project", project, "--out", out)
    assert (
        result.returncode == 2
        and "missing column(s) 'median_income'" in result.stderr
        and not out.exists()
    )


def test_titanic_is_reproducible_and_predicts_probabilities(titanic_csv, tmp_path):
    outputs = []
    for name in ("a", "b"):
        project = tmp_path / name
        result = run_cli(
            "train", titanic_csv, "--target", "Survived", "--project", project, "--max-trials", "6"
        )
        assert result.returncode == 0, result.stderr
        run = next((project / "runs").iterdir())
        board = pd.read_csv(run / "leaderboard.csv")
        pred_path = tmp_path / f"pred_{name}.csv"
        assert (
            run_cli("predict", titanic_csv, "--project", project, "--out", pred_path).returncode
            == 0
        )
        outputs.append((board, pd.read_csv(pred_path), (project / "mlcraft.toml").read_text()))
    (board_a, pred_a, toml_a), (board_b, pred_b, _) = outputs
    cols = ["model", "roc_auc_mean", "roc_auc_std", "status"]
    pd.testing.assert_frame_equal(board_a[cols], board_b[cols])
    pd.testing.assert_frame_equal(pred_a, pred_b)  # bit-identical predictions
    assert list(pred_a.columns) == ["Survived", "proba_0", "proba_1"]
    assert np.allclose(pred_a[["proba_0", "proba_1"]].sum(axis=1), 1)
    assert 'id_column = "PassengerId"' in toml_a and 'split_method = "hash"' in toml_a
    assert 'metric = "roc_auc"' in toml_a and "positive_class = 1" in toml_a


def test_existing_project_refuses_other_data_or_framing(titanic_csv, housing_csv, tmp_path):
    project = tmp_path / "t"
    assert (
        run_cli(
            "train", titanic_csv, "--target", "Survived", "--project", project, "--max-trials", "1"
        ).returncode
        == 0
    )
    other = run_cli("train", housing_csv, "--project", project)
    assert (
        other.returncode == 2
        and "differs from the data this project was created with" in other.stderr
    )
    framing = run_cli("train", "--project", project, "--target", "Pclass")
    assert framing.returncode == 2 and "framing of a project cannot change" in framing.stderr


def test_demo_runs_train_evaluate_predict(tmp_path):
    result = run_cli("demo", "--time-limit", "15", "--dir", tmp_path / "demo")
    assert result.returncode == 0, result.stderr
    for name in ("breast_cancer", "wine", "diabetes"):
        assert name in result.stdout
        assert (tmp_path / "demo" / name / "models" / "1" / "model.joblib").exists()
    assert result.stdout.count("95% CI") == 3
