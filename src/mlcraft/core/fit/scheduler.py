"""Cross-validation trials run fold by fold on a pool of worker processes, deterministically.

A batch of trials is cut into fold tasks (trial-major order) that ``n_jobs`` workers take as they
free up. Each trial's folds are examined in fold order: after fold ``i`` its running mean is given
to the trial's pruning rule, so the decision depends only on the trial's own first folds and on
what the rule knew when the batch started, never on which worker finished first. The results are
therefore the same for any ``n_jobs``, and the same on every run.

Time: a fold task that the speed model says would not end before the deadline is not started; a
task still running at the deadline (plus a grace period) is ended by killing the workers. Every fit
runs inside :func:`~mlcraft.core.fit.family.fit_deadline`, so iterative estimators stop in time.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import os
import resource
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlcraft.core.analysis.metrics import Scorer
from mlcraft.core.fit.family import fit_deadline, truncation
from mlcraft.core.fit.search import Candidate, CVResult, SpeedModel
from mlcraft.core.fit.status import TrialStatus
from mlcraft.core.predict.pipeline import predict_array
from mlcraft.tasks import get_kind

__all__ = ["Trial", "FoldPool", "peak_memory_mb", "available_memory", "with_unlabelled"]

GRACE_S = 2.0  # a fold may overrun the deadline by this much before its worker is killed

_STATE: dict[str, Any] = {}


@dataclass
class Trial:
    """One candidate to cross-validate, with an optional pruning rule.

    ``prune(step, running_mean)`` gets the fold index and the mean of ``sign * score`` over the
    folds so far (larger is better) and says whether to stop the trial.
    """

    number: int
    candidate: Candidate
    prune: Callable[[int, float], bool] | None = None


def _die_with_parent() -> None:
    """Linux: a worker is killed when the process that started it dies (no orphans after a kill -9)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def _init_worker(payload: dict[str, Any], worker: bool = True) -> None:
    from threadpoolctl import threadpool_limits

    if worker:
        _die_with_parent()

    _STATE.clear()
    _STATE.update(payload)
    _STATE["limits"] = threadpool_limits(1)  # one thread per fit: the workers are the parallelism
    warnings.simplefilter("ignore")


def _call(pickled: bytes):
    """Run a task sent as cloudpickle bytes (families' builders may hold lambdas)."""
    import cloudpickle

    fn, args = cloudpickle.loads(pickled)
    return fn(*args)


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def with_unlabelled(
    build: Any, X: pd.DataFrame, y: pd.Series, unlabelled: pd.DataFrame | None
) -> tuple[pd.DataFrame, pd.Series]:
    """The rows ``build``'s pipeline is fitted on: ``X, y``, plus the ``unlabelled`` rows (target
    None) when it is a semi-supervised family's (``build.semi_supervised``); others never see them."""
    if unlabelled is None or not len(unlabelled) or not getattr(build, "semi_supervised", False):
        return X, y
    missing = pd.Series([None] * len(unlabelled), dtype=object, name=y.name)
    return (
        pd.concat([X, unlabelled], ignore_index=True),
        pd.concat([y.astype(object), missing], ignore_index=True),
    )


def _fold_task(
    build: Callable[[], Any],
    fold: int,
    deadline: float | None,
    keep: bool = False,
    fit_only: bool = False,
):
    X, y, folds, task, classes = (_STATE[k] for k in ("X", "y", "folds", "task", "classes"))
    train_idx, val_idx = folds[fold]
    with warnings.catch_warnings(), fit_deadline(deadline):
        warnings.simplefilter("ignore")
        pipeline = build()
        start = time.perf_counter()
        pipeline.fit(
            *with_unlabelled(build, X.iloc[train_idx], y.iloc[train_idx], _STATE.get("unlabelled"))
        )
        fit_time = time.perf_counter() - start
        if fit_only:
            return pipeline, fit_time, truncation(pipeline), _maxrss_mb()
        start = time.perf_counter()
        pred = predict_array(pipeline, X.iloc[val_idx], task, classes)
        predict_time = time.perf_counter() - start
    return (
        pred,
        fit_time,
        predict_time,
        truncation(pipeline),
        _maxrss_mb(),
        pipeline if keep else None,
    )


def _fit_task(build: Callable[[], Any], deadline: float | None):
    X, y = _STATE["X"], _STATE["y"]
    with warnings.catch_warnings(), fit_deadline(deadline):
        warnings.simplefilter("ignore")
        pipeline = build()
        start = time.perf_counter()
        pipeline.fit(*with_unlabelled(build, X, y, _STATE.get("unlabelled")))
        return pipeline, time.perf_counter() - start, truncation(pipeline), _maxrss_mb()


