"""`mlcraft models`: the versions, the champion and the history of promotions and rollbacks."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from mlcraft import jsonsafe
from mlcraft.cli.app import command, console, fmt


def _score(test) -> str:
    if not test:
        return "-"
    return f"{fmt(test['value'])} ({fmt(test['ci_low'])} to {fmt(test['ci_high'])})"


@command("models")
def models(
    project: Path = typer.Option(..., "--project", "-p", help="Project directory."),
    at: str | None = typer.Option(
        None,
        help="Also say which version was champion at this date-time (e.g. 2026-11-20T14:30, UTC).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    db: str | None = typer.Option(
        None, help="Database of the registry (default: MLCRAFT_DB, else DIR/mlcraft.db)."
    ),
) -> None:
    """List the model versions (metrics, test score, data), mark the champion, and show the history."""
    from mlcraft.api import Project  # here, not at the top: `mlcraft --help` stays light

    proj = Project.open(project, db=db)
    listing = proj.models()
    answer = proj.champion_at(at) if at is not None else None
    if as_json:
        out = listing.to_dict()
        if at is not None:
            out["champion_at"] = {"at": at, "version": answer}
        console.print_json(jsonsafe.dumps(out))
        return
    metric = proj.config.metric
    table = Table(title=f"model versions ({metric})", title_justify="left")
    for col in (
        "",
        "version",
        "created",
        "family",
        f"CV {metric}",
        f"test {metric} (95% CI)",
        "dataset",
        "note",
    ):
        table.add_column(col)
    for rec in listing.versions:
        gate = rec.get("gate") or {}
        table.add_row(
            "*" if rec["version"] == listing.champion else "",
            str(rec["version"]),
            str(rec.get("created", ""))[:19],
            str(rec.get("family", "")),
            fmt(rec.get("cv_mean")),
            _score(rec.get("test")),
            str(rec.get("dataset", "")),
            ("" if not gate else "gate: promoted" if gate.get("promote") else "gate: kept out"),
        )
    console.print(table)
    history = Table(title="history (append-only)", title_justify="left")
    for col in ("at", "action", "version", "previous", "by", "reason"):
        history.add_column(col)
    for e in listing.history:
        history.add_row(
            str(e["at"])[:23],
            e["action"],
            str(e["version"]),
            "-" if e["previous"] is None else str(e["previous"]),
            e["by"],
            e["reason"],
        )
    console.print(history)
    console.print(
        f"champion: model version {listing.champion}" if listing.champion else "no champion yet"
    )
    if at is not None:
        console.print(
            f"champion at {at}: "
            + (
                f"model version {answer}"
                if answer is not None
                else "none (no model had been promoted yet)"
            )
        )
