"""Hyperparameter search over the families' declared spaces: Optuna, pruning, a budget by promise.

Each family gets one Optuna study (seeded TPE by default; grid and random for the book's
``GridSearchCV`` / ``RandomizedSearchCV``). Its first trials are fixed: the defaults, then the
family's portfolio of known-good configurations; then the sampler proposes. Trials are pruned fold
by fold by Optuna's median rule (within a family, against trials completed in earlier batches).

The search runs in batches of :data:`TRIAL_BATCH` trials whatever the number of workers: a batch
is proposed from the studies as they stood after the previous batch, and told back in trial order.
That, and pruning against completed trials only, makes a run with a fixed number of trials give
the same trials, scores and choice on every run and for any ``n_jobs``.

Budget across families, by promise: after the shortlist (every family at its defaults, cheapest
first), the next batches go to the :data:`CONTENDERS` best families, in shares 4:2:1 by rank,
re-ranked after every batch. A family that has :meth:`~FamilyStudy.stalled` (no real gain in its
last :data:`FAMILY_PATIENCE` trials) ranks behind those still improving.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlcraft.core.fit.events import Callback, Note, NoteKind, Progress
from mlcraft.core.fit.family import Choice, Dimension, Float, Int
from mlcraft.core.fit.scheduler import FoldPool, Trial
from mlcraft.core.fit.search import Budget, Candidate, CVResult  # noqa: F401 (Candidate: FamilySpec.make's type)
from mlcraft.core.fit.status import Stage, TrialStatus

__all__ = [
    "STRATEGIES",
    "distribution",
    "make_sampler",
    "FamilyStudy",
    "FamilySpec",
    "Search",
    "TRIAL_BATCH",
    "CONTENDERS",
]

STRATEGIES = ("grid", "random", "bayes")
TRIAL_BATCH = 4  # trials proposed at once (fixed, so that results do not depend on n_jobs)
CONTENDERS = 3  # families that share the tuning budget
SHARES = (4, 2, 1)
CHEAP_SHARE = (
    0.05  # a family whose CV is estimated below this share of the time limit is shortlisted first
)
SHORTLIST_SHARE = (
    0.2  # in the shortlist, a family whose CV would take more of the time left is skipped
)
PATIENCE = (
    200  # with a time limit, the search ends after this many trials without a better CV score
)
FAMILY_PATIENCE = (
    30  # a family that many trials past its last gain gives its turn to the next family
)
MIN_GAIN = 1e-3  # relative: a smaller gain of a family's best CV score does not count as progress
MAX_REPEATS = (
    20  # proposals that repeat a configuration already tried before the study counts as exhausted
)


def distribution(dim: Dimension):
    """The Optuna distribution of a search-space dimension."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(dim, Int):
        return IntDistribution(dim.low, dim.high, log=dim.log)
    if isinstance(dim, Float):
        return FloatDistribution(dim.low, dim.high, log=dim.log)
    if isinstance(dim, Choice):
        return CategoricalDistribution(
            dim.choices if _primitive(dim) else tuple(range(len(dim.choices)))
        )
    raise TypeError(f"unknown search-space dimension {dim!r}")


def _primitive(dim: Choice) -> bool:
    """Optuna stores None, bool, int, float and str choices; others (tuples...) go by position."""
    return all(c is None or isinstance(c, (bool, int, float, str)) for c in dim.choices)


