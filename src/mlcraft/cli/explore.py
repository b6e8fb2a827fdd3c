"""`mlcraft explore`: statistics, flags and figures of the training rows, as an HTML page."""

from __future__ import annotations

from pathlib import Path

import typer

from mlcraft.cli.app import command, console


@command("explore")
def explore(
    project: Path = typer.Option(..., "--project", "-p", help="Project directory."),
    size_by: str | None = typer.Option(
        None,
        help="Numeric column that sizes the points of the map (default: a 'population' column if any).",
    ),
    plot_sample: int | None = typer.Option(
        None,
        help="Rows drawn for scatter plots and the map (default 10,000); statistics always use every row.",
    ),
) -> None:
    """Discover and visualise the training rows (never the test rows): roles, missing values, statistics, histograms,
    correlations, scatter matrix, map, and flags (heavy tails, capped values, high cardinality, duplicates, leakage, drift)."""
    from mlcraft.api import Project  # here, not at the top: `mlcraft --help` stays light

    result = Project.open(project).explore(size_by=size_by, plot_sample=plot_sample)
    doc = result.document
    goal = doc["objective"]
    console.print(
        f"objective: {goal['text']}"
        + (" (generated: no --objective was given)" if goal["source"] == "generated" else "")
    )
    console.print(
        f"explored {doc['shape']['rows']:,} training rows x {doc['shape']['columns']} columns (the test rows were not read)"
    )
    for note in doc["notes"]:
        console.print(f"[yellow]note[/]: {note}")
    for flag in result.flags:
        console.print(f"  [yellow]{flag['kind']}[/]: {flag['message']}")
    if not result.flags:
        console.print("  nothing to flag")
    console.print(f"wrote {result.html} and {len(result.plots)} figure(s) beside it")
