"""Analyse the errors of the champion (or any leaderboard model) on out-of-fold predictions.

Everything here is computed on the training rows: the run's out-of-fold predictions (each made by
a model that never saw its row), learning curves and permutation importance refitted on the
cross-validation folds. The test set stays unseen. A decision threshold chosen for a required
precision or recall is saved with the model as a new version, promoted to champion with the reason
recorded, so that ``predict`` (and ``evaluate``) use it.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlcraft import __version__
from mlcraft.api.runs import RunFiles, champion_run
from mlcraft.api.train import TrainingData, _user, resolve_n_jobs, training_data
from mlcraft.core.analysis import diagnostics, learning
from mlcraft.core.analysis.threshold import ThresholdChoice, choose_threshold
from mlcraft.core.fit.family import BuildContext
from mlcraft.core.fit.status import TrialStatus
from mlcraft.core.predict.pipeline import FittedModel, make_pipeline
from mlcraft.exceptions import ConfigError, ProjectError
from mlcraft.workspace import now_iso

if TYPE_CHECKING:
    from mlcraft.api.project import Project
    from mlcraft.plots import Plot

__all__ = [
    "AnalysisResult",
    "run_analysis",
    "analysis_dir",
    "multilabel_analysis",
]


@dataclass
class AnalysisResult:
    """Where the analysis was written, what it found, and the model version a threshold created."""

    html: Path
    document: dict[str, Any]
    plots: list[str] = field(default_factory=list)
    new_version: int | None = None

    @property
    def notes(self) -> list[str]:
        return self.document["notes"]


def analysis_dir(project: Project, model: str) -> Path:
    return project.path / "reports" / "analysis" / re.sub(r"[^A-Za-z0-9_.-]", "_", model)


def _aligned(
    run: RunFiles, data: TrainingData, model: str
) -> tuple[pd.DataFrame, np.ndarray, list[str] | None]:
    """The run's out-of-fold predictions in the order of the training rows."""
    oof = run.oof()
    pred, classes = run.predictions(oof, model)
    order = pd.Series(np.arange(len(oof)), index=oof["row"].to_numpy())
    if (
        len(oof) != len(data.rows)
        or not order.index.is_unique
        or not np.isin(data.rows, order.index).all()
    ):
        raise ProjectError(
            f"run {run.run_id}: its out-of-fold predictions do not match the stored training rows; re-train the project"
        )
    positions = order.loc[data.rows].to_numpy()
    return oof.iloc[positions].reset_index(drop=True), pred[positions], classes


def _builder(project: Project, subject: _Subject, data: TrainingData, notes: list[str]):
    """A function returning the model's unfitted pipeline, or None when it cannot be rebuilt."""
    from mlcraft.models import get_family

    cfg = project.config
    run, model = subject.run, subject.name
    row: dict[str, Any] = next((r for r in run.board_rows() if str(r.get("model")) == model), {})
    chosen = run.chosen()
    if (
        row.get("family") or (chosen.get("family") if chosen.get("model") == model else None)
    ) == "ensemble":
        return _ensemble_builder(project, subject, notes)
    try:
        family = get_family(str(row.get("family") or model))
    except ConfigError:
        notes.append(
            f"{model} is not a model family mlcraft knows: learning curves and permutation importance are left out"
        )
        return None
    n_fit = len(data.y) - len(data.y) // len(data.folds)
    params = (
        row["params"]
        if isinstance(row.get("params"), dict)
        else chosen["params"]
        if chosen.get("model") == model
        else family.default_params(cfg.task, n_fit)
    )
    context = _fold_context(project, data)
    return lambda: make_pipeline(family, project.schema, params, context)


def _fold_context(project: Project, data: TrainingData) -> BuildContext:
    """The build context of a model sized for one fold's training rows (as in the search)."""
    cfg = project.config
    return BuildContext(
        task=cfg.task,
        n_rows=len(data.y) - len(data.y) // len(data.folds),
        n_features=data.X.shape[1],
        seed=cfg.seed,
        n_jobs=1,
        options=project.kind.family_options(cfg),
    )


