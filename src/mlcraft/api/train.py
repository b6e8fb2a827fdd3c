"""The training job: shortlist, tune, ensemble within the budget; refit the champion; save it.

The time limit covers the whole job: the search keeps back what the ensembles, the final refit and
saving will need (estimated from the measured fold times), every fit runs under a deadline, and a
refit that would not end in time is not started.
"""

from __future__ import annotations

import getpass
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlcraft import atomic
from mlcraft.core.fit.candidates import Builder, encoded_width, family_spec, memory_plan
from mlcraft.core.fit.champion import Champion, build_ensembles, choose, ensemble_calls, fold_model_timer, likely_members, measure_inference, refit, refit_seconds
from mlcraft.core.fit.runrecord import RunLog, read_chosen, write_run
from mlcraft.config import env_n_jobs
from mlcraft.core.fit.family import BuildContext
from mlcraft.core.fit.events import Callback, CallbackList
from mlcraft.core.data.framing import class_labels
from mlcraft.core.analysis.metrics import Scorer, get_metric
from mlcraft.core.predict.pipeline import FittedModel
from mlcraft.core.fit.scheduler import FoldPool, peak_memory_mb
from mlcraft.core.fit.search import REFIT_FACTOR, Budget, Candidate, CVResult, leaderboard_frame
from mlcraft.core.data.split import cv_folds
from mlcraft.core.fit.tuning import Search
from mlcraft.exceptions import BudgetError
from mlcraft.registry import library_versions
from mlcraft.workspace import now_iso

if TYPE_CHECKING:
    from mlcraft.api.project import Project

__all__ = ["TrainResult", "run_training", "resolve_n_jobs", "TrainingData", "training_data", "save_single"]

SAVE_RESERVE_S = 3.0  # time kept for writing the run and the model
RESERVE_MARGIN = 1.3  # the refit estimate is multiplied by this while searching
FIRST_MODEL_SHARE = 0.25  # under a small limit, at most this share is kept back until a model exists


@dataclass
class TrainResult:
    """What a training run produced."""

    run_id: str
    version: int
    best: str
    metric: str
    cv_mean: float
    cv_std: float
    leaderboard: pd.DataFrame
    elapsed: float
    notes: list[str] = field(default_factory=list)
    trials: int = 0
    ensemble: bool = False
    peak_memory_mb: float = 0.0
    inference: dict[str, Any] = field(default_factory=dict)


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


def resolve_n_jobs(n_jobs: int | None) -> int:
    n_jobs = env_n_jobs() if n_jobs is None else n_jobs
    cores = os.cpu_count() or 1
    if n_jobs is None or n_jobs < 0:
        return cores
    return max(1, n_jobs)


def training_data(project: Project) -> TrainingData:
    cfg, schema = project.config, project.schema
    frame = project.dataset()
    is_test = project.workspace.read_split(cfg.dataset)
    keep = ~is_test & frame[cfg.target].notna().to_numpy()
    rows = np.flatnonzero(keep)
    train = frame.iloc[rows].reset_index(drop=True)
    X, notes = schema.coerce(train, where="training data")
    y = schema.coerce_target(train[cfg.target], cfg.task)
    y = pd.Series(y, name=cfg.target)
    classes = None if cfg.task == "regression" else class_labels(y)
    scorer = Scorer(get_metric(cfg.metric, cfg.task), classes=classes, positive_class=cfg.positive_class)
    folds = cv_folds(y, classification=cfg.task != "regression", n_folds=cfg.n_folds, seed=cfg.seed)
    return TrainingData(X, y, rows, scorer, folds, classes, notes)


def _best(results: list[CVResult], scorer: Scorer) -> CVResult:
    ok = [r for r in results if r.ok]
    if not ok:
        reasons = "; ".join(f"{r.name}: {r.note}" for r in results[:3])
        raise BudgetError(f"no model could be trained ({reasons}); raise --time-limit or check the data")
    return max(ok, key=lambda r: (scorer.sign * r.mean, -ok.index(r)))


def _seconds(func: Callable, *args) -> float:
    start = time.perf_counter()
    func(*args)
    return time.perf_counter() - start


