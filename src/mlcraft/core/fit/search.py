"""Cross-validation of candidates within a budget (the shortlist); tuning strategies build on it.

This module is given candidates (a name and a function that builds a fresh pipeline); it never
imports the model families. It owns the folds, the scoring, the out-of-fold predictions and the
time budget: cheap candidates first, one that would not fit in the time left is skipped with a note.
"""

from __future__ import annotations

import math
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlcraft.core.fit.events import Callback
from mlcraft.core.analysis.metrics import Scorer
from mlcraft.core.predict.pipeline import predict_array

__all__ = ["Candidate", "CVResult", "Budget", "cross_validate", "run_shortlist", "SpeedModel", "leaderboard_frame"]

REFIT_FACTOR = 1.3  # refit on all rows vs. one fold's fit (folds hold (k-1)/k of the rows)


@dataclass
class Candidate:
    """Something to cross-validate: a name, its family and parameters, and a pipeline factory."""

    name: str
    family: str
    params: dict[str, Any]
    build: Callable[[], Any]
    estimated_fit_seconds: float = 0.0  # one fold's fit + predict on one core of the reference machine
    skip_reason: str | None = None  # set when it must not run (e.g. it would not fit in memory)
    note: str | None = None  # e.g. "subsampled to fit in memory"
    keep_models: bool = False  # return the fitted fold models (k-fold bagging without a refit)


@dataclass
class CVResult:
    """The cross-validated score of one candidate, with its out-of-fold predictions."""

    name: str
    family: str
    params: dict[str, Any]
    scores: list[float] = field(default_factory=list)
    fit_time: float = 0.0  # mean seconds per fold
    predict_time: float = 0.0
    status: str = "ok"  # "ok" | "skipped" | "failed"
    note: str | None = None
    oof: np.ndarray | None = None
    traceback: str | None = None  # for the run log when status is "failed"
    models: list[Any] | None = None  # the fitted fold models, when kept (for k-fold bagging)
    truncations: list[dict[str, Any]] | None = None  # per fold: what a deadline cut short

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores)) if self.scores else math.nan

    @property
    def std(self) -> float:
        return float(np.std(self.scores, ddof=1)) if len(self.scores) > 1 else math.nan


@dataclass
class Budget:
    """A time limit (seconds, None for none) and/or a fixed number of trials."""

    time_limit: float | None = None
    max_trials: int | None = None
    started: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def remaining(self) -> float:
        return math.inf if self.time_limit is None else self.time_limit - self.elapsed()


class SpeedModel:
    """How much slower (or faster) this machine is than the families' cost estimates, learnt as we go."""

    def __init__(self) -> None:
        self.ratios: list[float] = []

    @property
    def factor(self) -> float:
        return float(np.median(self.ratios)) if self.ratios else 1.0

    def observe(self, estimated: float, actual: float) -> None:
        if estimated > 0 and actual > 0:
            self.ratios.append(actual / estimated)

    def fit_seconds(self, candidate: Candidate) -> float:
        return candidate.estimated_fit_seconds * self.factor


