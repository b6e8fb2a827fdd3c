"""Anomaly detection as a kind of problem: score and flag rows, scored against known anomalies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlcraft.api import Project
from mlcraft.exceptions import ConfigError, DataError
from mlcraft.tasks import get_kind

FAMILIES = ["isolation_forest", "gmm_density", "rank_average"]


def table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Normal rows (two correlated numbers, one on another scale, a category) and 5% far rows."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "a": a,
            "b": 0.8 * a + 0.2 * rng.normal(size=n),
            "c": 100 * rng.normal(size=n),
            "shop": rng.choice(["x", "y"], size=n),
        }
    )
    odd = rng.random(n) < 0.05
    frame.loc[odd, "a"] += rng.choice([-6.0, 6.0], size=odd.sum())
    frame.loc[odd, "c"] += 600.0
    frame["odd"] = odd.astype(int)
    return frame


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("anomaly") / "p"
    project = Project.create(path, table(), task="anomaly", labels="odd", max_trials=6)
    project.train(max_trials=6, families=FAMILIES, n_jobs=1)
    return project


def test_framing_has_no_target_and_the_labels_never_fit(trained):
    cfg = trained.config
    assert cfg.target is None and cfg.labels == "odd" and cfg.metric == "consensus"
    assert cfg.contamination is None  # auto
    assert set(trained.schema.features) == {"a", "b", "c", "shop"}
    reopened = Project.open(trained.path)
    assert reopened.kind is get_kind("anomaly") and reopened.config.labels == "odd"


def test_train_predict_evaluate(trained):
    board = trained.leaderboard()
    assert {"isolation_forest", "gmm_density", "rank_average"} <= set(board["model"])
    X = table(200, seed=1)
    pred = trained.predict(X.drop(columns="odd"))
    assert list(pred.columns) == ["anomaly", "anomaly_score"]
    assert set(pred["anomaly"].unique()) <= {0, 1}
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(X["odd"], pred["anomaly_score"]) > 0.9
    flagged = pred["anomaly"].astype(bool)
    assert X["odd"][flagged].mean() > 0.5  # most flagged rows are the far ones
    ev = trained.evaluate()
    assert ev.metric == "consensus" and -1 <= ev.value <= 1
    # the known labels score the test rows too (never the metric, never fitted)
    assert set(ev.against_labels) == {"roc_auc", "average_precision", "precision_at_rate"}
    test = trained.test_frame()
    test_pred = trained.predict(test.drop(columns="odd"))
    assert ev.against_labels["roc_auc"] == pytest.approx(
        roc_auc_score(test["odd"], test_pred["anomaly_score"])
    )
    assert ev.against_labels["roc_auc"] > 0.85


def test_a_fixed_contamination_flags_that_share_of_the_training_rows(tmp_path):
    project = Project.create(
        tmp_path / "p", table(), task="anomaly", contamination=0.2, max_trials=1
    )
    project.train(max_trials=1, families=["isolation_forest"], n_jobs=1)
    assert project.config.contamination == 0.2
    summary = project.analyse(learning_curve=False, importance=False).document["summary"]
    assert any("a heuristic, not a measure of accuracy" in line for line in summary)
    model = project.load_model()
    X, _ = model.schema.coerce(project.training_frame(), where="training data")
    assert model.labels(model.predict_raw(X)).mean() == pytest.approx(0.2, abs=0.01)


def test_the_labels_choose_the_champion_when_asked(tmp_path):
    project = Project.create(
        tmp_path / "p", table(), task="anomaly", labels="odd", metric="roc_auc", max_trials=2
    )
    project.train(max_trials=2, families=["isolation_forest", "gmm_density"], n_jobs=1)
    board = project.leaderboard()
    assert project.config.metric == "roc_auc" and board["roc_auc_mean"].max() > 0.9
    ev = project.evaluate()
    assert ev.metric == "roc_auc" and ev.value > 0.85


def test_analyse_shows_scores_threshold_top_rows_and_the_known_anomalies(trained):
    result = trained.analyse(learning_curve=False, importance=False)
    d = result.document["diagnostics"]
    assert result.document["section"] == "anomaly"
    assert 0 < d["flag_rate"] < 0.5 and d["threshold"] is not None
    assert len(d["top"]) == 20 and set(d["top"][0]["features"]) == {"a", "b", "c", "shop"}
    scores = [r["score"] for r in d["top"]]
    assert scores == sorted(scores, reverse=True)
    assert d["known"]["roc_auc"] > 0.9 and d["known"]["anomalies"] > 0
    assert sum(r["known"] for r in d["top"][:10]) >= 8
    names = {Path(p).stem for p in result.plots}
    assert {"anomaly_scores", "anomaly_map", "anomaly_curves"} <= names
    html = Path(result.html).read_text()
    assert "The most anomalous rows" in html and "Against the known anomalies" in html
    assert any("ROC AUC" in line for line in result.document["summary"])


def test_report_shows_the_anomalies(trained):
    result = trained.report()
    assert result.document["framing"]["section"] == "anomaly"
    assert result.document["framing"]["objective"] == "score and flag unusual rows by 4 feature(s)"
    assert "flagged" in Path(result.html).read_text()


def test_raw_output_round_trips_through_the_prediction_log():
    kind = get_kind("anomaly")
    raw = np.array([[0.3, 0.0], [2.5, 1.0]])
    values, scores = kind.outputs(raw, kind.labels(raw, None), None)
    assert values == [0, 1] and scores == [{"score": 0.3}, {"score": 2.5}]
    np.testing.assert_array_equal(kind.logged_raw(values, scores, None), raw)


def test_out_of_fold_scores_are_put_on_the_saved_models_scale():
    kind = get_kind("anomaly")
    folds = np.array([0, 0, 0, 1, 1, 1])
    raw = np.array([[1, 0], [2, 0], [3, 1], [10, 0], [30, 1], [20, 0]], dtype=float)
    ref = np.array([[0.1, 0], [0.2, 0], [0.3, 1], [0.4, 0], [0.6, 1], [0.5, 0]])
    out = kind.align_out_of_fold(raw, folds, lambda: ref)
    assert out[:, 0].tolist() == [0.1, 0.2, 0.3, 0.4, 0.6, 0.5]
    assert out[:, 1].tolist() == raw[:, 1].tolist()  # each fold model's own flags


def test_serving_answers_flags_and_scores(trained):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from mlcraft.api.serving import ServeSettings
    from mlcraft.serve import create_app

    X = table(5, seed=2).drop(columns="odd")
    with TestClient(create_app(ServeSettings(str(trained.path), log=False))) as client:
        body = client.post("/predict", json=X.to_dict(orient="records")).json()
        bad = client.post("/predict", json=[{"a": 1.0}])
    local = trained.predict(X)
    assert body["predictions"] == local["anomaly"].tolist()
    assert [p["score"] for p in body["probabilities"]] == pytest.approx(
        local["anomaly_score"].tolist()
    )
    assert bad.status_code in (400, 422)


def test_monitor_compares_the_share_of_rows_flagged(trained, tmp_path):
    """Served and logged flags: the training mix passes, a stream of far rows is flagged."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from mlcraft.api.serving import ServeSettings
    from mlcraft.serve import create_app

    frame = table(300, seed=4)
    X = frame.drop(columns="odd")

    def serve(rows: pd.DataFrame) -> None:
        with TestClient(create_app(ServeSettings(str(trained.path)))) as client:
            for start in range(0, len(rows), 100):
                chunk = rows.iloc[start : start + 100].to_dict(orient="records")
                assert client.post("/predict", json=chunk).status_code == 200

    serve(X)
    same = trained.monitor(since="1d", out=tmp_path / "same")
    assert same.report["prediction"]["kind"] == "label" and same.report["rows"] == len(X)
    assert not any(c["flagged"] for c in same.report["prediction"]["checks"])
    far = X[(frame["odd"] == 1).to_numpy()]
    serve(pd.concat([far] * 20, ignore_index=True))
    shifted = trained.monitor(since="1d", out=tmp_path / "shifted")
    assert any(c["flagged"] for c in shifted.report["prediction"]["checks"])
    flagged = {d["value"]: d for d in shifted.report["prediction"]["shares"]}["1"]
    assert flagged["current"] > 0.5 > 0.2 > flagged["reference"]  # the share of rows flagged


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"contamination": 0.7}, ConfigError, "outside (0, 0.5]"),
        ({"contamination": 0.0}, ConfigError, "outside (0, 0.5]"),
        ({"labels": "missing"}, Exception, "missing"),
        ({"labels": "c"}, DataError, "must hold 0 (normal) or 1 (anomaly)"),
        ({"metric": "roc_auc"}, ConfigError, "give the 0/1 column with --labels"),
        ({"target": "odd"}, ConfigError, "has no target"),
    ],
)
def test_bad_framing(tmp_path, kwargs, error, message):
    target = kwargs.pop("target", None)
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        Project.create(tmp_path / "p", table(), target, task="anomaly", **kwargs)
    assert not (tmp_path / "p").exists()


