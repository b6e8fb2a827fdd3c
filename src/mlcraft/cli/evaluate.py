"""`mlcraft evaluate`: the test-set score, once, with its confidence interval."""

from __future__ import annotations

from pathlib import Path

import typer

from mlcraft.cli.app import command, console, fmt


@command("evaluate")
def evaluate(
    project: Path = typer.Option(..., "--project", "-p", help="Project directory."),
    version: int | None = typer.Option(None, help="Model version (default: the champion)."),
) -> None:
    """Score the champion on the test set set aside at the start: the metric and its 95% confidence interval."""
    from mlcraft.api import Project  # here, not at the top: `mlcraft --help` stays light

    result = Project.open(project).evaluate(version=version)
    if result.warning:
        console.print(f"[yellow]warning[/]: {result.warning}")
    console.print(
        f"test {result.metric} of model version {result.version} ({result.family}) on {result.test_rows} rows: "
        f"[bold]{fmt(result.value)}[/] (95% CI {fmt(result.ci_low)} to {fmt(result.ci_high)}, {result.ci_method}; "
        f"CV was {fmt(result.cv_mean)})"
    )
    for line in (result.details or {}).get("summary", []):  # what the kind adds
        console.print(line)
    if result.against_labels:
        console.print(
            "against the known labels (--labels) on the test rows: "
            + ", ".join(f"{k.replace('_', ' ')} {fmt(v)}" for k, v in result.against_labels.items())
        )