def _reserve(n_jobs: int, data: TrainingData, task: str, speed, time_limit: float | None = None) -> Callable[[list[CVResult], list[Candidate]], float]:
    """Seconds the search keeps for the ensembles, the refit of the best trials, and saving.

    The ensembles' time comes from timing scorer calls on this data (they make many); the refit
    is estimated from the trials an ensemble would need if the search stopped now (the five best,
    the members greedy selection picks, the stacking members: :func:`likely_members`, recomputed
    when a trial ends), or from the slowest candidate about to start (it may become the best),
    whichever is longer. Under a limit so small that saving's 3.5 s exceed ``FIRST_MODEL_SHARE`` of
    it (under 14 s), at most that share is kept until a trial has succeeded: the whole reserve would
    leave nothing to a 5 s limit (a model that cannot be refitted in time is bagged instead).
    """
    call_s: list[float] = []
    likely: dict[int, list[CVResult]] = {}  # number of finished trials -> their likely members

    def reserve(results: list[CVResult], candidates: list[Candidate]) -> float:
        ok = [r for r in results if r.ok]
        if ok and not call_s:  # one plain and one bound scorer call, on all rows (the blends see 80 to 100% of them)
            y = data.y.to_numpy()
            for score in (lambda p: data.scorer(y, p), data.scorer.bind(y)):
                call_s.append(min(_seconds(score, ok[0].oof) for _ in range(3)))
        bound_calls, plain_calls = ensemble_calls(len(ok), len(data.folds), task, len({r.family for r in ok}))
        ensemble_s = 1.5 * (plain_calls * call_s[0] + bound_calls * call_s[1]) if call_s else 0.0
        if len(ok) not in likely:
            likely.clear()
            likely[len(ok)] = likely_members(ok, data.y.to_numpy(), data.scorer, task)
        coming = max((speed.fit_seconds(c) * REFIT_FACTOR for c in candidates if c.skip_reason is None), default=0.0)
        kept = 0.5 + ensemble_s + SAVE_RESERVE_S + RESERVE_MARGIN * max(refit_seconds(likely[len(ok)], n_jobs), coming)
        if not ok and time_limit is not None and 0.5 + SAVE_RESERVE_S > FIRST_MODEL_SHARE * time_limit:
            return min(kept, FIRST_MODEL_SHARE * time_limit)  # a small limit: a first model before all else
        return kept

    return reserve


