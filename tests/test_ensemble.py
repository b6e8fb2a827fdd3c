"""Ensembles: greedy selection, a cross-validated blender (no stacking leakage), chosen only when they win."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from mlcraft.core.analysis.metrics import Scorer, get_metric
from mlcraft.core.data.split import cv_folds
from mlcraft.core.fit.blending import cross_validated_blend, fit_blend
from mlcraft.core.fit.champion import Champion, build_ensembles, choose
from mlcraft.core.fit.search import CVResult
from mlcraft.core.predict.ensemble import EnsembleModel
from mlcraft.core.predict.pipeline import FittedModel

RMSE = Scorer(get_metric("rmse"))


def result(name, scores, oof=None, family=None):
    return CVResult(name, family or name, {}, scores=list(scores), oof=oof, fit_time=0.1)


def test_caruana_combines_independent_errors_and_ignores_noise():
    rng = np.random.default_rng(0)
    y = rng.normal(size=2000)
    a, b = y + rng.normal(size=2000), y + rng.normal(size=2000)
    junk = 5 + rng.normal(size=2000)  # biased: never helps
    blend = fit_blend("caruana", [a, b, junk], y, RMSE, "regression")
    assert blend.weights[2] == 0
    assert blend.weights[0] == pytest.approx(0.5, abs=0.1)
    assert RMSE(y, blend.combine([a, b, junk], "regression")) < min(RMSE(y, a), RMSE(y, b)) * 0.8


def test_stacking_blender_is_cross_validated_so_noise_scores_as_noise():
    """30 members of pure noise: a blender scored on the rows it was fitted on looks skilled; the
    cross-validated score, where each row's blend never saw the row, is at chance level."""
    rng = np.random.default_rng(1)
    n, m = 150, 30
    y = pd.Series(rng.integers(0, 2, size=n))
    auc = Scorer(get_metric("roc_auc"), classes=[0, 1], positive_class=1)
    preds = [np.column_stack([1 - p, p]) for p in rng.uniform(0.05, 0.95, size=(m, n))]
    folds = cv_folds(y, classification=True, n_folds=5, seed=0)
    scores, oof, blend = cross_validated_blend(
        "stacking", preds, y.to_numpy(), folds, auc, "binary"
    )
    in_sample = auc(y.to_numpy(), blend.combine(preds, "binary"))
    assert np.mean(scores) < 0.62  # honest: chance level
    assert in_sample > np.mean(scores) + 0.1  # the leak a naive stacker would report
    for (
        train_idx,
        val_idx,
    ) in folds:  # by construction: each fold's blend was fitted without its rows
        refit = fit_blend(
            "stacking", [p[train_idx] for p in preds], y.to_numpy()[train_idx], auc, "binary"
        )
        assert np.allclose(refit.combine([p[val_idx] for p in preds], "binary"), oof[val_idx])


def test_an_ensemble_is_chosen_only_when_its_cv_score_beats_the_best_single_model():
    y = np.zeros(10)
    single = [result("a", [1.0, 1.0]), result("b", [1.2, 1.2])]
    for r in single:
        r.oof = y
    worse = Champion(
        result("ensemble:x", [1.05, 1.05], family="ensemble"),
        single,
        fit_blend("soft_vote", [y, y], y, RMSE, "regression"),
    )
    assert choose(single, [worse], RMSE).result.name == "a"
    better = Champion(
        result("ensemble:y", [0.9, 0.9], family="ensemble"),
        single,
        fit_blend("soft_vote", [y, y], y, RMSE, "regression"),
    )
    assert choose(single, [worse, better], RMSE).result.name == "ensemble:y"
    assert choose(single, [better], RMSE, prefer_fast=True).result.name == "a"


