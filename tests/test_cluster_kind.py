"""Clustering as a kind of problem: no target, the same verbs (issue 15, part 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

from mlcraft.api import Project
from mlcraft.exceptions import ConfigError, DataError
from mlcraft.tasks import get_kind

FAMILIES = ["kmeans", "gmm"]


def blobs(n: int = 300, seed: int = 0) -> pd.DataFrame:
    X, y = make_blobs(n_samples=n, centers=3, n_features=4, cluster_std=0.8, random_state=seed)
    frame = pd.DataFrame(X * [1, 10, 100, 0.1], columns=["a", "b", "c", "d"])  # scaling matters
    frame["kind"] = np.array(["x", "y", "z"])[y]
    return frame


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("cluster") / "p"
    project = Project.create(path, blobs(), task="cluster", labels="kind", max_trials=8)
    project.train(max_trials=8, families=FAMILIES, n_jobs=1)
    return project


@pytest.fixture(scope="module")
def analysed(trained):
    return trained.analyse(learning_curve=False, importance=False)


def test_framing_has_no_target_and_the_labels_never_fit(trained):
    cfg = trained.config
    assert cfg.target is None and cfg.labels == "kind" and cfg.metric == "silhouette"
    assert "kind" not in trained.schema.features and set(trained.schema.features) == set("abcd")
    assert cfg.split_method == "hash"
    reopened = Project.open(trained.path)
    assert reopened.config.target is None and reopened.kind is get_kind("cluster")


def test_the_split_follows_the_rows_not_their_order(tmp_path):
    frame = blobs()
    a = Project.create(tmp_path / "a", frame, task="cluster")
    b = Project.create(tmp_path / "b", frame.iloc[::-1].reset_index(drop=True), task="cluster")
    test_a = a.test_frame().sort_values("a").reset_index(drop=True)
    test_b = b.test_frame().sort_values("a").reset_index(drop=True)
    pd.testing.assert_frame_equal(test_a, test_b)


def test_train_predict_evaluate(trained):
    board = trained.leaderboard() if hasattr(trained, "leaderboard") else None
    assert board is None or len(board) > 0
    X = blobs(60, seed=0).drop(columns="kind")
    pred = trained.predict(X)
    assert pred.columns[0] == "cluster" and pred["cluster"].dtype.kind == "i"
    assert all(c.startswith("proba_") for c in pred.columns[1:])  # a mixture's memberships
    assert pred["cluster"].nunique() >= 2
    ev = trained.evaluate()
    assert ev.metric == "silhouette" and 0.3 < ev.value <= 1 and ev.ci_low <= ev.value <= ev.ci_high
    from sklearn.metrics import adjusted_rand_score

    test = trained.test_frame()
    found = trained.predict(test.drop(columns="kind"))["cluster"]
    assert ev.against_labels["adjusted_rand"] == pytest.approx(
        adjusted_rand_score(test["kind"], found)
    )
    assert ev.against_labels["adjusted_rand"] > 0.9  # three clear blobs


def test_the_search_finds_the_three_blobs(trained):
    truth = blobs()["kind"]
    pred = trained.predict(blobs().drop(columns="kind"))["cluster"]
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(truth, pred) > 0.9


def test_analyse_scores_against_the_known_labels(analysed):
    result = analysed
    d = result.document["diagnostics"]
    assert result.document["section"] == "cluster"
    assert d["n_clusters"] == 3 and d["known"]["adjusted_rand"] > 0.9
    assert d["silhouette"] == pytest.approx(result.document["cv"]["mean"], abs=0.1)
    assert any("adjusted Rand" in line for line in result.document["summary"])
    names = {Path(p).stem for p in result.plots}
    assert {"silhouette_diagram", "cluster_sizes", "cluster_map"} <= names
    html = Path(result.html).read_text()
    assert "Silhouette diagram" in html and "Against the known labels" in html


def test_report_shows_the_clusters(trained):
    result = trained.report()
    html = Path(result.html).read_text()
    assert "silhouette" in html and result.size_bytes < 5_000_000
    assert result.document["framing"]["section"] == "cluster"


def test_out_of_fold_clusters_are_renumbered_like_the_saved_model():
    kind = get_kind("cluster")
    ref = np.array([0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2], dtype=float)
    folds = np.array([0] * 6 + [1] * 6)
    raw = np.array(
        [2, 2, 0, 0, 1, 1, 1, 1, 2, 2, 0, -1], dtype=float
    )  # renamed per fold; a noise row
    out = kind.align_out_of_fold(raw, folds, lambda: ref)
    assert out.tolist() == [0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, -1]


def test_serving_answers_cluster_ids(trained):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from mlcraft.api.serving import ServeSettings
    from mlcraft.serve import create_app

    X = blobs(5, seed=1).drop(columns="kind")
    with TestClient(create_app(ServeSettings(str(trained.path), log=False))) as client:
        body = client.post("/predict", json=X.to_dict(orient="records")).json()
        bad = client.post("/predict", json=[{"a": 1.0}])
    assert body["target"] == "cluster"
    expected = trained.predict(X).drop(columns="cluster").to_numpy()
    if body["probabilities"] is None:  # a family without memberships
        assert expected.shape[1] == 0
    else:
        assert np.allclose([list(p.values()) for p in body["probabilities"]], expected)
    assert body["predictions"] == trained.predict(X)["cluster"].tolist()
    assert bad.status_code == 422 or bad.status_code == 400


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            {"target": "a"},
            ConfigError,
            "has no target: leave out --target a, or give it as --labels a",
        ),
        ({"labels": "nope"}, DataError, "--labels column"),
        ({"target": None, "task": None}, ConfigError, "--target COL, or --task cluster"),
    ],
)
def test_bad_framing(tmp_path, kwargs, error, message):
    args = {"task": "cluster", **kwargs}
    with pytest.raises(error, match=message):
        Project.create(tmp_path / "p", blobs(), **args)
    assert not (tmp_path / "p").exists()


def test_bad_data(tmp_path):
    same = pd.DataFrame({"a": [1.0] * 50, "b": [2.0] * 50})
    with pytest.raises(DataError, match="every row is the same"):
        Project.create(tmp_path / "same", same, task="cluster")
    with pytest.raises(DataError, match="the only column"):
        Project.create(tmp_path / "only", blobs()[["kind"]], task="cluster", labels="kind")
    with pytest.raises(ConfigError, match="--labels scores a kind without a target"):
        Project.create(tmp_path / "reg", blobs(), target="a", labels="kind")
    with pytest.raises(DataError, match="no labels to feed back"):
        get_kind("cluster").label_values(pd.Series([1]), str)


@pytest.mark.slow
def test_the_cli_trains_and_predicts_clusters(tmp_path):
    from conftest import run_cli

    data = tmp_path / "blobs.csv"
    blobs().to_csv(data, index=False)
    project = tmp_path / "p"
    train = run_cli(
        "train", data, "--task", "cluster", "--labels", "kind", "--project", project,
        "--max-trials", "6", "--family", ",".join(FAMILIES),
    )  # fmt: skip
    assert train.returncode == 0, train.stderr
    assert "labels" in train.stdout and "silhouette" in train.stdout
    out = tmp_path / "pred.csv"
    pred = run_cli("predict", data, "--project", project, "--out", out)
    assert pred.returncode == 0, pred.stderr
    assert pd.read_csv(out)["cluster"].nunique() == 3
    analysed = run_cli("analyse", "--project", project, "--no-learning-curve")
    assert analysed.returncode == 0, analysed.stderr
    assert "adjusted Rand" in analysed.stdout
    for args in (
        ("train", data, "--task", "cluster", "--target", "a", "--project", tmp_path / "q"),
        ("feedback", data, "--project", project),
        ("retrain", "--data", data, "--project", project),
    ):
        bad = run_cli(*args)
        assert bad.returncode == 2, (args, bad.stdout, bad.stderr)
        lines = bad.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in bad.stderr, bad.stderr
    assert not (tmp_path / "q").exists()


@pytest.mark.slow
def test_the_readme_clustering_section_runs_as_written(tmp_path):
    import os
    import re
    import subprocess
    import sys

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text[text.index("## Clustering a table without a target") :]
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
    clusters = pd.read_csv(tmp_path / "clusters.csv")["cluster"]
    assert len(clusters) == 150 and clusters.nunique() >= 2
    memberships = pd.read_csv(tmp_path / "memberships.csv")
    proba = memberships.filter(like="proba_")
    assert proba.shape[1] >= 2 and np.allclose(proba.sum(axis=1), 1.0)
    assert "adjusted Rand" in done.stdout
    three = Project.open(tmp_path / "iris-three")
    assert three.config.clusters == 3
    assert three.predict(pd.read_csv(tmp_path / "iris.csv"))["cluster"].nunique() == 3


def test_monitor_reads_the_cluster_shares_of_the_log(trained, tmp_path):
    """Predictions served and logged; monitor compares the logged cluster shares with the
    training rows' (PSI and chi-squared over cluster ids): the same mix passes, one cluster alone
    is flagged."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from mlcraft.api.serving import ServeSettings
    from mlcraft.serve import create_app

    frame = blobs()
    X = frame.drop(columns="kind")

    def serve(rows: pd.DataFrame) -> None:
        with TestClient(create_app(ServeSettings(str(trained.path)))) as client:
            for start in range(0, len(rows), 50):
                chunk = rows.iloc[start : start + 50].to_dict(orient="records")
                assert client.post("/predict", json=chunk).status_code == 200

    serve(X)
    same = trained.monitor(since="1d", out=tmp_path / "same")
    prediction = same.report["prediction"]
    assert prediction["kind"] == "label" and same.report["rows"] == len(X)
    assert {c["name"] for c in prediction["checks"]} == {"psi", "chi2"}
    assert not any(c["flagged"] for c in prediction["checks"]), prediction
    groups = prediction["windows"]  # the share per cluster per window, against training's
    assert set(groups["groups"]) == {"0", "1", "2"}
    assert all(abs(v - 1 / 3) < 0.05 for v in groups["reference"].values())
    (window,) = groups["windows"]
    assert window["n"] == len(X) and window["max_change"] < 0.05
    one = X[(frame["kind"] == "x").to_numpy()]
    serve(pd.concat([one] * 3, ignore_index=True))
    shifted = trained.monitor(since="1d", window="1h", out=tmp_path / "shifted")
    assert any(c["flagged"] for c in shifted.report["prediction"]["checks"])
    (window,) = shifted.report["prediction"]["windows"]["windows"]  # the last hour's, the only one
    assert window["n"] == 2 * len(X) and window["max_change"] > 0.25
    assert "Share of rows per group over time" in Path(shifted.html_path).read_text()


