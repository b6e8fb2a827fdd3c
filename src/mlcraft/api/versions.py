"""The registry as a user sees it: list versions and history, roll back, "which model answered when"."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from mlcraft.api.train import _user

if TYPE_CHECKING:
    from mlcraft.api.project import Project

__all__ = ["ModelList", "Rollback", "list_models", "rollback", "champion_at"]


@dataclass(frozen=True)
class ModelList:
    """The registry as listed by ``mlcraft models``.

    The records stay dicts: they are the free-form metadata stored with each version.

    Attributes
    ----------
    champion : the version serving now (None before the first training).
    versions : every version's record, oldest first: its metadata (``version``, ``created``,
        ``family``, ``cv_mean``, ``dataset``, ``gate``...) and ``test``, its latest test score
        (``value``, ``ci_low``, ``ci_high``...) or None.
    history : every promotion and rollback, oldest first (``id``, ``at``, ``action``,
        ``version``, ``previous``, ``by``, ``reason``).
    """

    champion: int | None
    versions: list[dict[str, Any]]
    history: list[dict[str, Any]]

    def version(self, number: int) -> dict[str, Any]:
        """The record of version ``number`` (KeyError if there is none)."""
        for record in self.versions:
            if record.get("version") == number:
                return record
        raise KeyError(number)

    def to_dict(self) -> dict[str, Any]:
        """``{"champion", "versions", "history"}``, as ``mlcraft models --json`` prints it."""
        return asdict(self)


@dataclass(frozen=True)
class Rollback:
    """A rollback, as recorded in the history.

    Attributes
    ----------
    previous : the champion before the rollback.
    champion : the champion now.
    history : the recorded history event (a dict: ``id``, ``at``, ``action``, ``version``,
        ``previous``, ``by``, ``reason``).
    """

    previous: int | None
    champion: int
    history: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """``{"previous", "champion", "history"}``."""
        return asdict(self)


def list_models(project: Project) -> ModelList:
    """Every version (metadata, CV and latest test score), the champion and the history."""
    registry = project.registry
    return ModelList(
        champion=registry.champion(),
        versions=registry.records(),
        history=registry.history(),
    )


def rollback(project: Project, to: int | None = None, *, reason: str | None = None) -> Rollback:
    """Make an earlier version champion again (default: the previous champion); recorded in the history.

    Serialised with training, retraining and other rollbacks by the project lock and the database.
    A running server picks the change up at its next poll.
    """
    registry = project.registry
    with project.workspace.lock():
        before = registry.champion()
        version = registry.rollback(to, by=_user(), reason=reason)
    return Rollback(previous=before, champion=version, history=registry.history()[-1])


def champion_at(project: Project, when: str | dt.datetime) -> int | None:
    """The version that was champion at ``when`` (None if there was none yet)."""
    return project.registry.champion_at(when)