class _Final:
    """Builds the champion's members for a refit on all training rows (recording how, for replay)."""

    def __init__(self, project: Project, data: TrainingData):
        from mlcraft.models import get_family

        self.project, self.data, self.get_family = project, data, get_family

    def member(self, family_name: str, params: dict, max_rows: int | None = None, truncated: dict | None = None, *, n_jobs: int = 1, fold_rows: bool = False) -> tuple[Builder, dict]:
        """A builder of the member (sized for all rows, or for a fold's training rows)."""
        cfg, schema = self.project.config, self.project.schema
        family = self.get_family(family_name)
        width = encoded_width(schema, family)
        n = len(self.data.y) - (len(self.data.y) // len(self.data.folds) if fold_rows else 0)
        if max_rows is None and truncated is None:  # a new refit: size it to the memory (a replay keeps what was recorded)
            max_rows, _, _ = memory_plan(family, n, width, params, n_jobs)
        context = BuildContext(task=cfg.task, n_rows=n if max_rows is None else max_rows, n_features=width, seed=cfg.seed, n_jobs=1)
        fit_params = {**params, **(truncated or {})}
        return Builder(family, schema, fit_params, context, max_rows), {"family": family_name, "params": params, "max_rows": max_rows}

    def fitted_model(self, estimator, champion_name: str, family: str, params: dict, cv_mean: float, refit_s: float) -> FittedModel:
        cfg = self.project.config
        return FittedModel(
            pipeline=estimator,
            schema=self.project.schema,
            task=cfg.task,
            family=family,
            params=params,
            classes=self.data.classes,
            positive_class=cfg.positive_class,
            threshold=0.5 if cfg.task == "binary" else None,
            metadata={"refit_seconds": refit_s, "cv_mean": cv_mean, "metric": cfg.metric, "model": champion_name},
        )


def _specs(project: Project, families: Iterable[str] | None, exclude: Iterable[str] | None, n_fit: int, n_jobs: int):
    from mlcraft.models import families_for

    cfg = project.config
    chosen = families_for(cfg.task, list(families) if families is not None else None, list(exclude or ()))
    if not chosen:
        raise BudgetError(f"no model family left to try for a {cfg.task} task; check --family/--exclude")
    return [family_spec(f, project.schema, cfg.task, cfg.seed, n_fit, n_jobs) for f in chosen]


def _write_learning_curves(run_dir: Path, pipeline: Any) -> None:
    """Each neural network's learning curves (per-epoch loss and metric on training and validation
    rows) and its resolved settings: ``learning_curves.csv`` and ``network.json`` when the champion
    is one network; ``learning_curves-<member>.csv`` and ``network-<member>.json`` for each network
    of an ensemble (members that were bagged from fold models have no single curve)."""
    if hasattr(pipeline, "steps"):
        members = [("", pipeline)]
    else:
        names = getattr(pipeline, "names", None) or []
        members = [("-" + re.sub(r"[^A-Za-z0-9_.-]", "_", name), m) for name, m in zip(names, getattr(pipeline, "members", None) or [])]
    for suffix, member in members:
        estimator = member[-1] if hasattr(member, "steps") else None
        history = getattr(estimator, "history_", None)
        if not history:
            continue
        pd.DataFrame(history).to_csv(run_dir / f"learning_curves{suffix}.csv", index=False)
        network = {**getattr(estimator, "config_", {}), "epochs": getattr(estimator, "n_iter_", None),
                   "best_epoch": getattr(estimator, "best_epoch_", None), "stop_reason": getattr(estimator, "stop_reason_", None)}
        atomic.write_json(run_dir / f"network{suffix}.json", network)


def run_training(
    project: Project,
    *,
    time_limit: float | None,
    max_trials: int | None,
    n_jobs: int | None = None,
    families: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    callbacks: Iterable[Callback] = (),
    replay: str | None = None,
    prefer_fast: bool = False,
) -> TrainResult:
    """Search, ensemble, refit and save (see :meth:`mlcraft.Project.train`)."""
    budget = Budget(time_limit=time_limit, max_trials=max_trials)
    cfg, ws = project.config, project.workspace
    n_jobs = resolve_n_jobs(n_jobs)
    data = training_data(project)
    if replay is not None:
        return _replay(project, data, replay, n_jobs, budget, callbacks)
    n_fit = len(data.y) - len(data.y) // len(data.folds)
    specs = _specs(project, families, exclude, n_fit, n_jobs)
    run_id = ws.new_run_id()
    final = _Final(project, data)
    with atomic.atomic_dir(ws.run_dir(run_id)) as run_dir, FoldPool(data.X, data.y, data.folds, data.scorer, task=cfg.task, n_jobs=n_jobs) as pool:
        log = RunLog(run_dir / "log.txt")
        events = CallbackList([log, *callbacks])
        try:
            info = {"run": run_id, "rows": len(data.y), "folds": len(data.folds), "metric": cfg.metric, "time_limit": time_limit, "max_trials": max_trials, "n_jobs": n_jobs}
            events.on_train_start(info)
            for note in data.notes:
                events.on_note(note)
            results, ensembles, champion = _search(project, data, specs, pool, budget, events, prefer_fast)
            model, chosen = _refit_champion(final, champion, pool, budget, cfg.task, data.classes)
            inference = measure_inference(model, data.X, cfg.seed)
            if not inference["fast"]:
                speed = f"one row in {inference['one_row_ms']:.0f} ms and 10,000 rows in {inference['rows_10k_s']:.2f} s"
                if champion.is_ensemble:
                    events.on_note(f"the ensemble predicts {speed}; `--prefer-fast` saves a single model that meets the targets instead")
                elif prefer_fast:
                    events.on_note(f"{champion.result.name} predicts {speed}: slower than the targets (20 ms, 1 s) although chosen for speed")
            board = leaderboard_frame([*results, *(e.result for e in ensembles)], data.scorer)
            write_run(run_dir, data, results, [e.result for e in ensembles], board, chosen, model.pipeline, cfg.target, champion.blend)
            _write_learning_curves(run_dir, model.pipeline)
            peak = max(peak_memory_mb(), pool.worker_peak_mb)
            events.on_train_end({"best": champion.result.name, "cv": f"{champion.result.mean:.6g}", "elapsed_s": f"{budget.elapsed():.1f}", "peak_memory_mb": f"{peak:.0f}"})
        finally:
            log.close()
    meta = _meta(project, data, run_id, champion, chosen, inference, peak, len(results))
    version = _register(project, model, meta, f"trained by run {run_id}: best CV {cfg.metric} {champion.result.mean:.6g}")
    return TrainResult(
        run_id=run_id, version=version, best=champion.result.name, metric=cfg.metric, cv_mean=champion.result.mean, cv_std=champion.result.std,
        leaderboard=board, elapsed=budget.elapsed(), notes=data.notes, trials=len(results), ensemble=champion.is_ensemble,
        peak_memory_mb=peak, inference=inference,
    )


def _search(project: Project, data: TrainingData, specs, pool: FoldPool, budget: Budget, events: Callback, prefer_fast: bool):
    """Shortlist and tune (within the budget), build the ensembles, choose the champion."""
    cfg, n_jobs = project.config, pool.n_jobs
    tune = budget.time_limit is not None or budget.max_trials is not None
    reserve = _reserve(n_jobs, data, cfg.task, pool.speed, budget.time_limit)
    results = Search(specs, pool, budget, seed=cfg.seed, callback=events, reserve=reserve, tune=tune).run()
    _best(results, data.scorer)
    ensembles = build_ensembles(results, data.y.to_numpy(), data.folds, data.scorer, cfg.task)
    seconds_left = None if budget.time_limit is None else budget.remaining() - SAVE_RESERVE_S
    timer = None
    if prefer_fast:  # timing fold models may take a tenth of the time left
        timer = fold_model_timer(data.X, project.schema, cfg.task, data.classes, cfg.seed, None if seconds_left is None else max(0.0, 0.1 * seconds_left))
    champion = choose(
        results, ensembles, data.scorer, prefer_fast=prefer_fast, seconds_left=seconds_left, n_jobs=n_jobs,
        n_rows=len(data.y), n_folds=len(data.folds), timer=timer,
    )
    for note in champion.notes:
        events.on_note(note)
    events.on_refit_start(champion.result.name)
    return results, ensembles, champion


def _refit_champion(final: _Final, champion: Champion, pool: FoldPool, budget: Budget, task: str, classes) -> tuple[FittedModel, dict]:
    builds, records = [], []
    for member, form in zip(champion.members, champion.forms):
        build, record = final.member(member.family, member.params, n_jobs=pool.n_jobs, fold_rows=form == "bag")
        if form == "refit":
            builds.append(build)
        else:  # k-fold bagging: the CV's fold models, recorded with what each fold's deadline cut
            record["fold_truncations"] = member.truncations
        records.append({"name": member.name, "form": form, **record})
    deadline = None if budget.time_limit is None else time.time() + budget.remaining() - SAVE_RESERVE_S
    estimator, truncations, seconds = refit(champion, pool, builds, deadline=deadline, task=task, classes=classes)
    for record, truncated in zip(records, truncations):
        if record["form"] == "refit":
            record["truncated"] = truncated
    result = champion.result
    family = "ensemble" if champion.is_ensemble else result.family
    params = dict(result.params)
    chosen = {"model": result.name, "family": family, "params": params, "cv_mean": result.mean, "cv_std": result.std, "members": records, "refit_seconds": round(seconds, 3)}
    return final.fitted_model(estimator, result.name, family, params, result.mean, seconds), chosen


def save_single(project: Project, data: TrainingData, result: CVResult, n_jobs: int, run_id: str) -> int:
    """Refit one trial on all training rows and register it as the champion (``mlcraft tune --save``)."""
    final = _Final(project, data)
    build, record = final.member(result.family, result.params, n_jobs=n_jobs)
    champion = Champion(result, [result], forms=["refit"])
    with FoldPool(data.X, data.y, data.folds, data.scorer, task=project.config.task, n_jobs=1) as pool:
        estimator, truncations, seconds = refit(champion, pool, [build], deadline=None, task=project.config.task, classes=data.classes)
    model = final.fitted_model(estimator, result.name, result.family, dict(result.params), result.mean, seconds)
    chosen = {"members": [{"name": result.name, "form": "refit", **record, "truncated": truncations[0]}], "family": result.family}
    meta = _meta(project, data, run_id, champion, chosen, {}, peak_memory_mb(), 0)
    return _register(project, model, meta, f"tuned by run {run_id}: CV {project.config.metric} {result.mean:.6g}")


def _meta(project: Project, data: TrainingData, run_id: str, champion: Champion, chosen: dict, inference: dict, peak: float, trials: int) -> dict[str, Any]:
    cfg, best = project.config, champion.result
    return {
        "run_id": run_id,
        "created": now_iso(),
        "model": best.name,
        "family": chosen["family"],
        "params": best.params,
        "members": chosen["members"],
        "metric": cfg.metric,
        "cv_mean": best.mean,
        "cv_std": best.std,
        "cv_scores": best.scores,
        "dataset": cfg.dataset,
        "train_rows": len(data.y),
        "seed": cfg.seed,
        "task": cfg.task,
        "target": cfg.target,
        "trials": trials,
        "inference": inference,
        "peak_memory_mb": round(peak, 1),
        "libraries": library_versions(),
    }


def _register(project: Project, model: FittedModel, meta: dict, reason: str) -> int:
    with project.workspace.lock():
        version = project.registry.register(model, meta)
        project.registry.promote(version, by=_user(), reason=reason)
    return version


def _replay(project: Project, data: TrainingData, source_run: str, n_jobs: int, budget: Budget, callbacks: Iterable[Callback]) -> TrainResult:
    """Rebuild the final model of ``source_run`` exactly (same members, parameters, truncations, blend)."""
    ws, cfg = project.workspace, project.config
    chosen, blend = read_chosen(ws.run_dir(source_run))
    final = _Final(project, data)
    records = chosen["members"]
    builds = [final.member(m["family"], m["params"], m.get("max_rows"), m.get("truncated") or {})[0] for m in records if m.get("form", "refit") == "refit"]
    run_id = ws.new_run_id()
    with atomic.atomic_dir(ws.run_dir(run_id)) as run_dir, FoldPool(data.X, data.y, data.folds, data.scorer, task=cfg.task, n_jobs=n_jobs) as pool:
        log = RunLog(run_dir / "log.txt")
        events = CallbackList([log, *callbacks])
        try:
            events.on_train_start({"run": run_id, "replay_of": source_run, "rows": len(data.y), "n_jobs": n_jobs})
            events.on_refit_start(chosen["model"])
            members = [CVResult(m["name"], m["family"], m["params"]) for m in records]
            for member, record in zip(members, records):
                if record.get("form") == "bag":  # rebuild each fold model, cut where the original was
                    cuts = record["fold_truncations"]
                    member.models = [
                        pool.fit_full([final.member(record["family"], record["params"], record.get("max_rows"), cuts[f], fold_rows=True)[0]], fold=f)[0][0]
                        for f in range(len(data.folds))
                    ]
            forms = [m.get("form", "refit") for m in records]
            champion = Champion(CVResult(chosen["model"], chosen["family"], chosen["params"]), members, blend, forms=forms)
            estimator, _, seconds = refit(champion, pool, builds, deadline=None, task=cfg.task, classes=data.classes)
            model = final.fitted_model(estimator, chosen["model"], chosen["family"], chosen["params"], chosen["cv_mean"], seconds)
            atomic.write_json(run_dir / "chosen.json", {**chosen, "replay_of": source_run})
            if blend is not None:
                import joblib

                joblib.dump(blend, run_dir / "blend.joblib")
            events.on_train_end({"replayed": chosen["model"], "elapsed_s": f"{budget.elapsed():.1f}"})
        finally:
            log.close()
    source = atomic.read_json(ws.run_dir(source_run) / "leaderboard.json")
    board = pd.DataFrame(source["rows"])
    meta = {**_meta(project, data, run_id, champion, chosen, {}, peak_memory_mb(), 0), "cv_mean": chosen["cv_mean"], "cv_std": chosen["cv_std"], "cv_scores": [], "replay_of": source_run}
    version = _register(project, model, meta, f"replay of run {source_run} ({chosen['model']})")
    return TrainResult(run_id=run_id, version=version, best=chosen["model"], metric=cfg.metric, cv_mean=chosen["cv_mean"], cv_std=chosen["cv_std"], leaderboard=board, elapsed=budget.elapsed(), ensemble=blend is not None)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"

