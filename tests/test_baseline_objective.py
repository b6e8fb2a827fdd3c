"""The big picture (issue 14, part 7): the user's objective recorded with the framing, and a naive
baseline on every leaderboard, scored on the same folds with the same scorer, never chosen."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.model_selection import cross_val_score

import mlcraft
from conftest import run_cli
from mlcraft.api.train import training_data
from mlcraft.config import ProjectConfig, dump_config, load_config
from mlcraft.core.analysis.metrics import Scorer, get_metric
from mlcraft.core.data.split import cv_folds
from mlcraft.core.fit.baseline import BASELINE, naive_baseline
from mlcraft.exceptions import ConfigError

GOAL = "rank patients by disease progression, to plan follow-up visits"


@pytest.fixture(scope="module")
def diabetes() -> pd.DataFrame:
    from mlcraft.api.demo import load_demo_dataset

    return load_demo_dataset("diabetes")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, diabetes):
    """Two families (so ensembles are built), two trials, one worker: a few seconds."""
    project = mlcraft.Project.create(
        tmp_path_factory.mktemp("d") / "p",
        data=diabetes,
        target="target",
        max_trials=2,
        time_limit=None,
        objective=GOAL,
    )
    result = project.train(max_trials=2, n_jobs=1, families=["ridge", "decision_tree"])
    return project, result


def _independent(estimator, X, y, folds, scoring: str) -> np.ndarray:
    """scikit-learn's own loop over the same folds (its scorers are negated when lower is better)."""
    return cross_val_score(estimator, X, y, cv=folds, scoring=scoring)


# -- the engine's function ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "task, metric, scoring, labels",
    [
        ("regression", "rmse", "neg_root_mean_squared_error", None),
        ("regression", "mae", "neg_mean_absolute_error", None),
        ("binary", "roc_auc", "roc_auc", [0, 1]),
        ("binary", "log_loss", "neg_log_loss", ["no", "yes"]),
        ("multiclass", "log_loss", "neg_log_loss", ["a", "b", "c"]),
    ],
)
def test_naive_baseline_is_the_dummy_scored_on_the_same_folds(task, metric, scoring, labels):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=300), "c": rng.choice(["u", "v"], size=300)})
    y = pd.Series(
        rng.normal(100, 15, size=300)
        if labels is None
        else rng.choice(
            labels,
            size=300,
            p=np.linspace(1, 2, len(labels)) / np.linspace(1, 2, len(labels)).sum(),
        )
    )
    classes = None if labels is None else sorted(labels)
    scorer = Scorer(
        get_metric(metric, task),
        classes=classes,
        positive_class=None if task != "binary" else classes[1],
    )
    folds = cv_folds(y, classification=labels is not None, n_folds=5, seed=42)
    result = naive_baseline(X, y, folds, scorer, task)
    assert (
        result.ok
        and result.name == BASELINE
        and result.family == BASELINE
        and len(result.scores) == 5
    )
    dummy = DummyRegressor(strategy="mean") if labels is None else DummyClassifier(strategy="prior")
    expected = _independent(dummy, X[["x"]], y, folds, scoring) * scorer.sign
    np.testing.assert_allclose(result.scores, expected, rtol=1e-9)
    assert result.oof.shape[0] == len(y) and result.params == {"strategy": dummy.strategy}


# -- on the leaderboard of a training run ---------------------------------------------------------------
def test_train_leaderboard_has_the_baseline_with_the_dummys_exact_cv_score(trained):
    project, result = trained
    data = training_data(project)
    expected = -_independent(
        DummyRegressor(strategy="mean"),
        data.X[["bmi"]],
        data.y,
        data.folds,
        "neg_root_mean_squared_error",
    )
    row = result.leaderboard[result.leaderboard["model"] == BASELINE]
    assert len(row) == 1 and row["family"].iloc[0] == BASELINE and row["status"].iloc[0] == "ok"
    assert row["rmse_mean"].iloc[0] == pytest.approx(expected.mean(), rel=1e-9)
    assert row["rmse_std"].iloc[0] == pytest.approx(expected.std(ddof=1), rel=1e-9)
    run = project.path / "runs" / result.run_id
    saved = pd.read_csv(run / "leaderboard.csv")
    assert saved.loc[saved["model"] == BASELINE, "rmse_mean"].iloc[0] == pytest.approx(
        expected.mean(), rel=1e-9
    )
    doc = json.loads((run / "leaderboard.json").read_text())
    assert BASELINE in [r["model"] for r in doc["rows"]] and doc["baseline"][
        "mean"
    ] == pytest.approx(expected.mean(), rel=1e-9)
    assert "DummyRegressor" in doc["baseline"]["estimator"]
    folds = pd.read_csv(run / "cv_scores.csv")
    np.testing.assert_allclose(
        folds.loc[folds["model"] == BASELINE].sort_values("fold")["rmse"], expected, rtol=1e-9
    )
    assert BASELINE not in set(pd.read_csv(run / "trials.csv")["model"])  # a reference, not a trial
    assert result.trials == 2 and result.best != BASELINE
    assert row["rmse_mean"].iloc[0] > result.cv_mean  # the models learnt something on diabetes


