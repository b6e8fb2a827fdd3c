"""``mlcraft tune``: the book's explicit search (GridSearchCV, RandomizedSearchCV, plus Bayesian) over
one family, on the project's CV folds, with a user-declared space.

A space file is TOML, one table per parameter; parameters left out keep the family's defaults::

    [n_estimators]
    values = [100, 300]          # a list: tried as given (a grid axis, or a categorical choice)
    [min_samples_leaf]
    low = 1                      # a range: integers if both bounds are integers, else reals
    high = 20
    log = true
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlcraft import atomic
from mlcraft.config import TUNE_STRATEGY, TUNE_TRIALS
from mlcraft.core.fit.baseline import BASELINE, naive_baseline
from mlcraft.core.fit.candidates import family_spec, make_candidate
from mlcraft.core.fit.events import Callback, CallbackList, TuneEnd, TuneStart
from mlcraft.core.fit.family import Choice, Dimension, Float, Int
from mlcraft.core.fit.runrecord import RunLog
from mlcraft.core.fit.scheduler import FoldPool
from mlcraft.core.fit.search import Budget, CVResult
from mlcraft.core.fit.status import TrialStatus
from mlcraft.core.fit.tuning import STRATEGIES, Search, grid_values
from mlcraft.exceptions import ConfigError

if TYPE_CHECKING:
    from mlcraft.api.project import Project

__all__ = ["TuneResult", "load_space", "parse_space", "run_tune", "STRATEGY", "TRIALS"]

STRATEGY, TRIALS = TUNE_STRATEGY, TUNE_TRIALS  # `mlcraft tune`'s defaults (config.py)


@dataclass
class TuneResult:
    """The trials of an explicit search, best first, and the saved version (if asked).

    ``table`` also holds the naive baseline's row (``trial`` ``baseline``): the reference, never a trial.
    """

    run_id: str
    family: str
    strategy: str
    metric: str
    table: pd.DataFrame
    best_params: dict[str, Any]
    best_score: float
    version: int | None = None


def parse_space(
    doc: Mapping[str, Any], known: Mapping[str, Dimension], where: str = "space"
) -> dict[str, Dimension]:
    """Dimensions from a parsed space file, checked against the family's parameters."""
    space: dict[str, Dimension] = {}
    for name, spec in doc.items():
        if name not in known:
            raise ConfigError(
                f"{where}: unknown parameter {name!r}; this family's parameters are: {', '.join(known) or 'none'}"
            )
        if not isinstance(spec, Mapping):
            raise ConfigError(
                f"{where}: [{name}] must be a table with `values = [...]` or `low`/`high`"
            )
        if "values" in spec:
            values = tuple(spec["values"])
            if not values:
                raise ConfigError(f"{where}: [{name}] values is empty")
            space[name] = Choice(values, values[0])
        elif "low" in spec and "high" in spec:
            low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
            if not low < high:
                raise ConfigError(f"{where}: [{name}] needs low < high (got {low} and {high})")
            if log and low <= 0:
                raise ConfigError(f"{where}: [{name}] a log range needs low > 0")
            both_int = isinstance(low, int) and isinstance(high, int)
            space[name] = (
                Int(low, high, low, log)
                if both_int
                else Float(float(low), float(high), float(low), log)
            )
        else:
            raise ConfigError(f"{where}: [{name}] needs `values = [...]` or `low` and `high`")
    if not space:
        raise ConfigError(
            f"{where}: no parameter to search; declare at least one table such as [n_estimators]"
        )
    return space


def load_space(
    path: str | os.PathLike[str], known: Mapping[str, Dimension]
) -> dict[str, Dimension]:
    """Read a TOML space file (see the module docstring)."""
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such space file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return parse_space(doc, known, str(path))


def _table(results: list[CVResult], names: list[str], metric: str, sign: float) -> pd.DataFrame:
    rows = []
    for r in results:
        params = (
            {} if r.family == BASELINE else r.params
        )  # the baseline has none of the family's parameters
        rows.append(
            {
                **{n: params.get(n) for n in names},
                f"{metric}_mean": r.mean,
                f"{metric}_std": r.std,
                "fit_time_s": r.fit_time,
                "status": str(r.status),
                "trial": r.name,
            }
        )
    frame = pd.DataFrame(rows)
    key = frame[f"{metric}_mean"].where(frame["status"] == TrialStatus.OK) * -sign
    frame = (
        frame.assign(_key=key.fillna(float("inf")))
        .sort_values(["_key", "trial"], kind="stable")
        .drop(columns="_key")
        .reset_index(drop=True)
    )
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return frame


