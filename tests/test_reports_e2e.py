"""End-to-end: explore, analyse and report on housing and titanic, as a user types them, and the
report checked in headless Chromium as a person's browser shows it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

import mlcraft
from browser import PAGE_FACTS, Browser, chromium_path
from conftest import run_cli

pytestmark = pytest.mark.slow

FIVE_MB = 5_000_000


def trained(root: Path, data: Path, target: str, families: str) -> Path:
    project = root / "project"
    result = run_cli(
        "train",
        data,
        "--target",
        target,
        "--project",
        project,
        "--max-trials",
        "2",
        "--family",
        families,
    )
    assert result.returncode == 0, result.stderr
    evaluated = run_cli("evaluate", "--project", project)
    assert evaluated.returncode == 0, evaluated.stderr
    return project


@pytest.fixture(scope="module")
def housing(tmp_path_factory, housing_csv) -> Path:
    return trained(
        tmp_path_factory.mktemp("housing"), housing_csv, "median_house_value", "ridge,decision_tree"
    )


@pytest.fixture(scope="module")
def titanic(tmp_path_factory, titanic_csv) -> Path:
    return trained(
        tmp_path_factory.mktemp("titanic"),
        titanic_csv,
        "Survived",
        "logistic_regression,decision_tree",
    )


def ok(*args: object):
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def safe(model: str) -> str:
    """A model's directory name under reports/analysis (``ensemble:caruana`` -> ``ensemble_caruana``)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", model)


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def assert_plots_saved(directory: Path, doc: dict) -> None:
    assert doc["plots"], "no figure"
    for entry in doc["plots"]:
        png = (directory / entry["file"]).read_bytes()
        assert png.startswith(b"\x89PNG"), entry


# -- explore ----------------------------------------------------------------------------------------
def test_explore_housing_shows_the_map_and_flags_the_capped_target(housing):
    out = ok("explore", "--project", housing).stdout
    assert "the test rows were not read" in out and "capped" in out
    directory = housing / "reports" / "explore"
    doc = load(directory / "explore.json")
    assert doc["shape"]["rows"] == 16512 and "test rows were not read" in doc["scope"]
    assert doc["map"] == {
        "longitude": "longitude",
        "latitude": "latitude",
        "colour": "median_house_value",
        "size_by": "population",
    }
    assert (directory / "map.png").is_file() and "map.png" in [p["file"] for p in doc["plots"]]
    capped = [
        f for f in doc["flags"] if f["kind"] == "capped" and f["column"] == "median_house_value"
    ]
    assert (
        len(capped) == 1
        and capped[0]["detail"]["value"] == 500001.0
        and capped[0]["detail"]["side"] == "maximum"
    )
    heavy = {f["column"] for f in doc["flags"] if f["kind"] == "heavy_tail"}
    assert {"population", "total_rooms", "households"} <= heavy
    assert (
        doc["associations"][0]["feature"] == "median_income"
        and doc["associations"][0]["value"] > 0.6
    )
    assert doc["plot_sample"] == {"rows": 5000, "of": 16512}
    assert doc["drift"]["test_rows"] == 4128 and all(
        r["level"] == "stable" for r in doc["drift"]["features"]
    )
    assert {
        "histograms.png",
        "correlation_matrix.png",
        "scatter_matrix.png",
        "value_counts.png",
        "target_associations.png",
    } <= {p["file"] for p in doc["plots"]}
    assert len(doc["scatter_columns"]) == 4 and doc["describe"][0]["count"] == 16512
    assert_plots_saved(directory, doc)


def test_explore_titanic_has_no_map_and_flags_high_cardinality(titanic):
    ok("explore", "--project", titanic)
    directory = titanic / "reports" / "explore"
    doc = load(directory / "explore.json")
    assert doc["map"] is None and not (directory / "map.png").exists()
    assert 'id="fig-map"' not in (directory / "explore.html").read_text()
    high = {f["column"] for f in doc["flags"] if f["kind"] == "high_cardinality"}
    assert {"Ticket", "Cabin"} <= high
    assert doc["value_counts"]["Survived"]["n_unique"] == 2 and "Sex" in doc["value_counts"]
    assert {r["column"] for r in doc["describe"]} == {"Age", "Fare"}
    assert doc["associations"][0]["feature"] == "Sex"
    assert_plots_saved(directory, doc)


