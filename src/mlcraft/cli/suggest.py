"""`mlcraft suggest-labels`: the rows whose labels would help most, to a CSV a person fills in."""

from __future__ import annotations

from pathlib import Path

import typer

from mlcraft.cli.app import command, console
from mlcraft.exceptions import ConfigError


@command("suggest-labels")
def suggest_labels(
    data: Path | None = typer.Argument(
        None,
        help="Before any project: a table whose --target column is empty or missing (the rows to label first are cluster representatives).",
    ),
    project: Path | None = typer.Option(
        None, "--project", "-p", help="Project directory (trained with --semi-supervised)."
    ),
    n: int = typer.Option(..., "--n", help="How many rows to suggest."),
    out: Path | None = typer.Option(
        None, "--out", help="CSV to write (default: DIR/to_label.csv, or to_label.csv)."
    ),
    target: str | None = typer.Option(
        None, "--target", "-t", help="With DATA: the column a person fills in."
    ),
    seed: int = typer.Option(0, help="With DATA: random seed of the clustering."),
) -> None:
    """Write the N unlabelled rows whose labels would help most: representatives of clusters with no label yet, and the champion's least confident rows; fill in the target column and retrain."""
    from mlcraft.api.suggest import suggest_for_project, suggest_for_table

    if (data is None) == (project is None):
        raise ConfigError(
            "give either --project DIR (a project trained with --semi-supervised) or DATA --target COL (a table before any project)"
        )
    if project is not None:
        from mlcraft.api import Project

        result = suggest_for_project(
            Project.open(project), n, out=out or Path(project) / "to_label.csv"
        )
    else:
        if target is None:
            raise ConfigError(f"{data}: name the column to fill in with --target COL")
        result = suggest_for_table(data, target, n, seed=seed, out=out or Path("to_label.csv"))
    for note in result.notes:
        console.print(f"[yellow]note[/]: {note}")
    counts = ", ".join(f"{v} {k}" for k, v in result.counts.items() if v)
    console.print(f"{len(result.frame)} row(s) to label ({counts}) written to {result.out}")
    console.print(
        "next: fill in the target column, then `mlcraft retrain --project DIR --data FILE` (see README)"
    )