def test_analyse_draws_the_ways_of_choosing_k_and_the_profiles(analysed):
    result = analysed
    d = result.document["diagnostics"]
    assert {c["covariance"] for c in d["mixture_curve"]} == {"full", "tied", "diag", "spherical"}
    assert [c["k"] for c in d["k_curve"]][:2] == [2, 3]
    best_k = max(d["k_curve"], key=lambda c: c["silhouette"])["k"]
    assert best_k == 3  # three blobs: the silhouette against k peaks at 3
    lowest = min(
        (c for c in d["mixture_curve"] if c["covariance"] == "full"), key=lambda c: c["bic"]
    )
    assert lowest["k"] == 3
    distances = d["k_distance"]["distance"]
    assert distances == sorted(distances) and d["k_distance"]["k"] == 10
    profiles = d["profiles"]
    assert profiles["columns"] == ["a", "b", "c", "d"] and len(profiles["rows"]) == 3
    assert sum(r["rows"] for r in profiles["rows"]) == d["n_rows"]
    html = Path(result.html).read_text()
    assert "Cluster profiles" in html and "BIC and AIC" in html and "k-distance curve" in html
    names = {Path(p).stem for p in result.plots}
    assert {"k_curve", "mixture_curve", "k_distance", "knife_plots", "tsne_map"} <= names
    assert [c["k"] for c in d["knife"]] == [2, 3, 4, 5]  # around the chosen 3
    best_knife = max(d["knife"], key=lambda c: c["silhouette"])
    assert best_knife["k"] == 3 and len(best_knife["sizes"]) == 3
    tsne = d["tsne_map"]
    assert len(tsne["x"]) == len(tsne["cluster"]) == d["n_rows"] <= 2_000
    assert "Silhouette diagrams against k" in html and "t-SNE map" in html