# -- analyse ----------------------------------------------------------------------------------------
def test_analyse_housing_champion_and_another_leaderboard_model(housing):
    out = ok("analyse", "--project", housing).stdout
    assert "out-of-fold RMSE" in out and "learning curves:" in out and "leans most on" in out
    board = pd.read_csv(next((housing / "runs").iterdir()) / "leaderboard.csv")
    champion = load(next((housing / "runs").iterdir()) / "chosen.json")["model"]
    other = board.loc[board["family"] != "ensemble", "model"].iloc[
        0
    ]  # a single model of the leaderboard
    directory = housing / "reports" / "analysis" / safe(champion)
    doc = load(directory / "analysis.json")
    d = doc["diagnostics"]
    assert doc["is_champion"] and doc["version"] == 1 and "test set was not used" in doc["scope"]
    assert len(d["by_decile"]) == 10 and sum(g["count"] for g in d["by_decile"]) == 16512
    assert {g["group"] for g in d["by_category"]["ocean_proximity"]} >= {
        "INLAND",
        "NEAR BAY",
        "<1H OCEAN",
    }
    assert d["rmse"] == pytest.approx(doc["cv"]["mean"], rel=0.05)
    assert len(doc["learning_curve"]["sizes"]) == 5 and doc["learning_curve_reading"][
        "verdict"
    ] in ("overfitting", "converged or underfitting", "more data helps")
    assert {f["feature"] for f in doc["importance"]["features"]} == {
        "longitude",
        "latitude",
        "housing_median_age",
        "total_rooms",
        "total_bedrooms",
        "population",
        "households",
        "median_income",
        "ocean_proximity",
    }
    assert set(doc["cv_scores"]["models"]) == set(
        board.loc[board["status"] == "ok", "model"]
    ) and all(len(s) == 5 for s in doc["cv_scores"]["models"].values())
    assert {
        "predicted_vs_actual.png",
        "residuals.png",
        "error_by_decile.png",
        "error_by_ocean_proximity.png",
        "learning_curve.png",
        "permutation_importance.png",
        "cv_scores.png",
    } == {p["file"] for p in doc["plots"]}
    assert_plots_saved(directory, doc)
    ok("analyse", "--project", housing, "--model", other, "--no-learning-curve")
    doc = load(housing / "reports" / "analysis" / safe(other) / "analysis.json")
    assert (
        doc["model"] == other
        and not doc["is_champion"]
        and doc["learning_curve"] is None
        and doc["importance"]
    )


