"""The model server (`mlcraft serve`): FastAPI + uvicorn, from the ``[serve]`` extra.

Import :func:`create_app` (or run :func:`serve`) only: FastAPI is imported here, never by ``import mlcraft``.
"""

from __future__ import annotations

__all__ = ["create_app", "serve"]


def __getattr__(name: str):
    if name == "create_app":
        from mlcraft.serve.app import create_app

        return create_app
    if name == "serve":
        from mlcraft.serve.run import serve

        return serve
    raise AttributeError(f"module 'mlcraft.serve' has no attribute {name!r}")
