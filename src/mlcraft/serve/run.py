"""Start uvicorn for the app (one process, or ``workers`` processes sharing the port)."""

from __future__ import annotations

import os

from mlcraft.api.serving import ServeSettings
from mlcraft.config import SERVE_SETTINGS_ENV

__all__ = ["serve"]


def serve(
    settings: ServeSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    log_level: str = "info",
) -> None:
    """Serve until stopped (Ctrl-C or SIGTERM: requests in flight finish, the prediction log is flushed)."""
    import uvicorn

    if workers > 1:
        os.environ[SERVE_SETTINGS_ENV] = (
            settings.to_json()
        )  # each worker process builds its app from it
        uvicorn.run(
            "mlcraft.serve.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
        )
        return
    from mlcraft.serve.app import served_app

    uvicorn.run(served_app(settings), host=host, port=port, log_level=log_level, access_log=False)