def test_analyse_titanic_threshold_for_precision_90_is_saved_and_used_by_predict(
    titanic, titanic_csv, tmp_path
):
    registry = mlcraft.Project.open(titanic).registry
    first = registry.meta(1)
    out = ok(
        "analyse",
        "--project",
        titanic,
        "--min-precision",
        "0.9",
        "--no-learning-curve",
        "--no-importance",
    ).stdout
    assert "saved as model version 2" in out
    assert registry.champion() == 2
    promotion = registry.history()[-1]
    assert (
        promotion["version"] == 2
        and "precision" in promotion["reason"]
        and "threshold" in promotion["reason"]
    )
    meta = registry.meta(2)
    threshold = meta["threshold"]["threshold"]
    assert meta["derived_from"] == 1 and meta["run_id"] == first["run_id"] and 0.5 < threshold < 1
    # on the out-of-fold predictions, read independently, the saved threshold really gives precision >= 0.9
    oof = pd.read_parquet(titanic / "runs" / first["run_id"] / "oof.parquet")
    model = load(titanic / "runs" / first["run_id"] / "chosen.json")["model"]
    decided = oof[f"{model}:proba_1"] >= threshold
    precision = skm.precision_score(oof["Survived"] == 1, decided)
    assert precision >= 0.9 and precision == pytest.approx(meta["threshold"]["precision"])
    assert skm.recall_score(oof["Survived"] == 1, decided) == pytest.approx(
        meta["threshold"]["recall"]
    )
    # predict decides with it: probabilities between 0.5 and the threshold become 0
    rows = pd.read_csv(titanic_csv).drop(columns="Survived")
    rows.to_csv(tmp_path / "people.csv", index=False)
    ok("predict", tmp_path / "people.csv", "--project", titanic, "--out", tmp_path / "pred.csv")
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert (pred["Survived"] == (pred["proba_1"] >= threshold).astype(int)).all()
    assert ((pred["proba_1"] >= 0.5) & (pred["proba_1"] < threshold)).any()
    doc = load(titanic / "reports" / "analysis" / safe(model) / "analysis.json")
    assert doc["version"] == 2 and doc["diagnostics"]["threshold"] == threshold
    assert (
        doc["threshold_choice"]["precision"] >= 0.9 and doc["threshold_choice"]["new_version"] == 2
    )


# -- report -----------------------------------------------------------------------------------------
def test_report_housing_is_complete_small_and_matches_the_evaluation(housing):
    out = ok("report", "--project", housing).stdout
    html_path = housing / "reports" / "report.html"
    assert html_path.stat().st_size < FIVE_MB and "MB" in out
    doc = load(housing / "reports" / "report.json")
    evaluation = load(next((housing / "evaluations").glob("*-v1.json")))
    assert (
        doc["headline"]["test_value"] == evaluation["value"]
        and doc["test"]["ci_low"] == evaluation["ci_low"]
    )
    assert (
        doc["framing"]["metric"] == "rmse"
        and doc["data"]["rows"] == 20640
        and doc["split"]["test_rows"] == 4128
    )
    assert doc["model"]["version"] == 1 and doc["leaderboard"]["rows"][0]["rank"] == 1
    kinds = {item["kind"] for item in doc["limitations"]}
    assert {"capped target", "features leaned on", "assumption"} <= kinds
    assert {Path(p["file"]).name for p in doc["plots"]} >= {
        "map.png",
        "predicted_vs_actual.png",
        "learning_curve.png",
        "permutation_importance.png",
        "cv_scores.png",
    }
    assert all(
        (html_path.parent / p["file"]).is_file() for p in doc["plots"]
    )  # the figures' PNGs, beside the pages they came from
    html = html_path.read_text()
    for section in (
        "framing",
        "data",
        "exploration",
        "leaderboard",
        "model",
        "errors",
        "limitations",
    ):
        assert f'id="{section}"' in html


def test_report_titanic_after_the_threshold_asks_for_an_evaluation_then_shows_it(titanic):
    if (
        mlcraft.Project.open(titanic).registry.champion() == 1
    ):  # run alone: make the threshold version first
        ok(
            "analyse",
            "--project",
            titanic,
            "--min-precision",
            "0.9",
            "--no-learning-curve",
            "--no-importance",
        )
    out = ok("report", "--project", titanic).stdout
    assert "has not been evaluated on the test set" in out
    doc = load(titanic / "reports" / "report.json")
    assert doc["test"] is None and "no test result" in {i["kind"] for i in doc["limitations"]}
    ok("evaluate", "--project", titanic)
    ok("report", "--project", titanic)
    doc = load(titanic / "reports" / "report.json")
    assert doc["test"]["version"] == 2 and doc["model"]["threshold"]["threshold"] > 0.5
    assert (titanic / "reports" / "report.html").stat().st_size < FIVE_MB


