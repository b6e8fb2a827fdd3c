"""The trainer: shortlist, tune and ensemble within the budget, then refit the champion.

The time limit covers the whole job: the search keeps back what the ensembles, the final refit and
saving will need (estimated from the measured fold times), every fit runs under a deadline, and a
refit that would not end in time is not started.

The trainer takes explicit inputs (the settings, the schema, the families, the checked training
data with its folds, the budget and the callbacks) and writes only into the run directory it is
given; it never sees the project facade. Registering the model is the caller's (:mod:`mlcraft.api.train`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlcraft import atomic
from mlcraft.config import ProjectConfig
from mlcraft.core.analysis.metrics import Scorer, get_metric
from mlcraft.core.data.schema import Schema
from mlcraft.core.fit.baseline import BASELINE, naive_baseline
from mlcraft.core.fit.candidates import Builder, encoded_width, family_spec, memory_plan
from mlcraft.core.fit.champion import (
    Champion,
    build_ensembles,
    choose,
    ensemble_calls,
    fold_model_timer,
    likely_members,
    measure_inference,
    refit,
    refit_seconds,
)
from mlcraft.core.fit.events import (
    Callback,
    CallbackList,
    Note,
    NoteKind,
    ReplayEnd,
    ReplayStart,
    SearchEnd,
    SearchStart,
)
from mlcraft.core.fit.family import BuildContext, Family
from mlcraft.core.fit.runrecord import ChosenModel, RunLog, read_chosen, write_run
from mlcraft.core.fit.scheduler import FoldPool, peak_memory_mb
from mlcraft.core.fit.search import REFIT_FACTOR, Budget, Candidate, CVResult, leaderboard_frame
from mlcraft.core.fit.stability import (
    StableChoice,
    choose_stable,
    finalists,
    halves_agreement,
    stability_seconds,
)
from mlcraft.core.fit.tuning import Search
from mlcraft.core.predict.pipeline import FittedModel
from mlcraft.exceptions import BudgetError
from mlcraft.tasks import get_kind

__all__ = [
    "TrainingData",
    "training_data",
    "reference_frame",
    "Trainer",
    "TrainOutcome",
    "SAVE_RESERVE_S",
]

SAVE_RESERVE_S = 3.0  # time kept for writing the run and the model
RESERVE_MARGIN = 1.3  # the refit estimate is multiplied by this while searching
FIRST_MODEL_SHARE = (
    0.25  # under a small limit, at most this share is kept back until a model exists
)


@dataclass
class TrainingData:
    """Checked training features and target, the scorer and the folds."""

    X: pd.DataFrame
    y: pd.Series
    rows: np.ndarray  # positions in the stored dataset version
    scorer: Scorer
    folds: list[tuple[np.ndarray, np.ndarray]]
    classes: list[Any] | None
    notes: list[str]
    # training rows whose target is missing (``--semi-supervised``): only semi-supervised families
    # fit them; ``X``, ``y``, the folds and every score are the labelled rows'
    unlabelled: pd.DataFrame | None = None
    unlabelled_rows: np.ndarray | None = None


def reference_frame(coordinates: np.ndarray) -> pd.DataFrame:
    """Reference coordinates as the target of a kind without one: a column per coordinate."""
    return pd.DataFrame(coordinates, columns=[f"ref_{j}" for j in range(coordinates.shape[1])])


def training_data(
    config: ProjectConfig, schema: Schema, frame: pd.DataFrame, is_test: np.ndarray
) -> TrainingData:
    """The labelled training rows of ``frame`` (every row but the test rows), checked and folded."""
    kind = get_kind(config.task)
    keep = ~is_test
    if kind.needs_target:
        keep &= frame[config.target].notna().to_numpy()
    rows = np.flatnonzero(keep)
    train = frame.iloc[rows].reset_index(drop=True)
    X, notes = schema.coerce(train, where="training data")
    y: Any
    if kind.needs_target:
        y = pd.Series(
            schema.coerce_target(train[config.target], kind.numeric_target), name=config.target
        )
    else:  # judged in the kind's reference space, fitted on these rows
        known = None if config.labels is None else train[config.labels].reset_index(drop=True)
        y = reference_frame(kind.judged_on(kind.reference(schema, X).coordinates(X), known))
    classes = kind.classes(y) if kind.needs_target else kind.raw_columns(config)
    scorer = Scorer(
        get_metric(config.metric, config.task),
        classes=classes,
        positive_class=config.positive_class,
    )
    options = kind.family_options(config)
    folds = kind.folds(y, n_folds=config.n_folds, seed=config.seed, features=X, settings=options)
    y = kind.scored_target(y, X, folds, options)
    unlabelled, unlabelled_rows = None, None
    if config.semi_supervised and kind.needs_target:
        unlabelled_rows = np.flatnonzero(~is_test & frame[config.target].isna().to_numpy())
        unlabelled, more = schema.coerce(
            frame.iloc[unlabelled_rows].reset_index(drop=True), where="unlabelled training rows"
        )
        notes += more
    return TrainingData(X, y, rows, scorer, folds, classes, notes, unlabelled, unlabelled_rows)


@dataclass
class TrainOutcome:
    """What a training run produced, before it is registered."""

    model: FittedModel
    chosen: ChosenModel
    champion: Champion
    leaderboard: pd.DataFrame
    trials: int = 0
    inference: dict[str, Any] = field(default_factory=dict)
    peak_memory_mb: float = 0.0


def _best(results: list[CVResult], scorer: Scorer) -> CVResult:
    ok = [r for r in results if r.ok]
    if not ok:
        reasons = "; ".join(f"{r.name}: {r.note}" for r in results[:3])
        raise BudgetError(
            f"no model could be trained ({reasons}); raise --time-limit or check the data"
        )
    return max(ok, key=lambda r: (scorer.sign * r.mean, -ok.index(r)))


def _seconds(func: Callable, *args) -> float:
    start = time.perf_counter()
    func(*args)
    return time.perf_counter() - start


def _write_learning_curves(run_dir: Path, pipeline: Any) -> None:
    """Each neural network's learning curves (per-epoch loss and metric on training and validation
    rows) and its resolved settings: ``learning_curves.csv`` and ``network.json`` when the champion
    is one network; ``learning_curves-<member>.csv`` and ``network-<member>.json`` for each network
    of an ensemble (members that were bagged from fold models have no single curve)."""
    if hasattr(pipeline, "steps"):
        members = [("", pipeline)]
    else:
        names = getattr(pipeline, "names", None) or []
        members = [
            ("-" + re.sub(r"[^A-Za-z0-9_.-]", "_", name), m)
            for name, m in zip(names, getattr(pipeline, "members", None) or [])
        ]
    for suffix, member in members:
        estimator = member[-1] if hasattr(member, "steps") else None
        history = getattr(estimator, "history_", None)
        if not history:
            continue
        pd.DataFrame(history).to_csv(run_dir / f"learning_curves{suffix}.csv", index=False)
        network = {
            **getattr(estimator, "config_", {}),
            "epochs": getattr(estimator, "n_iter_", None),
            "best_epoch": getattr(estimator, "best_epoch_", None),
            "stop_reason": getattr(estimator, "stop_reason_", None),
        }
        atomic.write_json(run_dir / f"network{suffix}.json", network)


class Trainer:
    """Fits models of ``families`` to ``data`` by cross-validation within ``budget``.

    Parameters
    ----------
    config : ProjectConfig
        The framing (task, metric, seed, target, positive class) the models are fitted for.
    schema : Schema
        The training schema (the preparation each family's pipeline starts with).
    data : TrainingData
        Checked training rows, folds and scorer (:func:`training_data`).
    families : mapping of str to Family
        The families to search, by name; a replay or a refit may name any of them.
    budget : Budget
        The time limit or the number of trials.
    n_jobs : int
        Worker processes for the folds.
    callbacks : iterable of Callback
        Told of every step (the run log is added by :meth:`fit`).
    """

    def __init__(
        self,
        config: ProjectConfig,
        schema: Schema,
        data: TrainingData,
        families: Mapping[str, Family],
        *,
        budget: Budget,
        n_jobs: int,
        callbacks: Iterable[Callback] = (),
        refit_scale: float = 1.0,
    ):
        self.config, self.schema, self.data, self.families = config, schema, data, dict(families)
        self.budget, self.n_jobs, self.callbacks = budget, n_jobs, list(callbacks)
        # how many times a refit on the search's rows the final fits cost (data larger than memory:
        # the refit on the sample, then two passes over every row): the reserve grows with it
        self.refit_scale = refit_scale
        self.task = config.task

    # -- building members ----------------------------------------------------------------------
    def member(
        self,
        family_name: str,
        params: dict,
        max_rows: int | None = None,
        truncated: dict | None = None,
        *,
        n_jobs: int = 1,
        fold_rows: bool = False,
    ) -> tuple[Builder, dict]:
        """A builder of the member (sized for all rows, or for a fold's training rows), and its record."""
        family = self.families[family_name]
        width = encoded_width(self.schema, family)
        n = len(self.data.y) - (len(self.data.y) // len(self.data.folds) if fold_rows else 0)
        if (
            max_rows is None and truncated is None
        ):  # a new refit: size it to the memory (a replay keeps what was recorded)
            max_rows, _, _ = memory_plan(family, n, width, params, n_jobs)
        context = BuildContext(
            task=self.task,
            n_rows=n if max_rows is None else max_rows,
            n_features=width,
            seed=self.config.seed,
            n_jobs=1,
            options=get_kind(self.task).family_options(self.config),
        )
        fit_params = {**params, **(truncated or {})}
        return Builder(family, self.schema, fit_params, context, max_rows), {
            "family": family_name,
            "params": params,
            "max_rows": max_rows,
        }

    def fitted_model(
        self,
        estimator,
        champion_name: str,
        family: str,
        params: dict,
        cv_mean: float,
        refit_s: float,
    ) -> FittedModel:
        cfg = self.config
        return FittedModel(
            pipeline=estimator,
            schema=self.schema,
            task=cfg.task,
            family=family,
            params=params,
            classes=self.data.classes,
            positive_class=cfg.positive_class,
            threshold=0.5 if get_kind(cfg.task).has_positive_class else None,
            metadata={
                "refit_seconds": refit_s,
                "cv_mean": cv_mean,
                "metric": cfg.metric,
                "model": champion_name,
            },
        )

    def _pool(self, n_jobs: int | None = None) -> FoldPool:
        d = self.data
        return FoldPool(
            d.X,
            d.y,
            d.folds,
            d.scorer,
            task=self.task,
            n_jobs=self.n_jobs if n_jobs is None else n_jobs,
            unlabelled=d.unlabelled,
        )

    # -- the search ----------------------------------------------------------------------------
    def fit(self, run_dir: Path, run_id: str, *, prefer_fast: bool = False) -> TrainOutcome:
        """Search, ensemble and refit the champion; write the run's records into ``run_dir``."""
        cfg, data, budget = self.config, self.data, self.budget
        n_fit = len(data.y) - len(data.y) // len(data.folds)
        specs = [
            family_spec(
                f,
                self.schema,
                cfg.task,
                cfg.seed,
                n_fit,
                self.n_jobs,
                options=get_kind(cfg.task).family_options(cfg),
            )
            for f in self.families.values()
        ]
        with self._pool() as pool:
            log = RunLog(run_dir / "log.txt")
            events = CallbackList([log, *self.callbacks])
            try:
                events.on_train_start(
                    SearchStart(
                        run=run_id,
                        rows=len(data.y),
                        folds=len(data.folds),
                        metric=cfg.metric,
                        time_limit=budget.time_limit,
                        max_trials=budget.max_trials,
                        n_jobs=self.n_jobs,
                    )
                )
                for note in data.notes:
                    events.on_note(Note(note))
                results, ensembles, champion = self._search(specs, pool, events, prefer_fast)
                model, chosen = self._refit_champion(champion, pool)
                inference = measure_inference(model, data.X, cfg.seed)
                if not inference["fast"]:
                    speed = f"one row in {inference['one_row_ms']:.0f} ms and 10,000 rows in {inference['rows_10k_s']:.2f} s"
                    if champion.is_ensemble:
                        events.on_note(
                            Note(
                                f"the ensemble predicts {speed}; `--prefer-fast` saves a single model that meets the targets instead",
                                NoteKind.WARNING,
                            )
                        )
                    elif prefer_fast:
                        events.on_note(
                            Note(
                                f"{champion.result.name} predicts {speed}: slower than the targets (20 ms, 1 s) although chosen for speed",
                                NoteKind.WARNING,
                            )
                        )
                baseline = (
                    naive_baseline(
                        data.X, data.y, data.folds, data.scorer, cfg.task, self._reference()
                    )
                    if get_kind(cfg.task).needs_target
                    else None
                )  # the reference row: never a candidate (a kind without a target has none)
                board = leaderboard_frame(
                    [*results, *(e.result for e in ensembles), *([baseline] if baseline else [])],
                    data.scorer,
                )
                write_run(
                    run_dir,
                    data,
                    results,
                    [e.result for e in ensembles],
                    board,
                    chosen,
                    model.pipeline,
                    cfg.target,
                    champion.blend,
                    baseline=baseline,
                )
                _write_learning_curves(run_dir, model.pipeline)
                peak = max(peak_memory_mb(), pool.worker_peak_mb)
                events.on_train_end(
                    SearchEnd(
                        best=champion.result.name,
                        cv=champion.result.mean,
                        elapsed_s=budget.elapsed(),
                        peak_memory_mb=peak,
                    )
                )
            finally:
                log.close()
        return TrainOutcome(model, chosen, champion, board, len(results), inference, peak)

    def _reference(self) -> tuple[str, Callable[[], Any]] | None:
        """The kind's own reference model (``ProblemKind.baseline_family``) when it is among the
        families, built with its defaults; None: the mean / class-share dummy."""
        name = get_kind(self.task).baseline_family
        family = self.families.get(name) if name is not None else None
        if family is None:
            return None
        n_fit = len(self.data.y) - len(self.data.y) // len(self.data.folds)
        spec = family_spec(
            family,
            self.schema,
            self.task,
            self.config.seed,
            n_fit,
            1,
            portfolio=False,
            options=get_kind(self.task).family_options(self.config),
        )
        return family.name, spec.make(BASELINE, spec.first[0]).build

    def _reserve(self, speed) -> Callable[[list[CVResult], list[Candidate]], float]:
        """Seconds the search keeps for the ensembles, the refit of the best trials, and saving.

        The ensembles' time comes from timing scorer calls on this data (they make many); the refit
        is estimated from the trials an ensemble would need if the search stopped now (the five best,
        the members greedy selection picks, the stacking members: :func:`likely_members`, recomputed
        when a trial ends), or from the slowest candidate about to start (it may become the best),
        whichever is longer. Under a limit so small that saving's 3.5 s exceed ``FIRST_MODEL_SHARE`` of
        it (under 14 s), at most that share is kept until a trial has succeeded: the whole reserve would
        leave nothing to a 5 s limit (a model that cannot be refitted in time is bagged instead).
        """
        data, task, n_jobs, time_limit = self.data, self.task, self.n_jobs, self.budget.time_limit
        call_s: list[float] = []
        likely: dict[int, list[CVResult]] = {}  # number of finished trials -> their likely members

        def reserve(results: list[CVResult], candidates: list[Candidate]) -> float:
            ok = [r for r in results if r.ok]
            if (
                ok and not call_s and get_kind(task).ensembles
            ):  # one plain and one bound scorer call, on all rows (the blends see 80 to 100% of them)
                y = data.y.to_numpy()
                for score in (lambda p: data.scorer(y, p), data.scorer.bind(y)):
                    call_s.append(min(_seconds(score, ok[0].oof) for _ in range(3)))
            bound_calls, plain_calls = ensemble_calls(
                len(ok), len(data.folds), task, len({r.family for r in ok})
            )
            ensemble_s = (
                1.5 * (plain_calls * call_s[0] + bound_calls * call_s[1]) if call_s else 0.0
            )
            if len(ok) not in likely:
                likely.clear()
                likely[len(ok)] = likely_members(ok, data.y.to_numpy(), data.scorer, task)
            coming = max(
                (speed.fit_seconds(c) * REFIT_FACTOR for c in candidates if c.skip_reason is None),
                default=0.0,
            )
            kept = (
                0.5
                + stability_seconds(ok, data.scorer, task)
                + ensemble_s
                + SAVE_RESERVE_S
                + RESERVE_MARGIN
                * self.refit_scale
                * max(refit_seconds(likely[len(ok)], n_jobs), coming)
            )
            if (
                not ok
                and time_limit is not None
                and 0.5 + SAVE_RESERVE_S > FIRST_MODEL_SHARE * time_limit
            ):
                return min(
                    kept, FIRST_MODEL_SHARE * time_limit
                )  # a small limit: a first model before all else
            return kept

        return reserve

    def _search(self, specs, pool: FoldPool, events: Callback, prefer_fast: bool):
        """Shortlist and tune (within the budget), build the ensembles, choose the champion."""
        cfg, data, budget, n_jobs = self.config, self.data, self.budget, pool.n_jobs
        tune = budget.time_limit is not None or budget.max_trials is not None
        results = Search(
            specs,
            pool,
            budget,
            seed=cfg.seed,
            callback=events,
            reserve=self._reserve(pool.speed),
            tune=tune,
        ).run()
        _best(results, data.scorer)
        stable = self._stability(results, prefer_fast)
        for note in stable.notes:
            events.on_note(Note(note))
        ensembles = build_ensembles(results, data.y.to_numpy(), data.folds, data.scorer, cfg.task)
        seconds_left = None if budget.time_limit is None else budget.remaining() - SAVE_RESERVE_S
        timer = None
        if prefer_fast:  # timing fold models may take a tenth of the time left
            timer = fold_model_timer(
                data.X,
                self.schema,
                cfg.task,
                data.classes,
                cfg.seed,
                None if seconds_left is None else max(0.0, 0.1 * seconds_left),
            )
        champion = choose(
            results,
            ensembles,
            data.scorer,
            prefer_fast=prefer_fast,
            seconds_left=seconds_left,
            n_jobs=n_jobs,
            n_rows=len(data.y),
            n_folds=len(data.folds),
            timer=timer,
            can_bag=get_kind(cfg.task).ensembles and get_kind(cfg.task).fold_models_serve,
            prefer=stable.prefer,
        )
        for note in champion.notes:
            events.on_note(Note(note))
        events.on_refit_start(champion.result.name)
        return results, ensembles, champion

    def _stability(self, results: list[CVResult], prefer_fast: bool) -> StableChoice:
        """Kinds with a stability measure: the finalists' stability across resamples, and the trial
        to prefer for it (:mod:`mlcraft.core.fit.stability`), in the time the refit leaves."""
        kind, data, budget = get_kind(self.task), self.data, self.budget
        if kind.stability_measure is None or prefer_fast:
            return StableChoice()
        left = None
        if budget.time_limit is not None:
            refit_s = max((r.fit_time for r in finalists(results, data.scorer)), default=0.0)
            left = budget.remaining() - SAVE_RESERVE_S - RESERVE_MARGIN * REFIT_FACTOR * refit_s
        return choose_stable(
            results,
            data.scorer,
            lambda r: halves_agreement(
                self.member(r.family, r.params)[0],
                data.X,
                data.y,
                kind.agreement,
                task=self.task,
                classes=data.classes,
                seed=self.config.seed,
            ),
            seconds_left=left,
            measure=str(kind.stability_measure),
        )

    def _refit_champion(
        self, champion: Champion, pool: FoldPool
    ) -> tuple[FittedModel, ChosenModel]:
        builds, records = [], []
        for member, form in zip(champion.members, champion.forms):
            build, record = self.member(
                member.family, member.params, n_jobs=pool.n_jobs, fold_rows=form == "bag"
            )
            if form == "refit":
                builds.append(build)
            else:  # k-fold bagging: the CV's fold models, recorded with what each fold's deadline cut
                record["fold_truncations"] = member.truncations
            records.append({"name": member.name, "form": form, **record})
        budget = self.budget
        deadline = (
            None if budget.time_limit is None else time.time() + budget.remaining() - SAVE_RESERVE_S
        )
        estimator, truncations, seconds = refit(
            champion, pool, builds, deadline=deadline, task=self.task, classes=self.data.classes
        )
        for record, truncated in zip(records, truncations):
            if record["form"] == "refit":
                record["truncated"] = truncated
        result = champion.result
        family = "ensemble" if champion.is_ensemble else result.family
        params = dict(result.params)
        chosen = ChosenModel(
            result.name, family, params, result.mean, result.std, records, round(seconds, 3)
        )
        model = self.fitted_model(estimator, result.name, family, params, result.mean, seconds)
        if result.oof is not None:
            kind = get_kind(self.task)
            model.metadata.update(
                kind.model_metadata(
                    result.oof,
                    self.data.y,
                    self.data.X,
                    self.data.folds,
                    kind.family_options(self.config),
                )
            )
        return model, chosen

    # -- one configuration, and replays ----------------------------------------------------------
    def refit_one(self, result: CVResult) -> tuple[FittedModel, ChosenModel, Champion]:
        """Refit one trial on all training rows (``mlcraft tune --save``)."""
        build, record = self.member(result.family, result.params, n_jobs=self.n_jobs)
        champion = Champion(result, [result], forms=["refit"])
        with self._pool(n_jobs=1) as pool:
            estimator, truncations, seconds = refit(
                champion, pool, [build], deadline=None, task=self.task, classes=self.data.classes
            )
        model = self.fitted_model(
            estimator, result.name, result.family, dict(result.params), result.mean, seconds
        )
        chosen = ChosenModel(
            result.name,
            result.family,
            dict(result.params),
            result.mean,
            result.std,
            [{"name": result.name, "form": "refit", **record, "truncated": truncations[0]}],
            round(seconds, 3),
        )
        return model, chosen, champion

    def replay(self, run_dir: Path, run_id: str, source_dir: Path, source_run: str) -> TrainOutcome:
        """Rebuild the final model of ``source_run`` exactly (same members, parameters, truncations, blend)."""
        chosen, blend = read_chosen(source_dir)
        records = chosen.members
        builds = [
            self.member(m["family"], m["params"], m.get("max_rows"), m.get("truncated") or {})[0]
            for m in records
            if m.get("form", "refit") == "refit"
        ]
        with self._pool() as pool:
            log = RunLog(run_dir / "log.txt")
            events = CallbackList([log, *self.callbacks])
            try:
                events.on_train_start(
                    ReplayStart(
                        run=run_id, replay_of=source_run, rows=len(self.data.y), n_jobs=self.n_jobs
                    )
                )
                events.on_refit_start(chosen.model)
                members = [CVResult(m["name"], m["family"], m["params"]) for m in records]
                for member, record in zip(members, records):
                    if (
                        record.get("form") == "bag"
                    ):  # rebuild each fold model, cut where the original was
                        cuts = record["fold_truncations"]
                        member.models = [
                            pool.fit_full(
                                [
                                    self.member(
                                        record["family"],
                                        record["params"],
                                        record.get("max_rows"),
                                        cuts[f],
                                        fold_rows=True,
                                    )[0]
                                ],
                                fold=f,
                            )[0][0]
                            for f in range(len(self.data.folds))
                        ]
                forms = [m.get("form", "refit") for m in records]
                champion = Champion(
                    CVResult(chosen.model, chosen.family, chosen.params),
                    members,
                    blend,
                    forms=forms,
                )
                estimator, _, seconds = refit(
                    champion, pool, builds, deadline=None, task=self.task, classes=self.data.classes
                )
                model = self.fitted_model(
                    estimator, chosen.model, chosen.family, chosen.params, chosen.cv_mean, seconds
                )
                chosen.replay_of = source_run
                atomic.write_json(run_dir / "chosen.json", chosen.to_dict())
                if blend is not None:
                    import joblib

                    joblib.dump(blend, run_dir / "blend.joblib")
                events.on_train_end(
                    ReplayEnd(replayed=chosen.model, elapsed_s=self.budget.elapsed())
                )
            finally:
                log.close()
        source = atomic.read_json(source_dir / "leaderboard.json")
        return TrainOutcome(
            model, chosen, champion, pd.DataFrame(source["rows"]), 0, {}, peak_memory_mb()
        )


def families_by_name(families: Sequence[Family]) -> dict[str, Family]:
    """``{name: family}`` in the given order."""
    return {f.name: f for f in families}
