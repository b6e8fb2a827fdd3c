"""`mlcraft feedback`: join ground truth that arrived later to the logged predictions."""

from __future__ import annotations

from pathlib import Path

import typer

from mlcraft.cli.app import command, console


@command("feedback")
def feedback(
    labels: Path = typer.Argument(
        ..., help="CSV or Parquet: the target column, plus request_id (and row) or a key column."
    ),
    project: Path = typer.Option(..., "--project", "-p", help="Project directory."),
    key: str | None = typer.Option(
        None,
        help="Join on this input column instead of request_id (default: the project's id column).",
    ),
    db: str | None = typer.Option(
        None, help="Database of the prediction log (default: MLCRAFT_DB, else DIR/mlcraft.db)."
    ),
) -> None:
    """Attach labels to logged predictions (by request id, or by a key column); `mlcraft monitor` then scores live quality."""
    from mlcraft.api import Project  # here, not at the top: `mlcraft --help` stays light

    result = Project.open(project, db=db).feedback(labels, key=key)
    for note in result.notes:
        console.print(f"[yellow]note[/]: {note}")
    console.print(f"{result.matched} of {result.received} label(s) joined to logged predictions")
