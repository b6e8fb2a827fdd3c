"""Callbacks: what a training run reports while it works (Keras-style no-op hooks).

The CLI renders them with Rich, the run log writes them to a file, Python users can pass their own.
What the hooks receive are typed records: a :class:`TrainStart` (a :class:`SearchStart`,
:class:`ReplayStart` or :class:`TuneStart`), a :class:`Progress` after each batch of trials, a
:class:`Note` (text and :class:`NoteKind`) and a :class:`TrainEnd` (a :class:`SearchEnd`,
:class:`ReplayEnd` or :class:`TuneEnd`).

>>> SearchEnd(best="lightgbm#7", cv=0.8312345678, elapsed_s=59.04, peak_memory_mb=512.4).text()
'best=lightgbm#7 cv=0.831235 elapsed_s=59.0 peak_memory_mb=512'
>>> str(Note("ridge: skipped: would take ~90s, 12s left in the time limit", NoteKind.SKIPPED))
'ridge: skipped: would take ~90s, 12s left in the time limit'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlcraft.core.fit.search import CVResult

__all__ = [
    "Callback",
    "CallbackList",
    "Note",
    "NoteKind",
    "Event",
    "TrainStart",
    "SearchStart",
    "ReplayStart",
    "TuneStart",
    "Progress",
    "TrainEnd",
    "SearchEnd",
    "ReplayEnd",
    "TuneEnd",
]


class NoteKind(StrEnum):
    """What a note is about: the CLI prints notes by their kind, never by their words."""

    INFO = (
        "info"  # about the data or the choice made (a column ignored, a model not chosen and why)
    )
    WARNING = "warning"  # the result may not be what was asked for (slower than the targets, ...)
    SKIPPED = "skipped"  # a trial that was not run (its result says so too, with the same reason)


@dataclass(frozen=True)
class Note:
    """One line of text about the run, and its kind; ``str(note)`` is the text."""

    text: str
    kind: NoteKind = NoteKind.INFO

    def __str__(self) -> str:
        return self.text


def _shown(format_spec: str):
    """A field written with ``format_spec`` in :meth:`Event.text` (the run log's ``k=v`` pairs)."""
    return field(metadata={"format": format_spec})


@dataclass(frozen=True)
class Event:
    """A record a hook receives; :meth:`text` is how the run log writes it."""

    def text(self) -> str:
        """``name=value`` for each field, in order (numbers as each field's format says)."""
        return " ".join(
            f"{f.name}={format(getattr(self, f.name), f.metadata.get('format', ''))}"
            for f in fields(self)
        )


@dataclass(frozen=True)
class TrainStart(Event):
    """A run starts: a search, a replay or an explicit tuning of one family."""

    run: str


@dataclass(frozen=True)
class SearchStart(TrainStart):
    """``mlcraft train``: the search over the families starts."""

    rows: int
    folds: int
    metric: str
    time_limit: float | None
    max_trials: int | None
    n_jobs: int


@dataclass(frozen=True)
class ReplayStart(TrainStart):
    """``mlcraft train --replay``: an earlier run's final model is rebuilt."""

    replay_of: str
    rows: int
    n_jobs: int


@dataclass(frozen=True)
class TuneStart(TrainStart):
    """``mlcraft tune``: an explicit search over one family starts."""

    tune: str
    strategy: str
    trials: int
    n_jobs: int


@dataclass(frozen=True)
class Progress(Event):
    """After each batch of trials: trials run, the best CV score so far and its trial, the family
    that had the batch's last trial, and the seconds left (None without a time limit)."""

    trials: int
    best: float | None
    best_model: str | None
    family: str
    time_left: float | None


@dataclass(frozen=True)
class TrainEnd(Event):
    """A run ends."""


@dataclass(frozen=True)
class SearchEnd(TrainEnd):
    """The search's champion, its CV score, the seconds the run took and its peak memory (MB)."""

    best: str
    cv: float = _shown(".6g")
    elapsed_s: float = _shown(".1f")
    peak_memory_mb: float = _shown(".0f")


@dataclass(frozen=True)
class ReplayEnd(TrainEnd):
    """The model that was rebuilt, and the seconds the replay took."""

    replayed: str
    elapsed_s: float = _shown(".1f")


@dataclass(frozen=True)
class TuneEnd(TrainEnd):
    """The best trial of an explicit search, and its CV score."""

    best: str
    cv: float = _shown(".6g")


class Callback:
    """Override the hooks you need; each is a no-op by default."""

    def on_train_start(self, info: TrainStart) -> None: ...

    def on_candidate_start(self, name: str, estimated_seconds: float | None) -> None: ...

    def on_fold_end(self, name: str, fold: int, n_folds: int) -> None: ...

    def on_candidate_end(self, result: CVResult) -> None: ...

    def on_note(self, note: Note) -> None: ...

    def on_progress(self, info: Progress) -> None:
        """Search progress: ``trials`` done, ``best`` score so far, current ``family``, ``time_left`` (s or None)."""

    def on_refit_start(self, name: str) -> None: ...

    def on_train_end(self, summary: TrainEnd) -> None: ...


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
