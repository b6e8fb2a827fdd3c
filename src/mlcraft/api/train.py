"""The training job: the project's data through the trainer (:mod:`mlcraft.core.fit.trainer`), then
the model registered and promoted. The facade's part: resolve the families, the budget and the
workers; open the run directory; register what the trainer produced."""

from __future__ import annotations

import getpass
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlcraft import atomic
from mlcraft.config import env_n_jobs
from mlcraft.core.fit.events import Callback
from mlcraft.core.fit.scheduler import peak_memory_mb as peak_memory_mb_now
from mlcraft.core.fit.search import Budget, CVResult
from mlcraft.core.fit.trainer import (
    SAVE_RESERVE_S,
    Trainer,
    TrainingData,
    TrainOutcome,
    families_by_name,
)
from mlcraft.core.fit.trainer import training_data as _training_data
from mlcraft.core.predict.pipeline import FittedModel
from mlcraft.exceptions import BudgetError, ConfigError
from mlcraft.registry import library_versions
from mlcraft.workspace import now_iso

if TYPE_CHECKING:
    from mlcraft.api.project import Project

__all__ = [
    "TrainResult",
    "run_training",
    "resolve_n_jobs",
    "TrainingData",
    "training_data",
    "save_single",
    "trainer_for",
]


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


def check_families(names: Iterable[str]) -> None:
    """Refuse, in one line, a family name that cannot be trained (unknown, a method such as t-SNE
    that cannot place new rows, or one whose optional package is not installed), before anything
    is written."""
    from mlcraft.models import get_family

    packages = {"umap": "umap-learn"}  # import name -> what pip installs, where they differ
    for name in names:
        family = get_family(name)
        if not family.available():
            package = packages.get(family.requires or "", family.requires)
            raise ConfigError(
                f"model family {name!r} needs the optional package {package!r}, which is not installed: pip install {package}, or choose another --family"
            )


def resolve_n_jobs(n_jobs: int | None) -> int:
    n_jobs = env_n_jobs() if n_jobs is None else n_jobs
    cores = os.cpu_count() or 1
    if n_jobs is None or n_jobs < 0:
        return cores
    return max(1, n_jobs)


def training_data(project: Project) -> TrainingData:
    """The project's training rows, checked and folded (never the test rows)."""
    cfg = project.config
    return _training_data(
        cfg, project.schema, project.dataset(), project.workspace.read_split(cfg.dataset)
    )


def trainer_for(
    project: Project,
    data: TrainingData,
    *,
    families: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    budget: Budget,
    n_jobs: int,
    callbacks: Iterable[Callback] = (),
) -> Trainer:
    """A trainer for the project's data over the chosen families (every family of the task by default)."""
    from mlcraft.models import families_for

    cfg = project.config
    include = list(families) if families is not None else None
    options = project.kind.family_options(cfg)
    chosen = families_for(
        cfg.task, include, list(exclude or ()), semi_supervised=cfg.semi_supervised, options=options
    )
    unset = families_for(
        cfg.task, include, list(exclude or ()), semi_supervised=cfg.semi_supervised
    )
    left_out = [f.name for f in unset if f.name not in {c.name for c in chosen}]
    if left_out:
        given = ", ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in options.items() if v is not None
        )
        why = f"{', '.join(left_out)} cannot honour {given}"
        if not chosen:
            raise ConfigError(f"{why}; leave out {given} or choose other families (--family)")
        data.notes.append(f"{why}: left out")
    if not chosen:
        raise BudgetError(
            f"no model family left to try for a {cfg.task} task; check --family/--exclude"
        )
    return Trainer(
        cfg,
        project.schema,
        data,
        families_by_name(chosen),
        budget=budget,
        n_jobs=n_jobs,
        callbacks=callbacks,
    )


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
    # data larger than memory: checked unchanged before the search (on its stored sample)
    source = ws.open_reference(cfg.dataset) if ws.dataset_reference(cfg.dataset) else None
    data = training_data(project)
    if replay is not None:  # any family of the task may be a member of the replayed model
        trainer = trainer_for(project, data, budget=budget, n_jobs=n_jobs, callbacks=callbacks)
    else:
        trainer = trainer_for(
            project,
            data,
            families=families,
            exclude=exclude,
            budget=budget,
            n_jobs=n_jobs,
            callbacks=callbacks,
        )
    if source is not None:  # the refit on the sample, then two passes over every row
        trainer.refit_scale = 1.0 + 2.0 * source.rows / max(len(data.X), 1)
    run_id = ws.new_run_id()
    with atomic.atomic_dir(ws.run_dir(run_id)) as run_dir:
        if replay is None:
            outcome = trainer.fit(run_dir, run_id, prefer_fast=prefer_fast)
        else:
            outcome = trainer.replay(run_dir, run_id, ws.run_dir(replay), replay)
    # for a search, the champion's own record; for a replay, the source run's
    chosen = outcome.chosen
    streamed = None
    if (
        source is not None
    ):  # the champion refitted on every training row, if it learns incrementally
        from mlcraft.core.fit.streamed import stream_refit

        sample_champion = outcome.chosen.model
        outcome = _prefer_incremental(trainer, outcome, ws.run_dir(run_id))
        chosen = outcome.chosen
        streamed = stream_refit(
            outcome.model,
            data.X,
            source,
            config=cfg,
            schema=project.schema,
            families=list(trainer.families),
            deadline=None
            if budget.time_limit is None
            else time.time() + budget.remaining() - SAVE_RESERVE_S,
        )
        outcome.model = streamed.model
        if chosen.model != sample_champion:
            streamed.notes.insert(
                1,
                f"{chosen.model} is saved rather than {sample_champion}: their scores on the sample are within one "
                f"standard deviation, and {chosen.family} learns from every training row",
            )
        atomic.write_json(ws.run_dir(run_id) / "streamed.json", {"notes": streamed.notes})
    meta = _meta(project, data, run_id, outcome)
    if streamed is not None:
        meta = {**meta, "train_rows": streamed.rows, "streamed": streamed.streamed}
        meta["notes"] = streamed.notes
    if replay is None:
        reason = f"trained by run {run_id}: best CV {cfg.metric} {chosen.cv_mean:.6g}"
    else:
        meta = {
            **meta,
            "cv_mean": chosen.cv_mean,
            "cv_std": chosen.cv_std,
            "cv_scores": [],
            "replay_of": replay,
        }
        reason = f"replay of run {replay} ({chosen.model})"
    version = _register(project, outcome.model, meta, reason)
    return TrainResult(
        run_id=run_id,
        version=version,
        best=chosen.model,
        metric=cfg.metric,
        cv_mean=chosen.cv_mean,
        cv_std=chosen.cv_std,
        leaderboard=outcome.leaderboard,
        elapsed=budget.elapsed(),
        notes=([] if replay is not None else data.notes)
        + ([] if streamed is None else streamed.notes),
        trials=outcome.trials,
        ensemble=outcome.champion.is_ensemble,
        peak_memory_mb=outcome.peak_memory_mb if replay is None else 0.0,
        inference=outcome.inference,
    )


