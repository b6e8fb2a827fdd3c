"""The training job: shortlist by cross-validation within the budget, refit the best, save it."""

from __future__ import annotations

import getpass
import os
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlcraft import atomic
from mlcraft.config import env_n_jobs
from mlcraft.core.estimator import BuildContext, Family
from mlcraft.core.events import Callback, CallbackList
from mlcraft.core.framing import class_labels
from mlcraft.core.metrics import Scorer, get_metric
from mlcraft.core.pipeline import FittedModel, make_pipeline, proba_column
from mlcraft.core.schema import Schema
from mlcraft.core.search import Budget, Candidate, CVResult, leaderboard_frame, run_shortlist
from mlcraft.core.split import cv_folds
from mlcraft.exceptions import BudgetError
from mlcraft.registry import library_versions
from mlcraft.workspace import now_iso

if TYPE_CHECKING:
    from mlcraft.api.project import Project

__all__ = ["TrainResult", "run_training", "resolve_n_jobs", "TrainingData", "training_data", "candidates_for"]

SAVE_RESERVE_S = 2.0  # time kept for writing the run and the model


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


def _encoded_width(schema: Schema, family: Family) -> int:
    width = len(schema.numeric) + 5 * len(schema.datetime)
    for name in schema.categorical:
        n = schema.column(name).n_unique
        width += min(n, 64) if family.categorical == "onehot" else 1
    return max(width, 1)


def candidates_for(families: list[Family], schema: Schema, task: str, seed: int, n_fit_rows: int) -> list[Candidate]:
    """One candidate per family, at its default configuration (the shortlist)."""
    out = []
    for family in families:
        width = _encoded_width(schema, family)
        params = family.default_params(task, n_fit_rows)
        context = BuildContext(task=task, n_rows=n_fit_rows, n_features=width, seed=seed, n_jobs=1)
        out.append(
            Candidate(
                name=family.name,
                family=family.name,
                params=params,
                build=_Builder(family, schema, params, context),
                estimated_fit_seconds=family.cost(n_fit_rows, width),
            )
        )
    return out


class _Builder:
    """A picklable pipeline factory (sent to the worker processes of the folds)."""

    def __init__(self, family: Family, schema: Schema, params: dict, context: BuildContext):
        self.family, self.schema, self.params, self.context = family, schema, params, context

    def __call__(self):
        return make_pipeline(self.family, self.schema, self.params, self.context)


class _RunLog(Callback):
    """Writes what happens to the run's log file."""

    def __init__(self, path: Path):
        self.fh = open(path, "a", encoding="utf-8")
        self.start = time.perf_counter()

    def line(self, text: str) -> None:
        self.fh.write(f"{time.perf_counter() - self.start:8.2f}s  {text}\n")
        self.fh.flush()

    def on_train_start(self, info):
        self.line("start " + " ".join(f"{k}={v}" for k, v in info.items()))

    def on_candidate_start(self, name, estimated_seconds):
        self.line(f"{name}: cross-validating (estimated {estimated_seconds:.1f}s)")

    def on_candidate_end(self, result):
        if result.ok:
            self.line(f"{result.name}: {result.mean:.6g} ± {result.std:.3g} (fit {result.fit_time:.2f}s per fold)")
        else:
            self.line(f"{result.name}: {result.status}: {result.note}")
            if result.traceback:
                self.fh.write(result.traceback)

    def on_note(self, message):
        self.line(f"note: {message}")

    def on_refit_start(self, name):
        self.line(f"refitting {name} on all training rows")

    def on_train_end(self, summary):
        self.line("end " + " ".join(f"{k}={v}" for k, v in summary.items()))

    def close(self):
        self.fh.close()


def _best(results: list[CVResult], scorer: Scorer) -> CVResult:
    ok = [r for r in results if r.ok]
    if not ok:
        reasons = "; ".join(f"{r.name}: {r.note}" for r in results[:3])
        raise BudgetError(f"no model could be trained ({reasons}); raise --time-limit or check the data")
    return max(ok, key=lambda r: (scorer.sign * r.mean, -ok.index(r)))


def _write_run(run_dir: Path, data: TrainingData, results: list[CVResult], board: pd.DataFrame, best: CVResult, pipeline: Any, target: str) -> None:
    scorer = data.scorer
    board.to_csv(run_dir / "leaderboard.csv", index=False)
    atomic.write_json(run_dir / "leaderboard.json", {"metric": scorer.name, "greater_is_better": scorer.metric.greater_is_better, "rows": board.to_dict(orient="records")})
    fold_of = np.empty(len(data.y), dtype=int)
    for i, (_, va) in enumerate(data.folds):
        fold_of[va] = i
    rows = [{"model": r.name, "fold": i, scorer.name: s} for r in results if r.ok for i, s in enumerate(r.scores)]
    pd.DataFrame(rows).to_csv(run_dir / "cv_scores.csv", index=False)
    oof = {"row": data.rows, "fold": fold_of, target: data.y.to_numpy()}
    for r in results:
        if not r.ok:
            continue
        if r.oof.ndim == 1:
            oof[r.name] = r.oof
        else:
            for j, cls in enumerate(data.classes):
                oof[f"{r.name}:{proba_column(cls)}"] = r.oof[:, j]
    pd.DataFrame(oof).to_parquet(run_dir / "oof.parquet", index=False)
    atomic.write_json(run_dir / "chosen.json", {"model": best.name, "family": best.family, "params": best.params, "cv_mean": best.mean, "cv_std": best.std})
    (run_dir / "pipeline.txt").write_text(str(pipeline) + "\n", encoding="utf-8")