def run_tune(
    project: Project,
    *,
    family: str,
    strategy: str,
    space: str | os.PathLike[str] | Mapping[str, Any],
    trials: int,
    n_jobs: int | None = None,
    time_limit: float | None = None,
    save: bool = False,
    callbacks: Iterable[Callback] = (),
) -> TuneResult:
    """Search ``family`` with ``strategy`` over ``space`` for ``trials`` trials on the project's folds."""
    from mlcraft.api.train import resolve_n_jobs, save_single, training_data
    from mlcraft.models import get_family

    if strategy not in STRATEGIES:
        raise ConfigError(f"--strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    if trials < 1:
        raise ConfigError(f"--trials {trials}: give at least 1")
    cfg, ws = project.config, project.workspace
    fam = get_family(family)
    if not fam.supports(cfg.task):
        raise ConfigError(f"family {family!r} does not support a {cfg.task} task")
    data = training_data(project)
    n_fit = len(data.y) - len(data.y) // len(data.folds)
    known = fam.space(cfg.task, n_fit)
    dims = parse_space(space, known) if isinstance(space, Mapping) else load_space(space, known)
    if strategy == "grid":
        size = 1
        for name, dim in dims.items():
            try:
                size *= len(grid_values(dim))
            except ValueError as exc:
                raise ConfigError(f"{name}: {exc}") from None
        trials = min(trials, size)
    n_jobs = resolve_n_jobs(n_jobs)
    defaults = fam.default_params(cfg.task, n_fit)
    spec = family_spec(
        fam,
        project.schema,
        cfg.task,
        cfg.seed,
        n_fit,
        n_jobs,
        portfolio=False,
        options=project.kind.family_options(cfg),
    )
    spec.space, spec.first = dims, []
    spec.make = lambda name, params: make_candidate(
        fam,
        project.schema,
        cfg.task,
        cfg.seed,
        n_fit,
        name,
        {**defaults, **params},
        n_jobs,
        options=project.kind.family_options(cfg),
    )
    run_id = ws.new_run_id()
    with (
        atomic.atomic_dir(ws.run_dir(run_id)) as run_dir,
        FoldPool(data.X, data.y, data.folds, data.scorer, task=cfg.task, n_jobs=n_jobs) as pool,
    ):
        log = RunLog(run_dir / "log.txt")
        events = CallbackList([log, *callbacks])
        try:
            events.on_train_start(
                TuneStart(run=run_id, tune=family, strategy=strategy, trials=trials, n_jobs=n_jobs)
            )
            search = Search(
                [spec],
                pool,
                Budget(time_limit=time_limit, max_trials=trials),
                seed=cfg.seed,
                strategy=strategy,
                prune=False,
                callback=events,
            )
            results = search.run()
            baseline = (
                naive_baseline(data.X, data.y, data.folds, data.scorer, cfg.task)
                if project.kind.needs_target
                else None
            )  # the reference row: never a trial (a kind without a target has none)
            rows = [*results, *([baseline] if baseline is not None else [])]
            table = _table(rows, list(dims), cfg.metric, data.scorer.sign)
            table.to_csv(run_dir / "tune.csv", index=False)
            ok = [r for r in results if r.ok]
            if not ok:
                raise ConfigError(
                    f"no trial of {family} succeeded; see {ws.run_dir(run_id) / 'log.txt'}"
                )
            best = max(ok, key=lambda r: data.scorer.sign * r.mean)
            atomic.write_json(
                run_dir / "tune.json",
                {
                    "family": family,
                    "strategy": strategy,
                    "space": {k: repr(v) for k, v in dims.items()},
                    "best": best.name,
                    "params": best.params,
                    "cv_mean": best.mean,
                    "baseline_cv_mean": baseline.mean
                    if baseline is not None and baseline.ok
                    else None,
                },
            )
            events.on_train_end(TuneEnd(best=best.name, cv=best.mean))
        finally:
            log.close()
    version = save_single(project, data, best, n_jobs, run_id) if save else None
    return TuneResult(
        run_id, family, strategy, cfg.metric, table, dict(best.params), best.mean, version
    )
