"""`mlcraft train`: frame, split, shortlist, refit, save."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mlcraft.api import BASELINE, Callback, NoteKind, ReplayStart, SearchStart, Stage, TrialStatus
from mlcraft.cli.app import command, console, fmt, process_age, split_names
from mlcraft.config import N_FOLDS, SEED, TEST_SIZE, TIME_LIMIT_S, resolve_budget
from mlcraft.exceptions import ConfigError

if TYPE_CHECKING:  # loaded by the commands: `mlcraft --help` stays light
    from mlcraft.api import Project


class RichReport(Callback):
    """A live line (trials done, best CV score so far, current family, time left) over the results:
    every shortlisted family, then each new best found by tuning."""

    def __init__(self, total: int, metric: str, greater_is_better: bool):
        self.metric = metric
        self.greater_is_better = greater_is_better
        self.best: float | None = None
        self.sign = 1.0
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task("shortlist", total=None, status="")
        self.trials = 0
        self.best_name = ""
        self.deadline: float | None = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def _status(self) -> str:
        best = (
            f" · best {self.metric} {fmt(self.best)} ({self.best_name})"
            if self.best is not None
            else ""
        )
        left = (
            f" · {max(0.0, self.deadline - time.perf_counter()):.0f}s left"
            if self.deadline is not None
            else ""
        )
        return f"{self.trials} trials{best}{left}"

    def on_train_start(self, info):
        self.progress.start()
        if isinstance(info, ReplayStart):
            console.print(
                f"replaying run {info.replay_of}: rebuilding its final model on {info.rows} training rows"
            )
            return
        if not isinstance(info, SearchStart):
            return
        if info.time_limit:
            self.deadline = time.perf_counter() + info.time_limit
        limit = (
            f"time limit {info.time_limit:.0f}s"
            if info.time_limit
            else f"fixed work ({info.max_trials or 'all'} trials)"
        )
        console.print(
            f"cross-validating on {info.rows} training rows, {info.folds} folds, {limit}, metric {self.metric}, {info.n_jobs} worker(s)"
        )

    def on_candidate_start(self, name, estimated_seconds):
        self.progress.update(self.task, description=name.split("#")[0])

    def on_candidate_end(self, result):
        self.trials += 1
        shortlist = (
            result.stage is Stage.SHORTLIST
        )  # each family's defaults are shown; later trials only when a new best
        if result.ok:
            better = self.best is None or (
                result.mean > self.best if self.greater_is_better else result.mean < self.best
            )
            if better:
                self.best, self.best_name = result.mean, result.name
            if shortlist or better:
                tag = "" if shortlist else "  [green]new best[/]"
                console.print(
                    f"  {result.name:<24} {self.metric} {fmt(result.mean):>12} ± {fmt(result.std):<10} fit {result.fit_time:6.2f}s/fold{tag}"
                )
        elif shortlist:
            console.print(f"  {result.name:<24} [yellow]{result.status}[/]: {result.note}")
        self.progress.update(self.task, status=self._status())

    def on_progress(self, info):
        self.progress.update(self.task, description=f"tuning {info.family}", status=self._status())

    def on_note(self, note):
        if note.kind is not NoteKind.SKIPPED:  # a skipped trial is shown with its result
            console.print(f"  [yellow]note[/]: {note.text}")

    def on_refit_start(self, name):
        self.progress.update(self.task, description=f"refitting {name}", status="")

    def on_train_end(self, summary):
        self.progress.stop()


MIN_TRAINING_SHARE = (
    0.5  # training gets at least this share of --time-limit, whatever start-up took
)


def _schema_table(project: Project) -> Table:
    table = Table(title="inferred schema (training rows)", title_justify="left")
    for col in ("column", "role", "dtype", "unique", "missing", "note"):
        table.add_column(col)
    cfg = project.config
    if cfg.target is not None:
        table.add_row(
            cfg.target,
            "target",
            project.schema.target_dtype,
            "",
            "",
            f"{cfg.task}, metric {cfg.metric}",
        )
    if cfg.labels is not None:
        table.add_row(cfg.labels, "labels", "", "", "", "scores only, never fitted")
    for c in project.schema.columns:
        table.add_row(
            c.name, c.role.value, c.dtype, str(c.n_unique), str(c.n_missing), c.note or ""
        )
    return table


def top_rows(board, n: int):
    """The ``n`` best rows, plus the naive baseline's row wherever it ranks (every score keeps its reference)."""
    import pandas as pd

    if "family" not in board:
        return board.head(n)
    head = board.head(n)
    rest = board.iloc[n:]
    return pd.concat([head, rest[rest["family"] == BASELINE]])


