"""Dimensionality reduction as a kind of problem: no target, ``--dims`` coordinates a row, the same
verbs (issue 15, part 3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlcraft.api import Project
from mlcraft.exceptions import ConfigError, DataError
from mlcraft.tasks import get_kind

FAMILIES = ["pca", "kernel_pca", "gaussian_projection"]


def plane(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """Six columns that vary along two directions (plus a little noise), and a label that follows
    the first direction."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2)) * [3.0, 1.0]
    X = z @ rng.normal(size=(2, 6)) + rng.normal(size=(n, 6)) * 0.05
    frame = pd.DataFrame(X * [1, 10, 100, 0.1, 1, 1], columns=list("abcdef"))  # scaling matters
    frame["kind"] = np.where(z[:, 0] > 0, "right", "left")
    return frame


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("embed") / "p"
    project = Project.create(path, plane(), task="embed", labels="kind", max_trials=6)
    project.train(max_trials=6, families=FAMILIES, n_jobs=1)
    return project


def test_the_default_dims_keep_95_percent_of_the_variance(trained):
    cfg = trained.config
    assert cfg.target is None and cfg.labels == "kind" and cfg.metric == "trustworthiness"
    assert cfg.dims == 2  # two directions carry all but the noise
    assert any("95% of the variance" in note for note in trained.notes)
    assert "kind" not in trained.schema.features
    assert Project.open(trained.path).config.dims == 2  # recorded in mlcraft.toml


def test_train_predict_evaluate(trained):
    X = plane(30, seed=1).drop(columns="kind")
    pred = trained.predict(X)
    assert list(pred.columns) == ["dim_1", "dim_2"] and pred.shape == (30, 2)
    assert np.isfinite(pred.to_numpy()).all()
    ev = trained.evaluate()
    assert ev.metric == "trustworthiness" and 0.9 < ev.value <= 1
    assert ev.ci_low <= ev.value <= ev.ci_high


def test_analyse_shows_the_variance_curve_maps_and_bounds(trained):
    result = trained.analyse(learning_curve=False, importance=False)
    doc = result.document
    d = doc["diagnostics"]
    assert doc["section"] == "embed" and d["dims"] == 2 and d["width"] == 6
    assert d["variance"]["components_kept"] == 2 and d["variance_at_dims"] > 0.99
    assert d["trustworthiness"] == pytest.approx(doc["cv"]["mean"], abs=0.05)
    assert d["jl"][0]["eps"] == 0.1 and not d["jl"][0]["met"]  # 2 dims are far below the bound
    assert d["kernel_pca"] and d["kernel_pca"][0]["error"] <= d["kernel_pca"][-1]["error"]
    assert d["known"]["knn_embedding"] > 0.9  # the label follows the first direction
    # the champion maps back to its prepared columns up to the noise (two directions of six)
    assert d["model_error"] is not None and 0 <= d["model_error"] < 0.05, d["model_error"]
    assert any("5-NN accuracy" in line for line in doc["summary"])
    names = {Path(p).stem for p in result.plots}
    assert {"explained_variance", "row_map"} <= names
    html = Path(result.html).read_text()
    assert "Explained variance" in html and "Johnson-Lindenstrauss" in html
    assert "UMAP" in html  # drawn, or skipped with its reason


def test_report_shows_the_embedding(trained):
    result = trained.report()
    html = Path(result.html).read_text()
    assert "trustworthiness" in html and result.document["framing"]["section"] == "embed"


def test_serving_answers_coordinates(trained):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from mlcraft.api.serving import ServeSettings
    from mlcraft.serve import create_app

    X = plane(4, seed=2).drop(columns="kind")
    with TestClient(create_app(ServeSettings(str(trained.path), log=False))) as client:
        body = client.post("/predict", json=X.to_dict(orient="records")).json()
    assert body["target"] == "embed" and body["probabilities"] is None
    expected = trained.predict(X).to_numpy()
    assert np.allclose(np.array(body["predictions"]), expected)


def test_out_of_fold_coordinates_are_rotated_onto_the_saved_model():
    kind = get_kind("embed")
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(20, 2))
    flip = ref * [-1, 1]  # fold 1's model has the first axis the other way round
    raw = np.where((np.arange(20) >= 10)[:, None], flip, ref)
    folds = np.repeat([0, 1], 10)
    assert np.allclose(kind.align_out_of_fold(raw, folds, lambda: ref), ref)


def test_a_method_that_cannot_place_new_rows_is_refused():
    from sklearn.manifold import TSNE

    with pytest.raises(ConfigError, match="cannot place new rows"):
        get_kind("embed").predict_raw(TSNE(), np.zeros((3, 2)), ["dim_1", "dim_2"])
    from mlcraft.models import get_family

    with pytest.raises(ConfigError, match="t-SNE cannot place new rows"):
        get_family("tsne")


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"dims": 7}, ConfigError, "--dims 7 is more than the 6 column"),
        ({"dims": 0}, ConfigError, "--dims 0"),
        ({"target": "a"}, ConfigError, "has no target"),
        (
            {"task": "cluster", "dims": 2},
            ConfigError,
            "only applies to --task embed; leave it out for --task cluster",
        ),
        (
            {"task": None, "target": "a", "dims": 2},
            ConfigError,
            "--dims only applies to --task embed",
        ),
    ],
)
def test_bad_framing(tmp_path, kwargs, error, message):
    args = {"task": "embed", **kwargs}
    with pytest.raises(error, match=message):
        Project.create(tmp_path / "p", plane().drop(columns="kind"), **args)
    assert not (tmp_path / "p").exists()


def test_no_feedback_for_an_embedding():
    with pytest.raises(DataError, match="no labels to feed back"):
        get_kind("embed").label_values(pd.Series([1]), str)


@pytest.mark.slow
def test_the_cli_trains_predicts_and_refuses(tmp_path):
    from conftest import run_cli

    data = tmp_path / "plane.csv"
    plane().to_csv(data, index=False)
    project = tmp_path / "p"
    train = run_cli(
        "train", data, "--task", "embed", "--dims", "3", "--labels", "kind", "--project", project,
        "--max-trials", "4", "--family", "pca,isomap",
    )  # fmt: skip
    assert train.returncode == 0, train.stderr
    assert "trustworthiness" in train.stdout
    out = tmp_path / "pred.csv"
    pred = run_cli("predict", data, "--project", project, "--out", out)
    assert pred.returncode == 0, pred.stderr
    assert list(pd.read_csv(out).columns) == ["dim_1", "dim_2", "dim_3"]
    analysed = run_cli("analyse", "--project", project, "--no-learning-curve")
    assert analysed.returncode == 0, analysed.stderr
    assert "trustworthiness" in analysed.stdout
    for args in (
        ("train", data, "--task", "embed", "--dims", "99", "--project", tmp_path / "q"),
        ("train", data, "--task", "embed", "--family", "tsne", "--project", tmp_path / "q"),
        ("feedback", data, "--project", project),
    ):
        bad = run_cli(*args)
        assert bad.returncode == 2, (args, bad.stdout, bad.stderr)
        lines = bad.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in bad.stderr, bad.stderr
    assert not (tmp_path / "q").exists()


@pytest.mark.slow
def test_the_readme_embedding_section_runs_as_written(tmp_path):
    import os
    import re
    import subprocess
    import sys

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text[text.index("## Reducing dimensions") :]
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
    coords = pd.read_csv(tmp_path / "coordinates.csv")
    assert len(coords) == 1797 and list(coords.columns)[:2] == ["dim_1", "dim_2"]
    assert "trustworthiness" in done.stdout