def test_analyse_measures_stability_across_halves(analysed):
    result = analysed
    s = result.document["diagnostics"]["stability"]
    assert s["measure"] == "adjusted Rand index" and s["repeats"] == 3 and len(s["values"]) == 3
    assert s["mean"] > 0.9  # three well separated blobs: the same grouping from either half
    assert any(line.startswith("stability: adjusted Rand") for line in result.document["summary"])
    assert "between fits on random halves" in Path(result.html).read_text()
    finalists = result.document["diagnostics"]["finalists"]  # the best model of each family
    assert sorted(f["family"] for f in finalists) == sorted(FAMILIES)
    assert all(f["stability"] > 0.8 and f["score"] > 0.3 for f in finalists)
    assert any(
        line.startswith("stability of the best of each family")
        for line in result.document["summary"]
    )
    unstable = get_kind("cluster").agreement(np.array([0, 0, 1, 1.0]), np.array([0, 1, 0, 1.0]))
    assert unstable < 0.1


def test_supervised_kinds_measure_no_stability():
    assert get_kind("regression").stability_measure is None
    with pytest.raises(NotImplementedError):
        get_kind("binary").agreement(np.zeros(2), np.zeros(2))


def test_a_mixture_answers_membership_probabilities(tmp_path):
    """A Gaussian mixture champion: predict, ``/predict`` and the prediction log carry each row's
    membership probabilities ({cluster: p}); the cluster is the most probable component."""
    project = Project.create(tmp_path / "p", blobs().drop(columns="kind"), task="cluster")
    project.train(max_trials=2, families=["gmm"], n_jobs=1)
    X = blobs(20, seed=1).drop(columns="kind")
    pred = project.predict(X)
    proba = pred.drop(columns="cluster")
    assert list(proba.columns) == [f"proba_{j}" for j in range(proba.shape[1])]
    assert proba.shape[1] >= 2 and np.allclose(proba.sum(axis=1), 1.0)
    assert (proba.to_numpy().argmax(axis=1) == pred["cluster"].to_numpy()).all()
    model = project.load_model()
    kind = get_kind("cluster")
    raw = model.predict_raw(X)
    values, probabilities = kind.outputs(raw, model.labels(raw), model.classes)
    assert probabilities is not None and set(probabilities[0]) == {
        str(j) for j in range(proba.shape[1])
    }
    assert np.allclose(kind.logged_raw(values, probabilities, None), raw)  # the log's round trip
    assert kind.labels(raw, None).tolist() == values
    ev = project.evaluate()  # scored on the cluster column
    assert ev.metric == "silhouette" and ev.value > 0.3
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from mlcraft.api.serving import ServeSettings
    from mlcraft.serve import create_app

    with TestClient(create_app(ServeSettings(str(project.path), log=False))) as client:
        body = client.post("/predict", json=X.to_dict(orient="records")).json()
    assert body["predictions"] == values
    assert np.allclose([list(p.values()) for p in body["probabilities"]], proba.to_numpy())


