"""The registry as a user sees it: list versions and history, roll back, "which model answered when"."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from mlcraft.api.train import _user

if TYPE_CHECKING:
    from mlcraft.api.project import Project

__all__ = ["list_models", "rollback", "champion_at"]


def list_models(project: Project) -> dict[str, Any]:
    """Every version (metadata, CV and latest test score), the champion and the history."""
    registry = project.registry
    return {
        "champion": registry.champion(),
        "versions": registry.records(),
        "history": registry.history(),
    }


def rollback(
    project: Project, to: int | None = None, *, reason: str | None = None
) -> dict[str, Any]:
    """Make an earlier version champion again (default: the previous champion); recorded in the history.

    Serialised with training, retraining and other rollbacks by the project lock and the database.
    A running server picks the change up at its next poll.
    """
    registry = project.registry
    with project.workspace.lock():
        before = registry.champion()
        version = registry.rollback(to, by=_user(), reason=reason)
    return {"previous": before, "champion": version, "history": registry.history()[-1]}


def champion_at(project: Project, when: str | dt.datetime) -> int | None:
    """The version that was champion at ``when`` (None if there was none yet)."""
    return project.registry.champion_at(when)
