"""`mlcraft monitor`: drift and live quality of the served model; exit code 1 when a threshold is crossed."""

from __future__ import annotations

from pathlib import Path

import typer

from mlcraft.cli.app import command, console
from mlcraft.config import MONITOR_SINCE as SINCE


@command("monitor")
def monitor(
    project: Path = typer.Option(..., "--project", "-p", help="Project directory."),
    since: str | None = typer.Option(
        None,
        help=f"Look at predictions since: a duration back from now (30m, 12h, 7d, 2w) or a date (2026-11-20); default {SINCE}.",
    ),
    window: str | None = typer.Option(
        None,
        help="Time window of the live metric (default: [monitor] window in mlcraft.toml, else 1d).",
    ),
    out: Path | None = typer.Option(
        None, help="Directory for report.html and report.json (default: DIR/monitoring/<time>/)."
    ),
    db: str | None = typer.Option(
        None, help="Database of the prediction log (default: MLCRAFT_DB, else DIR/mlcraft.db)."
    ),
) -> None:
    """Compare logged inputs and predictions with the training data (missing rate, mean/std, PSI, KS, chi-squared, new categories), check latency and errors, and score live quality where labels arrived. Thresholds: [monitor] in mlcraft.toml. Exit code 1 when one is crossed (for cron or CI)."""
    from mlcraft.api import Project  # here, not at the top: `mlcraft --help` stays light

    result = Project.open(project, db=db).monitor(since=since, window=window, out=out)
    report = result.report
    console.print(
        f"{report['rows']} logged row(s) since {report['since']} (model version {report['model_version']}); {report['service']['requests']} request(s)"
    )
    groups = (report["prediction"] or {}).get("windows") or {}
    if groups.get("windows"):
        moved = max(groups["windows"], key=lambda w: w["max_change"])
        console.print(
            f"share of rows per group ({', '.join(groups['groups'][:12])}) in {len(groups['windows'])} window(s): "
            f"at most {100 * moved['max_change']:.1f} points from the training rows' (window from {moved['start']})"
        )
    for note in report["notes"]:
        console.print(f"[yellow]note[/]: {note}")
    for alert in result.alerts:
        console.print(f"[red]alert[/]: {alert}")
    console.print(f"report: {result.html_path} and {result.json_path.name}")
    if result.alerts:
        raise typer.Exit(1)
    console.print("no threshold crossed")