def test_other_families_answer_no_probabilities():
    kind = get_kind("cluster")
    values, probabilities = kind.outputs(np.array([0.0, 1.0, -1.0]), np.array([0, 1, -1]), None)
    assert values == [0, 1, -1] and probabilities is None
    assert kind.logged_raw(values, [None] * 3, None).tolist() == [0.0, 1.0, -1.0]


BAD_TABLES = {
    "no usable feature columns": pd.DataFrame(
        {"id": range(50), "note": [f"free text number {i} here" for i in range(50)]}
    ),
    "every row is the same": pd.DataFrame({"a": [1.0] * 40, "b": [2.0] * 40}),
    "needs at least 20": pd.DataFrame({"a": np.arange(12.0), "b": [1.0, 5.0, 2.0] * 4}),
}


@pytest.mark.parametrize("message", list(BAD_TABLES))
def test_tables_that_cannot_be_clustered(tmp_path, message):
    with pytest.raises(DataError, match=message):
        Project.create(tmp_path / "p", BAD_TABLES[message], task="cluster")
    assert not (tmp_path / "p").exists()


@pytest.mark.slow
def test_the_cli_refuses_tables_that_cannot_be_clustered_in_one_line(tmp_path):
    from conftest import run_cli

    cases = [(name, frame, ()) for name, frame in BAD_TABLES.items()]
    cases += [
        ("labels column 'nope' not found", blobs(), ("--labels", "nope")),
        ("is the only column", blobs()[["kind"]], ("--labels", "kind")),
        ("--clusters 200: the models are fitted on as few as", blobs(), ("--clusters", "200")),
    ]
    for i, (message, frame, extra) in enumerate(cases):
        data = tmp_path / f"t{i}.csv"
        frame.to_csv(data, index=False)
        done = run_cli("train", data, "--task", "cluster", "--project", tmp_path / f"p{i}", *extra)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and message in lines[0], done.stderr
        assert not (tmp_path / f"p{i}").exists()


