"""Callbacks: what a training run reports while it works (Keras-style no-op hooks).

The CLI renders them with Rich, the run log writes them to a file, Python users can pass their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["Callback", "CallbackList"]


class Callback:
    """Override the hooks you need; each is a no-op by default."""

    def on_train_start(self, info: dict[str, Any]) -> None: ...

    def on_candidate_start(self, name: str, estimated_seconds: float | None) -> None: ...

    def on_fold_end(self, name: str, fold: int, n_folds: int) -> None: ...

    def on_candidate_end(self, result: Any) -> None: ...

    def on_note(self, message: str) -> None: ...

    def on_progress(self, info: dict[str, Any]) -> None:
        """Search progress: ``trials`` done, ``best`` score so far, current ``family``, ``time_left`` (s or None)."""

    def on_refit_start(self, name: str) -> None: ...

    def on_train_end(self, summary: dict[str, Any]) -> None: ...


class CallbackList(Callback):
    """Dispatch every hook to several callbacks, in order."""

    def __init__(self, callbacks: Iterable[Callback] = ()):
        self.callbacks = [c for c in callbacks if c is not None]

    def __getattribute__(self, name: str):
        if name.startswith("on_"):
            def dispatch(*args, **kwargs):
                for cb in object.__getattribute__(self, "callbacks"):
                    getattr(cb, name)(*args, **kwargs)

            return dispatch
        return object.__getattribute__(self, name)