def _encode(space: Mapping[str, Dimension], params: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(params)
    for name, dim in space.items():
        if isinstance(dim, Choice) and not _primitive(dim) and name in out:
            out[name] = dim.choices.index(out[name])
    return out


def _decode(space: Mapping[str, Dimension], params: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(params)
    for name, dim in space.items():
        if isinstance(dim, Choice) and not _primitive(dim) and name in out:
            out[name] = dim.choices[out[name]]
    return out


def grid_values(dim: Dimension) -> list[Any]:
    """The values a grid search tries for a dimension (a Choice's choices, or every integer)."""
    if isinstance(dim, Choice):
        return list(dim.choices)
    if isinstance(dim, Int) and dim.high - dim.low <= 100:
        return list(range(dim.low, dim.high + 1))
    raise ValueError(
        f"a grid search needs a list of values for every parameter, not the range {dim}"
    )


def grid_points(space: Mapping[str, Dimension]) -> list[dict[str, Any]]:
    """Every combination of a space's values, in scikit-learn's ``ParameterGrid`` order."""
    from sklearn.model_selection import ParameterGrid

    return list(ParameterGrid({name: grid_values(dim) for name, dim in space.items()}))


def make_sampler(strategy: str, seed: int, space: Mapping[str, Dimension] | None = None):
    """A seeded Optuna sampler: ``random``, or ``bayes`` (TPE); a ``grid`` enqueues its points and
    uses a random sampler for nothing else."""
    import optuna

    if strategy == "random" or strategy == "grid":  # a grid's points are enqueued (see grid_points)
        return optuna.samplers.RandomSampler(seed=seed)
    if strategy == "bayes":
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=5, multivariate=True, constant_liar=True
        )
    raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")


def _key(params: Mapping[str, Any]) -> str:
    return repr(sorted(params.items(), key=lambda kv: kv[0]))


@dataclass
class FamilySpec:
    """What the search needs to know about a family: its space, first trials and a candidate factory."""

    name: str
    space: dict[str, Dimension]
    first: list[dict[str, Any]]  # defaults, then the portfolio
    make: Callable[[str, dict[str, Any]], Candidate]  # (trial name, params) -> Candidate
    estimated_fit_seconds: float = 0.0
    priority: int = 0  # higher: shortlisted earlier


class FamilyStudy:
    """One family's Optuna study: fixed first trials, then the sampler; pruning by the median rule."""

    def __init__(
        self,
        spec: FamilySpec,
        *,
        strategy: str = "bayes",
        seed: int = 0,
        prune: bool = True,
        sign: float = 1.0,
    ):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.spec, self.sign = spec, sign
        pruner = (
            optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1)
            if prune
            else optuna.pruners.NopPruner()
        )
        sampler = make_sampler(strategy, seed + zlib.crc32(spec.name.encode()) % 10_000, spec.space)
        self.study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
        self.distributions = {name: distribution(dim) for name, dim in spec.space.items()}
        first = [
            (Stage.SHORTLIST if i == 0 else Stage.PORTFOLIO, dict(p))
            for i, p in enumerate(spec.first)
        ]
        self.fixed = first + [
            (Stage.TUNING, p) for p in (grid_points(spec.space) if strategy == "grid" else [])
        ]
        self.stages: dict[int, Stage] = {}  # Optuna trial number -> the stage that proposed it
        self.tried: dict[str, float] = {}
        self.results: list[CVResult] = []
        self.exhausted = False
        self.grid_size = (
            math.prod(len(grid_values(d)) for d in spec.space.values())
            if strategy == "grid"
            else None
        )
        self.count = 0

    def ask(self) -> tuple[Any, dict[str, Any]] | None:
        """The next trial and its parameters (None when there is nothing new to try)."""
        if self.exhausted:
            return None
        for _ in range(MAX_REPEATS):
            if self.grid_size is not None and len(self.tried) >= self.grid_size:
                break
            stage = Stage.TUNING
            if self.fixed:
                stage, fixed = self.fixed.pop(0)
                self.study.enqueue_trial(_encode(self.spec.space, fixed), skip_if_exists=False)
            trial = self.study.ask(self.distributions)
            params = _decode(self.spec.space, trial.params)
            key = _key(params)
            if key not in self.tried:
                self.tried[key] = math.nan
                self.stages[trial.number] = stage
                return trial, params
            self.study.tell(
                trial,
                self.tried[key] if math.isfinite(self.tried[key]) else None,
                state=None if math.isfinite(self.tried[key]) else _fail(),
            )
            if not self.distributions:
                break
        self.exhausted = True
        return None

    def tell(self, trial: Any, params: dict[str, Any], result: CVResult) -> None:
        from optuna.trial import TrialState

        self.results.append(result)
        if result.ok:
            value = self.sign * result.mean
            self.tried[_key(params)] = value
            self.study.tell(trial, value)
        elif result.status is TrialStatus.PRUNED:
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            self.study.tell(trial, state=TrialState.FAIL)
        if not self.distributions:
            self.exhausted = True

    def pruner(self, trial: Any) -> Callable[[int, float], bool]:
        def prune(step: int, value: float) -> bool:
            trial.report(value, step)
            return trial.should_prune()

        return prune

    def best(self) -> CVResult | None:
        ok = [r for r in self.results if r.ok]
        return max(ok, key=lambda r: self.sign * r.mean) if ok else None

    def stalled(self) -> bool:
        """True when the last :data:`FAMILY_PATIENCE` trials did not improve the family's best
        CV score by more than :data:`MIN_GAIN` (relative): tuning it further is chasing noise."""
        best, since = -math.inf, 0
        for r in self.results:
            value = self.sign * r.mean if r.ok else -math.inf
            if value > best and (best == -math.inf or value - best > MIN_GAIN * abs(best)):
                best, since = value, 0
            else:
                since += 1
        return since >= FAMILY_PATIENCE

    def stage_of(self, trial: Any) -> Stage:
        """Where a trial from :meth:`ask` came from: the defaults, the portfolio or the sampler."""
        return self.stages.get(trial.number, Stage.TUNING)

    def next_name(self) -> str:
        self.count += 1
        return self.spec.name if self.count == 1 else f"{self.spec.name}#{self.count}"


