"""`mlcraft serve`: the champion behind an HTTP API (FastAPI + uvicorn, the [serve] extra)."""

from __future__ import annotations

from pathlib import Path

import typer

from mlcraft.cli.app import command, console
from mlcraft.config import MAX_BODY_BYTES, POLL_SECONDS, env_api_key
from mlcraft.exceptions import ConfigError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@command("serve")
def serve(
    project: Path = typer.Option(..., "--project", "-p", help="Project directory."),
    host: str = typer.Option("127.0.0.1", help="Address to bind (127.0.0.1: this machine only)."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, help="Worker processes (each loads the model once)."),
    api_key: str | None = typer.Option(
        None,
        help="Require this key in the X-API-Key header for /predict, /feedback and /admin/* (or set MLCRAFT_API_KEY).",
    ),
    db: str | None = typer.Option(
        None,
        help="Database of the registry and prediction log (default: MLCRAFT_DB, else DIR/mlcraft.db).",
    ),
    max_body_mb: float = typer.Option(
        MAX_BODY_BYTES / 2**20, help="Refuse request bodies larger than this many MiB (413)."
    ),
    log: bool = typer.Option(
        True, "--log/--no-log", help="Append every request to the prediction log."
    ),
    poll: float = typer.Option(
        POLL_SECONDS, help="Seconds between checks of the registry for a new champion."
    ),
) -> None:
    """Serve the champion: POST /predict, POST /feedback, GET /health, GET /model, POST /admin/reload, docs at /docs."""
    try:
        from mlcraft.serve import serve as run_server
    except ImportError:
        raise ConfigError(
            "serving needs FastAPI and uvicorn: pip install 'mlcraft[serve]'"
        ) from None
    if workers < 1:
        raise ConfigError(f"--workers {workers}: use 1 or more")
    key = api_key or env_api_key()
    from mlcraft.api import Project  # here, not at the top: `mlcraft --help` stays light
    from mlcraft.api.serving import ServeSettings

    proj = Project.open(project, db=db)
    version = proj.registry.require_champion()
    settings = ServeSettings(
        str(proj.path),
        db=db,
        api_key=key,
        max_body_bytes=int(max_body_mb * 2**20),
        log=log,
        poll_seconds=poll,
        freeze_heap=True,
    )
    if host not in LOOPBACK and not key:
        console.print(
            f"[yellow]warning[/]: serving on {host} without an API key: anyone who can reach it can predict and reload; use --api-key"
        )
    console.print(
        f"serving model version {version} of {proj.path} on http://{host}:{port} (docs: /docs){' with an API key' if key else ''}"
    )
    run_server(settings, host=host, port=port, workers=workers)