def _prefer_incremental(trainer: Trainer, outcome: TrainOutcome, run_dir) -> TrainOutcome:
    """Data larger than memory: a champion that cannot learn incrementally gives way to the best
    model that can, when their cross-validated scores on the sample are within one standard deviation."""
    from mlcraft.core.fit.streamed import incremental_alternative, learns_incrementally

    if learns_incrementally(outcome.model.pipeline) or outcome.champion.is_ensemble:
        return outcome
    alternative = incremental_alternative(trainer, run_dir, outcome.champion.result)
    if alternative is None:
        return outcome
    model, chosen, champion = trainer.refit_one(alternative)
    atomic.write_json(run_dir / "chosen.json", chosen.to_dict())  # what analyse and report read
    return TrainOutcome(
        model,
        chosen,
        champion,
        outcome.leaderboard,
        outcome.trials,
        outcome.inference,
        outcome.peak_memory_mb,
    )


def save_single(
    project: Project, data: TrainingData, result: CVResult, n_jobs: int, run_id: str
) -> int:
    """Refit one trial on all training rows and register it as the champion (``mlcraft tune --save``)."""
    trainer = trainer_for(
        project, data, families=[result.family], budget=Budget(None, None), n_jobs=n_jobs
    )
    model, chosen, champion = trainer.refit_one(result)
    outcome = TrainOutcome(model, chosen, champion, pd.DataFrame(), 0, {}, peak_memory_mb_now())
    meta = _meta(project, data, run_id, outcome)
    return _register(
        project, model, meta, f"tuned by run {run_id}: CV {project.config.metric} {result.mean:.6g}"
    )


def _meta(
    project: Project, data: TrainingData, run_id: str, outcome: TrainOutcome
) -> dict[str, Any]:
    cfg, best, chosen = project.config, outcome.champion.result, outcome.chosen
    return {
        "run_id": run_id,
        "created": now_iso(),
        "model": best.name,
        "family": chosen.family,
        "params": best.params,
        "members": chosen.members,
        "metric": cfg.metric,
        "cv_mean": best.mean,
        "cv_std": best.std,
        "cv_scores": best.scores,
        "dataset": cfg.dataset,
        "train_rows": len(data.y),
        "seed": cfg.seed,
        "task": cfg.task,
        "target": cfg.target,
        "trials": outcome.trials,
        "inference": outcome.inference,
        "peak_memory_mb": round(outcome.peak_memory_mb, 1),
        "libraries": library_versions(),
    }


def _register(project: Project, model: FittedModel, meta: dict, reason: str) -> int:
    with project.workspace.lock():
        version = project.registry.register(model, meta)
        project.registry.promote(version, by=_user(), reason=reason)
    return version


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"