FINALISTS = 3  # the best models of the leaderboard (one a family) whose stability is measured


def _finalists_stability(
    project: Project, subject: _Subject, data: TrainingData, own: dict[str, Any]
) -> list[dict[str, Any]]:
    """The stability across random halves of the leaderboard's best model of each of the
    ``FINALISTS`` best families (kinds with a ``stability_measure``): beside their held-out score, so
    that a choice which scores well but moves with the rows it saw can be seen."""
    import json

    from mlcraft.models import get_family

    trials = subject.run.path / "trials.csv"
    if not trials.exists():
        return []
    table = pd.read_csv(trials)
    params_of = {str(m): p for m, p in zip(table["model"], table["params"], strict=True)}
    context = _fold_context(project, data)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row in subject.run.board_rows():
        family = str(row.get("family") or "")
        model = str(row.get("model"))
        if row.get("status", TrialStatus.OK) != TrialStatus.OK or family in seen:
            continue
        if not isinstance(params_of.get(model), str):
            continue
        try:
            fam = get_family(family)
        except ConfigError:  # an ensemble, or a family this version does not know
            continue
        seen.add(family)
        params = json.loads(params_of[model])

        def build(fam=fam, params=params):
            return make_pipeline(fam, project.schema, params, context)

        s = (
            own  # the analysed model's, measured already
            if model == subject.name
            else learning.resample_agreement(
                build,
                data.X,
                data.y,
                project.kind.agreement,
                task=project.config.task,
                classes=data.classes,
                seed=project.config.seed,
            )
        )
        score = next((v for k, v in row.items() if str(k).endswith("_mean")), None)
        out.append(
            {
                "model": model,
                "family": family,
                "score": None if score is None else float(score),
                "stability": s["mean"],
                "stability_std": s["std"],
            }
        )
        if len(out) == FINALISTS:
            break
    return out


def _ensemble_builder(project: Project, subject: _Subject, notes: list[str]):
    """The saved ensemble with its members unfitted: fitting it fits each member, and the blend learnt
    on the out-of-fold predictions is kept (as in the final model). Only the version's own ensemble
    has a saved blend; another leaderboard ensemble cannot be rebuilt."""
    from sklearn.base import clone

    from mlcraft.core.predict.ensemble import BaggedModel, EnsembleModel

    if not subject.own:
        notes.append(
            f"{subject.name} is an ensemble that was not chosen (its blend was not kept): learning curves and permutation importance are left out"
        )
        return None
    saved = subject.fitted().pipeline
    if not isinstance(saved, EnsembleModel) or isinstance(saved, BaggedModel):
        notes.append(
            f"{subject.name}: its saved model is not an ensemble of refittable members: learning curves and permutation importance are left out"
        )
        return None
    members = [
        m.members[0] if isinstance(m, BaggedModel) else m for m in saved.members
    ]  # a bagged member: one of its fold models' settings
    notes.append(
        f"{subject.name}: for the learning curves and importance each member is refitted and the blend (learnt on out-of-fold predictions of all training rows) is kept fixed"
    )
    template = EnsembleModel(
        members=members,
        blend=saved.blend,
        task=saved.task,
        classes=saved.classes,
        names=saved.names,
    )
    return lambda: clone(template)