def test_cluster_fold_models_are_never_bagged():
    """Out of time, a tabular champion is bagged from its fold models (their outputs averaged);
    cluster ids cannot be averaged (each fold numbers its clusters its own way): refitted."""
    from mlcraft.core.analysis.metrics import Scorer, get_metric
    from mlcraft.core.fit.champion import choose
    from mlcraft.core.fit.search import CVResult

    def result():
        r = CVResult("hdbscan", "hdbscan", {}, scores=[0.5] * 5, oof=np.zeros(10), fit_time=10.0)
        r.models = [object()] * 5
        return r

    scorer = Scorer(get_metric("silhouette"))
    args = {"seconds_left": 0.0, "n_rows": 1000, "n_folds": 5}
    assert choose([result()], [], scorer, **args).forms == ["bag"]
    kind = get_kind("cluster")
    assert choose([result()], [], scorer, can_bag=kind.ensembles, **args).forms == ["refit"]


# -- --clusters K and stability in the choice --------------------------------------------------


def test_a_fixed_number_of_clusters_reaches_every_model(tmp_path):
    """--clusters 4 on three blobs: every model gives 4 clusters (the search could not pick 3),
    and the families that find their own number are left out, with a note."""
    project = Project.create(
        tmp_path / "p", blobs(), task="cluster", labels="kind", clusters=4, max_trials=6
    )
    assert project.config.clusters == 4
    run = project.train(
        max_trials=6, families=["kmeans", "gmm", "agglomerative", "dbscan"], n_jobs=1
    )
    board = run.leaderboard
    assert "dbscan" not in set(board["family"])
    assert set(board["family"]) <= {"kmeans", "gmm", "agglomerative"}
    assert project.predict(blobs().drop(columns="kind"))["cluster"].nunique() == 4
    log = next((project.path / "runs").glob("*/log.txt")).read_text()
    assert "dbscan cannot honour --clusters 4: left out" in log
    reopened = Project.open(project.path)
    assert reopened.config.clusters == 4