def _fit_fold(build, X, y, train_idx, val_idx, task, classes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline = build()
        start = time.perf_counter()
        pipeline.fit(X.iloc[train_idx], y.iloc[train_idx])
        fit_time = time.perf_counter() - start
        start = time.perf_counter()
        pred = predict_array(pipeline, X.iloc[val_idx], task, classes)
        predict_time = time.perf_counter() - start
    return pred, fit_time, predict_time


def cross_validate(
    candidate: Candidate,
    X: pd.DataFrame,
    y: pd.Series,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    scorer: Scorer,
    *,
    task: str,
    n_jobs: int = 1,
    callback: Callback | None = None,
) -> CVResult:
    """Fit one fresh pipeline per fold; score each validation fold; keep out-of-fold predictions.

    Every row's out-of-fold prediction comes from the pipeline of the fold that held it out, so no
    prediction was made by a model that saw its row.
    """
    from joblib import Parallel, delayed

    classes = scorer.classes
    result = CVResult(candidate.name, candidate.family, dict(candidate.params))
    workers = max(1, min(n_jobs, len(folds)))
    try:
        outputs = Parallel(n_jobs=workers, backend="loky" if workers > 1 else "sequential")(
            delayed(_fit_fold)(candidate.build, X, y, tr, va, task, classes) for tr, va in folds
        )
    except Exception as exc:  # a family failing on this data must not end the run
        result.status = "failed"
        result.note = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
        result.traceback = traceback.format_exc()
        return result
    n = len(y)
    oof = np.zeros(n) if task == "regression" else np.zeros((n, len(classes or ())))
    y_values = y.to_numpy()
    fit_times, predict_times = [], []
    for i, ((_, va), (pred, fit_t, pred_t)) in enumerate(zip(folds, outputs)):
        oof[va] = pred
        result.scores.append(scorer(y_values[va], pred))
        fit_times.append(fit_t)
        predict_times.append(pred_t)
        if callback is not None:
            callback.on_fold_end(candidate.name, i + 1, len(folds))
    result.fit_time = float(np.mean(fit_times))
    result.predict_time = float(np.mean(predict_times))
    result.oof = oof
    if not np.all(np.isfinite(result.scores)):
        result.status, result.note = "failed", "non-finite score on a fold"
    return result


def run_shortlist(
    candidates: Sequence[Candidate],
    X: pd.DataFrame,
    y: pd.Series,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    scorer: Scorer,
    *,
    task: str,
    budget: Budget,
    n_jobs: int = 1,
    reserve: float = 0.0,
    callback: Callback | None = None,
    speed: SpeedModel | None = None,
) -> list[CVResult]:
    """Cross-validate ``candidates`` cheapest first, within ``budget``.

    A candidate whose estimated cross-validation time (plus refitting the best one, plus
    ``reserve`` seconds) would exceed the time left is skipped with a note. With no time limit,
    ``budget.max_trials`` candidates run (all if unset): the same work on every run.
    """
    callback = callback or Callback()
    speed = speed or SpeedModel()
    results: list[CVResult] = []
    workers = max(1, min(n_jobs, len(folds)))
    rounds = math.ceil(len(folds) / workers)
    ordered = sorted(candidates, key=lambda c: c.estimated_fit_seconds)
    best_refit = 0.0
    for candidate in ordered:
        if budget.max_trials is not None and sum(r.status != "skipped" for r in results) >= budget.max_trials:
            results.append(CVResult(candidate.name, candidate.family, candidate.params, status="skipped", note="trial limit reached"))
            continue
        fit_s = speed.fit_seconds(candidate)
        estimate = fit_s * rounds * 1.1
        if budget.time_limit is not None:
            needed = estimate + max(best_refit, fit_s * REFIT_FACTOR) + reserve
            left = budget.remaining()
            if needed > left:
                note = f"skipped: would take ~{estimate:.0f}s, {max(left, 0):.0f}s left in the time limit"
                results.append(CVResult(candidate.name, candidate.family, candidate.params, status="skipped", note=note))
                callback.on_note(f"{candidate.name}: {note}")
                callback.on_candidate_end(results[-1])
                continue
        callback.on_candidate_start(candidate.name, estimate)
        result = cross_validate(candidate, X, y, folds, scorer, task=task, n_jobs=n_jobs, callback=callback)
        if result.ok:
            speed.observe(candidate.estimated_fit_seconds, result.fit_time + result.predict_time)
            best = max((r for r in results if r.ok), key=lambda r: scorer.sign * r.mean, default=None)
            if best is None or scorer.sign * result.mean > scorer.sign * best.mean:
                best_refit = result.fit_time * REFIT_FACTOR
        results.append(result)
        callback.on_candidate_end(result)
    return results


def leaderboard_frame(results: Sequence[CVResult], scorer: Scorer) -> pd.DataFrame:
    """One row per candidate, best first; skipped and failed ones last, with their note."""
    rows = []
    for r in results:
        rows.append(
            {
                "model": r.name,
                "family": r.family,
                f"{scorer.name}_mean": r.mean,
                f"{scorer.name}_std": r.std,
                "fit_time_s": r.fit_time if r.ok else math.nan,
                "predict_time_s": r.predict_time if r.ok else math.nan,
                "status": r.status,
                "note": r.note or "",
            }
        )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    key = np.where(frame["status"] == "ok", -scorer.sign * frame[f"{scorer.name}_mean"], np.inf)
    frame = frame.iloc[np.lexsort((frame["model"].to_numpy(), key))].reset_index(drop=True)
    frame.insert(0, "rank", np.where(frame["status"] == "ok", np.arange(1, len(frame) + 1), 0))
    return frame