def test_built_ensembles_are_scored_out_of_fold_and_listed_with_members():
    rng = np.random.default_rng(2)
    y = pd.Series(rng.normal(size=300))
    folds = cv_folds(y, classification=False, n_folds=5, seed=0)
    results = []
    for i in range(4):
        oof = y.to_numpy() + rng.normal(size=300)
        results.append(
            CVResult(
                f"m{i}",
                f"f{i}",
                {},
                scores=[RMSE(y.to_numpy()[va], oof[va]) for _, va in folds],
                oof=oof,
                fit_time=0.1,
            )
        )
    ensembles = build_ensembles(results, y.to_numpy(), folds, RMSE, "regression")
    names = {e.result.name for e in ensembles}
    assert {"ensemble:caruana", "ensemble:stacking", "ensemble:soft_vote"} <= names
    for e in ensembles:
        assert len(e.result.scores) == 5 and e.result.params["members"]
        assert e.result.mean < min(
            r.mean for r in results
        )  # independent errors: every ensemble wins here


def test_greedy_selection_also_draws_on_families_outside_the_best_trials():
    """The twelve best trials are near-copies of one model; a thirteenth family, ranked below them,
    makes independent errors. Greedy selection is offered the best of every family, so it finds it."""
    rng = np.random.default_rng(3)
    y = pd.Series(rng.normal(size=400))
    folds = cv_folds(y, classification=False, n_folds=5, seed=0)
    base = y.to_numpy() + rng.normal(size=400)

    def make(name, family, oof):
        return CVResult(
            name,
            family,
            {},
            scores=[RMSE(y.to_numpy()[va], oof[va]) for _, va in folds],
            oof=oof,
            fit_time=0.1,
        )

    results = [make(f"lin#{i}", "lin", base + 0.01 * rng.normal(size=400)) for i in range(12)]
    results.append(make("forest", "forest", y.to_numpy() + 1.1 * rng.normal(size=400)))
    assert all(r.mean < results[-1].mean for r in results[:-1])  # the forest ranks 13th
    caruana = next(
        e
        for e in build_ensembles(results, y.to_numpy(), folds, RMSE, "regression")
        if e.result.name == "ensemble:caruana"
    )
    assert "forest" in caruana.result.params["members"]
    assert caruana.result.mean < min(r.mean for r in results) * 0.85


def test_the_search_keeps_time_to_refit_the_members_an_ensemble_would_pick():
    """The time kept back for the final refit counts the slow forest that greedy selection would
    add, although it ranks below the five best trials."""
    from mlcraft.core.fit.champion import likely_members, refit_seconds

    rng = np.random.default_rng(4)
    y = pd.Series(rng.normal(size=400))
    folds = cv_folds(y, classification=False, n_folds=5, seed=0)
    base = y.to_numpy() + rng.normal(size=400)

    def make(name, family, oof, fit_time):
        return CVResult(
            name,
            family,
            {},
            scores=[RMSE(y.to_numpy()[va], oof[va]) for _, va in folds],
            oof=oof,
            fit_time=fit_time,
        )

    results = [
        make(f"boost#{i}", "boost", base + 0.01 * rng.normal(size=400), 1.0) for i in range(8)
    ]
    forest = make("forest", "forest", y.to_numpy() + 1.1 * rng.normal(size=400), 20.0)
    results.append(forest)
    likely = likely_members(results, y.to_numpy(), RMSE, "regression")
    assert any(r is forest for r in likely)
    assert refit_seconds(likely, n_jobs=2) > refit_seconds(results[:5], n_jobs=2) * 5


def test_ensemble_model_serves_through_fitted_model_and_pickles():
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mlcraft.core.data.schema import infer_schema
    from mlcraft.testing import toy_frame

    frame = toy_frame("binary")
    schema = infer_schema(frame, "y")
    X, _ = schema.coerce(frame)
    X = X[["x1"]].fillna(0).assign(x2=X["x2"].fillna(0))
    members = [
        make_pipeline(StandardScaler(), LogisticRegression(C=c)).fit(X, frame["y"])
        for c in (0.1, 10.0)
    ]
    blend = fit_blend(
        "soft_vote",
        [np.zeros((len(X), 2))] * 2,
        frame["y"].to_numpy(),
        Scorer(get_metric("roc_auc"), ["no", "yes"], "yes"),
        "binary",
    )
    ensemble = EnsembleModel(members=members, blend=blend, task="binary", classes=["no", "yes"])
    model = FittedModel(
        ensemble,
        schema,
        "binary",
        "ensemble",
        {},
        classes=["no", "yes"],
        positive_class="yes",
        threshold=0.5,
    )
    raw = model.predict_raw(X)
    expected = np.mean([m.predict_proba(X) for m in members], axis=0)
    assert np.allclose(raw, expected)
    again = pickle.loads(pickle.dumps(model))
    assert np.array_equal(again.predict_raw(X), raw)
    assert LinearRegression  # (imported to keep the example close to a regression use)