class _Forked:
    """Worker processes forked from this one (Linux): they start at once, with the data and every
    module already loaded. Each worker runs its fits on one thread (see ``_init_worker``), so no
    OpenMP thread pool is ever used in a forked child."""

    def __init__(self, n_jobs: int, payload: dict[str, Any]):
        import multiprocessing

        self.executor = cf.ProcessPoolExecutor(
            n_jobs,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_init_worker,
            initargs=(payload,),
        )

    def submit(self, fn, *args):
        import cloudpickle

        return self.executor.submit(_call, cloudpickle.dumps((fn, args)))

    def shutdown(self, wait=True, kill_workers=False):
        if kill_workers:
            for process in list(getattr(self.executor, "_processes", {}).values()):
                process.kill()
        self.executor.shutdown(wait=wait and not kill_workers, cancel_futures=True)


class _Inline:
    """The executor used with one worker: runs each task at once, in this process."""

    def submit(self, fn, *args):
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - the future carries it
            future.set_exception(exc)
        return future

    def shutdown(self, wait=True, kill_workers=False):
        pass


@dataclass
class _Running:
    trial: Trial
    result: CVResult
    preds: dict[int, np.ndarray]
    times: dict[int, tuple[float, float]]
    models: dict[int, Any]
    cuts: dict[int, dict]
    next_fold: int = 0  # next fold to examine, in order
    done: bool = False


