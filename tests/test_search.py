"""Cross-validation: honest out-of-fold predictions, the budget, failures, the leaderboard.

The shortlist tests run the engine that training runs (``core.fit.tuning.Search`` over
``core.fit.scheduler.FoldPool``, as ``api/train.py`` uses them).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from mlcraft.core.analysis.metrics import Scorer, get_metric
from mlcraft.core.data.split import cv_folds
from mlcraft.core.fit.scheduler import FoldPool
from mlcraft.core.fit.search import Budget, Candidate, leaderboard_frame
from mlcraft.core.fit.tuning import FamilySpec, Search


class RowMemory(RegressorMixin, BaseEstimator):
    """Predicts 1 for a row it was trained on, 0 otherwise (rows are identified by column 'rid')."""

    def fit(self, X, y):
        self.seen_ = set(np.asarray(X["rid"]).tolist())
        return self

    def predict(self, X):
        return np.array([1.0 if r in self.seen_ else 0.0 for r in np.asarray(X["rid"])])


class Boom(RegressorMixin, BaseEstimator):
    def fit(self, X, y):
        raise FloatingPointError("diverged")


def data(n=50):
    X = pd.DataFrame({"rid": np.arange(n)})
    y = pd.Series(np.zeros(n))
    return X, y, cv_folds(y, classification=False, n_folds=5, seed=0)


def spec(candidate: Candidate) -> FamilySpec:
    """A family with nothing to tune whose one trial is ``candidate`` (the engine names its trials)."""
    return FamilySpec(
        candidate.name,
        {},
        [{}],
        lambda name, params: dataclasses.replace(candidate, name=name),
        candidate.estimated_fit_seconds,
    )


def shortlist(candidates, budget: Budget, n_jobs: int = 1):
    """Run the training engine (Search over a FoldPool) on ``candidates``, one family each."""
    X, y, folds = data()
    with FoldPool(
        X, y, folds, Scorer(get_metric("rmse")), task="regression", n_jobs=n_jobs
    ) as pool:
        return Search([spec(c) for c in candidates], pool, budget, seed=0).run()


def test_no_out_of_fold_prediction_comes_from_a_model_that_saw_the_row():
    (result,) = shortlist([Candidate("mem", "mem", {}, RowMemory)], Budget(), n_jobs=2)
    assert result.ok
    assert np.all(result.oof == 0.0)  # a 1 would mean a model predicted a row it had seen


def test_a_failing_family_is_recorded_not_fatal():
    results = shortlist(
        [Candidate("boom", "boom", {}, Boom, 0.01), Candidate("mem", "mem", {}, RowMemory, 0.02)],
        Budget(),
    )
    by_name = {r.name: r for r in results}
    assert by_name["boom"].status == "failed" and "diverged" in by_name["boom"].note
    assert by_name["mem"].ok


def test_budget_skips_what_would_not_fit_with_a_note():
    results = shortlist(
        [
            Candidate("cheap", "cheap", {}, RowMemory, 0.001),
            Candidate("huge", "huge", {}, RowMemory, 10_000.0),
        ],
        Budget(time_limit=5.0),
    )
    by_name = {r.name: r for r in results}
    assert by_name["cheap"].ok
    assert by_name["huge"].status == "skipped" and "left in the time limit" in by_name["huge"].note


def test_max_trials_fixes_the_work():
    cands = [Candidate(f"m{i}", f"m{i}", {}, RowMemory, i) for i in range(4)]
    results = shortlist(cands, Budget(max_trials=2))
    status = {
        r.name: r.status for r in results
    }  # the engine records skipped families as it meets them
    assert [status[f"m{i}"] for i in range(4)] == [
        "ok",
        "ok",
        "skipped",
        "skipped",
    ]  # the cheapest two run


def test_leaderboard_orders_best_first_for_both_directions():
    from mlcraft.core.fit.search import CVResult

    rmse = Scorer(get_metric("rmse"))
    results = [
        CVResult("a", "a", {}, [3.0]),
        CVResult("b", "b", {}, [1.0]),
        CVResult("c", "c", {}, status="skipped", note="x"),
    ]
    assert leaderboard_frame(results, rmse)["model"].tolist() == ["b", "a", "c"]
    auc = Scorer(get_metric("roc_auc"), classes=[0, 1], positive_class=1)
    assert leaderboard_frame(results, auc)["model"].tolist() == ["a", "b", "c"]


def test_parallel_scheduler_out_of_fold_and_kept_fold_models_never_saw_their_rows():
    """By construction: RowMemory predicts 1 exactly for rows it was fitted on."""
    from mlcraft.core.fit.scheduler import FoldPool, Trial

    X, y, folds = data()
    with FoldPool(X, y, folds, Scorer(get_metric("rmse")), task="regression", n_jobs=2) as pool:
        cand = Candidate("mem", "mem", {}, RowMemory, keep_models=True)
        (result,) = pool.run([Trial(0, cand)])
    assert result.ok and np.all(result.oof == 0.0)
    for model, (train_idx, val_idx) in zip(
        result.models, folds
    ):  # the bag's fold models (k-fold bagging)
        assert np.all(model.predict(X.iloc[val_idx]) == 0.0)
        assert np.all(model.predict(X.iloc[train_idx]) == 1.0)


def test_a_fold_that_cannot_finish_before_the_deadline_is_not_started():
    import time

    from mlcraft.core.fit.scheduler import FoldPool, Trial

    X, y, folds = data()
    with FoldPool(X, y, folds, Scorer(get_metric("rmse")), task="regression", n_jobs=1) as pool:
        slow = Candidate("slow", "slow", {}, RowMemory, estimated_fit_seconds=1000.0)
        (result,) = pool.run([Trial(0, slow)], deadline=time.time() + 5)
    assert result.status == "skipped" and "would not finish" in result.note
