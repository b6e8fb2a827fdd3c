"""The final model: ensembles of the trials, the choice of the champion, its refit, and replay.

The champion is the best single model unless an ensemble's cross-validated score beats it. Each
member is refitted on all training rows when that fits in the time left (in parallel), or else
k-fold bagged: its cross-validation's fold models, already fitted, are averaged (their CV score is
exactly the member's). A choice that can be neither is passed over for the next. What was fitted
is recorded so that ``mlcraft train --replay RUN`` rebuilds exactly the same model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlcraft.core.analysis.metrics import Scorer
from mlcraft.core.fit.blending import cross_validated_blend, fit_blend
from mlcraft.core.fit.scheduler import FoldPool
from mlcraft.core.fit.search import REFIT_FACTOR, CVResult
from mlcraft.core.fit.status import Stage
from mlcraft.core.predict.ensemble import BaggedModel, Blend, EnsembleModel
from mlcraft.core.predict.pipeline import FittedModel
from mlcraft.tasks import get_kind

__all__ = [
    "Champion",
    "build_ensembles",
    "likely_members",
    "choose",
    "refit",
    "refit_seconds",
    "ensemble_calls",
    "measure_inference",
    "fold_model_timer",
    "ENSEMBLE_POOL",
    "FAMILY_POOL",
]

ENSEMBLE_POOL = (
    12  # best trials greedy selection chooses from (with the best of every other family)
)
FAMILY_POOL = 4  # best trial of each of the best families: stacking and voting
ONE_ROW_MS, BATCH_S = 20.0, 1.0  # fast-inference targets: one row, 10,000 rows
MIN_WEIGHT = (
    0.02  # stacking members weighing less are dropped (they cost prediction time for nothing)
)
PIPELINE_MS = 3.0  # about what one fitted pipeline adds to the latency of one row
TIMED_CANDIDATES = 4  # --prefer-fast times at most this many fold models
PARALLEL_EFFICIENCY = 0.9  # share of each extra core that large-batch predictions gain


@dataclass
class Champion:
    """What is refitted and saved: one trial, or an ensemble of trials with its blend."""

    result: CVResult
    members: list[CVResult]
    blend: Blend | None = None
    notes: list[str] = field(default_factory=list)
    forms: list[str] = field(default_factory=list)  # per member: "refit" or "bag"

    @property
    def is_ensemble(self) -> bool:
        return self.blend is not None


def _oof(result: CVResult) -> np.ndarray:
    """A ranked result's out-of-fold predictions (a failed trial has none and is never ranked)."""
    if result.oof is None:
        raise ValueError(f"{result.name}: no out-of-fold predictions to blend")
    return result.oof


def _rank(results: Sequence[CVResult], scorer: Scorer) -> list[CVResult]:
    ok = [r for r in results if r.ok and r.oof is not None]
    return sorted(ok, key=lambda r: (-scorer.sign * r.mean, r.name))


def _family_best(ranked: Sequence[CVResult], limit: int | None = FAMILY_POOL) -> list[CVResult]:
    seen, out = set(), []
    for r in ranked:
        if r.family not in seen:
            seen.add(r.family)
            out.append(r)
    return out[:limit]


def _greedy_pool(ranked: Sequence[CVResult]) -> list[CVResult]:
    """What greedy selection chooses from: the best trials, and the best trial of each family not
    among them (so that it has different models to combine, not only near-copies of the leader)."""
    top = list(ranked[:ENSEMBLE_POOL])
    return top + [r for r in _family_best(ranked, None) if not any(r is t for t in top)]


def likely_members(
    results: Sequence[CVResult], y: np.ndarray, scorer: Scorer, task: str, top: int = 5
) -> list[CVResult]:
    """The trials the final model would need refitted if the search stopped now: the best few,
    the members greedy selection picks from all of them (fitted once on all rows, not
    cross-validated: an estimate) and the stacking and voting members."""
    ranked = _rank(results, scorer)
    pool = _greedy_pool(ranked)
    picked = []
    if len(pool) >= 2 and get_kind(task).ensembles:
        weights = fit_blend("caruana", [_oof(m) for m in pool], y, scorer, task).weights
        picked = [m for m, w in zip(pool, weights) if w > 0]
    out: list[CVResult] = []
    for r in [*ranked[:top], *picked, *_family_best(ranked)]:
        if not any(r is o for o in out):
            out.append(r)
    return out


