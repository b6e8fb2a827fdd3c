"""`mlcraft tune`: an explicit grid, random or Bayesian search over one family (the book's tools)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from mlcraft.api import BASELINE, TrialStatus
from mlcraft.cli.app import command, console, fmt
from mlcraft.config import TUNE_STRATEGY, TUNE_TRIALS


def results_table(table, metric: str, limit: int = 30) -> Table:
    out = Table(title="search results (cross-validation)", title_justify="left")
    params = [
        c
        for c in table.columns
        if c not in ("rank", f"{metric}_mean", f"{metric}_std", "fit_time_s", "status", "trial")
    ]
    for col in ("rank", *params, f"{metric} mean", "std", "fit s", "status"):
        out.add_column(col, justify="left" if col in ("status",) else "right")
    shown = table.head(limit)
    if "trial" in table:  # the naive baseline's row stays visible wherever it ranks
        rest = table.iloc[limit:]
        shown = [
            *shown.to_dict(orient="records"),
            *rest[rest["trial"] == BASELINE].to_dict(orient="records"),
        ]
    else:
        shown = shown.to_dict(orient="records")
    for row in shown:
        ok = row["status"] == TrialStatus.OK
        naive = row.get("trial") == BASELINE
        out.add_row(
            str(row["rank"]),
            *("-" if naive else str(row[p]) for p in params),
            fmt(row[f"{metric}_mean"]) if ok else "-",
            fmt(row[f"{metric}_std"]) if ok else "-",
            f"{row['fit_time_s']:.2f}" if ok else "-",
            f"{row['status']} (naive baseline)" if naive else row["status"],
        )
    return out


@command("tune")
def tune(
    project: Path = typer.Option(
        ..., "--project", "-p", help="Project directory (made by `mlcraft train`)."
    ),
    family: str = typer.Option(
        ..., "--family", "-f", help="Model family to search, e.g. random_forest, lightgbm, ridge."
    ),
    space: Path = typer.Option(
        ...,
        "--space",
        help="TOML file: one table per parameter, with `values = [...]` or `low`/`high` (`log = true`).",
    ),
    strategy: str = typer.Option(
        TUNE_STRATEGY,
        "--strategy",
        help="grid (every combination, GridSearchCV), random (RandomizedSearchCV) or bayes (Optuna TPE).",
    ),
    trials: int = typer.Option(
        TUNE_TRIALS,
        "--trials",
        "-n",
        help="Number of configurations to try (a grid stops when exhausted).",
    ),
    n_jobs: int | None = typer.Option(
        None, "--n-jobs", help="Parallel workers (default: all cores)."
    ),
    time_limit: float | None = typer.Option(
        None, "--time-limit", help="Optional seconds for the search."
    ),
    save: bool = typer.Option(
        False,
        "--save",
        help="Refit the best on all training rows and save it as a new model version (the champion).",
    ),
) -> None:
    """Search one family's hyperparameters on the project's CV folds and print the results, best first."""
    from mlcraft.api import Project  # here, not at the top: `mlcraft --help` stays light

    proj = Project.open(project)
    result = proj.tune(
        family=family,
        strategy=strategy,
        space=space,
        trials=trials,
        n_jobs=n_jobs,
        time_limit=time_limit,
        save=save,
    )
    console.print(results_table(result.table, result.metric))
    rows = (
        result.table[
            (result.table["trial"] == BASELINE) & (result.table["status"] == TrialStatus.OK)
        ]
        if "trial" in result.table
        else result.table.iloc[0:0]
    )
    baseline = (
        "" if rows.empty else f" (baseline {fmt(float(rows[f'{result.metric}_mean'].iloc[0]))})"
    )
    console.print(
        f"best {family} ({result.strategy}): CV {result.metric} {fmt(result.best_score)}{baseline} with {result.best_params}; run {result.run_id}"
    )
    if result.version is not None:
        console.print(
            f"saved as model version {result.version} (the champion); next: mlcraft evaluate --project {project}"
        )
    else:
        console.print(
            "add --save to refit the best on all training rows and save it as a new model version"
        )
