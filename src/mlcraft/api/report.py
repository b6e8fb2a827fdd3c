"""Present the solution: one self-contained HTML page (under 5 MB) and the same content as JSON.

The report gathers what the earlier steps recorded: the framing and data (``mlcraft.toml``, the
dataset's record), how the test set was made, the exploration (run now if missing or stale), the
leaderboard and the chosen model, its error analysis (run now if missing or stale), the test-set
result with its 95% confidence interval (as ``evaluate`` recorded it: the report never looks at the
test set itself), key figures, and an automatic list of limitations and assumptions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcraft import __version__, atomic
from mlcraft.api.analyse import analysis_dir, run_analysis
from mlcraft.api.explore import explore_dir, run_explore
from mlcraft.api.limitations import limitations
from mlcraft.api.runs import champion_run
from mlcraft.core.analysis.metrics import get_metric
from mlcraft.core.data.framing import objective
from mlcraft.core.fit.baseline import BASELINE
from mlcraft.core.fit.status import TrialStatus
from mlcraft.workspace import now_iso

if TYPE_CHECKING:
    from mlcraft.api.project import Project
    from mlcraft.plots import Plot

__all__ = ["ReportResult", "run_report", "KEY_PLOTS"]

# figures of the report, most important first (the 5 MB budget drops from the end)
KEY_PLOTS = (
    "map",
    "target_associations",
    "confusion_matrix",
    "predicted_vs_actual",
    "backtest_forecasts",
    "error_by_step",
    "roc_curve",
    "precision_recall_threshold",
    "error_by_decile",
    "learning_curve",
    "permutation_importance",
    "cv_scores",
    "residuals",
    "error_by_series",
    "residual_checks",
    "calibration_curve",
    "silhouette_diagram",
    "cluster_map",
    "explained_variance",
    "row_map",
    "series",
    "decomposition",
    "histograms",
    "histograms_1",
    "correlation_matrix",
    "scatter_matrix",
)


@dataclass
class ReportResult:
    """The written report."""

    html: Path
    json: Path
    document: dict[str, Any]
    size_bytes: int
    notes: list[str] = field(default_factory=list)


def _fresh_explore(project: Project, notes: list[str]) -> tuple[dict[str, Any], Path]:
    path = explore_dir(project) / "explore.json"
    if path.exists():
        doc = atomic.read_json(path)
        if doc.get("dataset") == project.config.dataset and doc.get("mlcraft") == __version__:
            return doc, path.parent
    notes.append("no up-to-date exploration: ran `mlcraft explore` first")
    return run_explore(project).document, explore_dir(project)


def _fresh_analysis(
    project: Project, version: int, model: str, run_id: str, notes: list[str]
) -> tuple[dict[str, Any], Path]:
    path = analysis_dir(project, model) / "analysis.json"
    if path.exists():
        doc = atomic.read_json(path)
        if (
            doc.get("run_id") == run_id
            and doc.get("version") == version
            and doc.get("mlcraft") == __version__
        ):
            return doc, path.parent
    notes.append("no up-to-date error analysis of the champion: ran `mlcraft analyse` first")
    return run_analysis(project, version=version).document, analysis_dir(project, model)


def _evaluation(project: Project, version: int, notes: list[str]) -> dict[str, Any] | None:
    directory = project.workspace.evaluations_dir
    records = (
        [atomic.read_json(p) for p in sorted(directory.glob("*.json"))]
        if directory.is_dir()
        else []
    )
    own = [r for r in records if r.get("version") == version]
    if not own:
        notes.append(
            f"the champion (model version {version}) has not been evaluated on the test set: run `mlcraft evaluate --project {project.path}`"
        )
        return None
    return max(own, key=lambda r: r.get("at", ""))


def _data(project: Project) -> dict[str, Any]:
    cfg, schema = project.config, project.schema
    info_path = project.workspace.data_dir / f"{cfg.dataset}.json"
    info = atomic.read_json(info_path) if info_path.exists() else {}
    roles: dict[str, list[str]] = {}
    for col in schema.columns:
        roles.setdefault(col.role.value, []).append(col.name)
    return {
        "source": cfg.source,
        "hash": cfg.dataset,
        "rows": info.get("rows"),
        "columns": len(info.get("columns", [])) or None,
        "stored": info.get("stored"),
        "roles": roles,
    }


def _split(project: Project, train_rows: int) -> dict[str, Any]:
    cfg = project.config
    if cfg.split_method == "external":
        path = project.workspace.data_dir / f"{cfg.test_dataset}.json"
        test_rows = atomic.read_json(path).get("rows") if path.exists() else None
        how = f"a separate test file brought by the user ({cfg.test_source})"
    else:
        test_rows = int(project.workspace.read_split(cfg.dataset).sum())
        how = {
            "hash": (
                f"a stable split: a hash of the identifier {cfg.id_column!r}"
                if cfg.id_column is not None
                else "a stable split: a hash of each row's values"
            )
            + " puts each row on its side, so a row keeps its side when the data is refreshed",
            "stratified": f"a seeded shuffle (seed {cfg.seed}) stratified on "
            + (f"quantile bins of {cfg.stratify_on!r}" if cfg.stratify_on else "the target"),
            "random": f"a seeded random shuffle (seed {cfg.seed})",
            "none": "no test set (test size 0)",
        }.get(cfg.split_method, cfg.split_method)
    return {
        "method": cfg.split_method,
        "test_size": cfg.test_size,
        "how": how,
        "train_rows": train_rows,
        "test_rows": test_rows,
        "when": "before anything looked at the data; only `evaluate` reads the test rows",
    }


def _model(
    project: Project,
    version: int,
    meta: dict[str, Any],
    chosen: dict[str, Any],
    board: list[dict[str, Any]],
) -> dict[str, Any]:
    cfg = project.config
    ok = [
        r
        for r in board
        if r.get("status", TrialStatus.OK) == TrialStatus.OK and r.get("family") != BASELINE
    ]  # the naive reference is not a candidate
    history = [h for h in project.registry.history() if h.get("version") == version]
    why = (
        f"the best mean cross-validated {cfg.metric} of the {len(ok)} model(s) on the leaderboard ({cfg.n_folds}-fold "
        "cross-validation of the training rows), refitted on all training rows"
    )
    return {
        "name": chosen.get("model"),
        "family": meta.get("family"),
        "version": version,
        "params": meta.get("params"),
        "cv_mean": meta.get("cv_mean"),
        "cv_std": meta.get("cv_std"),
        "why": why,
        "threshold": meta.get("threshold"),
        "promotion": history[-1].get("reason") if history else None,
    }


def _plots(explore: tuple[dict, Path], analysis: tuple[dict, Path]) -> list[Plot]:
    from mlcraft.plots import Plot

    found: dict[str, Plot] = {}
    for doc, directory in (explore, analysis):
        for entry in doc.get("plots", []):
            name = entry["file"].rsplit(".", 1)[0]
            path = directory / entry["file"]
            if name in KEY_PLOTS and path.exists():
                found[name] = Plot(
                    name,
                    entry["title"],
                    path.read_bytes(),
                    entry.get("caption", ""),
                    source=str(path),
                )
    return [found[n] for n in KEY_PLOTS if n in found]


def _headline(
    meta: dict[str, Any], evaluation: dict[str, Any] | None, train_rows: int, version: int
) -> dict[str, Any]:
    test = evaluation or {}
    return {
        "test_value": test.get("value"),
        "test_ci_low": test.get("ci_low"),
        "test_ci_high": test.get("ci_high"),
        "cv_mean": meta.get("cv_mean"),
        "cv_std": meta.get("cv_std"),
        "train_rows": train_rows,
        "model_version": version,
    }


def _framing(project: Project) -> dict[str, Any]:
    cfg = project.config
    metric = get_metric(cfg.metric, cfg.task)
    goal = objective(
        cfg.objective, cfg.target, cfg.task, len(project.schema.features), project.kind.goal
    )
    return {
        "objective": goal["text"],
        "objective_source": goal["source"],
        "target": cfg.target,
        "task": cfg.task,
        "classification": project.kind.classification,
        "section": project.kind.report_section,
        "metric": cfg.metric,
        "metric_description": metric.description,
        "greater_is_better": metric.greater_is_better,
        "positive_class": None if cfg.positive_class is None else str(cfg.positive_class),
    }


def _leaderboard(project: Project, run, board: list[dict[str, Any]]) -> dict[str, Any]:
    """The leaderboard's rows, and its naive baseline (what it predicts, its score and rank) when the run has one."""
    path = run.path / "leaderboard.json"
    baseline = atomic.read_json(path).get("baseline") if path.exists() else None
    if baseline is not None:
        row = next((r for r in board if r.get("family") == BASELINE), {})
        baseline = {**baseline, "rank": row.get("rank") or None}
    return {"metric": project.config.metric, "rows": board, "baseline": baseline}


