"""Error-analysis computations, the threshold chooser, multilabel scores, figures and the page budget."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from mlcraft.core.analysis import diagnostics, learning
from mlcraft.core.analysis.threshold import choose_threshold, precision_recall_at
from mlcraft.exceptions import ConfigError


def binary_data(n=3000, seed=0):
    r = np.random.default_rng(seed)
    y = r.random(n) < 0.3
    score = np.clip(0.3 + 0.35 * (y - 0.3) + r.normal(scale=0.2, size=n), 0, 1)
    return y, score


def test_threshold_for_min_precision_reaches_it_and_keeps_the_most_recall():
    y, score = binary_data()
    choice = choose_threshold(y, score, min_precision=0.9)
    precision, recall = precision_recall_at(y, score, choice.threshold)
    assert (
        precision >= 0.9
        and precision == pytest.approx(choice.precision)
        and recall == pytest.approx(choice.recall)
    )
    # no other threshold reaching 0.9 precision has more recall
    decided = score[None, :] >= np.unique(score)[:, None]  # every possible threshold, one per row
    tp, pp = (decided & y).sum(axis=1), decided.sum(axis=1)
    p, r = tp / np.maximum(pp, 1), tp / y.sum()
    assert r[p >= 0.9].max() == pytest.approx(choice.recall)
    assert choice.previous_threshold == 0.5 and "at the cost of recall" in choice.summary


def test_threshold_for_min_recall_and_refusals():
    y, score = binary_data()
    choice = choose_threshold(y, score, min_recall=0.95)
    precision, recall = precision_recall_at(y, score, choice.threshold)
    assert recall >= 0.95 and precision == pytest.approx(choice.precision)
    with pytest.raises(ConfigError, match="exactly one"):
        choose_threshold(y, score, min_precision=0.9, min_recall=0.9)
    with pytest.raises(ConfigError, match="between 0 and 1"):
        choose_threshold(y, score, min_precision=1.5)
    with pytest.raises(ConfigError, match="single class"):
        choose_threshold(np.ones(10, dtype=bool), np.linspace(0, 1, 10), min_precision=0.9)
    with pytest.raises(ConfigError, match="no threshold reaches precision 0.9.*the best is 0.667"):
        choose_threshold(np.array([1, 0, 1, 0]), np.array([0.9, 0.95, 0.2, 0.1]), min_precision=0.9)


def test_classification_diagnostics_binary_match_scikit_learn():
    y, score = binary_data()
    labels = np.where(y, "yes", "no")
    proba = np.column_stack([1 - score, score])
    d = diagnostics.classification_diagnostics(labels, proba, ["no", "yes"], "yes", threshold=0.6)
    decided = score >= 0.6
    assert d["confusion"]["counts"] == skm.confusion_matrix(y, decided).tolist()
    assert d["scores"]["per_class"][1]["precision"] == pytest.approx(
        skm.precision_score(y, decided)
    )
    assert d["curves"]["roc"]["auc"] == pytest.approx(skm.roc_auc_score(y, score))
    assert len(d["curves"]["threshold"]["thresholds"]) <= diagnostics.MAX_CURVE_POINTS
    assert d["confusion"]["largest"][0]["text"].endswith("predicted as no") or d["confusion"][
        "largest"
    ][0]["text"].endswith("predicted as yes")
    assert sum(d["calibration"]["bin_counts"]) == len(y)


def test_classification_diagnostics_multiclass_names_the_largest_confusion():
    r = np.random.default_rng(0)
    y = r.integers(0, 3, 900)
    proba = np.full((900, 3), 0.1)
    proba[np.arange(900), y] = 0.8
    swap = (y == 2) & (r.random(900) < 0.5)  # half of class 2 is taken for class 0
    proba[swap] = [0.8, 0.1, 0.1]
    d = diagnostics.classification_diagnostics(y, proba, [0, 1, 2])
    top = d["confusion"]["largest"][0]
    assert (top["actual"], top["predicted"]) == ("2", "0") and top[
        "share_of_actual"
    ] == pytest.approx(swap.sum() / (y == 2).sum())
    assert np.allclose(np.asarray(d["confusion"]["normalised"]).sum(axis=1), 1.0)
    assert [row["class"] for row in d["one_vs_rest"]] == ["0", "1", "2"]
    assert d["calibration"]["label"] == "top-label confidence"


def test_regression_diagnostics_by_decile_and_category():
    r = np.random.default_rng(0)
    y = r.uniform(0, 100, 2000)
    group = pd.Series(r.choice(["a", "b"], 2000))
    pred = y + np.where(group == "b", 10.0, 0.0) + r.normal(size=2000)
    d = diagnostics.regression_diagnostics(y, pred, {"group": group})
    assert len(d["by_decile"]) == 10 and sum(g["count"] for g in d["by_decile"]) == 2000
    by = {g["group"]: g for g in d["by_category"]["group"]}
    assert by["b"]["bias"] == pytest.approx(10.0, abs=0.2) and abs(by["a"]["bias"]) < 0.2
    assert d["rmse"] == pytest.approx(np.sqrt(np.mean((pred - y) ** 2)))


def test_multilabel_scores_match_scikit_learn_on_indicator_matrices():
    r = np.random.default_rng(0)
    Y = (r.random((500, 4)) < [0.5, 0.3, 0.1, 0.6]).astype(int)
    scores = np.clip(Y * 0.6 + r.random((500, 4)) * 0.5, 0, 1)
    d = diagnostics.multilabel_diagnostics(Y, scores, ["a", "b", "c", "d"], threshold=0.5)
    decided = (scores >= 0.5).astype(int)
    assert [row["f1"] for row in d["per_label"]] == pytest.approx(
        skm.f1_score(Y, decided, average=None).tolist()
    )
    for average in ("micro", "macro", "weighted", "samples"):
        assert d["averages"][average]["f1"] == pytest.approx(
            skm.f1_score(Y, decided, average=average, zero_division=0)
        )
    assert d["hamming_loss"] == pytest.approx(skm.hamming_loss(Y, decided))
    with pytest.raises(ValueError):
        diagnostics.multilabel_scores(Y, decided[:, :3], ["a", "b", "c", "d"])


def test_learning_curve_reading_follows_the_book():
    base = {"metric": "rmse", "greater_is_better": False, "sizes": [100, 200, 300]}
    over = learning.read_learning_curve(
        {**base, "train_mean": [10, 12, 13], "valid_mean": [40, 35, 33]}
    )
    under = learning.read_learning_curve(
        {**base, "train_mean": [30, 31, 31.5], "valid_mean": [33, 32.2, 32.1]}
    )
    more = learning.read_learning_curve(
        {**base, "train_mean": [29, 30, 30.5], "valid_mean": [40, 36, 32]}
    )
    assert over["verdict"] == "overfitting" and "overfitting" in over["text"]
    assert under["verdict"] == "converged or underfitting" and "underfits" in under["text"]
    assert more["verdict"] == "more data helps"
    auc = learning.read_learning_curve(
        {
            "metric": "roc_auc",
            "greater_is_better": True,
            "sizes": [1, 2],
            "train_mean": [1.0, 1.0],
            "valid_mean": [0.7, 0.75],
        }
    )
    assert auc["verdict"] == "overfitting"


def test_figures_are_png_and_the_page_stays_under_its_budget():
    from mlcraft.plots import analysis as fig
    from mlcraft.plots.base import Plot
    from mlcraft.reports import MAX_HTML_BYTES, render_html

    y, score = binary_data()
    d = diagnostics.classification_diagnostics(
        y.astype(int), np.column_stack([1 - score, score]), [0, 1], 1, 0.5
    )
    plot = fig.confusion_matrices(d["confusion"])
    assert plot.png.startswith(b"\x89PNG") and plot.file == "confusion_matrix.png"
    noise = np.random.default_rng(0).bytes(1_500_000)  # incompressible: 2 MB once base64-encoded
    big = [Plot(f"histograms_{i}", f"figure {i}", noise) for i in range(5)]
    doc = {"mlcraft": "x", "created": "now", "project": "p", "kind": "explore"}
    html = render_html("base.html.j2", doc, big, where="DIR/reports")
    assert len(html.encode()) < MAX_HTML_BYTES
    assert html.count("data:image/png;base64,") == 2  # two fit, in order; the others are named
    assert (
        "figure 0" in html
        and "left out of this page to keep it under 5 MB; see DIR/reports/histograms_4.png" in html
    )


def test_a_multilabel_section_renders_in_the_analysis_page():
    """No command reaches multilabel targets yet (one target column); the section and page are ready."""
    from mlcraft.api.analyse import multilabel_analysis
    from mlcraft.reports import render_html

    r = np.random.default_rng(0)
    Y = (r.random((300, 3)) < 0.4).astype(int)
    section, plots = multilabel_analysis(
        Y, np.clip(Y * 0.5 + r.random((300, 3)) * 0.6, 0, 1), ["news", "sport", "tech"]
    )
    doc = {
        "kind": "analysis",
        "mlcraft": "x",
        "created": "now",
        "project": "p",
        "run_id": "r",
        "model": "m",
        "version": None,
        "task": "multilabel",
        "classification": True,
        "target": "tags",
        "metric": "f1_micro",
        "scope": "out-of-fold predictions",
        "notes": [],
        "cv": {"mean": 0.5, "std": 0.1, "scores": []},
        "diagnostics": section,
        "threshold_choice": None,
        "learning_curve": None,
        "learning_curve_reading": None,
        "importance": None,
        "cv_scores": {"metric": "f1_micro", "models": {}},
    }
    html = render_html("analysis.html.j2", doc, plots)
    assert "F1 per label" in html and "data:image/png;base64," in html
    for row in section["per_label"]:
        assert f'<td class="text">{row["label"]}</td>' in html
    assert f"micro {section['averages']['micro']['f1']:.4f}" in html


def test_command_help_texts():
    from typer.testing import CliRunner

    from mlcraft.cli import app

    runner = CliRunner()
    for command, words in [
        ("explore", ["--size-by", "--plot-sample", "never the test rows"]),
        ("analyse", ["--min-precision", "--min-recall", "--model", "out-of-fold"]),
        ("analyze", ["--min-precision"]),
        ("report", ["--out", "95% CI"]),
    ]:
        result = runner.invoke(app, [command, "--help"], terminal_width=200)
        assert result.exit_code == 0, result.output
        for word in words:
            assert word in " ".join(result.output.split()), (command, word)
