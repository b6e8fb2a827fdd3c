"""The command line: a thin Typer layer over :mod:`mlcraft.api` (one module per command)."""

from __future__ import annotations

import typer

from mlcraft.cli import analyse as _analyse  # noqa: E402,F401
from mlcraft.cli import demo as _demo  # noqa: E402,F401
from mlcraft.cli import evaluate as _evaluate  # noqa: E402,F401
from mlcraft.cli import explore as _explore  # noqa: E402,F401
from mlcraft.cli import feedback as _feedback  # noqa: E402,F401
from mlcraft.cli import models as _models  # noqa: E402,F401
from mlcraft.cli import monitor as _monitor  # noqa: E402,F401
from mlcraft.cli import predict as _predict  # noqa: E402,F401
from mlcraft.cli import report as _report  # noqa: E402,F401
from mlcraft.cli import retrain as _retrain  # noqa: E402,F401
from mlcraft.cli import rollback as _rollback  # noqa: E402,F401
from mlcraft.cli import serve as _serve  # noqa: E402,F401
from mlcraft.cli import suggest as _suggest  # noqa: E402,F401

# each module registers its command(s) on import: adding a command is one module plus one line here
from mlcraft.cli import train as _train  # noqa: E402,F401
from mlcraft.cli import tune as _tune  # noqa: E402,F401
from mlcraft.cli.app import app

__all__ = ["app", "main"]


def _version(value: bool) -> None:
    if value:
        from mlcraft import __version__

        typer.echo(f"mlcraft {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """The Machine Learning Project Checklist, automated."""


def main() -> None:
    app()
