"""The tuner: grid, random and Bayesian search find a known best; pruning; results independent of n_jobs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import Ridge

from mlcraft.core.analysis.metrics import Scorer, get_metric
from mlcraft.core.data.split import cv_folds
from mlcraft.core.fit.family import Choice, Float, Int
from mlcraft.core.fit.scheduler import FoldPool
from mlcraft.core.fit.search import Budget, Candidate
from mlcraft.core.fit.tuning import FamilySpec, Search, distribution


class Offset(RegressorMixin, BaseEstimator):
    """Predicts y + (a - 3)^2 + (b - 0.7)^2: its RMSE is exactly that offset, smallest at a=3, b=0.7."""

    def __init__(self, a=0, b=0.0):
        self.a, self.b = a, b

    def fit(self, X, y):
        return self

    def predict(self, X):
        return np.asarray(X["x"], dtype=float) + (self.a - 3) ** 2 + (self.b - 0.7) ** 2


def problem(n=60):
    X = pd.DataFrame({"x": np.linspace(0, 1, n)})
    y = pd.Series(X["x"].to_numpy())
    return X, y, cv_folds(y, classification=False, n_folds=3, seed=0)


def offset_spec(space):
    def make(name, params):
        return Candidate(name, "offset", dict(params), lambda: Offset(**params), 0.001)

    return FamilySpec("offset", space, [], make)


def run_search(space, strategy, trials, prune=False, n_jobs=1):
    X, y, folds = problem()
    with FoldPool(
        X, y, folds, Scorer(get_metric("rmse")), task="regression", n_jobs=n_jobs
    ) as pool:
        search = Search(
            [offset_spec(space)],
            pool,
            Budget(max_trials=trials),
            seed=0,
            strategy=strategy,
            prune=prune,
        )
        return search.run()


def best_of(results):
    ok = [r for r in results if r.ok]
    return min(ok, key=lambda r: r.mean)


def test_distributions_follow_the_declared_space():
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    assert distribution(Int(1, 10, 2, log=True)) == IntDistribution(1, 10, log=True)
    assert distribution(Float(0.1, 1.0, 0.5)) == FloatDistribution(0.1, 1.0)
    assert distribution(Choice(("a", None, 0.3), "a")) == CategoricalDistribution(("a", None, 0.3))


def test_grid_search_tries_every_combination_once_and_finds_the_best():
    space = {"a": Choice((1, 2, 3, 4, 5), 1), "b": Choice((0.1, 0.4, 0.7, 1.0), 0.1)}
    results = run_search(space, "grid", trials=100)
    assert len(results) == 20  # the grid is exhausted: no repeats, no more
    assert len({tuple(sorted(r.params.items())) for r in results}) == 20
    assert best_of(results).params == {"a": 3, "b": 0.7}
    assert best_of(results).mean == pytest.approx(0.0)


def test_random_search_finds_the_best_region():
    space = {"a": Int(0, 6, 0), "b": Float(0.0, 1.4, 0.0)}
    best = best_of(run_search(space, "random", trials=60))
    assert best.params["a"] == 3 and abs(best.params["b"] - 0.7) < 0.2


def test_bayesian_search_finds_the_best_closely_and_prunes_poor_trials():
    space = {"a": Int(0, 6, 0), "b": Float(0.0, 1.4, 0.0)}
    results = run_search(space, "bayes", trials=40, prune=True)
    best = best_of(results)
    assert best.params["a"] == 3 and abs(best.params["b"] - 0.7) < 0.1
    pruned = [r for r in results if r.status == "pruned"]
    assert pruned, "the median rule should stop some clearly worse trials after their first folds"
    assert all(len(r.scores) < 3 for r in pruned)


def test_bayes_is_optunas_tpe_and_beats_random_sampling_for_the_same_trials():
    from optuna.samplers import RandomSampler, TPESampler

    from mlcraft.core.fit.tuning import make_sampler

    assert isinstance(make_sampler("bayes", 0), TPESampler)
    assert isinstance(make_sampler("random", 0), RandomSampler)
    # TPE samples where earlier trials scored well: its later trials score far better than random ones
    space = {"a": Int(0, 6, 0), "b": Float(0.0, 1.4, 0.0)}
    later = {
        strategy: np.median([r.mean for r in run_search(space, strategy, trials=40)[20:]])
        for strategy in ("bayes", "random")
    }
    assert later["bayes"] < later["random"] / 2


def flat_spec(name, rmse_offset):
    """A family whose score does not depend on its parameter: tuning it can never gain."""

    def make(trial_name, params):
        return Candidate(
            trial_name, name, dict(params), lambda: Offset(a=3, b=0.7 + rmse_offset), 0.001
        )

    return FamilySpec(name, {"noise": Float(0.0, 1.0, 0.5)}, [], make)


def test_a_family_has_stalled_after_trials_without_a_real_gain():
    from mlcraft.core.fit.search import CVResult
    from mlcraft.core.fit.tuning import FAMILY_PATIENCE, FamilyStudy

    study = FamilyStudy(flat_spec("f", 0.0), sign=-1.0)  # RMSE: lower is better

    def add(rmse):
        study.results.append(CVResult("f", "f", {}, scores=[rmse]))

    for i in range(3 * FAMILY_PATIENCE):  # steady 1% gains: never stalled
        add(100.0 * 0.99**i)
        assert not study.stalled()
    last_gain = study.best().mean
    for _ in range(FAMILY_PATIENCE - 1):  # gains below 0.1% do not count
        add(last_gain * 0.9995)
    assert not study.stalled()
    add(last_gain * 0.9995)
    assert study.stalled()
    add(study.best().mean * 0.98)  # a real gain: back in the race
    assert not study.stalled()


def test_a_family_that_stops_improving_gives_its_tuning_turns_to_the_next_family():
    from mlcraft.core.fit.tuning import CONTENDERS, FAMILY_PATIENCE, TRIAL_BATCH

    X, y, folds = problem()
    specs = [
        flat_spec(f"f{i}", 0.1 * (i + 1)) for i in range(CONTENDERS + 1)
    ]  # f0 best ... f3 worst
    trials = len(specs) + CONTENDERS * (FAMILY_PATIENCE + 5)
    with FoldPool(X, y, folds, Scorer(get_metric("rmse")), task="regression", n_jobs=1) as pool:
        results = Search(specs, pool, Budget(max_trials=trials), seed=0, prune=False).run()
    per_family = {s.name: sum(r.family == s.name for r in results) for s in specs}
    # its shortlist trial, then no gain in FAMILY_PATIENCE trials (counted when a batch is proposed)
    assert 1 + FAMILY_PATIENCE <= per_family["f0"] <= 1 + FAMILY_PATIENCE + TRIAL_BATCH
    assert per_family["f3"] > 1  # the fourth family, never a contender while the others improved
    assert sum(per_family.values()) == trials


def ridge_spec():
    def make(name, params):
        return Candidate(name, "ridge", dict(params), lambda: Ridge(alpha=params["alpha"]), 0.01)

    return FamilySpec("ridge", {"alpha": Float(1e-3, 1e3, 1.0, log=True)}, [{"alpha": 1.0}], make)


@pytest.mark.parametrize("n_jobs", [2])
def test_same_trials_scores_and_order_for_any_number_of_workers(n_jobs):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 5)), columns=list("abcde"))
    y = pd.Series(
        X.to_numpy() @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) + rng.normal(scale=2.0, size=200)
    )
    folds = cv_folds(y, classification=False, n_folds=5, seed=1)
    runs = []
    for jobs in (1, n_jobs):
        with FoldPool(
            X, y, folds, Scorer(get_metric("rmse")), task="regression", n_jobs=jobs
        ) as pool:
            results = Search([ridge_spec()], pool, Budget(max_trials=14), seed=3).run()
        runs.append(
            [(r.name, r.status, tuple(sorted(r.params.items())), tuple(r.scores)) for r in results]
        )
    assert runs[0] == runs[1]
    assert len(runs[0]) == 14


def test_a_configuration_too_big_for_memory_is_subsampled_or_skipped_with_a_note(monkeypatch):
    import mlcraft.core.fit.candidates as candidates
    from mlcraft.core.data.schema import infer_schema
    from mlcraft.models import get_family
    from mlcraft.testing import toy_frame

    forest = get_family("random_forest")
    params = forest.default_params("regression", 1_000_000)
    need = forest.memory_bytes(1_000_000, 3, params)
    monkeypatch.setattr(
        candidates, "available_memory", lambda: need / candidates.MEMORY_SHARE / 4
    )  # a quarter fits
    rows, note, skip = candidates.memory_plan(forest, 1_000_000, 3, params, n_jobs=1)
    assert skip is None and 200_000 < rows < 300_000 and "subsampled" in note
    schema = infer_schema(toy_frame("regression"), "y")
    cand = candidates.make_candidate(forest, schema, "regression", 0, 1_000_000, "rf", params)
    assert cand.note and cand.skip_reason is None
    assert type(cand.build().steps[-1][1]).__name__ == "Subsampled"
    monkeypatch.setattr(
        candidates, "available_memory", lambda: 1e6
    )  # almost nothing: refused, not crashed
    _, _, skip = candidates.memory_plan(forest, 1_000_000, 3, params, n_jobs=1)
    assert skip and "would need" in skip


def test_choices_optuna_cannot_store_are_searched_by_position():
    space = {"a": Choice(((1, 2), (3,), (4, 5, 6)), (1, 2)), "b": Choice((0.7,), 0.7)}

    def make(name, params):
        return Candidate(
            name,
            "offset",
            dict(params),
            lambda: Offset(a=sum(params["a"]) - 0, b=params["b"]),
            0.001,
        )

    X, y, folds = problem()
    with FoldPool(X, y, folds, Scorer(get_metric("rmse")), task="regression", n_jobs=1) as pool:
        results = Search(
            [FamilySpec("offset", space, [{"a": (1, 2), "b": 0.7}], make)],
            pool,
            Budget(max_trials=3),
            seed=0,
        ).run()
    assert {r.params["a"] for r in results} == {(1, 2), (3,), (4, 5, 6)}
    assert min(results, key=lambda r: r.mean).params["a"] in ((1, 2), (3,))  # sum 3: the best
