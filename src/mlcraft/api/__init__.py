"""The Python API: the :class:`Project` facade over the checklist (the CLI and server call only this)."""

from typing import TYPE_CHECKING

from mlcraft.core.fit.events import (
    Callback,
    Note,
    NoteKind,
    Progress,
    ReplayEnd,
    ReplayStart,
    SearchEnd,
    SearchStart,
    TrainEnd,
    TrainStart,
    TuneEnd,
    TuneStart,
)
from mlcraft.core.fit.status import BASELINE, Stage, TrialStatus

if TYPE_CHECKING:
    from mlcraft.api.project import Project
    from mlcraft.api.train import TrainResult

__all__ = [
    "Project",
    "TrainResult",
    "Callback",
    "TrialStatus",
    "Stage",
    "Note",
    "NoteKind",
    "TrainStart",
    "SearchStart",
    "ReplayStart",
    "TuneStart",
    "Progress",
    "TrainEnd",
    "SearchEnd",
    "ReplayEnd",
    "TuneEnd",
    "BASELINE",
]


def __getattr__(name: str):
    # `mlcraft --help` imports the CLI, which imports this package: the facade (pandas, scikit-learn)
    # loads on first use
    if name == "Project":
        from mlcraft.api.project import Project

        return Project
    if name == "TrainResult":
        from mlcraft.api.train import TrainResult

        return TrainResult
    raise AttributeError(f"module 'mlcraft.api' has no attribute {name!r}")
