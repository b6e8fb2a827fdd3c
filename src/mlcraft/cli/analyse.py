"""`mlcraft analyse`: error analysis of the champion (or a leaderboard model) on out-of-fold predictions."""

from __future__ import annotations

from pathlib import Path

import typer

from mlcraft.cli.app import app, command, console, fmt


@command("analyse")
def analyse(
    project: Path = typer.Option(..., "--project", "-p", help="Project directory."),
    model: str | None = typer.Option(
        None, help="Leaderboard model to analyse (default: the champion's)."
    ),
    version: int | None = typer.Option(
        None, help="Model version whose run is analysed (default: the champion)."
    ),
    min_precision: float | None = typer.Option(
        None,
        help="Binary: choose the decision threshold giving at least this precision on out-of-fold predictions (saved with the model; predict uses it).",
    ),
    min_recall: float | None = typer.Option(
        None,
        help="Binary: choose the decision threshold giving at least this recall (saved with the model; predict uses it).",
    ),
    learning_curve: bool = typer.Option(
        True,
        "--learning-curve/--no-learning-curve",
        help="Compute learning curves (refits on parts of the folds).",
    ),
    importance: bool = typer.Option(
        True,
        "--importance/--no-importance",
        help="Compute permutation feature importance (one refit).",
    ),
) -> None:
    """Analyse the errors on out-of-fold predictions of the training rows (the test set stays unseen): confusion matrix,
    precision/recall/F1, threshold, ROC and calibration curves, or residuals and error breakdowns; learning curves,
    permutation importance and the CV score distribution of every leaderboard model."""
    from mlcraft.api import Project  # here, not at the top: `mlcraft --help` stays light

    result = Project.open(project).analyse(
        model=model,
        version=version,
        min_precision=min_precision,
        min_recall=min_recall,
        learning_curve=learning_curve,
        importance=importance,
    )
    doc = result.document
    console.print(f"analysed {doc['model']} on {doc['scope']}")
    for line in doc["summary"]:
        console.print(f"  {line}")
    if doc["learning_curve_reading"]:
        console.print(f"  learning curves: {doc['learning_curve_reading']['text']}")
    if doc["importance"]:
        top = ", ".join(
            f"{r['feature']} ({fmt(r['mean'])})" for r in doc["importance"]["features"][:3]
        )
        console.print(f"  leans most on: {top}")
    for note in result.notes:
        console.print(f"[yellow]note[/]: {note}")
    console.print(f"wrote {result.html} and {len(result.plots)} figure(s) beside it")


# the American spelling, for the hands that type it
app.command("analyze", hidden=True)(analyse)