@pytest.mark.parametrize("name", ["housing", "titanic"])
def test_pages_render_in_headless_chromium(name, request):
    """The report, the exploration and the analysis load without console errors, every image decodes,
    and the report's headline numbers are the JSON's."""
    executable = chromium_path()
    if executable is None:
        pytest.skip(
            "chromium is not installed (make setup installs Debian's chromium where it runs as root with apt-get)"
        )
    project = request.getfixturevalue(name)
    html = project / "reports" / "report.html"
    if not html.exists():
        ok("report", "--project", project)
    doc = load(project / "reports" / "report.json")
    pages = [
        html,
        project / "reports" / "explore" / "explore.html",
        Path(doc["sources"]["analysis"]) / "analysis.html",
    ]
    with Browser(executable) as browser:
        for page in pages:
            browser.load(page.resolve().as_uri())
            facts = browser.evaluate(PAGE_FACTS)
            assert browser.console_errors() == [], page
            assert len(facts["images"]) == page.read_text().count("data:image/png;base64,") >= 5, (
                page
            )
            assert all(
                img["complete"] and img["width"] > 0 and img["height"] > 0
                for img in facts["images"]
            ), (page, facts["images"])
            if page == html:
                shown = facts["headline"]
    expected = {k: v for k, v in doc["headline"].items() if k in shown}
    assert {"cv_mean", "train_rows"} <= set(expected) and ("test_value" in shown) == (
        doc["test"] is not None
    )
    for key, value in expected.items():
        text = shown[key].replace(",", "")
        decimals = len(text.split(".")[1]) if "." in text else 0
        assert float(text) == pytest.approx(value, abs=0.5 * 10**-decimals), (
            key,
            shown[key],
            value,
        )


KINDS_WITHOUT_TARGET = {  # --task: its families here, and figures its analysis page must show
    "cluster": (
        "kmeans,gmm",
        {"Silhouette diagrams against k", "The rows by cluster on a t-SNE map"},
    ),
    "anomaly": (
        "isolation_forest,gmm_density",
        {"Anomaly scores and the threshold", "The rows by anomaly score"},
    ),
    "embed": ("pca,isomap", {"Explained variance", "A 2-D map of the rows"}),
}


@pytest.mark.parametrize("task", sorted(KINDS_WITHOUT_TARGET))
def test_pages_of_kinds_without_a_target_render_in_headless_chromium(tmp_path, task):
    """A clustering, anomaly-detection or embedding project's report and analysis load without
    console errors, every image decodes, both pages stay under 5 MB, and the kind's own figures
    are there."""
    executable = chromium_path()
    if executable is None:
        pytest.skip("chromium is not installed")
    from sklearn.datasets import make_blobs

    X, y = make_blobs(300, centers=3, n_features=4, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    if task == "anomaly":  # the rows of the smallest group, few, are the anomalies
        keep = (y != 2) | (np.arange(len(y)) % 10 == 0)
        frame, y = frame[keep], (y[keep] == 2).astype(int)
    data = tmp_path / "blobs.csv"
    frame.assign(kind=y).to_csv(data, index=False)
    project = tmp_path / "p"
    families, figures = KINDS_WITHOUT_TARGET[task]
    ok("train", data, "--task", task, "--labels", "kind", "--project", project,
       "--max-trials", "4", "--family", families)  # fmt: skip
    ok("evaluate", "--project", project)
    ok("report", "--project", project)
    html = project / "reports" / "report.html"
    doc = load(project / "reports" / "report.json")
    analysis = Path(doc["sources"]["analysis"]) / "analysis.html"
    assert html.stat().st_size < FIVE_MB and analysis.stat().st_size < FIVE_MB
    with Browser(executable) as browser:
        for page in (html, analysis):
            browser.load(page.resolve().as_uri())
            facts = browser.evaluate(PAGE_FACTS)
            assert browser.console_errors() == [], page
            assert len(facts["images"]) == page.read_text().count("data:image/png;base64,") >= 2
            assert all(i["complete"] and i["width"] > 0 for i in facts["images"]), page
            if page == analysis:
                assert figures <= {i["alt"] for i in facts["images"]}
