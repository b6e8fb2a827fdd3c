"""End-to-end: the time limit holds, fixed-trial runs are bit-identical, replay rebuilds, `mlcraft tune`."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from conftest import run_cli

pytestmark = pytest.mark.slow


def test_housing_train_ends_within_the_time_limit_plus_ten_percent(housing_csv, tmp_path):
    project = tmp_path / "housing30"
    start = time.perf_counter()
    result = run_cli(
        "train",
        housing_csv,
        "--target",
        "median_house_value",
        "--project",
        project,
        "--time-limit",
        "30",
    )
    wall = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    assert wall <= 33.0, f"`mlcraft train --time-limit 30` took {wall:.1f}s"
    assert "champion: model version 1" in result.stdout
    board = pd.read_csv(next((project / "runs").iterdir()) / "leaderboard.csv")
    assert board.loc[0, "rmse_mean"] < 60_000


def _members(chosen_json: str):
    import json

    chosen = json.loads(chosen_json)
    return chosen["model"], chosen["members"]


@pytest.fixture(scope="module")
def breast_cancer():
    from mlcraft.api.demo import load_demo_dataset

    return load_demo_dataset("breast_cancer")


def test_fixed_trials_give_the_same_leaderboard_choice_and_bit_identical_predictions(
    breast_cancer, tmp_path
):
    import mlcraft

    outputs = []
    for name in ("a", "b"):
        project = mlcraft.Project.create(
            tmp_path / name, data=breast_cancer, target="target", max_trials=20, time_limit=None
        )
        result = project.train(max_trials=20, n_jobs=2)
        assert result.trials == 20  # 14 shortlisted defaults, then 6 tuning trials
        chosen = (project.path / "runs" / result.run_id / "chosen.json").read_text()
        outputs.append(
            (
                result.leaderboard,
                result.best,
                chosen,
                project.predict(breast_cancer.drop(columns="target")),
            )
        )
    (board_a, best_a, chosen_a, pred_a), (board_b, best_b, chosen_b, pred_b) = outputs
    cols = ["model", "roc_auc_mean", "roc_auc_std", "status"]
    pd.testing.assert_frame_equal(board_a[cols], board_b[cols])
    assert best_a == best_b and _members(chosen_a) == _members(chosen_b)
    pd.testing.assert_frame_equal(pred_a, pred_b)  # bit-identical
    assert (
        board_a["model"].str.startswith("ensemble:").any()
    )  # ensembles are listed beside single models


def test_replay_rebuilds_the_final_model_of_a_time_limited_run(tmp_path):
    import mlcraft
    from mlcraft.api.demo import load_demo_dataset

    frame = load_demo_dataset("diabetes")
    project = mlcraft.Project.create(tmp_path / "d", data=frame, target="target", time_limit=20)
    first = project.train(time_limit=20)
    replayed = project.train(replay=first.run_id)
    assert replayed.version == first.version + 1 and replayed.best == first.best
    X = frame.drop(columns="target")
    a = project.load_model(first.version).predict(X).frame
    b = project.load_model(replayed.version).predict(X).frame
    pd.testing.assert_frame_equal(a, b)  # exactly the same model


def test_tune_cli_grid_search_prints_results_and_saves_the_best(titanic_csv, tmp_path):
    project = tmp_path / "t"
    assert (
        run_cli(
            "train", titanic_csv, "--target", "Survived", "--project", project, "--max-trials", "1"
        ).returncode
        == 0
    )
    space = tmp_path / "space.toml"
    space.write_text("[C]\nvalues = [0.01, 1.0, 100.0]\n")
    result = run_cli(
        "tune",
        "--project",
        project,
        "--family",
        "logistic_regression",
        "--strategy",
        "grid",
        "--space",
        space,
        "--trials",
        "10",
        "--save",
    )
    assert result.returncode == 0, result.stderr
    assert "search results" in result.stdout and result.stdout.count("ok") >= 3
    assert "saved as model version 2" in result.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[nope]\nvalues = [1]\n")
    wrong = run_cli("tune", "--project", project, "--family", "logistic_regression", "--space", bad)
    assert (
        wrong.returncode == 2
        and "unknown parameter 'nope'" in wrong.stderr
        and "Traceback" not in wrong.stderr
    )


def test_prefer_fast_saves_a_single_model_that_meets_the_speed_targets(titanic_csv, tmp_path):
    import json

    project = tmp_path / "fast"
    result = run_cli(
        "train",
        titanic_csv,
        "--target",
        "Survived",
        "--project",
        project,
        "--max-trials",
        "16",
        "--prefer-fast",
    )
    assert result.returncode == 0, result.stderr
    run = next((project / "runs").iterdir())
    chosen = json.loads((run / "chosen.json").read_text())
    assert chosen["family"] != "ensemble" and [m["form"] for m in chosen["members"]] == ["refit"]
    import mlcraft

    registry = mlcraft.Project.open(project).registry
    meta = registry.meta(registry.champion())
    assert {"one_row_ms", "rows_10k_s", "fast"} <= set(
        meta["inference"]
    )  # measured after the refit (targets: `make bench-inference`)
