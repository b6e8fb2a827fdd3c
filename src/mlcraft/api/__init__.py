"""The Python API: the :class:`Project` facade over the checklist (the CLI and server call only this)."""

from mlcraft.api.project import Project
from mlcraft.api.train import TrainResult
from mlcraft.core.fit.events import (
    Callback, Note, NoteKind, Progress, ReplayEnd, ReplayStart, SearchEnd, SearchStart, TrainEnd, TrainStart, TuneEnd, TuneStart,
)
from mlcraft.core.fit.status import Stage, TrialStatus

__all__ = [
    "Project", "TrainResult", "Callback", "TrialStatus", "Stage", "Note", "NoteKind", "TrainStart", "SearchStart", "ReplayStart",
    "TuneStart", "Progress", "TrainEnd", "SearchEnd", "ReplayEnd", "TuneEnd",
]
