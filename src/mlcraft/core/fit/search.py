"""What the search works with: candidates, their cross-validated results, the budget, the leaderboard.

A candidate is a name and a function that builds a fresh pipeline; this module never imports the
model families. The cross-validation itself runs in :class:`mlcraft.core.fit.scheduler.FoldPool`
(fold by fold, in parallel, under deadlines) and the shortlist and tuning in
:class:`mlcraft.core.fit.tuning.Search`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlcraft.core.analysis.metrics import Scorer
from mlcraft.core.fit.status import Stage, TrialStatus

__all__ = ["Candidate", "CVResult", "Budget", "SpeedModel", "leaderboard_frame"]

REFIT_FACTOR = 1.3  # refit on all rows vs. one fold's fit (folds hold (k-1)/k of the rows)


@dataclass
class Candidate:
    """Something to cross-validate: a name, its family and parameters, and a pipeline factory."""

    name: str
    family: str
    params: dict[str, Any]
    build: Callable[[], Any]
    estimated_fit_seconds: float = (
        0.0  # one fold's fit + predict on one core of the reference machine
    )
    skip_reason: str | None = None  # set when it must not run (e.g. it would not fit in memory)
    note: str | None = None  # e.g. "subsampled to fit in memory"
    keep_models: bool = False  # return the fitted fold models (k-fold bagging without a refit)
    stage: Stage = Stage.SHORTLIST  # which part of the search proposed it


@dataclass
class CVResult:
    """The cross-validated score of one candidate, with its out-of-fold predictions."""

    name: str
    family: str
    params: dict[str, Any]
    scores: list[float] = field(default_factory=list)
    fit_time: float = 0.0  # mean seconds per fold
    predict_time: float = 0.0
    status: TrialStatus = TrialStatus.OK
    note: str | None = None
    oof: np.ndarray | None = None
    traceback: str | None = None  # for the run log when the trial failed
    models: list[Any] | None = None  # the fitted fold models, when kept (for k-fold bagging)
    truncations: list[dict[str, Any]] | None = None  # per fold: what a deadline cut short
    stage: Stage = Stage.SHORTLIST  # which part of the search proposed it (its candidate's stage)
    # agreement between fits on random halves (kinds with a stability measure; finalists only)
    stability: float | None = None

    def __post_init__(self) -> None:
        self.status, self.stage = (
            TrialStatus(self.status),
            Stage(self.stage),
        )  # a string read back from a run file

    @property
    def ok(self) -> bool:
        return self.status is TrialStatus.OK

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
                "status": str(r.status),
                "note": r.note or "",
            }
        )
        if any(x.stability is not None for x in results):  # clusterings: the finalists' stability
            rows[-1]["stability"] = math.nan if r.stability is None else r.stability
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    key = np.where(
        frame["status"] == TrialStatus.OK, -scorer.sign * frame[f"{scorer.name}_mean"], np.inf
    )
    frame = frame.iloc[np.lexsort((frame["model"].to_numpy(), key))].reset_index(drop=True)
    frame.insert(
        0, "rank", np.where(frame["status"] == TrialStatus.OK, np.arange(1, len(frame) + 1), 0)
    )
    return frame
