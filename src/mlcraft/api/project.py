"""``Project``: one ML project in a directory, walked through the checklist.

Examples
--------
>>> import mlcraft
>>> from sklearn.datasets import load_diabetes
>>> df = load_diabetes(as_frame=True).frame
>>> project = mlcraft.Project.create("runs/diabetes", data=df, target="target", time_limit=30)  # doctest: +SKIP
>>> project.train().leaderboard.head()  # doctest: +SKIP
>>> project.evaluate().value  # doctest: +SKIP
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlcraft import atomic
from mlcraft.config import N_FOLDS, SEED, TEST_SIZE, TIME_LIMIT_S, ProjectConfig, resolve_budget
from mlcraft.core.analysis.metrics import Metric, get_metric
from mlcraft.core.data import load as data_mod
from mlcraft.core.data.schema import Schema
from mlcraft.core.fit.events import Callback
from mlcraft.core.learner import frame_problem
from mlcraft.exceptions import ConfigError, ProjectError
from mlcraft.registry import ModelRegistry
from mlcraft.tasks import ProblemKind, get_kind
from mlcraft.tasks.anomaly import parse_contamination
from mlcraft.workspace import Workspace

if TYPE_CHECKING:  # the step modules load on first use
    from mlcraft.api.analyse import AnalysisResult
    from mlcraft.api.evaluate import Evaluation
    from mlcraft.api.explore import ExploreResult
    from mlcraft.api.feedback import FeedbackSummary
    from mlcraft.api.monitor import MonitorResult
    from mlcraft.api.predict import PredictSummary
    from mlcraft.api.report import ReportResult
    from mlcraft.api.retrain import RetrainResult
    from mlcraft.api.train import TrainResult
    from mlcraft.api.tune import TuneResult
    from mlcraft.api.versions import ModelList, Rollback

__all__ = ["Project", "MlcraftWarning"]


class MlcraftWarning(UserWarning):
    """Something the user should know that is not an error (an ignored column, an unseen category)."""


class Project:
    """A project directory: settings, data versions, test split, runs and model versions.

    Use :meth:`create` for a new project and :meth:`open` (or the constructor) for an existing one.

    What the methods return: a step that produces something returns a result dataclass
    (:meth:`train` a ``TrainResult``, :meth:`tune` a ``TuneResult``, :meth:`predict_file` a
    ``PredictSummary``, :meth:`explore` an ``ExploreResult``, :meth:`analyse` an ``AnalysisResult``,
    :meth:`report` a ``ReportResult``, :meth:`monitor` a ``MonitorResult``, :meth:`retrain` a
    ``RetrainResult``, :meth:`evaluate` an ``Evaluation``, :meth:`models` a ``ModelList``,
    :meth:`rollback` a ``Rollback``, :meth:`feedback` a ``FeedbackSummary``); :meth:`predict`
    returns a DataFrame. The last four are frozen, and their ``to_dict()`` is the record as stored
    in the project's JSON files and database, printed by ``--json`` and answered by the server.
    """

    def __init__(self, path: str | os.PathLike[str], *, db: str | None = None):
        self.workspace = Workspace(path)
        self.workspace.check()
        self.workspace.clean()
        self.config: ProjectConfig = self.workspace.read_config()
        self.kind: ProblemKind = get_kind(self.config.task)
        self.notes: list[str] = []
        self._schema: Schema | None = None
        self._frames: dict[str, pd.DataFrame] = {}  # dataset versions are immutable: load each once
        self._db = db
        self._registry: ModelRegistry | None = None

    # -- creation --------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike[str], *, db: str | None = None) -> Project:
        """Open an existing project.

        ``db`` is the database holding its registry and prediction log (a ``postgresql://`` URL or a
        SQLite file); default: ``MLCRAFT_DB``, then ``[database] url`` in mlcraft.toml, then
        ``DIR/mlcraft.db``.
        """
        return cls(path, db=db)

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        data: str | os.PathLike[str] | pd.DataFrame,
        target: str | None = None,
        *,
        task: str | None = None,
        metric: str | None = None,
        positive_class: Any = None,
        test_size: float = TEST_SIZE,
        test_data: str | os.PathLike[str] | pd.DataFrame | None = None,
        stratify_on: str | None = None,
        id_column: str | None = None,
        categorical: Sequence[str] = (),
        drop: Sequence[str] = (),
        seed: int = SEED,
        time_limit: float | None = TIME_LIMIT_S,
        max_trials: int | None = None,
        n_folds: int = N_FOLDS,
        encoding: str | None = None,
        objective: str | None = None,
        labels: str | None = None,
        dims: int | None = None,
        clusters: int | None = None,
        contamination: float | str | None = None,
        semi_supervised: bool = False,
        time: str | None = None,
        series_id: Sequence[str] | None = None,
        horizon: int | None = None,
        frequency: str | None = None,
        known: Sequence[str] | None = None,
        country: str | None = None,
    ) -> Project:
        """Frame the problem, store the data and set the test set aside, before anything else looks.

        Nothing is written unless every check passes; the directory appears whole or not at all.

        Parameters
        ----------
        path : path
            The project directory (must not be a project yet; an empty directory is fine).
        data : path or DataFrame
            CSV or Parquet file, a directory of Parquet files, or a DataFrame. Parquet data over the
            in-memory limit is framed on a sample and streamed (see ``core/data/stream.py``).
        target : str, optional
            Column to predict (required, except for a kind without one: ``task="cluster"``).
        task : {"regression", "binary", "multiclass"}, optional
            Inferred from the target when omitted.
        metric : str, optional
            Default: RMSE (regression), ROC AUC (binary), log loss (multiclass).
        test_size : float
            Share of rows set aside as the test set (0 for none).
        test_data : path or DataFrame, optional
            A separate test set instead of a split.
        objective : str, optional
            The objective in your own words (what the predictions are for), recorded with the framing
            and shown by ``explore`` and ``report`` (default: a generated sentence, marked as such).
        labels : str, optional
            ``task="cluster"``: a known labelling, never a feature and never fitted; it only scores
            the clusters (adjusted Rand index, mutual information); ``task="anomaly"``: 1 marks
            an anomaly, and the detectors are scored by ROC AUC and average precision against it.
        dims : int, optional
            ``task="embed"``: the number of coordinates of the embedding (default: the PCA
            components that keep 95% of the variance, between 2 and 50).
        clusters : int, optional
            ``task="cluster"``: the number of clusters (default: chosen by the search); families
            that find their own number are left out.
        contamination : float, optional
            ``task="anomaly"``: the share of rows flagged, in (0, 0.5]; None or "auto" estimates it.
        semi_supervised : bool
            A classification target may have missing labels: those rows are learnt from by the
            semi-supervised families, never tested or scored (``--semi-supervised``).
        time, series_id, horizon, frequency : optional
            ``task="forecast"``: the time column, the column(s) naming each series (None: one
            series), the steps to forecast, and the pandas frequency (None: inferred).
        known : sequence of str, optional
            ``task="forecast"``: covariates known in the future, given for the horizon when
            forecasting (``future_covariates``).
        country : str, optional
            ``task="forecast"``: an ISO country code whose public holidays become a covariate.
        """
        ws = Workspace(path)
        if ws.exists():
            raise ProjectError(
                f"{ws.root} is already an mlcraft project; train it again with `mlcraft train --project {ws.root}` or choose a new directory"
            )
        if ws.root.exists() and (not ws.root.is_dir() or any(ws.root.iterdir())):
            raise ProjectError(
                f"{ws.root} exists and is not empty; choose a new directory for the project"
            )
        rate = parse_contamination(contamination)
        framed = frame_problem(
            data,
            target,
            task=task,
            metric=metric,
            positive_class=positive_class,
            test_size=test_size,
            test_data=test_data,
            stratify_on=stratify_on,
            id_column=id_column,
            categorical=categorical,
            drop=drop,
            seed=seed,
            time_limit=time_limit,
            max_trials=max_trials,
            n_folds=n_folds,
            encoding=encoding,
            objective=objective,
            labels=labels,
            **({} if dims is None else {"dims": dims}),
            **({} if clusters is None else {"clusters": clusters}),
            **({} if rate is None else {"contamination": rate}),
            semi_supervised=semi_supervised,
            **{
                k: v
                for k, v in {
                    "time": time,
                    "series_id": None if series_id is None else tuple(series_id),
                    "horizon": horizon,
                    "frequency": frequency,
                    "known": None if known is None else tuple(known),
                    "country": country,
                }.items()
                if v is not None
            },
        )
        config, digest = framed.config, framed.config.dataset
        with atomic.atomic_dir(ws.root) as tmp:
            info: dict[str, Any] = {"source": framed.source, "notes": framed.notes}
            if framed.reference is not None:  # larger than memory: a sample and a reference
                info["reference"] = framed.reference
            ws.store_dataset(framed.frame, digest, info, root=tmp)
            if framed.test_frame is not None and config.test_dataset is not None:
                ws.store_dataset(
                    framed.test_frame,
                    config.test_dataset,
                    {"source": config.test_source, "role": "test"},
                    root=tmp,
                )
            ws.write_split(digest, framed.is_test, root=tmp)
            ws.write_schema(framed.schema, root=tmp)
            ws.write_config(config, root=tmp)
        project = cls(ws.root)
        project.notes = framed.notes + framed.column_notes
        return project

    # -- state -----------------------------------------------------------------------------------
    def reload(self) -> None:
        """Read the settings and the schema again (another command, or a retrain, may have changed them)."""
        self.config = self.workspace.read_config()
        self.kind = get_kind(self.config.task)
        self._schema = None

    @property
    def path(self) -> Path:
        return self.workspace.root

    @property
    def schema(self) -> Schema:
        if self._schema is None:
            self._schema = self.workspace.read_schema()
        return self._schema

    @property
    def metric(self) -> Metric:
        """The project's metric: its name and which way is better (``greater_is_better``, ``sign``)."""
        return get_metric(self.config.metric, self.config.task)

    @property
    def database_url(self) -> str:
        """Where the registry and the prediction log live (see :meth:`open`)."""
        from mlcraft.config import env_db

        configured = self.config.extra.get("database", {}).get("url")
        return self._db or env_db() or configured or str(self.path / "mlcraft.db")

    @property
    def registry(self) -> ModelRegistry:
        if self._registry is None:
            self._registry = ModelRegistry(self.workspace.models_dir, db=self.database_url)
        return self._registry

    def dataset(self, digest: str | None = None) -> pd.DataFrame:
        """A stored dataset version (this project's by default): all rows, test rows included."""
        digest = self.config.dataset if digest is None else digest
        if digest not in self._frames:
            self._frames[digest] = self.workspace.load_dataset(digest)
        return self._frames[digest].copy()  # copy-on-write: cheap, and the cache stays intact

    def training_frame(self) -> pd.DataFrame:
        """The training rows: labelled, and not in the test set. No other step reads test rows."""
        frame = self.dataset()
        is_test = self.workspace.read_split(self.config.dataset)
        keep = ~is_test
        if self.config.target is not None:
            keep &= frame[self.config.target].notna().to_numpy()
        return frame[keep].reset_index(drop=True)

    def test_frame(self) -> pd.DataFrame:
        """The test rows (read by ``evaluate``; ``explore`` takes only summary statistics of their features)."""
        cfg = self.config
        if cfg.test_dataset is not None:
            frame = self.dataset(cfg.test_dataset)
        else:
            frame = self.dataset()
            frame = frame[self.workspace.read_split(cfg.dataset)]
        if cfg.target is not None:
            frame = frame[frame[cfg.target].notna()]
        frame = frame.reset_index(drop=True)
        if frame.empty:
            raise ConfigError(
                f"{self.path}: this project has no test set (test size 0); create it with --test-size 0.2 or --test-data FILE"
            )
        return frame

    def leaderboard(self, run_id: str | None = None) -> pd.DataFrame:
        """The leaderboard of a run (the latest by default)."""
        runs = self.workspace.run_ids()
        if not runs:
            raise ProjectError(
                f"{self.path}: no training run yet; run `mlcraft train --project {self.path}`"
            )
        run_id = run_id or runs[-1]
        return pd.read_csv(self.workspace.run_dir(run_id) / "leaderboard.csv")

    def check_unchanged(
        self,
        *,
        data=None,
        target: str | None = None,
        task: str | None = None,
        metric: str | None = None,
        seed: int | None = None,
        encoding: str | None = None,
        objective: str | None = None,
    ) -> None:
        """Refuse options that would change this project's framing or data (use a new project instead)."""
        cfg = self.config
        if objective is not None and objective != cfg.objective:
            stored = (
                f"the objective {cfg.objective!r}" if cfg.objective is not None else "no objective"
            )
            raise ConfigError(
                f"{self.path} was created with {stored}; the framing of a project cannot change: reword [framing] objective in {self.path / 'mlcraft.toml'}, or use a new --project directory"
            )
        given: dict[str, tuple[Any, Any]] = {
            "--target": (target, cfg.target),
            "--task": (task, cfg.task),
            "--seed": (seed, cfg.seed),
        }
        if metric is not None:
            given["--metric"] = (get_metric(metric, cfg.task).name, cfg.metric)
        for option, (value, stored) in given.items():
            if value is not None and value != stored:
                raise ConfigError(
                    f"{self.path} was created with {option} {stored}; the framing of a project cannot change: use a new --project directory"
                )
        if data is not None:
            from mlcraft.core.data import stream

            if stream.should_stream(data):  # larger than memory: compared by its fingerprint
                digest = stream.fingerprint(stream.open_source(data))
            else:
                digest = data_mod.frame_hash(data_mod.load_table(data, encoding=encoding).frame)
            if digest != cfg.dataset:
                raise ConfigError(
                    f"{data} differs from the data this project was created with (dataset {cfg.dataset}); "
                    "train a new --project directory for it, or omit DATA to re-train on the stored data"
                )

    def candidate_families(
        self, families: Iterable[str] | None = None, exclude: Iterable[str] | None = None
    ) -> list[str]:
        """Names of the model families a training run would shortlist for this task."""
        from mlcraft.models import families_for

        return [
            f.name
            for f in families_for(
                self.config.task,
                list(families) if families is not None else None,
                list(exclude or ()),
                semi_supervised=self.config.semi_supervised,
            )
        ]

    # -- the checklist -----------------------------------------------------------------------------
    def train(
        self,
        *,
        time_limit: float | None = None,
        max_trials: int | None = None,
        n_jobs: int | None = None,
        families: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        callbacks: Iterable[Callback] = (),
        replay: str | None = None,
        prefer_fast: bool = False,
    ) -> TrainResult:
        """Shortlist, tune and ensemble model families by cross-validation; refit the champion; save it.

        With neither ``time_limit`` nor ``max_trials`` the project's settings apply. Giving
        ``max_trials`` alone means fixed work and no time limit (reproducible runs): see
        :func:`mlcraft.config.resolve_budget`. ``replay``
        (a run id) rebuilds that run's final model exactly instead of searching; ``prefer_fast``
        saves the best single model rather than an ensemble.
        """
        from mlcraft.api.train import run_training

        time_limit, max_trials = resolve_budget(time_limit, max_trials, self.config)
        return run_training(
            self,
            time_limit=time_limit,
            max_trials=max_trials,
            n_jobs=n_jobs,
            families=families,
            exclude=exclude,
            callbacks=callbacks,
            replay=replay,
            prefer_fast=prefer_fast,
        )

    def tune(
        self,
        *,
        family: str,
        strategy: str | None = None,
        space,
        trials: int | None = None,
        n_jobs: int | None = None,
        time_limit: float | None = None,
        save: bool = False,
        callbacks: Iterable[Callback] = (),
    ) -> TuneResult:
        """An explicit search over one family (grid, random or bayes) on the project's CV folds.

        ``space`` is a TOML file or a mapping ``{param: {"values": [...]} | {"low": a, "high": b}}``.
        With ``save``, the best configuration is refitted and saved as a new model version.
        ``strategy`` and ``trials`` default to :data:`mlcraft.api.tune.STRATEGY` (bayes) and
        :data:`~mlcraft.api.tune.TRIALS` (20).
        """
        from mlcraft.api.tune import STRATEGY, TRIALS, run_tune

        strategy = STRATEGY if strategy is None else strategy
        trials = TRIALS if trials is None else trials
        return run_tune(
            self,
            family=family,
            strategy=strategy,
            space=space,
            trials=trials,
            n_jobs=n_jobs,
            time_limit=time_limit,
            save=save,
            callbacks=callbacks,
        )

    def load_model(self, version: int | None = None):
        """A model version (the champion by default)."""
        return self.registry.load(version)

    def predict(
        self, data: pd.DataFrame | str | os.PathLike[str], *, version: int | None = None
    ) -> pd.DataFrame:
        """Predictions for ``data``: a column named like the target, plus ``proba_<class>`` columns."""
        from mlcraft.api.predict import predict_table

        result = predict_table(self, data, version=version)
        for note in result.notes:
            warnings.warn(note, MlcraftWarning, stacklevel=2)
        return result.frame

    def predict_file(
        self, source, out, *, version: int | None = None, encoding: str | None = None, progress=None
    ) -> PredictSummary:
        """Predict a CSV/Parquet file of any size into ``out``, in chunks (written atomically); returns a summary."""
        from mlcraft.api.predict import predict_file

        return predict_file(
            self, source, out, version=version, encoding=encoding, progress=progress
        )

    def forecast(
        self,
        *,
        version: int | None = None,
        history=None,
        future_covariates=None,
        levels=None,
        intervals: str = "conformal",
    ) -> pd.DataFrame:
        """A forecasting project: the next ``horizon`` values of every series with their
        intervals, from the whole known history plus ``history`` (newer rows), without
        retraining; ``future_covariates``: the ``known`` covariates over the horizon; ``levels``:
        the intervals' levels in percent (default 80 and 95); ``intervals``: "conformal" (from
        the backtest errors, coverage measured) or "native" (the model's own quantiles or MC
        dropout)."""
        from mlcraft.api.forecast import forecast

        frame, notes = forecast(
            self,
            version=version,
            history=history,
            future_covariates=future_covariates,
            levels=levels,
            method=intervals,
        )
        for note in notes:
            warnings.warn(note, MlcraftWarning, stacklevel=2)
        return frame

    def write_forecast(
        self,
        out,
        *,
        version: int | None = None,
        history=None,
        future_covariates=None,
        levels=None,
        intervals: str = "conformal",
    ):
        """:meth:`forecast` written to ``out`` (CSV or Parquet): ``(path, rows, notes)``."""
        from mlcraft.api.forecast import write_forecast

        return write_forecast(
            self,
            out,
            version=version,
            history=history,
            future_covariates=future_covariates,
            levels=levels,
            method=intervals,
        )

    def evaluate(self, *, version: int | None = None) -> Evaluation:
        """Score a model (the champion by default) once on the test set, with a 95% interval.

        Returns an ``Evaluation`` (``.value``, ``.interval``, ``.warning``...); its ``to_dict()`` is
        the record written to ``evaluations/`` (each look is also added to ``looks.jsonl``).
        """
        from mlcraft.api.evaluate import evaluate

        return evaluate(self, version=version)

    def explore(
        self, *, size_by: str | None = None, plot_sample: int | None = None
    ) -> ExploreResult:
        """Explore the training rows (never the test rows): statistics, flags, figures, an HTML page.

        Writes ``reports/explore/`` (``explore.html``, ``explore.json`` and every figure as PNG).
        """
        from mlcraft.api.explore import run_explore

        return run_explore(self, size_by=size_by, plot_sample=plot_sample)

    def analyse(
        self,
        *,
        model: str | None = None,
        version: int | None = None,
        min_precision: float | None = None,
        min_recall: float | None = None,
        learning_curve: bool = True,
        importance: bool = True,
    ) -> AnalysisResult:
        """Error analysis on the out-of-fold predictions of the training rows (never the test rows).

        ``min_precision``/``min_recall`` choose a binary decision threshold and save it with the model
        as a new version, promoted to champion, that ``predict`` uses. Writes ``reports/analysis/<model>/``.
        """
        from mlcraft.api.analyse import run_analysis

        return run_analysis(
            self,
            model=model,
            version=version,
            min_precision=min_precision,
            min_recall=min_recall,
            learning_curve=learning_curve,
            importance=importance,
        )

    def report(self, *, out: str | os.PathLike[str] | None = None) -> ReportResult:
        """The "present your solution" document: one self-contained HTML page under 5 MB, plus JSON."""
        from mlcraft.api.report import run_report

        return run_report(self, out=out)

    # -- launch, monitor, maintain -----------------------------------------------------------------
    def models(self) -> ModelList:
        """Every model version, the champion and the history of promotions and rollbacks.

        Returns a ``ModelList`` (``.champion``, ``.versions`` and ``.history``, records as dicts).
        """
        from mlcraft.api.versions import list_models

        return list_models(self)

    def champion_at(self, when) -> int | None:
        """The version that was champion at ``when`` (an ISO date-time, UTC when naive)."""
        from mlcraft.api.versions import champion_at

        return champion_at(self, when)

    def rollback(self, to: int | None = None, *, reason: str | None = None) -> Rollback:
        """Make an earlier version champion again (default: the previous champion).

        Returns a ``Rollback`` (``.previous``, ``.champion``, and ``.history``: the recorded event).
        """
        from mlcraft.api.versions import rollback

        return rollback(self, to, reason=reason)

    def feedback(self, labels, *, key: str | None = None) -> FeedbackSummary:
        """Join late ground truth (file or DataFrame) to the prediction log, by request id or ``key``.

        Returns a ``FeedbackSummary`` (``.received``, ``.matched``, ``.unmatched``, ``.notes``);
        its ``to_dict()`` is what the server's ``/feedback`` answers.
        """
        from mlcraft.api.feedback import add_feedback

        return add_feedback(self, labels, key=key)

    def monitor(
        self,
        *,
        since: str | None = None,
        window: str | None = None,
        out: str | os.PathLike[str] | None = None,
        now: float | None = None,
    ) -> MonitorResult:
        """Drift, service health and live quality over the prediction log (``mlcraft monitor``).

        Parameters
        ----------
        since : str, optional
            Predictions since a duration back from now (``30m``, ``12h``, ``7d``, ``2w``) or a date
            (``2026-11-20``); default :data:`mlcraft.api.monitor.SINCE` (7 days).
        window : str, optional
            Time window of the live metric (default: ``[monitor] window`` in mlcraft.toml, else 1d).
        out : path, optional
            Directory for ``report.html`` and ``report.json`` (default: ``DIR/monitoring/<time>/``).
        now : float, optional
            The present, in seconds since the epoch (default: the clock; for replaying a past day).

        Returns a ``MonitorResult``: the report, its two paths, and ``alerts`` (empty when no
        threshold was crossed).
        """
        from mlcraft.api.monitor import SINCE, monitor

        return monitor(
            self,
            since=SINCE if since is None else since,
            window=window,
            out=None if out is None else Path(out),
            now=now,
        )

    def retrain(
        self,
        data: str | os.PathLike[str] | pd.DataFrame,
        *,
        dry_run: bool = False,
        time_limit: float | None = None,
        max_trials: int | None = None,
        n_jobs: int | None = None,
        families: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        encoding: str | None = None,
        callbacks: Iterable[Callback] = (),
    ) -> RetrainResult:
        """Add ``data`` as a new dataset version, train a challenger, promote it only if not worse
        (``mlcraft retrain``).

        Parameters
        ----------
        data : path or DataFrame
            New labelled rows with the project's columns.
        dry_run : bool
            Train and compare, but change nothing in the project.
        time_limit, max_trials : optional
            The challenger's budget (default: the project's settings, as the champion had).
        n_jobs, families, exclude, callbacks
            As for :meth:`train`.
        encoding : str, optional
            Text encoding of a CSV (default: detected).

        Returns a ``RetrainResult``: the gate's decision, the champion before and after, the
        challenger's version, the new dataset version and notes.
        """
        from mlcraft.api.retrain import retrain

        return retrain(
            self,
            data,
            dry_run=dry_run,
            time_limit=time_limit,
            max_trials=max_trials,
            n_jobs=n_jobs,
            families=families,
            exclude=exclude,
            encoding=encoding,
            callbacks=callbacks,
        )