def run_report(project: Project, *, out: str | os.PathLike[str] | None = None) -> ReportResult:
    """Write the report (``reports/report.html`` by default) and its JSON twin beside it."""
    from mlcraft.reports import write_page

    version, meta, run = champion_run(project)
    notes: list[str] = run.streamed_notes()  # data larger than memory: what was streamed
    chosen, board = run.chosen(), run.board_rows()
    explore = _fresh_explore(project, notes)
    analysis = _fresh_analysis(project, version, chosen["model"], run.run_id, notes)
    evaluation = _evaluation(project, version, notes)
    train_rows = explore[0]["shape"]["rows"]
    errors = {
        k: analysis[0].get(k)
        for k in (
            "scope",
            "diagnostics",
            "learning_curve",
            "learning_curve_reading",
            "importance",
            "threshold_choice",
        )
    }
    doc = {
        "kind": "report",
        "mlcraft": __version__,
        "created": now_iso(),
        "project": str(project.path),
        "headline": _headline(meta, evaluation, train_rows, version),
        "framing": _framing(project),
        "data": _data(project),
        "split": _split(project, train_rows),
        "exploration": {
            "scope": explore[0]["scope"],
            "flags": explore[0]["flags"],
            "associations": explore[0]["associations"][:8],
        },
        "leaderboard": _leaderboard(project, run, board),
        "model": _model(project, version, meta, chosen, board),
        "test": evaluation,
        "errors": {**errors, "diagnostics": _trim(errors["diagnostics"])},
        "limitations": limitations(
            project, explore[0], analysis[0], evaluation, board, meta.get("cv_mean")
        ),
        "sources": {"explore": str(explore[1]), "analysis": str(analysis[1])},
        "notes": notes,
    }
    target = Path(out) if out is not None else project.path / "reports" / "report.html"
    html, written = write_page(target, "report.html.j2", doc, _plots(explore, analysis))
    return ReportResult(html, html.with_suffix(".json"), written, html.stat().st_size, notes)


def _trim(diag: dict[str, Any] | None) -> dict[str, Any] | None:
    """The analysis without its long curves (they stay in the analysis's own JSON)."""
    if diag is None:
        return None
    return {k: v for k, v in diag.items() if k not in ("curves", "one_vs_rest", "calibration")}