def _write_learning_curves(run_dir: Path, pipeline: Any) -> None:
    """A neural champion's learning curves (per-epoch loss and metric on training and validation rows)
    as ``learning_curves.csv``, and its resolved network settings as ``network.json``."""
    estimator = pipeline[-1]
    history = getattr(estimator, "history_", None)
    if not history:
        return
    pd.DataFrame(history).to_csv(run_dir / "learning_curves.csv", index=False)
    network = {**getattr(estimator, "config_", {}), "epochs": getattr(estimator, "n_iter_", None),
               "best_epoch": getattr(estimator, "best_epoch_", None), "stop_reason": getattr(estimator, "stop_reason_", None)}
    atomic.write_json(run_dir / "network.json", network)


def run_training(
    project: Project,
    *,
    time_limit: float | None,
    max_trials: int | None,
    n_jobs: int | None = None,
    families: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    callbacks: Iterable[Callback] = (),
) -> TrainResult:
    from mlcraft.models import families_for

    budget = Budget(time_limit=time_limit, max_trials=max_trials)
    cfg, schema, ws = project.config, project.schema, project.workspace
    n_jobs = resolve_n_jobs(n_jobs)
    chosen = families_for(cfg.task, list(families) if families is not None else None, list(exclude or ()))
    if not chosen:
        raise BudgetError(f"no model family left to try for a {cfg.task} task; check --family/--exclude")
    data = training_data(project)
    n_fit = len(data.y) - len(data.y) // len(data.folds)
    candidates = candidates_for(chosen, schema, cfg.task, cfg.seed, n_fit)
    run_id = ws.new_run_id()
    with atomic.atomic_dir(ws.run_dir(run_id)) as run_dir:
        log = _RunLog(run_dir / "log.txt")
        events = CallbackList([log, *callbacks])
        try:
            info = {"run": run_id, "rows": len(data.y), "folds": len(data.folds), "metric": cfg.metric, "time_limit": time_limit, "max_trials": max_trials, "n_jobs": n_jobs}
            events.on_train_start(info)
            for note in data.notes:
                events.on_note(note)
            results = run_shortlist(
                candidates, data.X, data.y, data.folds, data.scorer,
                task=cfg.task, budget=budget, n_jobs=n_jobs, reserve=SAVE_RESERVE_S, callback=events,
            )
            board = leaderboard_frame(results, data.scorer)
            best = _best(results, data.scorer)
            events.on_refit_start(best.name)
            model = _refit(project, data, best, n_jobs)
            _write_run(run_dir, data, results, board, best, model.pipeline, cfg.target)
            _write_learning_curves(run_dir, model.pipeline)
            events.on_train_end({"best": best.name, "cv": f"{best.mean:.6g}", "elapsed_s": f"{budget.elapsed():.1f}"})
        finally:
            log.close()
    meta = {
        "run_id": run_id,
        "created": now_iso(),
        "family": best.family,
        "params": best.params,
        "metric": cfg.metric,
        "cv_mean": best.mean,
        "cv_std": best.std,
        "cv_scores": best.scores,
        "dataset": cfg.dataset,
        "train_rows": len(data.y),
        "seed": cfg.seed,
        "task": cfg.task,
        "target": cfg.target,
        "libraries": library_versions(),
    }
    with ws.lock():
        version = project.registry.register(model, meta)
        project.registry.promote(version, by=_user(), reason=f"trained by run {run_id}: best CV {cfg.metric} {best.mean:.6g}")
    return TrainResult(
        run_id=run_id,
        version=version,
        best=best.name,
        metric=cfg.metric,
        cv_mean=best.mean,
        cv_std=best.std,
        leaderboard=board,
        elapsed=budget.elapsed(),
        notes=data.notes,
    )


def _refit(project: Project, data: TrainingData, best: CVResult, n_jobs: int) -> FittedModel:
    from mlcraft.models import get_family

    cfg = project.config
    family = get_family(best.family)
    context = BuildContext(task=cfg.task, n_rows=len(data.y), n_features=data.X.shape[1], seed=cfg.seed, n_jobs=n_jobs)
    pipeline = make_pipeline(family, project.schema, best.params, context)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.fit(data.X, data.y)
    return FittedModel(
        pipeline=pipeline,
        schema=project.schema,
        task=cfg.task,
        family=best.family,
        params=dict(best.params),
        classes=data.classes,
        positive_class=cfg.positive_class,
        threshold=0.5 if cfg.task == "binary" else None,
        metadata={"refit_seconds": time.perf_counter() - start, "cv_mean": best.mean, "metric": cfg.metric},
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"

