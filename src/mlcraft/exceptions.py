"""The error hierarchy.

Every error a user can cause is an :class:`MlcraftError`: its message says what is wrong, where, and
what to do. The CLI prints it as one line and exits with code 2; the HTTP layer answers 4xx.
"""

from __future__ import annotations

__all__ = [
    "MlcraftError",
    "DataError",
    "SchemaError",
    "ConfigError",
    "ProjectError",
    "NotFittedError",
    "RegistryError",
    "BudgetError",
    "WriteError",
]


class MlcraftError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""

    exit_code = 2


class DataError(MlcraftError):
    """The data cannot be used as given (unreadable, empty, ragged, non-finite...)."""


class SchemaError(DataError):
    """Input does not match the schema the model was trained on."""


class ConfigError(MlcraftError):
    """An option or a setting is invalid or contradicts the project's settings."""


class ProjectError(MlcraftError):
    """The project directory is missing, already exists, or is not an mlcraft project."""


class NotFittedError(MlcraftError):
    """A step needs a trained model and there is none yet."""


class RegistryError(MlcraftError):
    """The model registry cannot do what was asked (unknown version, corrupt record...)."""


class BudgetError(MlcraftError):
    """The time or memory budget does not allow any candidate to run."""


class WriteError(MlcraftError):
    """A file or directory cannot be written where asked (a folder that refuses new files, a full disk)."""