def baseline_score(board, metric: str) -> float | None:
    """The naive baseline's mean CV score on ``board`` (None when the run has none: older runs)."""
    if "family" not in board or f"{metric}_mean" not in board:
        return None
    rows = board[(board["family"] == BASELINE) & (board["status"] == TrialStatus.OK)]
    return None if rows.empty else float(rows[f"{metric}_mean"].iloc[0])


def leaderboard_table(board, metric: str) -> Table:
    table = Table(title="leaderboard (cross-validation)", title_justify="left")
    has_notes = (
        bool(board["note"].fillna("").astype(str).str.len().gt(0).any()) if len(board) else False
    )
    columns = ("rank", "model", f"{metric} mean", "std", "fit s", "pred s") + (
        ("note",) if has_notes else ()
    )
    for col in columns:
        table.add_column(
            col, justify="left" if col in ("model", "note") else "right", no_wrap=col != "note"
        )
    for row in board.itertuples(index=False):
        d = row._asdict()
        ok = d["status"] == TrialStatus.OK
        table.add_row(
            str(d["rank"]) if ok else "-",
            d["model"],
            fmt(d[f"{metric}_mean"]) if ok else "-",
            fmt(d[f"{metric}_std"]) if ok else "-",
            f"{d['fit_time_s']:.2f}" if ok else "-",
            f"{d['predict_time_s']:.3f}" if ok else "-",
            *((d["note"] if isinstance(d["note"], str) else "",) if has_notes else ()),
        )
    return table


def _open_existing(project_dir: Path, data, target, task, metric, seed, objective=None) -> Project:
    from mlcraft.api import Project

    project = Project.open(project_dir)
    project.check_unchanged(
        data=data, target=target, task=task, metric=metric, seed=seed, objective=objective
    )
    return project


