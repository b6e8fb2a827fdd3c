"""`mlcraft report`: the "present your solution" document, one self-contained HTML page plus JSON."""

from __future__ import annotations

from pathlib import Path

import typer

from mlcraft.cli.app import command, console


@command("report")
def report(
    project: Path = typer.Option(..., "--project", "-p", help="Project directory."),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="HTML file to write (default: DIR/reports/report.html); the JSON goes beside it.",
    ),
) -> None:
    """Present the solution: framing, data, test split, exploration highlights, leaderboard, chosen model and why,
    test-set result with its 95% CI, key plots, limitations and assumptions. Runs explore and analyse first if needed."""
    from mlcraft.api import Project  # here, not at the top: `mlcraft --help` stays light

    result = Project.open(project).report(out=out)
    framing = result.document["framing"]
    console.print(
        f"objective: {framing['objective']}"
        + (
            " (generated: no --objective was given)"
            if framing.get("objective_source") == "generated"
            else ""
        )
    )
    for note in result.notes:
        console.print(f"[yellow]note[/]: {note}")
    console.print(f"wrote {result.html} ({result.size_bytes / 1e6:.2f} MB) and {result.json.name}")