def test_bad_data(tmp_path):
    same = pd.DataFrame({"a": [1.0] * 30, "b": [2.0] * 30})
    with pytest.raises(DataError, match="every row is the same"):
        Project.create(tmp_path / "p", same, task="anomaly")
    one_class = table().assign(odd=0)
    with pytest.raises(DataError, match="only 0"):
        Project.create(tmp_path / "q", one_class, task="anomaly", labels="odd")
    with pytest.raises(ConfigError, match="--contamination only applies to --task anomaly"):
        Project.create(tmp_path / "r", table(), "odd", contamination=0.1)


def test_feedback_is_refused_in_one_line():
    with pytest.raises(DataError, match="no labels to feed back"):
        get_kind("anomaly").label_values(pd.Series([1]), str)


@pytest.mark.slow
def test_the_cli_trains_flags_and_refuses_bad_input(tmp_path):
    from conftest import run_cli

    table().to_csv(tmp_path / "rows.csv", index=False)
    table(50, seed=3).drop(columns="odd").to_csv(tmp_path / "new.csv", index=False)

    def run(*args):
        return run_cli(*args, cwd=tmp_path, timeout=300)

    done = run(
        "train", "rows.csv", "--task", "anomaly", "--labels", "odd", "--project", "p",
        "--max-trials", "4", "--family", "isolation_forest,rank_average",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "consensus" in done.stdout
    done = run("predict", "new.csv", "--project", "p", "--out", "flags.csv")
    assert done.returncode == 0, done.stderr
    out = pd.read_csv(tmp_path / "flags.csv")
    assert list(out.columns) == ["anomaly", "anomaly_score"] and len(out) == 50
    for rate, message in (("0.9", "outside (0, 0.5]"), ("lots", "share of rows to flag")):
        bad = run(
            "train", "rows.csv", "--task", "anomaly", "--contamination", rate, "--project", "q"
        )
        assert bad.returncode == 2 and message in bad.stderr + bad.stdout
        assert "Traceback" not in bad.stderr and not (tmp_path / "q").exists()
    bad = run("train", "rows.csv", "--task", "anomaly", "--labels", "c", "--project", "q")
    assert bad.returncode == 2 and "must hold 0 (normal) or 1 (anomaly)" in bad.stderr + bad.stdout


@pytest.mark.slow
def test_the_readme_anomaly_section_runs_as_written(tmp_path):
    import os
    import re
    import subprocess
    import sys

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text[text.index("## Finding anomalies in a table") :]
    script = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    flags = pd.read_csv(tmp_path / "flags.csv")
    assert {"anomaly", "anomaly_score"} <= set(flags.columns)
    assert "ROC AUC" in done.stdout