def _fail():
    from optuna.trial import TrialState

    return TrialState.FAIL


@dataclass
class Search:
    """Shortlist, then tune the promising families, within a budget, over a :class:`FoldPool`.

    ``reserve(results, candidates)`` says how many seconds to keep for what follows the search
    (ensembles, the final refit, saving), given the results so far and the batch about to start.
    """

    specs: Sequence[FamilySpec]
    pool: FoldPool
    budget: Budget
    seed: int = 0
    strategy: str = "bayes"
    prune: bool = True
    callback: Callback = field(default_factory=Callback)
    reserve: Callable[[list[CVResult], list[Candidate]], float] = lambda results, candidates: 0.0
    tune: bool = True
    batch_size: int = TRIAL_BATCH
    keep_top: int = 15  # fold models are kept for the best trials only

    def __post_init__(self) -> None:
        sign = self.pool.scorer.sign
        self.studies = {
            s.name: FamilyStudy(
                s, strategy=self.strategy, seed=self.seed, prune=self.prune, sign=sign
            )
            for s in self.specs
        }
        self.results: list[CVResult] = []
        self.credit = {s.name: 0.0 for s in self.specs}

    # -- budget ------------------------------------------------------------------------------------
    def _deadline(self, candidates: Sequence[Candidate] = ()) -> float | None:
        if self.budget.time_limit is None:
            return None
        return time.time() + self.budget.remaining() - self.reserve(self.results, list(candidates))

    def _trials_left(self) -> float:
        if self.budget.max_trials is None:
            return math.inf
        return self.budget.max_trials - sum(r.status.ran for r in self.results)

    def _best(self) -> CVResult | None:
        ok = [r for r in self.results if r.ok]
        return max(ok, key=lambda r: self.pool.scorer.sign * r.mean) if ok else None

    # -- the run ---------------------------------------------------------------------------------------
    def run(self) -> list[CVResult]:
        self._shortlist()
        while self.tune and self._trials_left() > 0 and not self._converged():
            deadline = self._deadline()
            if deadline is not None and deadline - time.time() < self._min_trial_seconds():
                break
            batch = self._propose(int(min(self.batch_size, self._trials_left())))
            if not batch or not self._run_batch(batch):
                break
        return self.results

    def _shortlist(self) -> None:
        # by promise (priority), except that families cheap for this budget go first: something
        # is ready early however slow the promising ones turn out to be
        limit = self.budget.time_limit
        cheap = (
            (lambda s: s.estimated_fit_seconds * len(self.pool.folds) < CHEAP_SHARE * limit)
            if limit
            else (lambda s: False)
        )
        specs = sorted(
            self.specs, key=lambda s: (not cheap(s), -s.priority, s.estimated_fit_seconds)
        )
        batch: list[tuple[FamilyStudy, Any, dict]] = []
        for spec in specs:
            if len(batch) >= self._trials_left():
                self._skip(spec, "trial limit reached")
                continue
            if self.budget.time_limit is not None:
                workers = min(self.pool.n_jobs, len(self.pool.folds))
                cv_seconds = (
                    spec.estimated_fit_seconds
                    * self.pool.speed.factor
                    * len(self.pool.folds)
                    / workers
                )
                left = self.budget.remaining() - self.reserve(self.results, [])
                if cv_seconds > SHORTLIST_SHARE * max(left, 0.0) and cv_seconds > 2.0:
                    self._skip(
                        spec,
                        f"skipped: would take ~{cv_seconds:.0f}s, {max(left, 0):.0f}s left in the time limit",
                    )
                    continue
            study = self.studies[spec.name]
            asked = study.ask()
            if asked is not None:
                batch.append((study, *asked))
        self._run_batch(batch)  # one batch: nothing is pruned or learnt in the shortlist

    def _skip(self, spec: FamilySpec, note: str) -> None:
        study = self.studies[spec.name]
        study.exhausted = True
        params = spec.first[0] if spec.first else {}
        result = CVResult(
            spec.name,
            spec.name,
            dict(params),
            status=TrialStatus.SKIPPED,
            note=note,
            stage=Stage.SHORTLIST,
        )
        self.results.append(result)
        self.callback.on_note(Note(f"{spec.name}: {note}", NoteKind.SKIPPED))
        self.callback.on_candidate_end(result)

    def _converged(self) -> bool:
        """With a time limit: no better CV score in the last :data:`PATIENCE` trials (small data)."""
        if self.budget.time_limit is None:
            return False
        sign, best, since = self.pool.scorer.sign, -math.inf, 0
        for r in self.results:
            if r.ok and sign * r.mean > best:
                best, since = sign * r.mean, 0
            elif r.status.ran:
                since += 1
        return since >= PATIENCE

    def _forget_models(self) -> None:
        sign = self.pool.scorer.sign
        kept = sorted(
            (r for r in self.results if r.models is not None), key=lambda r: -sign * r.mean
        )
        for r in kept[self.keep_top :]:
            r.models = None

    def _min_trial_seconds(self) -> float:
        times = [r.fit_time + r.predict_time for r in self.results if r.ok]
        return (
            min(times) * len(self.pool.folds) / max(1, min(self.pool.n_jobs, len(self.pool.folds)))
            if times
            else 1.0
        )

    def _ranked(self) -> list[FamilyStudy]:
        """The families that share the next trials: the best by CV score, those still improving
        before those that stalled (so the budget moves on to the next families by promise)."""
        sign = self.pool.scorer.sign
        alive = [
            (s, best)
            for s in self.studies.values()
            if not s.exhausted and (best := s.best()) is not None
        ]
        return [
            s
            for s, _ in sorted(
                alive, key=lambda p: (p[0].stalled(), -sign * p[1].mean, p[0].spec.name)
            )[:CONTENDERS]
        ]

    def _propose(self, size: int) -> list[tuple[FamilyStudy, Any, dict]]:
        batch: list[tuple[FamilyStudy, Any, dict]] = []
        while len(batch) < size:
            ranked = [s for s in self._ranked() if not s.exhausted]
            if not ranked:
                break
            for study, share in zip(ranked, SHARES):
                self.credit[study.spec.name] += share
            study = max(ranked, key=lambda s: (self.credit[s.spec.name], -ranked.index(s)))
            self.credit[study.spec.name] -= sum(SHARES[: len(ranked)])
            asked = study.ask()
            if asked is not None:
                batch.append((study, *asked))
        return batch

    def _run_batch(self, batch: list[tuple[FamilyStudy, Any, dict]]) -> bool:
        """Run a batch; False when none of its trials could even start (out of time)."""
        if not batch:
            return False
        trials: list[Trial] = []
        for study, otrial, params in batch:
            candidate = study.spec.make(study.next_name(), params)
            candidate.stage = study.stage_of(otrial)
            trials.append(
                Trial(
                    len(self.results) + len(trials),
                    candidate,
                    study.pruner(otrial) if self.prune else None,
                )
            )
            self.callback.on_candidate_start(candidate.name, candidate.estimated_fit_seconds)
        deadline = self._deadline([t.candidate for t in trials])
        runnable = [t for t in trials if t.candidate.skip_reason is None]
        reported: set[int] = set()

        def done(
            result: CVResult,
        ) -> None:  # progress as trials end; the order of results stays fixed
            reported.add(id(result))
            self.callback.on_candidate_end(result)

        def on_fold(t, f):
            self.callback.on_fold_end(t.candidate.name, f + 1, len(self.pool.folds))

        ran = iter(self.pool.run(runnable, deadline=deadline, on_fold=on_fold, on_done=done))
        results = [
            next(ran)
            if t.candidate.skip_reason is None
            else CVResult(
                t.candidate.name,
                t.candidate.family,
                dict(t.candidate.params),
                status=TrialStatus.SKIPPED,
                note=t.candidate.skip_reason,
                stage=t.candidate.stage,
            )
            for t in trials
        ]
        for (study, otrial, params), result in zip(batch, results):
            study.tell(otrial, params, result)
            self.results.append(result)
            if id(result) not in reported:
                self.callback.on_candidate_end(result)
        self._forget_models()
        best = self._best()
        self.callback.on_progress(
            Progress(
                trials=sum(r.status.ran for r in self.results),
                best=None if best is None else best.mean,
                best_model=None if best is None else best.name,
                family=batch[-1][0].spec.name,
                time_left=None
                if self.budget.time_limit is None
                else max(0.0, self.budget.remaining()),
            )
        )
        return any(r.status.ran for r in results)