def test_prefer_fast_passes_over_models_too_slow_for_10000_rows():
    y = np.zeros(10)
    slow = result("lightgbm#2", [0.9, 0.9], family="lightgbm")
    quick = result("hist_gradient_boosting", [1.0, 1.0], family="hist_gradient_boosting")
    worst = result("ridge", [1.5, 1.5], family="ridge")
    # CV predict times on folds of 2,000 rows: 0.5 s, 0.05 s, 0.001 s for 2,000 rows
    for r, seconds in ((slow, 0.5), (quick, 0.05), (worst, 0.001)):
        r.oof, r.predict_time = y, seconds
    rows = dict(n_rows=10_000, n_folds=5)
    assert (
        choose([slow, quick, worst], [], RMSE, **rows, n_jobs=2).result.name == "lightgbm#2"
    )  # not asked: the best
    fast = choose([slow, quick, worst], [], RMSE, prefer_fast=True, **rows, n_jobs=2)
    assert fast.result.name == "hist_gradient_boosting"
    assert any("lightgbm#2 not chosen (--prefer-fast)" in note for note in fast.notes)
    # 0.5 s for 2,000 rows (one core) is ~1.4 s for 10,000 on 2 cores; on 8 cores it fits
    assert (
        choose([slow, quick, worst], [], RMSE, prefer_fast=True, **rows, n_jobs=8).result.name
        == "lightgbm#2"
    )
    # nothing fast enough: the fastest, said so
    for r in (slow, quick, worst):
        r.predict_time = 5.0 if r is not worst else 1.0
    alone = choose([slow, quick, worst], [], RMSE, prefer_fast=True, **rows, n_jobs=1)
    assert alone.result.name == "ridge" and "may miss the target" in alone.notes[-1]


def test_prefer_fast_times_fold_models_before_trusting_cv_estimates():
    y = np.zeros(10)
    slow = result("lightgbm#2", [0.9, 0.9], family="lightgbm")
    quick = result("lightgbm", [1.0, 1.0], family="lightgbm")
    for r in (slow, quick):
        r.oof, r.predict_time = y, 5.0  # the CV's estimate says both are too slow
    measured = {"lightgbm#2": 1.3, "lightgbm": 0.4}
    timed = []

    def timer(r):
        timed.append(r.name)
        return measured[r.name]

    fast = choose(
        [slow, quick], [], RMSE, prefer_fast=True, n_rows=10_000, n_folds=5, n_jobs=2, timer=timer
    )
    assert fast.result.name == "lightgbm" and timed == ["lightgbm#2", "lightgbm"]
    assert "its fold model predicted 10,000 rows in 1.30 s" in fast.notes[0]


def test_fold_model_timer_times_a_kept_fold_model():
    from mlcraft.core.data.schema import infer_schema
    from mlcraft.core.fit.champion import fold_model_timer
    from mlcraft.core.fit.family import BuildContext
    from mlcraft.core.predict.pipeline import make_pipeline
    from mlcraft.models import get_family

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.choice(["x", "y"], size=200)})
    frame["y"] = frame["a"] * 2 + (frame["b"] == "x")
    schema = infer_schema(frame, "y")
    X, _ = schema.coerce(frame)
    family = get_family("ridge")
    pipeline = make_pipeline(
        family,
        schema,
        family.default_params("regression", 200),
        BuildContext(task="regression", n_rows=200, n_features=2, seed=0),
    ).fit(X, frame["y"])
    kept = result("ridge", [1.0])
    kept.models = [pipeline]
    timer = fold_model_timer(X, schema, "regression", None)
    seconds = timer(kept)
    assert seconds is not None and 0 < seconds < 5
    assert timer(result("knn", [1.0])) is None  # no fold model kept: nothing to time
    assert (
        fold_model_timer(X, schema, "regression", None, limit_s=0.0)(kept) is None
    )  # no time for timings
