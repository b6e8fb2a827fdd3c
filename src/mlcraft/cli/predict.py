"""`mlcraft predict`: score a file with the champion (or a chosen version)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from mlcraft.cli.app import command, console


@command("predict")
def predict(
    data: Path = typer.Argument(..., help="CSV or Parquet file with the feature columns."),
    project: Path = typer.Option(..., "--project", "-p", help="Project directory."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Where to write predictions (.csv or .parquet)."
    ),
    version: int | None = typer.Option(None, help="Model version (default: the champion)."),
    encoding: str | None = typer.Option(None, help="Text encoding of the CSV (default: detected)."),
) -> None:
    """Predict DATA: one column named like the target, plus proba_<class> columns for classification. Files of any size are read in chunks (constant memory) with a progress bar."""
    from mlcraft.api import Project  # here, not at the top: `mlcraft --help` stays light

    with Progress(
        TextColumn("scoring"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("scoring", total=None)

        def progress(done: int, total: int, unit: str) -> None:
            bar.update(task, completed=done, total=total)

        summary = Project.open(project).predict_file(
            data, out, version=version, encoding=encoding, progress=progress
        )
    for note in summary.notes:
        console.print(f"[yellow]warning[/]: {note}")
    console.print(
        f"wrote {summary.rows} prediction(s) to {summary.out} (model version {summary.version})"
    )