def test_baseline_is_never_an_ensemble_member_nor_the_champion(trained):
    project, result = trained
    board = result.leaderboard
    singles = board[(board["status"] == "ok") & ~board["family"].isin(["ensemble", BASELINE])]
    ensembles = board[board["family"] == "ensemble"]
    assert len(ensembles) >= 1  # ridge and decision_tree: stacking and voting
    for note in ensembles["note"]:
        assert int(note.split()[0]) <= len(singles)  # members are trials only
    chosen = json.loads((project.path / "runs" / result.run_id / "chosen.json").read_text())
    assert chosen["model"] != BASELINE and BASELINE not in [m["name"] for m in chosen["members"]]
    assert project.registry.meta(result.version)["model"] != BASELINE


def test_baseline_that_beats_the_only_family_is_still_not_the_champion(tmp_path):
    """Pure noise: a deep tree is worse than predicting the mean; the baseline ranks first but the
    champion is the tree (and the report says it is no better than naive)."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {"a": rng.normal(size=400), "b": rng.normal(size=400), "y": rng.normal(size=400)}
    )
    project = mlcraft.Project.create(
        tmp_path / "noise", data=frame, target="y", max_trials=1, time_limit=None
    )
    result = project.train(max_trials=1, n_jobs=1, families=["decision_tree"])
    board = result.leaderboard
    assert (
        board.loc[0, "model"] == BASELINE and board.loc[0, "rank"] == 1
    )  # ranked honestly, where it scores
    assert result.best == "decision_tree" and not result.ensemble
    chosen = json.loads((project.path / "runs" / result.run_id / "chosen.json").read_text())
    assert [m["name"] for m in chosen["members"]] == ["decision_tree"]
    from mlcraft.api.limitations import limitations

    rows = json.loads((project.path / "runs" / result.run_id / "leaderboard.json").read_text())[
        "rows"
    ]
    items = limitations(
        project, {"flags": [], "shape": {"rows": 320}}, {}, None, rows, result.cv_mean
    )
    assert "no better than naive" in {i["kind"] for i in items}
    assert "only 1 model(s) were compared" in " ".join(
        i["text"] for i in items
    )  # the baseline is not counted as a model
    explored = (
        project.explore()
    )  # no objective was given: the generated sentence, marked as generated
    assert explored.document["objective"] == {
        "text": "predict y (regression) from 2 feature(s)",
        "source": "generated",
    }
    assert "generated: no objective was given" in explored.html.read_text()


def test_tune_table_has_the_baseline_row_and_never_picks_it(trained):
    project, result = trained
    tuned = project.tune(
        family="ridge",
        strategy="grid",
        space={"alpha": {"values": [0.01, 1.0]}},
        trials=2,
        n_jobs=1,
    )
    table = tuned.table
    row = table[table["trial"] == BASELINE]
    assert len(row) == 1 and row["alpha"].isna().all()
    naive = result.leaderboard.loc[result.leaderboard["model"] == BASELINE, "rmse_mean"].iloc[0]
    assert row["rmse_mean"].iloc[0] == pytest.approx(
        naive, rel=1e-12
    )  # the same folds, the same scorer
    assert tuned.best_params["alpha"] in (0.01, 1.0) and tuned.best_score < naive
    doc = json.loads((project.path / "runs" / tuned.run_id / "tune.json").read_text())
    assert doc["best"] != BASELINE and doc["baseline_cv_mean"] == pytest.approx(naive, rel=1e-12)


# -- the objective ------------------------------------------------------------------------------------------
def test_objective_is_recorded_with_the_framing_and_shown_by_explore(trained):
    project, _ = trained
    assert project.config.objective == GOAL
    toml = (project.path / "mlcraft.toml").read_text()
    framing = toml.split("[framing]")[1].split("[")[0]
    assert f'objective = "{GOAL}"' in framing
    explored = project.explore()
    assert explored.document["objective"] == {"text": GOAL, "source": "user"}
    assert GOAL in explored.html.read_text()


def test_older_config_without_an_objective_loads_and_pages_say_the_sentence_is_generated(tmp_path):
    older = {
        "framing": {"target": "price", "task": "regression", "metric": "rmse"},
        "data": {"source": "x.csv", "dataset": "abc"},
        "roles": {"categorical": [], "drop": []},
        "split": {"split_method": "random", "test_size": 0.2},
        "train": {"seed": 42, "time_limit": 300.0, "n_folds": 5},
    }
    config = ProjectConfig.from_toml_dict(older)
    assert config.objective is None
    (tmp_path / "mlcraft.toml").write_text(dump_config(config))
    assert (
        "objective" not in (tmp_path / "mlcraft.toml").read_text()
    )  # unset keys stay out: the file reads as before
    assert load_config(tmp_path / "mlcraft.toml") == config
    from mlcraft.core.data.framing import objective

    assert objective(None, "price", "regression", 3) == {
        "text": "predict price (regression) from 3 feature(s)",
        "source": "generated",
    }


def test_blank_objective_is_refused_before_anything_is_written(tmp_path, diabetes):
    with pytest.raises(ConfigError, match="objective"):
        mlcraft.Project.create(tmp_path / "blank", data=diabetes, target="target", objective="   ")
    assert not (tmp_path / "blank").exists()


# -- the CLI ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_project(tmp_path_factory, diabetes):
    root = tmp_path_factory.mktemp("cli")
    diabetes.to_csv(root / "diabetes.csv", index=False)
    project = root / "p"
    result = run_cli(
        "train",
        root / "diabetes.csv",
        "--target",
        "target",
        "--project",
        project,
        "--family",
        "ridge",
        "--max-trials",
        "1",
        "--objective",
        GOAL,
    )
    assert result.returncode == 0, result.stderr
    return root, project, result


def test_cli_train_prints_the_baseline_row_and_the_summary_reference(cli_project):
    _, project, result = cli_project
    out = result.stdout
    board = pd.read_csv(next((project / "runs").iterdir()) / "leaderboard.csv")
    naive = board.loc[board["model"] == BASELINE, "rmse_mean"].iloc[0]
    assert list(board.loc[board["status"] == "ok", "model"]) == [
        "ridge",
        BASELINE,
    ]  # the one family was chosen; the baseline is only a reference
    summary = next(line for line in out.splitlines() if line.startswith("champion:"))
    assert "(ridge)" in summary and f"(baseline {naive:.3f})" in summary
    table = out[out.index("leaderboard (cross-validation)") : out.index("champion:")]
    assert BASELINE in table
    assert project.joinpath("mlcraft.toml").read_text().count(GOAL) == 1


@pytest.mark.slow  # the report runs the error analysis first
def test_cli_explore_and_report_show_the_objective(cli_project):
    _, project, _ = cli_project
    explored = run_cli("explore", "--project", project)
    assert explored.returncode == 0, explored.stderr
    assert f"objective: {GOAL}" in explored.stdout and "generated" not in explored.stdout
    reported = run_cli("report", "--project", project)
    assert reported.returncode == 0, reported.stderr
    assert f"objective: {GOAL}" in reported.stdout
    doc = json.loads((project / "reports" / "report.json").read_text())
    assert doc["framing"]["objective"] == GOAL and doc["framing"]["objective_source"] == "user"
    assert (
        doc["leaderboard"]["baseline"]["model"] == BASELINE
        and doc["leaderboard"]["baseline"]["rank"] == 2
    )
    html = (project / "reports" / "report.html").read_text()
    assert GOAL in html and 'id="baseline"' in html and "DummyRegressor" in html


@pytest.mark.slow  # the report runs the error analysis first
def test_cli_report_without_objective_says_the_sentence_was_generated(tmp_path, diabetes):
    diabetes.to_csv(tmp_path / "diabetes.csv", index=False)
    project = tmp_path / "p"
    assert (
        run_cli(
            "train",
            tmp_path / "diabetes.csv",
            "--target",
            "target",
            "--project",
            project,
            "--family",
            "ridge",
            "--max-trials",
            "1",
        ).returncode
        == 0
    )
    reported = run_cli("report", "--project", project)
    assert reported.returncode == 0, reported.stderr
    assert (
        "objective: predict target (regression) from 10 feature(s) (generated: no --objective was given)"
        in reported.stdout
    )
    doc = json.loads((project / "reports" / "report.json").read_text())
    assert doc["framing"]["objective_source"] == "generated"
    assert "generated: no objective was given" in (project / "reports" / "report.html").read_text()


def test_cli_other_objective_on_an_existing_project_is_refused(cli_project):
    _, project, _ = cli_project
    again = run_cli(
        "train", "--project", project, "--objective", "something else", "--max-trials", "1"
    )
    assert (
        again.returncode == 2
        and "framing of a project cannot change" in again.stderr
        and "mlcraft.toml" in again.stderr
    )
    assert "Traceback" not in again.stderr
    same = run_cli(
        "train", "--project", project, "--objective", GOAL, "--max-trials", "1", "--family", "ridge"
    )
    assert same.returncode == 0, same.stderr


def test_cli_blank_objective_is_one_clear_line(tmp_path, cli_project):
    root, _, _ = cli_project
    result = run_cli(
        "train",
        root / "diabetes.csv",
        "--target",
        "target",
        "--project",
        tmp_path / "q",
        "--objective",
        " ",
    )
    assert (
        result.returncode == 2 and "objective" in result.stderr and "Traceback" not in result.stderr
    )
    assert not (tmp_path / "q").exists()