def build_ensembles(
    results: Sequence[CVResult], y: np.ndarray, folds, scorer: Scorer, task: str
) -> list[Champion]:
    """Cross-validated ensembles of the trials (caruana, stacking, soft and hard voting); none
    for a kind whose outputs cannot be blended (cluster ids)."""
    if not get_kind(task).ensembles:
        return []
    ranked = _rank(results, scorer)
    families = _family_best(ranked)
    plans = [("caruana", _greedy_pool(ranked)), ("stacking", families), ("soft_vote", families[:3])]
    if get_kind(task).classification:
        plans.append(("hard_vote", families[:3]))
    out = []
    for method, members in plans:
        if len(members) < 2:
            continue
        scores, oof, blend = cross_validated_blend(
            method, [_oof(m) for m in members], y, folds, scorer, task
        )
        if method == "caruana":  # keep the members that were picked
            keep = np.flatnonzero(blend.weights > 0)
            members, blend = [members[i] for i in keep], Blend(method, blend.weights[keep])
        elif (
            method == "stacking"
            and not get_kind(task).classification
            and np.any(blend.weights < MIN_WEIGHT)
        ):
            members = [
                m for m, w in zip(members, blend.weights) if w >= MIN_WEIGHT
            ]  # (nearly) unused: blend again without them
            if len(members) < 2:
                continue
            scores, oof, blend = cross_validated_blend(
                method, [_oof(m) for m in members], y, folds, scorer, task
            )
        weights = {m.name: round(float(w), 6) for m, w in zip(members, blend.weights)}
        result = CVResult(
            f"ensemble:{method}",
            "ensemble",
            {"method": method, "members": weights},
            scores=list(scores),
            fit_time=float(sum(m.fit_time for m in members)),
            predict_time=float(sum(m.predict_time for m in members)),
            note=f"{len(members)} members",
            oof=oof,
            stage=Stage.ENSEMBLE,
        )
        if len(members) >= 2 and np.all(np.isfinite(scores)):
            out.append(Champion(result, members, blend))
    return out


def ensemble_calls(n_results: int, n_folds: int, task: str, n_families: int = 0) -> tuple[int, int]:
    """How many times :func:`build_ensembles` calls the scorer (for the time it needs): bound to
    the targets (:meth:`Scorer.bind`, greedy selection's many calls), and plain (the others)."""
    from mlcraft.core.fit.blending import CARUANA_ROUNDS

    if not get_kind(task).ensembles:
        return 0, 0
    pool = min(n_results, ENSEMBLE_POOL + n_families)
    return (n_folds + 1) * CARUANA_ROUNDS * pool, (n_folds + 1) * (
        2 * FAMILY_POOL + (2 if not get_kind(task).classification else 4)
    )


def refit_seconds(members: Sequence[CVResult], n_jobs: int) -> float:
    """Estimated wall time to refit ``members`` on all rows, in parallel on ``n_jobs`` workers."""
    times = [m.fit_time * REFIT_FACTOR for m in members]
    return max(max(times, default=0.0), sum(times) / max(1, n_jobs))


