"""`mlcraft rollback`: make an earlier model version champion again."""

from __future__ import annotations

from pathlib import Path

import typer

from mlcraft.cli.app import command, console


@command("rollback")
def rollback(
    project: Path = typer.Option(..., "--project", "-p", help="Project directory."),
    to: int | None = typer.Option(
        None,
        "--to",
        help="The version to make champion (default: the champion before the current one).",
    ),
    reason: str | None = typer.Option(None, help="Why (recorded in the history)."),
    db: str | None = typer.Option(
        None, help="Database of the registry (default: MLCRAFT_DB, else DIR/mlcraft.db)."
    ),
) -> None:
    """Roll the champion back (recorded in the history); a running server picks it up within seconds."""
    from mlcraft.api import Project  # here, not at the top: `mlcraft --help` stays light

    result = Project.open(project, db=db).rollback(to, reason=reason)
    console.print(
        f"champion: model version {result.champion} (was {result.previous}); recorded at {result.history['at']}"
    )
