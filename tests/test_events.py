"""Typed records of a run: trial status and a trial's stage."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge

from mlcraft.core.analysis.metrics import Scorer, get_metric
from mlcraft.core.data.split import cv_folds
from mlcraft.core.fit.family import Float
from mlcraft.core.fit.scheduler import FoldPool
from mlcraft.core.fit.search import Budget, Candidate, CVResult, leaderboard_frame
from mlcraft.core.fit.status import Stage, TrialStatus
from mlcraft.core.fit.tuning import FamilySpec, Search


def ridge_spec(name="ridge", portfolio=({"alpha": 10.0}, {"alpha": 100.0}), cost=0.01):
    def make(trial_name, params):
        return Candidate(trial_name, name, dict(params), lambda: Ridge(alpha=params["alpha"]), cost)

    return FamilySpec(name, {"alpha": Float(1e-3, 1e3, 1.0, log=True)}, [{"alpha": 1.0}, *portfolio], make, cost)


def problem(n=120):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=list("abc"))
    y = pd.Series(X.to_numpy() @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=0.5, size=n))
    return X, y, cv_folds(y, classification=False, n_folds=3, seed=0)


def test_a_status_is_an_enum_that_keeps_its_string():
    assert TrialStatus.OK == "ok" and f"{TrialStatus.TIMEOUT}" == "timeout" and json.dumps(TrialStatus.PRUNED) == '"pruned"'
    old = CVResult("a", "a", {}, status="skipped", note="read back from a run file")  # a string becomes the member
    assert old.status is TrialStatus.SKIPPED and not old.ok and not old.status.ran
    scorer = Scorer(get_metric("rmse"))
    board = leaderboard_frame([CVResult("b", "b", {}, [1.0]), old], scorer)
    assert board["status"].tolist() == ["ok", "skipped"] and all(type(s) is str for s in board["status"])


def test_each_trial_says_which_stage_proposed_it():
    X, y, folds = problem()
    with FoldPool(X, y, folds, Scorer(get_metric("rmse")), task="regression", n_jobs=1) as pool:
        results = Search([ridge_spec()], pool, Budget(max_trials=7), seed=0).run()
    stages = [(r.name, r.stage) for r in results]
    assert stages[:3] == [("ridge", Stage.SHORTLIST), ("ridge#2", Stage.PORTFOLIO), ("ridge#3", Stage.PORTFOLIO)]
    assert [s for _, s in stages[3:]] == [Stage.TUNING] * 4
    assert results[1].params == {"alpha": 10.0} and results[2].params == {"alpha": 100.0}