def predict_seconds(
    members: Sequence[CVResult], forms: Sequence[str], n_rows: int, n_folds: int
) -> tuple[float, float]:
    """Estimated (one-row ms, 10,000-row s) of a model, from the members' CV predict times."""
    val_rows = max(1, n_rows // n_folds)
    copies = [len(m.models) if f == "bag" and m.models else 1 for m, f in zip(members, forms)]
    batch = sum(c * m.predict_time * 10_000 / val_rows for m, c in zip(members, copies))
    return PIPELINE_MS * sum(copies), batch


def _forms(
    option: Champion, seconds_left: float | None, n_jobs: int, n_rows: int, n_folds: int
) -> list[str] | None:
    """Refit every member if that fits in time, else bag those that can be bagged if the result
    still predicts fast; None if neither."""
    if seconds_left is None or refit_seconds(option.members, n_jobs) * 1.2 <= seconds_left:
        return ["refit"] * len(option.members)
    forms = ["bag" if m.models is not None else "refit" for m in option.members]
    to_refit = [m for m, f in zip(option.members, forms) if f == "refit"]
    one_ms, _ = predict_seconds(option.members, forms, n_rows, n_folds)
    if (
        one_ms > ONE_ROW_MS
    ):  # (small CV folds say little about 10,000 rows: measured after training)
        return None
    return forms if not to_refit or refit_seconds(to_refit, n_jobs) * 1.2 <= seconds_left else None


def expected_batch_seconds(result: CVResult, n_rows: int, n_folds: int, n_jobs: int) -> float:
    """Expected seconds for 10,000 rows through the refitted model, from the CV's predict time
    (one process per core, through scikit-learn's path) shared among the cores that predict large
    batches. Small validation folds make it an overestimate (their time is mostly per-call cost):
    used only where no fold model can be timed."""
    _, one_core = predict_seconds([result], ["refit"], n_rows, n_folds)
    return one_core / max(1.0, PARALLEL_EFFICIENCY * n_jobs)


def fold_model_timer(
    X: pd.DataFrame,
    schema: Any,
    task: str,
    classes,
    seed: int = 0,
    limit_s: float | None = None,
) -> Callable[[CVResult], float | None]:
    """``result -> seconds`` for 10,000 training rows through the first fold model the CV kept,
    predicted as a saved model predicts (:meth:`FittedModel.predict_raw`, compiled path included);
    None when no fold model was kept, or once the timings took ``limit_s`` in all."""
    batch = X.sample(10_000, replace=True, random_state=seed)
    spent = [0.0]

    def seconds(result: CVResult) -> float | None:
        if not result.models or (limit_s is not None and spent[0] >= limit_s):
            return None
        begin = time.perf_counter()
        model = FittedModel(
            result.models[0], schema, task, result.family, dict(result.params), classes=classes
        )
        model.compiled()  # built (and verified) at load time for a saved model: not timed
        start = time.perf_counter()
        model.predict_raw(batch)
        took = time.perf_counter() - start
        spent[0] += time.perf_counter() - begin
        return took

    return seconds


def _fast_enough(
    options: list[Champion],
    n_rows: int,
    n_folds: int,
    n_jobs: int,
    timer: Callable[[CVResult], float | None] | None,
) -> tuple[list[Champion], list[str]]:
    """``--prefer-fast``: the best single model that predicts 10,000 rows within the target: timed
    on its first fold model (at most :data:`TIMED_CANDIDATES` of them), else estimated from its CV
    predict time. If none is, the fastest alone."""
    notes: list[str] = []
    seen: dict[int, float] = {}  # id(option) -> seconds
    for rank, option in enumerate(options):
        measured = timer(option.result) if timer is not None and rank < TIMED_CANDIDATES else None
        seconds = (
            measured
            if measured is not None
            else expected_batch_seconds(option.result, n_rows, n_folds, n_jobs)
        )
        seen[id(option)] = seconds
        if seconds <= BATCH_S:
            return [option], notes
        if measured is not None:
            notes.append(
                f"{option.result.name} not chosen (--prefer-fast): its fold model predicted 10,000 rows in {seconds:.2f} s (target {BATCH_S:.0f} s)"
            )
        else:
            notes.append(
                f"{option.result.name} not chosen (--prefer-fast): from its CV it would predict 10,000 rows in ~{seconds:.1f} s (target {BATCH_S:.0f} s)"
            )
    if not options:
        return [], notes
    fastest = min(options, key=lambda o: seen[id(o)])
    return [fastest], notes[:3] + [
        f"{fastest.result.name}: the fastest model, although it may miss the target"
    ]


def choose(
    results: Sequence[CVResult],
    ensembles: Sequence[Champion],
    scorer: Scorer,
    *,
    prefer_fast: bool = False,
    seconds_left: float | None = None,
    n_jobs: int = 1,
    n_rows: int = 1,
    n_folds: int = 5,
    timer: Callable[[CVResult], float | None] | None = None,
    can_bag: bool = True,
    prefer: str | None = None,
) -> Champion:
    """The best single model, or an ensemble when its CV score beats it; each must be ready in time.

    ``can_bag``: False for kinds whose outputs cannot be averaged (cluster ids: each fold model
    numbers its clusters its own way), which are always refitted.

    ``prefer``: the name of a single model to put first whatever its score (chosen for its stability
    across resamples, see :mod:`mlcraft.core.fit.stability`); ensembles do not outrank it.

    With ``prefer_fast``, only single models refitted on all rows are considered: the best one
    that predicts 10,000 rows within the target (``timer``: :func:`fold_model_timer`).
    """
    ranked = _rank(results, scorer)
    options = [Champion(r, [r]) for r in ranked]
    notes: list[str] = []
    if prefer_fast:
        start = time.perf_counter()
        options, notes = _fast_enough(options, n_rows, n_folds, n_jobs, timer)
        if seconds_left is not None:
            seconds_left -= time.perf_counter() - start  # (the timings' own time)
    elif ranked and prefer is None:
        best_single = scorer.sign * ranked[0].mean
        options += [e for e in ensembles if scorer.sign * e.result.mean > best_single]
    options.sort(
        key=lambda c: (c.result.name != prefer, -scorer.sign * c.result.mean, c.result.name)
    )
    for option in options:
        forms = _forms(option, seconds_left, n_jobs, n_rows, n_folds)
        if forms is not None and not ((prefer_fast or not can_bag) and "bag" in forms):
            option.forms, option.notes = forms, notes
            if "bag" in forms:
                notes.append(
                    f"{option.result.name}: no time left to refit, so its fold models are bagged"
                )
            return option
        notes.append(
            f"{option.result.name} not chosen: its refit would take ~{refit_seconds(option.members, n_jobs) * 1.2:.0f}s, {max(seconds_left or 0, 0):.0f}s left"
        )
    # nothing fits: the best single model whose refit is short (its fit stops at the deadline when it
    # can), else the fastest to refit
    singles = [o for o in options if not o.is_ensemble]
    short = [
        o for o in singles if refit_seconds(o.members, n_jobs) <= 2 * max(seconds_left or 0.0, 1.0)
    ]
    fallback = (
        short[0]
        if short
        else min(singles or options, key=lambda c: refit_seconds(c.members, n_jobs))
    )
    fallback.forms = ["refit"] * len(fallback.members)
    fallback.notes = notes + [
        f"{fallback.result.name}: refitted although it may overrun the time limit (nothing faster was found)"
    ]
    return fallback


def refit(
    champion: Champion,
    pool: FoldPool,
    builds: Sequence[Any],
    *,
    deadline: float | None,
    task: str,
    classes,
) -> tuple[Any, list[dict], float]:
    """The champion's estimator: members refitted on all rows (``builds``, for the "refit" forms,
    in order) or bagged from their fold models; returns (estimator, truncations, seconds)."""
    start = time.perf_counter()
    fitted = iter(pool.fit_full(builds, deadline=deadline)) if builds else iter(())
    estimators: list[Any] = []
    truncations: list[dict[str, Any]] = []
    for member, form in zip(champion.members, champion.forms):
        if form == "bag":
            estimators.append(
                BaggedModel(
                    members=member.models,
                    task=task,
                    classes=classes,
                    names=[f"{member.name}/fold{i}" for i in range(len(member.models or []))],
                )
            )
            truncations.append({})
        else:
            pipeline, _, truncated = next(fitted)
            estimators.append(pipeline)
            truncations.append(truncated)
    seconds = time.perf_counter() - start
    if not champion.is_ensemble:
        return estimators[0], truncations, seconds
    model = EnsembleModel(
        members=estimators,
        blend=champion.blend,
        task=task,
        classes=classes,
        names=[m.name for m in champion.members],
    )
    return model.share_preparation(), truncations, seconds


def measure_inference(model: FittedModel, X: pd.DataFrame, seed: int = 0) -> dict[str, Any]:
    """Median latency of one row, and the time of 10,000 rows (from 2,000) through ``predict_raw``."""
    one = X.iloc[[0]]
    times = []
    for _ in range(5):
        start = time.perf_counter()
        model.predict_raw(one)
        times.append(time.perf_counter() - start)
    batch = X.sample(
        2_000, replace=True, random_state=seed
    )  # 10,000 rows take 5 times as long: measured by `make bench-inference`
    start = time.perf_counter()
    model.predict_raw(batch)
    batch_s = (time.perf_counter() - start) * 5
    one_ms = float(np.median(times) * 1000)
    return {
        "one_row_ms": round(one_ms, 2),
        "rows_10k_s": round(batch_s, 3),
        "fast": one_ms < ONE_ROW_MS and batch_s < BATCH_S,
    }
