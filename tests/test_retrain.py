"""Retrain with a gate: the stable split, promote only when not worse, dry run, serialised with rollback."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

import mlcraft
from conftest import run_cli
from mlcraft.core.data.split import hash_fraction, row_fraction

pytestmark = (
    pytest.mark.slow
)  # end-to-end: trains, retrains and rolls back projects; `make test-fast` leaves it out


@pytest.fixture(scope="module")
def housing(housing_csv):
    frame = pd.read_csv(housing_csv)
    initial = frame.sample(2500, random_state=0)
    return initial, frame.drop(initial.index).sample(5000, random_state=1)


def make(tmp_path, initial, **kw):
    project = mlcraft.Project.create(
        tmp_path / "p",
        data=initial,
        target="median_house_value",
        max_trials=1,
        time_limit=None,
        **kw,
    )
    project.train(families=["ridge"], n_jobs=1)
    return project


def test_better_challenger_is_promoted_and_old_test_rows_stay_test_rows(tmp_path, housing):
    initial, new = housing
    project = make(tmp_path, initial)
    old_digest = project.config.dataset
    old_split = project.workspace.read_split(old_digest)
    result = project.retrain(new, families=["lightgbm"], n_jobs=1)
    assert result.decision.promote and result.champion_after == result.challenger_version == 2
    assert "not worse beyond the noise" in result.decision.reason
    d = result.decision
    assert d.improvement["ci_low"] > 0 and d.challenger["value"] < d.champion["value"]
    assert project.config.dataset == result.dataset != old_digest
    split = project.workspace.read_split(result.dataset)
    assert np.array_equal(split[: len(old_split)], old_split)  # every old row kept its side
    new_side = split[len(old_split) :]
    assert np.array_equal(
        new_side, row_fraction(new.reset_index(drop=True).drop(columns="median_house_value")) < 0.2
    )  # feature hash, no id column
    assert 0.17 < new_side.mean() < 0.23 and result.added_test_rows == int(new_side.sum())
    assert d.test_rows == int(split.sum())  # both scored on the same updated test set
    meta = project.registry.meta(2)
    assert meta["gate"]["promote"] and meta["dataset"] == result.dataset
    assert project.registry.test_score(1, result.dataset)["value"] == pytest.approx(
        d.champion["value"]
    )
    assert (project.path / "runs" / result.run_id / "leaderboard.csv").is_file()
    assert project.registry.history()[-1]["reason"].startswith("retrain gate")
    assert not any((project.path / ".staging").iterdir())


def test_worse_challenger_is_kept_out_and_says_why(tmp_path, housing):
    initial, new = housing
    project = make(tmp_path, initial)
    # a bad batch: the labels of the new rows that go to training are scrambled (the test rows are clean)
    garbage = new.reset_index(drop=True)
    train_side = ~(row_fraction(garbage.drop(columns="median_house_value")) < 0.2)
    labels = garbage["median_house_value"].to_numpy().copy()
    labels[train_side] = np.random.default_rng(0).permutation(labels[train_side])
    garbage["median_house_value"] = labels
    result = run_cli(
        "retrain",
        "--project",
        project.path,
        "--data",
        _csv(tmp_path, garbage),
        "--family",
        "ridge",
        "--n-jobs",
        "1",
    )
    assert result.returncode == 0, result.stderr
    assert "keep the champion" in result.stdout and "worse beyond the noise" in result.stdout
    reopened = mlcraft.Project.open(project.path)
    assert reopened.registry.champion() == 1 and reopened.registry.versions() == [1, 2]
    assert not reopened.registry.meta(2)["gate"]["promote"]
    assert reopened.config.dataset != project.config.dataset  # the data is kept as a new version
    listing = run_cli("models", "--project", project.path, "--json")
    assert listing.returncode == 0
    import json

    versions = json.loads(listing.stdout)["versions"]
    assert versions[1]["gate"]["summary"].startswith(
        "kept the champion: challenger is worse beyond the noise"
    )


def test_dry_run_changes_nothing(tmp_path, housing):
    initial, new = housing
    project = make(tmp_path, initial)
    before = sorted(
        str(p.relative_to(project.path))
        for p in project.path.rglob("*")
        if "mlcraft.db" not in p.name
    )
    result = run_cli(
        "retrain",
        "--project",
        project.path,
        "--data",
        _csv(tmp_path, new.head(1000)),
        "--dry-run",
        "--family",
        "ridge",
        "--n-jobs",
        "1",
    )
    assert result.returncode == 0, result.stderr
    assert "gate:" in result.stdout and "dry run: nothing was changed" in result.stdout
    after = sorted(
        str(p.relative_to(project.path))
        for p in project.path.rglob("*")
        if "mlcraft.db" not in p.name and ".staging" not in str(p)
    )
    assert after == [b for b in before if ".staging" not in b]
    reopened = mlcraft.Project.open(project.path)
    assert reopened.registry.versions() == [1] and reopened.config.dataset == project.config.dataset


def test_stable_split_by_identifier_for_new_rows(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"row_id": np.arange(3000), "x": rng.normal(size=3000)})
    frame["y"] = frame["x"] * 2 + rng.normal(scale=0.5, size=3000)
    project = mlcraft.Project.create(
        tmp_path / "p", data=frame.head(2000), target="y", max_trials=1, time_limit=None
    )
    assert project.config.id_column == "row_id"
    project.train(families=["ridge"], n_jobs=1)
    result = project.retrain(frame.tail(1000).copy(), families=["ridge"], n_jobs=1)
    split = project.workspace.read_split(result.dataset)
    assert np.array_equal(split, hash_fraction(frame["row_id"]) < 0.2)
    again = run_cli(
        "retrain", "--project", project.path, "--data", _csv(tmp_path, frame.tail(1000))
    )
    assert again.returncode == 2 and "no new rows" in again.stderr


def test_a_rollback_during_training_is_seen_by_the_gate(tmp_path, housing, monkeypatch):
    initial, new = housing
    project = make(tmp_path, initial)
    project.train(families=["lasso"], n_jobs=1)  # version 2, champion
    real_train = mlcraft.Project.train

    def train_then_someone_rolls_back(self, **kw):
        result = real_train(self, **kw)
        mlcraft.Project.open(project.path).rollback(1, reason="meanwhile")
        return result

    monkeypatch.setattr(mlcraft.Project, "train", train_then_someone_rolls_back)
    result = project.retrain(new.head(1000), families=["ridge"], n_jobs=1)
    assert any(
        "champion changed while the challenger trained (version 2 -> 1)" in n for n in result.notes
    )
    assert result.decision.champion["version"] == 1 and result.champion_before == 1
    history = project.registry.history()
    assert [e["action"] for e in history][-2:] in (
        ["rollback", "promote"],
        ["promote", "rollback"],
    ) or history[-1]["action"] == "rollback"
    assert all(b["previous"] == a["version"] for a, b in zip(history, history[1:]))


def test_concurrent_retrain_and_rollback_commands_are_serialised(tmp_path, housing):
    initial, new = housing
    project = make(tmp_path, initial)
    project.train(families=["lasso"], n_jobs=1)
    exe = Path(sys.executable).with_name("mlcraft")
    retrain = subprocess.Popen(
        [
            str(exe),
            "retrain",
            "--project",
            str(project.path),
            "--data",
            str(_csv(tmp_path, new.head(2000))),
            "--family",
            "ridge",
            "--n-jobs",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    rollbacks = []
    deadline = time.time() + 120
    while retrain.poll() is None and time.time() < deadline and len(rollbacks) < 6:
        target = "1" if len(rollbacks) % 2 == 0 else "2"
        rollbacks.append(
            run_cli("rollback", "--project", project.path, "--to", target, "--reason", "concurrent")
        )
        time.sleep(0.3)
    out, err = retrain.communicate(timeout=300)
    assert retrain.returncode == 0, err
    assert rollbacks and all(r.returncode == 0 for r in rollbacks), [r.stderr for r in rollbacks]
    reopened = mlcraft.Project.open(project.path)
    history = reopened.registry.history()
    assert all(b["previous"] == a["version"] for a, b in zip(history, history[1:]))
    assert reopened.registry.db.query("PRAGMA integrity_check")[0][0] == "ok"
    assert reopened.registry.versions() == [1, 2, 3]
    reopened.registry.load()


def _csv(tmp_path, frame) -> Path:
    path = tmp_path / f"new-{len(frame)}-{abs(hash(tuple(frame.index[:5])))}.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_threshold_chosen_for_a_precision_is_chosen_again_for_the_challenger(
    tmp_path, titanic_csv
):
    """A threshold belongs to one model: the challenger gets its own, by the champion's rule."""
    frame = pd.read_csv(titanic_csv)
    initial = frame.sample(600, random_state=0)
    project = mlcraft.Project.create(
        tmp_path / "t", data=initial, target="Survived", max_trials=1, time_limit=None
    )
    project.train(families=["logistic_regression"], n_jobs=1)
    chosen = project.analyse(min_precision=0.9, learning_curve=False, importance=False)
    rule = project.registry.meta(chosen.new_version)["threshold"]
    assert rule["rule"] == "min_precision" and rule["target"] == 0.9
    result = project.retrain(frame.drop(initial.index), families=["lightgbm"], n_jobs=1)
    meta = project.registry.meta(result.challenger_version)
    assert (
        "derived_from" not in meta
    )  # (a version number of the private staging copy means nothing here)
    assert meta["threshold"]["rule"] == "min_precision" and meta["threshold"]["target"] == 0.9
    assert (
        meta["threshold"]["threshold"] != rule["threshold"]
        and meta["threshold"]["precision"] >= 0.9
    )
    assert any("chosen by the champion's rule" in note for note in result.notes)
    challenger = project.registry.load(result.challenger_version)
    assert challenger.threshold == meta["threshold"]["threshold"]
    # checked independently: on the challenger's own out-of-fold predictions the threshold gives precision >= 0.9
    run = project.path / "runs" / result.run_id
    oof = pd.read_parquet(run / "oof.parquet")
    model = json.loads((run / "chosen.json").read_text())["model"]
    decided = oof[f"{model}:proba_1"] >= challenger.threshold
    assert skm.precision_score(oof["Survived"] == 1, decided) == pytest.approx(
        meta["threshold"]["precision"]
    )
