"""One thread for small batches: a cached thread-pool limit shared by every prediction path."""

from __future__ import annotations

from typing import Any

__all__ = ["one_thread", "MULTITHREAD_ROWS"]

MULTITHREAD_ROWS = (
    100_000  # below this, predictions run on one thread (faster, and steady under load)
)
_CONTROLLER: Any = None


def one_thread():
    """A cached threadpool limit (creating one per call would cost milliseconds)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1)