def _refits(
    project: Project,
    build,
    data: TrainingData,
    *,
    curve: bool,
    importance: bool,
    n_jobs: int,
    notes: list[str],
) -> dict[str, Any]:
    cfg = project.config
    out: dict[str, Any] = {
        "learning_curve": None,
        "reading": None,
        "importance": None,
        "stability": None,
    }
    if build is None:
        return out
    if project.kind.stability_measure is not None:
        out["stability"] = learning.resample_agreement(
            build,
            data.X,
            data.y,
            project.kind.agreement,
            task=cfg.task,
            classes=data.classes,
            seed=cfg.seed,
        )
    if curve:
        out["learning_curve"] = learning.learning_curve(
            build,
            data.X,
            data.y,
            data.folds,
            data.scorer,
            task=cfg.task,
            seed=cfg.seed,
            n_jobs=n_jobs,
        )
        notes.extend(out["learning_curve"]["notes"])
        out["reading"] = learning.read_learning_curve(out["learning_curve"])
    if importance:
        train_idx, valid_idx = data.folds[0]
        pipeline = build()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipeline.fit(data.X.iloc[train_idx], data.y.iloc[train_idx])
        out["importance"] = learning.permutation_importances(
            pipeline,
            data.X.iloc[valid_idx],
            data.y.iloc[valid_idx],
            data.scorer,
            task=cfg.task,
            seed=cfg.seed,
            n_jobs=n_jobs,
        )
    return out


def _diagnose(
    project: Project,
    y: np.ndarray,
    pred: np.ndarray,
    classes: list[str] | None,
    threshold: float | None,
    features: pd.DataFrame,
    known: pd.Series | None = None,
) -> dict[str, Any]:
    cfg = project.config
    return project.kind.diagnose(
        y,
        pred,
        classes=classes,
        positive_class=cfg.positive_class,
        threshold=threshold,
        categories={c: features[c] for c in project.schema.categorical},
        known=known,
        features=features,
        settings=project.kind.family_options(cfg),
    )


def _choose(
    project: Project,
    y: np.ndarray,
    pred: np.ndarray,
    classes: list[str],
    threshold: float,
    min_precision,
    min_recall,
) -> ThresholdChoice:
    positive = classes.index(str(project.config.positive_class))
    is_pos = diagnostics.class_positions(y, classes) == positive
    return choose_threshold(
        is_pos,
        pred[:, positive],
        min_precision=min_precision,
        min_recall=min_recall,
        current=threshold,
    )


def _save_threshold(project: Project, subject: _Subject, choice: ThresholdChoice) -> int:
    registry, version = project.registry, subject.version
    fitted = subject.fitted()
    model = dataclasses.replace(
        fitted,
        threshold=choice.threshold,
        metadata={**fitted.metadata, "threshold": choice.to_dict()},
    )
    record = {k: v for k, v in subject.meta.items() if k not in ("version", "sha256")}
    record.update(created=now_iso(), derived_from=version, threshold=choice.to_dict())
    reason = f"decision threshold chosen on out-of-fold predictions of version {version}: {choice.summary}"
    with project.workspace.lock():
        new = registry.register(model, record)
        registry.promote(new, by=_user(), reason=reason)
    return new


def _figures(
    section: str,
    target: str,
    diag: dict[str, Any],
    refits: dict[str, Any],
    y: np.ndarray,
    pred: np.ndarray,
    cv: tuple[str, dict],
    marks: tuple[float | None, float | None],
    seed: int,
) -> list[Plot]:
    from mlcraft.plots import analysis as fig

    plots = fig.section_figures(section, diag, y, pred, target=target, marks=marks, seed=seed)
    if refits["learning_curve"] and refits["learning_curve"]["sizes"]:
        plots.append(fig.learning_curve(refits["learning_curve"]))
    if refits["importance"]:
        plots.append(fig.permutation_importance(refits["importance"]))
    plots.append(fig.cv_scores(cv[1], cv[0]))
    return plots


@dataclass
class _Subject:
    """The model analysed: its name in the run, the run, and the model version it belongs to."""

    name: str
    run: RunFiles
    version: int
    meta: dict[str, Any]
    own: bool  # the version's own model (else another leaderboard model of its run)
    fitted: Callable[
        [], FittedModel
    ]  # the version's saved model, loaded (and its hash checked) once


def _subject(
    project: Project, model: str | None, version: int | None, wants_threshold: bool
) -> _Subject:
    cfg = project.config
    version, meta, run = champion_run(project, version)
    chosen = run.chosen()["model"]
    name = chosen if model is None else model
    if wants_threshold and not project.kind.has_positive_class:
        raise ConfigError(
            f"--min-precision/--min-recall choose a decision threshold for a binary task; this task is {cfg.task}"
        )
    if wants_threshold and name != chosen:
        raise ConfigError(
            f"the threshold is saved with a model version: analyse {chosen!r} (model version {version}), not {name!r}"
        )
    return _Subject(
        name,
        run,
        version,
        meta,
        name == chosen,
        functools.cache(lambda: project.registry.load(version)),
    )


