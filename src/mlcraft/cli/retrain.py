"""`mlcraft retrain`: new data, a challenger, and a gate that promotes it only if it is not worse."""

from __future__ import annotations

from pathlib import Path

import typer

from mlcraft.cli.app import command, console, split_names
from mlcraft.cli.train import RichReport


@command("retrain")
def retrain(
    project: Path = typer.Option(..., "--project", "-p", help="Project directory."),
    data: Path = typer.Option(
        ..., "--data", help="CSV or Parquet with new labelled rows (the project's columns)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Train and compare, but change nothing: show the decision only."
    ),
    time_limit: float | None = typer.Option(
        None, help="Seconds of training (default: the project's setting)."
    ),
    max_trials: int | None = typer.Option(
        None, help="Fixed amount of work instead of a time limit (default: the project's setting)."
    ),
    n_jobs: int | None = typer.Option(None, help="Parallel workers (default: all cores)."),
    family: list[str] | None = typer.Option(
        None, help="Only these model families (repeat, or comma-separated)."
    ),
    exclude: list[str] | None = typer.Option(None, help="Leave these model families out."),
    db: str | None = typer.Option(
        None, help="Database of the registry (default: MLCRAFT_DB, else DIR/mlcraft.db)."
    ),
) -> None:
    """Add DATA as a new dataset version, train a challenger the same way, and promote it only if it is not worse than the champion beyond the noise."""
    from mlcraft.api import Project  # here, not at the top: `mlcraft --help` stays light

    proj = Project.open(project, db=db)
    families = split_names(family) or None
    with RichReport(
        len(proj.candidate_families(families, split_names(exclude))),
        proj.metric.name,
        proj.metric.greater_is_better,
    ) as report:
        result = proj.retrain(
            data,
            dry_run=dry_run,
            time_limit=time_limit,
            max_trials=max_trials,
            n_jobs=n_jobs,
            families=families,
            exclude=split_names(exclude),
            callbacks=[report],
        )
    for note in result.notes:
        console.print(f"[yellow]note[/]: {note}")
    console.print(
        f"data: {result.added_rows} new row(s), {result.added_test_rows} of them in the test set; dataset version {result.dataset}"
        + (" (not stored: dry run)" if result.dry_run else "")
    )
    d = result.decision
    verdict = "[green]promote[/]" if d.promote else "[red]keep the champion[/]"
    console.print(f"gate: {verdict}: {d.reason}")
    if result.dry_run:
        console.print("dry run: nothing was changed")
    elif d.promote:
        console.print(
            f"champion: model version {result.champion_after} (was {result.champion_before})"
        )
    else:
        console.print(
            f"champion: model version {result.champion_after} stays; the challenger is kept as version {result.challenger_version}"
        )