class FoldPool:
    """Worker processes holding the training data, running fold fits and full refits."""

    def __init__(
        self,
        X: pd.DataFrame,
        y: pd.Series,
        folds: Sequence[tuple[np.ndarray, np.ndarray]],
        scorer: Scorer,
        *,
        task: str,
        n_jobs: int = 1,
        unlabelled: pd.DataFrame | None = None,
    ):
        self.folds, self.scorer, self.task = list(folds), scorer, task
        self.y_values = y.to_numpy()
        self.n_jobs = max(1, int(n_jobs))
        self._payload = {
            "X": X,
            "y": y,
            "folds": self.folds,
            "task": task,
            "classes": scorer.classes,
            "unlabelled": unlabelled,  # training rows without a target (semi-supervised families)
        }
        self._executor: Any = None
        self.worker_peak_mb = 0.0
        self.speed = SpeedModel()

    # -- workers ---------------------------------------------------------------------------------
    def _pool(self):
        if self._executor is None:
            if self.n_jobs == 1:
                _init_worker(self._payload, worker=False)
                self._executor = _Inline()
            elif sys.platform.startswith("linux"):
                self._executor = _Forked(self.n_jobs, self._payload)
            else:
                from joblib.externals.loky import ProcessPoolExecutor

                self._executor = ProcessPoolExecutor(
                    max_workers=self.n_jobs, initializer=_init_worker, initargs=(self._payload,)
                )
        return self._executor

    def _kill(self) -> None:
        if self.n_jobs == 1:
            return self.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False, kill_workers=True)
            self._executor = None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if (
            self.n_jobs == 1 and "limits" in _STATE
        ):  # the inline "worker" is this process: undo its limits
            _STATE.pop("limits").restore_original_limits()

    def __enter__(self) -> FoldPool:
        return self

    def __exit__(self, *exc) -> None:
        self._kill() if exc[0] is not None else self.close()

    # -- cross-validation --------------------------------------------------------------------------
    def run(
        self,
        trials: Sequence[Trial],
        *,
        deadline: float | None = None,
        on_fold: Callable[[Trial, int], None] | None = None,
        on_done: Callable[[CVResult], None] | None = None,
    ) -> list[CVResult]:
        """Cross-validate ``trials``; results come back in the order given (``on_done`` hears of each
        as it ends, in whatever order they end: for progress reports only)."""
        states = [
            _Running(
                t,
                CVResult(
                    t.candidate.name,
                    t.candidate.family,
                    dict(t.candidate.params),
                    stage=t.candidate.stage,
                ),
                {},
                {},
                {},
                {},
            )
            for t in trials
        ]
        queue = [(i, f) for i in range(len(states)) for f in range(len(self.folds))]
        running: dict[cf.Future, tuple[int, int]] = {}
        pool = self._pool()
        while queue or running:
            while queue and len(running) < self.n_jobs:
                i, f = queue.pop(0)
                state = states[i]
                if state.done:
                    continue
                if not self._can_start(state, deadline):
                    status = (
                        TrialStatus.SKIPPED
                        if not state.preds and not _running_of(running, i)
                        else TrialStatus.TIMEOUT
                    )
                    self._stop(state, status, "would not finish before the time limit")
                    continue
                candidate = state.trial.candidate
                running[
                    pool.submit(_fold_task, candidate.build, f, deadline, candidate.keep_models)
                ] = (i, f)
            if not running:
                break
            timeout = None if deadline is None else max(0.0, deadline + GRACE_S - time.time())
            finished, _ = cf.wait(running, timeout=timeout, return_when=cf.FIRST_COMPLETED)
            if not finished:  # past the deadline: end the fits still running
                for i, _f in running.values():
                    self._stop(states[i], TrialStatus.TIMEOUT, "still fitting at the time limit")
                running.clear()
                self._kill()
                break
            for future in finished:
                i, f = running.pop(future)
                self._collect(states[i], f, future, on_fold)
                if states[i].done and on_done is not None and not _running_of(running, i):
                    on_done(states[i].result)
            queue = [(i, f) for i, f in queue if not states[i].done]
        for state in states:
            if not state.done:
                self._stop(state, TrialStatus.TIMEOUT, "did not finish before the time limit")
        return [s.result for s in states]

    def _can_start(self, state: _Running, deadline: float | None) -> bool:
        if deadline is None:
            return True
        seen = [fit + pred for fit, pred in state.times.values()]
        estimate = float(np.mean(seen)) if seen else self.speed.fit_seconds(state.trial.candidate)
        return time.time() + estimate <= deadline

    def _stop(self, state: _Running, status: TrialStatus, note: str) -> None:
        if not state.done:
            state.done = True
            state.result.status, state.result.note = status, note

    def _collect(self, state: _Running, fold: int, future: cf.Future, on_fold) -> None:
        if state.done:
            return
        try:
            pred, fit_t, pred_t, truncated, peak, model = future.result()
        except Exception as exc:  # a family failing on this data must not end the run
            state.result.traceback = "".join(traceback.format_exception(exc))
            self._stop(
                state,
                TrialStatus.FAILED,
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200],
            )
            return
        self.worker_peak_mb = max(self.worker_peak_mb, peak)
        if truncated:
            state.result.note = "a fold fit was cut short by the time limit"
        state.preds[fold], state.times[fold], state.models[fold], state.cuts[fold] = (
            pred,
            (fit_t, pred_t),
            model,
            truncated,
        )
        while state.next_fold in state.preds and not state.done:
            self._examine(state, state.next_fold)
            if on_fold is not None:
                on_fold(state.trial, state.next_fold)
            state.next_fold += 1

    def _examine(self, state: _Running, fold: int) -> None:
        _, val_idx = self.folds[fold]
        score = self.scorer(self.y_values[val_idx], state.preds[fold])
        result = state.result
        result.scores.append(score)
        if not math.isfinite(score):
            self._stop(state, TrialStatus.FAILED, "non-finite score on a fold")
            return
        if len(result.scores) == len(self.folds):
            self._finish(state)
            return
        if state.trial.prune is not None and state.trial.prune(
            fold, self.scorer.sign * float(np.mean(result.scores))
        ):
            self._stop(
                state,
                TrialStatus.PRUNED,
                f"pruned after {fold + 1} fold(s): worse than the median of earlier trials",
            )

    def _finish(self, state: _Running) -> None:
        result = state.result
        n = len(self.y_values)
        oof = get_kind(self.task).empty_output(n, self.scorer.classes)
        for f, (_, val_idx) in enumerate(self.folds):
            oof[val_idx] = state.preds[f]
        result.oof = oof
        result.truncations = [state.cuts[f] for f in range(len(self.folds))]
        if state.trial.candidate.keep_models:
            result.models = [state.models[f] for f in range(len(self.folds))]
        result.fit_time = float(np.mean([t[0] for t in state.times.values()]))
        result.predict_time = float(np.mean([t[1] for t in state.times.values()]))
        self.speed.observe(
            state.trial.candidate.estimated_fit_seconds, result.fit_time + result.predict_time
        )
        state.done = True

    # -- refits --------------------------------------------------------------------------------------
    def fit_full(
        self,
        builds: Sequence[Callable[[], Any]],
        *,
        deadline: float | None = None,
        fold: int | None = None,
    ) -> list[tuple[Any, float, dict]]:
        """Fit each pipeline on all training rows (or on the training rows of ``fold``), in parallel.

        Returns (pipeline, seconds, truncation) for each.
        """
        pool = self._pool()
        if fold is None:
            futures = [pool.submit(_fit_task, build, deadline) for build in builds]
        else:
            futures = [
                pool.submit(_fold_task, build, fold, deadline, False, True) for build in builds
            ]
        out = []
        for future in futures:
            pipeline, seconds, truncated, peak = future.result()
            self.worker_peak_mb = max(self.worker_peak_mb, peak)
            out.append((pipeline, seconds, truncated))
        return out


def _running_of(running: dict, i: int) -> bool:
    return any(idx == i for idx, _ in running.values())


def peak_memory_mb() -> float:
    """Peak resident memory of this process, in MB."""
    return _maxrss_mb()


def available_memory() -> float:
    """Bytes of memory available now (``MemAvailable``; physical memory when unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError):
        return math.inf