def _document(
    project: Project, subject: _Subject, rows: int, folds: int, parts: dict[str, Any]
) -> dict[str, Any]:
    cfg = project.config
    choice, new_version, refits, cv = (
        parts["choice"],
        parts["new_version"],
        parts["refits"],
        parts["cv"],
    )
    row: dict[str, Any] = next(
        (r for r in parts["board"] if str(r.get("model")) == subject.name), {}
    )
    return {
        "kind": "analysis",
        "mlcraft": __version__,
        "created": now_iso(),
        "project": str(project.path),
        "run_id": subject.run.run_id,
        "model": subject.name,
        "family": row.get("family"),
        "version": (new_version or subject.version) if subject.own else None,
        "is_champion": subject.own,
        "task": cfg.task,
        "classification": project.kind.classification,
        "section": project.kind.report_section,
        "target": cfg.target,
        "metric": cfg.metric,
        "scope": f"out-of-fold predictions of the {rows:,} training rows ({folds} folds): every prediction comes from a model that did not see its row; the test set was not used",
        "cv": {
            "mean": row.get(f"{cfg.metric}_mean"),
            "std": row.get(f"{cfg.metric}_std"),
            "scores": cv[1].get(subject.name, []),
        },
        "diagnostics": parts["diagnostics"],
        "summary": project.kind.diagnostics_summary(parts["diagnostics"]),
        "threshold_choice": None
        if choice is None
        else {**choice.to_dict(), "new_version": new_version},
        "learning_curve": refits["learning_curve"],
        "learning_curve_reading": refits["reading"],
        "importance": refits["importance"],
        "cv_scores": {"metric": cv[0], "models": cv[1]},
        "notes": parts["notes"],
    }


def _out_of_fold(project: Project, subject: _Subject, notes: list[str]):
    """The training data, and the subject's out-of-fold predictions with their targets (rows without one left out)."""
    data = training_data(project)
    oof, pred, classes = _aligned(subject.run, data, subject.name)
    pred = project.kind.align_out_of_fold(
        pred, oof["fold"].to_numpy(), lambda: subject.fitted().predict_raw(data.X)
    )
    keep = np.isfinite(pred).reshape(len(pred), -1).all(axis=1)
    if not keep.all():  # a later run may leave some rows without a prediction for some models
        notes.append(
            f"{int((~keep).sum()):,} row(s) have no out-of-fold prediction from {subject.name}; the other {int(keep.sum()):,} are analysed"
        )
    return data, data.y.to_numpy()[keep], pred[keep], classes, keep


def rechoose_threshold(project: Project, rule: dict[str, Any]) -> tuple[int, ThresholdChoice]:
    """Choose the champion's decision threshold again by the rule of an earlier choice (``rule`` and
    ``target``, e.g. precision at least 0.9), on the champion's own out-of-fold predictions; register
    it as a new version, promoted to champion. Used by ``retrain``: a threshold belongs to one model."""
    if rule.get("rule") not in ("min_precision", "min_recall"):
        raise ConfigError(
            f"unknown threshold rule {rule.get('rule')!r}: expected min_precision or min_recall"
        )
    subject = _subject(project, None, None, True)
    _, y, pred, classes, _ = _out_of_fold(project, subject, [])
    current = subject.fitted().threshold or 0.5
    choice = _choose(
        project,
        y,
        pred,
        classes,
        current,
        rule["target"] if rule["rule"] == "min_precision" else None,
        rule["target"] if rule["rule"] == "min_recall" else None,
    )
    return _save_threshold(project, subject, choice), choice