@command("train")
def train(
    data: Path | None = typer.Argument(
        None, help="CSV or Parquet file (omit to re-train an existing project on its stored data)."
    ),
    project: Path = typer.Option(
        ..., "--project", "-p", help="Project directory (created on first use)."
    ),
    target: str | None = typer.Option(
        None, "--target", "-t", help="Column to predict (required for a new project)."
    ),
    task: str | None = typer.Option(
        None,
        help="regression, binary or multiclass (default: inferred from the target); forecast (with --time and --horizon); with no --target: cluster (group the rows), embed (reduce the columns to --dims coordinates) or anomaly (score and flag unusual rows).",
    ),
    labels: str | None = typer.Option(
        None,
        "--labels",
        help="--task cluster: a known labelling to score the clusters against (ARI, NMI); --task anomaly: a 0/1 column (1 = anomaly) that scores the detectors (ROC AUC, average precision); never a feature, never fitted.",
    ),
    contamination: str | None = typer.Option(
        None,
        "--contamination",
        help="--task anomaly: the share of rows to flag, in (0, 0.5], or auto (default: estimated from the training rows' scores, median + 3 robust SDs).",
    ),
    clusters: int | None = typer.Option(
        None,
        "--clusters",
        help="--task cluster: the number of clusters (default: chosen by held-out silhouette and stability); families that find their own number (DBSCAN, HDBSCAN, mean shift, affinity propagation, the Bayesian mixture) are left out.",
    ),
    dims: int | None = typer.Option(
        None,
        "--dims",
        help="--task embed: coordinates of the embedding (default: the PCA components that keep 95% of the variance).",
    ),
    time_column: str | None = typer.Option(
        None, "--time", help="--task forecast: the time column (one row per series and stamp)."
    ),
    series_id: str | None = typer.Option(
        None,
        "--series-id",
        help="--task forecast: the column(s) naming each series, comma-separated (default: one series).",
    ),
    horizon: int | None = typer.Option(
        None, "--horizon", help="--task forecast: how many time steps to forecast."
    ),
    known: str | None = typer.Option(
        None,
        "--known",
        help="--task forecast: covariates known in the future (comma-separated), given for the horizon at predict time (--future-covariates).",
    ),
    country: str | None = typer.Option(
        None,
        "--country",
        help="--task forecast: an ISO country code; each stamp's number of public holidays becomes a covariate known in the future.",
    ),
    frequency: str | None = typer.Option(
        None,
        "--frequency",
        help="--task forecast: the pandas frequency of the stamps (D, W, MS, QS, YS, h...; default: inferred).",
    ),
    semi_supervised: bool = typer.Option(
        False,
        "--semi-supervised",
        help="A classification target may have missing labels: semi-supervised families (the book's cluster representatives, label spreading, self-training) learn from those rows too; they are never tested or scored.",
    ),
    objective: str | None = typer.Option(
        None,
        help="The objective in your own words (what the predictions are for), recorded with the framing and shown by explore and report.",
    ),
    metric: str | None = typer.Option(
        None,
        help="Metric, e.g. rmse, mae, r2, roc_auc, log_loss, accuracy, f1, or any scikit-learn scorer name for the task (neg_* names are the same metric, reported positive); clustering and *_samples scorers are refused (see README).",
    ),
    positive_class: str | None = typer.Option(
        None,
        help="Positive class of a binary target (default: 1/True/yes, else the minority class).",
    ),
    test_size: float | None = typer.Option(
        None,
        help=f"Share of rows set aside as the test set before anything looks at the data (default {TEST_SIZE:g}; 0 for none).",
    ),
    test_data: Path | None = typer.Option(
        None, help="A separate test set file, instead of a split."
    ),
    stratify_on: str | None = typer.Option(
        None, help="Stratify the split on quantile bins of this column (the book's income_cat)."
    ),
    id_column: str | None = typer.Option(
        None,
        "--id",
        help="Identifier column: never a feature; makes the test split stable across data refreshes.",
    ),
    categorical: list[str] | None = typer.Option(
        None, help="Treat column(s) as categorical (repeat, or comma-separated)."
    ),
    drop: list[str] | None = typer.Option(
        None, help="Drop column(s) (repeat, or comma-separated)."
    ),
    seed: int | None = typer.Option(None, help=f"Random seed (default {SEED})."),
    time_limit: float | None = typer.Option(
        None,
        help=f"Seconds for the whole command: start-up, loading, training, final refit and saving (default {TIME_LIMIT_S:g}; not with --max-trials alone). Training gets at least half of it: a limit of a few seconds, mostly spent starting up, is overrun rather than leaving nothing trained.",
    ),
    max_trials: int | None = typer.Option(
        None,
        help="Fixed number of trials instead of a time limit: same data and seed give the same leaderboard, model and predictions.",
    ),
    n_jobs: int | None = typer.Option(
        None, help="Parallel workers: trials run side by side (default: all cores)."
    ),
    replay: str | None = typer.Option(
        None,
        "--replay",
        help="Rebuild exactly the final model of this earlier run (its id under DIR/runs/), instead of searching.",
    ),
    prefer_fast: bool = typer.Option(
        False,
        "--prefer-fast",
        help="Save the best single model refitted on all rows that is expected to predict 10,000 rows within 1 s, never an ensemble.",
    ),
    family: list[str] | None = typer.Option(
        None, help="Only these model families (repeat, or comma-separated)."
    ),
    exclude: list[str] | None = typer.Option(None, help="Leave these model families out."),
    folds: int | None = typer.Option(None, help=f"Cross-validation folds (default {N_FOLDS})."),
    encoding: str | None = typer.Option(None, help="Text encoding of the CSV (default: detected)."),
) -> None:
    """Train on DATA: infer the schema, set the test set aside, shortlist, tune and ensemble model families by cross-validation within the time limit, save the champion."""
    from mlcraft.api import Project  # here, not at the top: `mlcraft --help` stays light

    started = (
        time.perf_counter() - process_age()
    )  # the time limit covers the whole command, start-up included
    if project.exists() and (project / "mlcraft.toml").exists():
        proj = _open_existing(project, data, target, task, metric, seed, objective)
    else:
        if data is None or (target is None and task is None):
            raise ConfigError(
                f"{project} is not a project yet: give DATA and --target (or --task cluster), e.g. `mlcraft train data.csv --target price --project {project}`"
            )
        limit, trials = resolve_budget(time_limit, max_trials)
        if family:  # a family that cannot be trained is refused before the project is written
            from mlcraft.api.train import check_families

            check_families(split_names(family))
        given: dict[str, Any] = {
            k: v
            for k, v in {"test_size": test_size, "seed": seed, "n_folds": folds}.items()
            if v is not None
        }  # unset: the facade's defaults
        proj = Project.create(
            project,
            data,
            target,
            task=task,
            metric=metric,
            positive_class=positive_class,
            test_data=test_data,
            stratify_on=stratify_on,
            id_column=id_column,
            categorical=split_names(categorical),
            drop=split_names(drop),
            time_limit=limit,
            max_trials=trials,
            encoding=encoding,
            objective=objective,
            labels=labels,
            dims=dims,
            clusters=clusters,
            contamination=contamination,
            semi_supervised=semi_supervised,
            time=time_column,
            series_id=split_names([series_id] if series_id else None) or None,
            known=split_names([known] if known else None) or None,
            country=country,
            horizon=horizon,
            frequency=frequency,
            **given,
        )
        for note in proj.notes:
            console.print(f"[yellow]note[/]: {note}")
        cfg = proj.config
        console.print(
            f"test set: {cfg.test_source}"
            if cfg.split_method == "external"
            else f"test set: the last {cfg.horizon} stamp(s) of every series"
            if cfg.split_method == "last horizon"
            else f"test set: {cfg.split_method} split, {cfg.test_size:.0%} of rows set aside"
        )
    if replay is None:
        console.print(_schema_table(proj))
    chosen = proj.candidate_families(split_names(family) or None, split_names(exclude))
    time_limit, max_trials = resolve_budget(time_limit, max_trials, proj.config)
    if time_limit is not None:
        spent = time.perf_counter() - started
        if spent > (1 - MIN_TRAINING_SHARE) * time_limit:
            console.print(
                f"[yellow]note[/]: start-up and loading took {spent:.1f}s of the {time_limit:g}s time limit; training still gets "
                f"{MIN_TRAINING_SHARE * time_limit:.1f}s ({MIN_TRAINING_SHARE:.0%} of the limit), so this command ends after the limit"
            )
        time_limit = max(MIN_TRAINING_SHARE * time_limit, time_limit - spent)
    with RichReport(len(chosen), proj.config.metric, proj.metric.greater_is_better) as report:
        result = proj.train(
            time_limit=time_limit,
            max_trials=max_trials,
            n_jobs=n_jobs,
            families=split_names(family) or None,
            exclude=split_names(exclude),
            callbacks=[report],
            replay=replay,
            prefer_fast=prefer_fast,
        )
    console.print(leaderboard_table(top_rows(result.leaderboard, 25), result.metric))
    baseline = baseline_score(result.leaderboard, result.metric)
    console.print(
        f"champion: model version {result.version} ({result.best}), CV {result.metric} {fmt(result.cv_mean)} ± {fmt(result.cv_std)}"
        + ("" if baseline is None else f" (baseline {fmt(baseline)})")
        + "; "
        f"run {result.run_id} in {result.elapsed:.1f}s"
        + (
            f", {result.trials} trials, peak memory {result.peak_memory_mb:.0f} MB"
            if result.trials
            else ""
        )
    )
    if result.inference:
        console.print(
            f"prediction time: one row {result.inference['one_row_ms']:.1f} ms, 10,000 rows {result.inference['rows_10k_s']:.2f} s"
        )
    for note in result.notes:
        console.print(f"[yellow]note[/]: {note}")
    console.print(f"next: mlcraft evaluate --project {project}")
