"""Semi-supervised and active learning (issue 15, part 5): --semi-supervised, suggest-labels."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_blobs, make_moons
from sklearn.linear_model import LogisticRegression

from mlcraft.api import Project
from mlcraft.api.suggest import suggest_for_project, suggest_for_table, suggest_rows
from mlcraft.core.fit.scheduler import FoldPool, with_unlabelled
from mlcraft.exceptions import ConfigError, DataError
from mlcraft.models import REGISTRY, families_for
from mlcraft.models.semisupervised import (
    RepresentativesClassifier,
    SelfTrainedClassifier,
    SpreadingClassifier,
    encode_partial,
)

ROOT = Path(__file__).resolve().parents[1]
SEMI = ["label_spreading", "representatives", "self_training"]


def blobs(n: int = 240, labelled: int = 30, seed: int = 0) -> pd.DataFrame:
    """Three classes as three blobs; all but ``labelled`` rows lose their label."""
    X, y = make_blobs(n_samples=n, centers=3, n_features=4, cluster_std=1.0, random_state=seed)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["kind"] = pd.Series(np.array(["x", "y", "z"])[y], dtype=object)
    keep = np.random.default_rng(seed).permutation(n)[:labelled]
    frame.loc[~frame.index.isin(keep), "kind"] = None
    return frame


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("semi") / "p"
    project = Project.create(path, blobs(), "kind", semi_supervised=True, max_trials=6)
    project.train(max_trials=6, families=["label_spreading", "logistic_regression"], n_jobs=1)
    return project


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    from conftest import run_cli

    return run_cli(*args, cwd=cwd)


# -- framing ---------------------------------------------------------------------------------------
def test_missing_labels_without_the_flag_exit_2_naming_it(tmp_path):
    blobs().to_csv(tmp_path / "few.csv", index=False)
    done = _cli("train", "few.csv", "--target", "kind", "--project", "q", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--semi-supervised" in lines[0] and "210 row(s)" in lines[0]
    assert "Traceback" not in done.stderr and not (tmp_path / "q").exists()


def test_regression_keeps_dropping_missing_targets_and_refuses_the_flag(tmp_path):
    frame = blobs()
    frame["kind"] = np.where(frame["kind"].isna(), np.nan, np.arange(len(frame)) * 0.37)
    project = Project.create(tmp_path / "r", frame, "kind", task="regression", max_trials=1)
    assert any("210 row(s) with a missing target" in n for n in project.notes)
    with pytest.raises(ConfigError, match="--semi-supervised.*regression"):
        Project.create(tmp_path / "r2", frame, "kind", task="regression", semi_supervised=True)
    with pytest.raises(ConfigError, match="--semi-supervised.*no target"):
        Project.create(
            tmp_path / "c", frame.drop(columns="kind"), task="cluster", semi_supervised=True
        )


def test_test_rows_folds_and_scores_are_labelled_rows_only(trained):
    from mlcraft.api.train import training_data

    cfg = trained.config
    assert cfg.semi_supervised and Project.open(trained.path).config.semi_supervised
    frame = trained.dataset()
    is_test = trained.workspace.read_split(cfg.dataset)
    assert frame.loc[is_test, "kind"].notna().all() and is_test.sum() == 6  # 20% of 30 labels
    data = training_data(trained)
    assert len(data.y) == 24 and data.y.notna().all()
    assert len(data.unlabelled) == 210 and frame.loc[data.unlabelled_rows, "kind"].isna().all()
    assert (
        not set(data.unlabelled_rows) & set(data.rows) and not is_test[data.unlabelled_rows].any()
    )
    held_out = np.sort(np.concatenate([val for _, val in data.folds]))
    assert held_out.tolist() == list(range(24))  # every held-out row is a labelled row, once
    run = sorted((trained.path / "runs").iterdir())[-1]
    assert len(pd.read_parquet(run / "oof.parquet")) == 24  # scores: labelled rows only


class _Recorder(ClassifierMixin, BaseEstimator):
    """Remembers how many rows it was fitted on and how many of them had no label."""

    def fit(self, X, y):
        y = pd.Series(list(y), dtype=object)
        self.n_fit_, self.n_missing_ = len(y), int(y.isna().sum())
        self.classes_ = np.array(sorted(set(y.dropna())))
        return self

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1 / len(self.classes_))


class _Build:
    def __init__(self, semi: bool):
        self.semi_supervised = semi

    def __call__(self):
        return _Recorder()


def test_supervised_families_never_see_unlabelled_rows(trained):
    from mlcraft.api.train import training_data

    data = training_data(trained)
    with FoldPool(
        data.X, data.y, data.folds, data.scorer, task="multiclass", unlabelled=data.unlabelled
    ) as pool:
        (sup, _, _), (semi, _, _) = pool.fit_full([_Build(False), _Build(True)])
        (sup_fold, _, _), (semi_fold, _, _) = pool.fit_full([_Build(False), _Build(True)], fold=0)
    n_fold = len(data.folds[0][0])
    assert (sup.n_fit_, sup.n_missing_) == (24, 0)
    assert (sup_fold.n_fit_, sup_fold.n_missing_) == (n_fold, 0)
    assert (semi.n_fit_, semi.n_missing_) == (24 + 210, 210)
    assert (semi_fold.n_fit_, semi_fold.n_missing_) == (n_fold + 210, 210)
    X, y = with_unlabelled(REGISTRY["logistic_regression"], data.X, data.y, data.unlabelled)
    assert X is data.X and y is data.y  # a family, not a builder: no flag, nothing added


def test_semi_supervised_families_only_with_the_flag():
    assert not {f.name for f in families_for("multiclass")} & set(SEMI)
    assert set(SEMI) <= {f.name for f in families_for("binary", semi_supervised=True)}
    assert not {f.name for f in families_for("regression", semi_supervised=True)} & set(SEMI)
    assert all(REGISTRY[n].semi_supervised for n in SEMI)


def test_the_champion_was_chosen_among_both_kinds_of_family(trained):
    board = pd.read_csv(sorted((trained.path / "runs").iterdir())[-1] / "leaderboard.csv")
    families = set(board["family"])
    assert {"label_spreading", "logistic_regression"} <= families
    proba = trained.predict(blobs(60, 0, seed=0).drop(columns="kind"))
    assert proba.filter(like="proba_").shape[1] == 3


# -- the estimators ----------------------------------------------------------------------------------
def test_encode_partial_marks_missing_labels():
    classes, codes = encode_partial(pd.Series([3, None, 1, np.nan, 3], dtype=object))
    assert classes.tolist() == [1, 3] and codes.tolist() == [1, -1, 0, -1, 1]


def test_semi_supervised_estimators_beat_the_labelled_rows_alone():
    X, y = make_moons(400, noise=0.08, random_state=1)
    X_test, y_test = make_moons(400, noise=0.08, random_state=2)
    labelled = np.random.default_rng(0).permutation(400)[:8]  # 2 of one class, 6 of the other
    partial = pd.Series([None] * len(y), dtype=object)
    partial[labelled] = y[labelled]
    alone = LogisticRegression().fit(X[labelled], y[labelled]).score(X_test, y_test)
    spread = SpreadingClassifier(n_neighbors=10).fit(X, partial)
    assert (spread.predict(X_test) == y_test).mean() > max(alone + 0.05, 0.95)
    proba = spread.predict_proba(X_test)
    assert proba.shape == (400, 2) and np.allclose(proba.sum(axis=1), 1)

    Xb, yb = make_blobs(600, centers=6, n_features=5, cluster_std=2.0, random_state=3)
    Xt, yt = Xb[300:], yb[300:]
    Xb, yb = Xb[:300], yb[:300]
    few = np.random.default_rng(0).permutation(300)[:20]  # every class among them
    partial = pd.Series([None] * 300, dtype=object)
    partial[few] = yb[few]
    alone = LogisticRegression().fit(Xb[few], yb[few]).score(Xt, yt)
    representatives = RepresentativesClassifier(random_state=0).fit(Xb, partial)
    assert (representatives.predict(Xt) == yt).mean() > alone + 0.02  # 0.893 against 0.867
    assert representatives.n_propagated_ > 50  # the clusters' labels reached unlabelled rows
    # self-training is not sure to gain (here it does not): it must still fit and give probabilities
    proba = SelfTrainedClassifier().fit(Xb, partial).predict_proba(Xt)
    assert proba.shape == (300, 6) and np.allclose(proba.sum(axis=1), 1)


# -- suggest-labels ----------------------------------------------------------------------------------
def test_suggest_rows_mixes_representatives_and_least_confident():
    X = np.r_[np.zeros((20, 2)), np.ones((20, 2)) * 10, np.ones((20, 2)) * -10]
    labelled = np.zeros(60, bool)
    labelled[:3] = True  # the first cluster is known
    confidence = np.linspace(1, 0, 60)
    rows, why = suggest_rows(X, labelled, 4, confidence=confidence)
    assert len(set(rows.tolist())) == 4 and not labelled[rows].any()
    assert why == ["representative", "representative", "least confident", "least confident"]
    assert {int(r) // 20 for r in rows[:2]} == {1, 2}  # the clusters without a label
    assert rows[2:].tolist() == [59, 58]


def test_suggest_labels_writes_n_distinct_unlabelled_rows_with_reasons(trained, tmp_path):
    result = suggest_for_project(trained, 8, out=tmp_path / "ask.csv")
    written = pd.read_csv(tmp_path / "ask.csv")
    frame = trained.dataset()
    assert len(written) == 8 and written["row"].is_unique
    assert frame.loc[written["row"], "kind"].isna().all()  # unlabelled training rows only
    assert not trained.workspace.read_split(trained.config.dataset)[written["row"]].any()
    assert written["kind"].isna().all() and set(written.columns) >= {*frame.columns, "reason"}
    assert result.counts == {"representative": 4, "least confident": 4}
    assert np.allclose(written[["a", "b"]], frame.loc[written["row"], ["a", "b"]])
    with pytest.raises(ConfigError, match="--n 0"):
        suggest_for_project(trained, 0)


def test_suggest_labels_before_any_label(tmp_path):
    frame = blobs().drop(columns="kind")
    result = suggest_for_table(frame, "kind", 5, out=tmp_path / "first.csv")
    assert result.counts == {"representative": 5, "least confident": 0}
    assert pd.read_csv(tmp_path / "first.csv")["row"].nunique() == 5
    with pytest.raises(DataError, match="every row has"):
        suggest_for_table(frame.assign(kind="x"), "kind", 5)


@pytest.mark.slow
def test_cli_round_trip_train_suggest_fill_retrain(tmp_path):
    truth = make_blobs(n_samples=240, centers=3, n_features=4, random_state=0)[1]
    blobs().to_csv(tmp_path / "few.csv", index=False)
    base = ["--project", "p"]
    done = _cli(
        "train", "few.csv", "--target", "kind", "--semi-supervised", *base,
        "--max-trials", "4", "--family", "label_spreading,representatives", "--n-jobs", "1",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "used by the semi-supervised families only" in done.stdout
    done = _cli("suggest-labels", *base, "--n", "6", "--out", "ask.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert re.search(r"6 row\(s\) to label \(3 representative, 3 least confident\)", done.stdout)
    ask = pd.read_csv(tmp_path / "ask.csv")
    ask["kind"] = np.array(["x", "y", "z"])[truth[ask["row"]]]
    ask.to_csv(tmp_path / "ask.csv", index=False)
    done = _cli("retrain", *base, "--data", "ask.csv", "--max-trials", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "6 new row(s)" in done.stdout
    bad = _cli("suggest-labels", "--n", "3", cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_the_readme_section_runs_as_written(tmp_path):
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Learning from a few labels") :]
    script = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(pd.read_csv(tmp_path / "to_label.csv")) == 20
    assert "20 new row(s)" in done.stdout