def run_analysis(
    project: Project,
    *,
    model: str | None = None,
    version: int | None = None,
    min_precision: float | None = None,
    min_recall: float | None = None,
    learning_curve: bool = True,
    importance: bool = True,
) -> AnalysisResult:
    """Analyse one model's errors on out-of-fold predictions; write ``reports/analysis/<model>/``.

    Everything is computed and drawn before anything is written; a chosen threshold is registered
    (and promoted) just before the pages are written.
    """
    from mlcraft.reports import write_bundle

    cfg = project.config
    wants_threshold = min_precision is not None or min_recall is not None
    subject = _subject(project, model, version, wants_threshold)
    notes: list[str] = []
    data, y, pred, classes, keep = _out_of_fold(project, subject, notes)
    threshold = (
        (subject.fitted().threshold if subject.own else 0.5)
        if project.kind.has_positive_class
        else None
    )
    choice = (
        _choose(project, y, pred, classes, threshold, min_precision, min_recall)
        if wants_threshold and threshold is not None
        else None
    )  # binary
    diag = _diagnose(
        project,
        y,
        pred,
        classes,
        threshold if choice is None else choice.threshold,
        data.X[keep].reset_index(drop=True),
        None
        if cfg.labels is None
        else project.training_frame()[cfg.labels][keep].reset_index(drop=True),
    )
    if subject.own:  # what the kind reads from the saved model itself
        diag.update(project.kind.model_diagnostics(subject.fitted().pipeline, data.X[keep]))
    if not project.kind.row_refits and (learning_curve or importance):
        notes.append(
            f"learning curves and permutation importance are left out for --task {cfg.task}: "
            "they refit on random subsets of the rows and permute columns, which breaks the "
            "order of a time series (the backtest windows above are its learning check)"
        )
    row_refits = project.kind.row_refits
    build = _builder(project, subject, data, notes) if row_refits else None
    refits = _refits(
        project,
        build,
        data,
        curve=learning_curve and row_refits,
        importance=importance and row_refits,
        n_jobs=resolve_n_jobs(None),
        notes=notes,
    )
    if refits["stability"] is not None:  # shown beside the error analysis (kinds that measure it)
        diag["stability"] = {**refits["stability"], "measure": project.kind.stability_measure}
        diag["finalists"] = _finalists_stability(project, subject, data, refits["stability"])
    board = subject.run.board_rows()
    cv = subject.run.cv_scores(
        [str(r["model"]) for r in board if r.get("status", TrialStatus.OK) == TrialStatus.OK]
    )
    marks = (threshold, None if choice is None else choice.threshold)
    plots = _figures(
        project.kind.report_section,
        cfg.target or project.kind.name,
        diag,
        refits,
        y.astype(float) if project.kind.numeric_target else y,
        pred,
        cv,
        marks,
        cfg.seed,
    )
    new_version = _save_threshold(project, subject, choice) if choice is not None else None
    if choice is not None:
        notes.append(
            f"saved as model version {new_version} (now the champion, used by predict): {choice.summary}"
        )
    parts = {
        "choice": choice,
        "new_version": new_version,
        "refits": refits,
        "cv": cv,
        "board": board,
        "diagnostics": diag,
        "notes": notes,
    }
    doc = _document(project, subject, len(y), len(data.folds), parts)
    html, written = write_bundle(
        analysis_dir(project, subject.name), "analysis", "analysis.html.j2", doc, plots
    )
    return AnalysisResult(html, written, [p.file for p in plots], new_version)


def multilabel_analysis(
    y_true: np.ndarray, scores: np.ndarray, labels: list[str], threshold: float = 0.5
) -> tuple[dict[str, Any], list[Plot]]:
    """The multilabel section of an analysis (F1 per label and averaged) and its figure.

    The spine has no multilabel task yet (a project has one target column), so no command reaches
    this; it takes 0/1 indicator matrices and per-label probabilities, one column per label.
    """
    from mlcraft.plots import analysis as fig

    section = diagnostics.multilabel_diagnostics(y_true, scores, labels, threshold)
    return section, [fig.multilabel_f1(section["per_label"], section["averages"])]