def test_a_fixed_number_of_clusters_that_cannot_be_met(tmp_path):
    with pytest.raises(DataError, match="--clusters 200: the models are fitted on as few as"):
        Project.create(tmp_path / "many", blobs(), task="cluster", clusters=200)
    with pytest.raises(
        ConfigError, match="--clusters 1: give a whole number of clusters, at least 2"
    ):
        Project.create(tmp_path / "one", blobs(), task="cluster", clusters=1)
    with pytest.raises(ConfigError, match="--clusters only applies to --task cluster"):
        Project.create(tmp_path / "reg", blobs(), target="a", clusters=3)
    for name in ("many", "one", "reg"):
        assert not (tmp_path / name).exists()
    project = Project.create(tmp_path / "p", blobs(), task="cluster", clusters=3)
    with pytest.raises(
        ConfigError, match="dbscan cannot honour --clusters 3; leave out --clusters 3"
    ):
        project.train(max_trials=2, families=["dbscan"], n_jobs=1)


def _result(name, family, scores, fit_time=0.01):
    from mlcraft.core.fit.search import CVResult

    return CVResult(name, family, {"n": name}, scores=list(scores), fit_time=fit_time)


def _stable_choice(results, stabilities, seconds_left=None):
    from mlcraft.core.analysis.metrics import Scorer, get_metric
    from mlcraft.core.fit.stability import choose_stable

    scorer = Scorer(get_metric("silhouette", "cluster"))
    fitted = []

    def stability(result):
        fitted.append(result.name)
        return stabilities[result.name]

    return choose_stable(
        results, scorer, stability, seconds_left=seconds_left, measure="adjusted Rand index"
    ), fitted


def test_stability_decides_between_models_the_folds_cannot_tell_apart():
    close = [
        _result("a", "kmeans", [0.60, 0.62, 0.58, 0.61, 0.59]),  # best, unstable
        _result("b", "gmm", [0.60, 0.61, 0.58, 0.60, 0.59]),  # within one standard error
        _result("c", "dbscan", [0.30, 0.31, 0.29, 0.30, 0.30]),  # far below, most stable
    ]
    choice, fitted = _stable_choice(close, {"a": 0.5, "b": 0.9, "c": 1.0})
    assert choice.prefer == "b" and sorted(fitted) == ["a", "b", "c"]
    assert [r.stability for r in close] == [0.5, 0.9, 1.0]
    assert "b chosen over a" in choice.notes[-1]
    choice, _ = _stable_choice(close, {"a": 0.95, "b": 0.9, "c": 1.0})
    assert choice.prefer is None  # the best is also the most stable of those close to it
    far = [
        _result("a", "kmeans", [0.80, 0.81, 0.79, 0.80, 0.80]),
        _result("b", "gmm", [0.60, 0.61, 0.59, 0.60, 0.60]),
    ]
    choice, _ = _stable_choice(far, {"a": 0.5, "b": 1.0})
    assert choice.prefer is None  # more stable but clearly worse: the score decides
    from mlcraft.core.analysis.metrics import Scorer, get_metric
    from mlcraft.core.fit.stability import choose_stable

    def broken(result):  # a fit on half the rows fails for the best: it is not preferred
        if result.name == "a":
            raise ValueError("too few rows")
        return 0.4

    choice = choose_stable(
        close, Scorer(get_metric("silhouette", "cluster")), broken, seconds_left=None, measure="ARI"
    )
    assert choice.prefer == "b" and "not measured for a: ValueError" in " ".join(choice.notes)
    choice, fitted = _stable_choice(close, {"a": 0.5, "b": 0.9, "c": 1.0}, seconds_left=0.0)
    assert choice.prefer is None and not fitted and "not measured" in choice.notes[0]
