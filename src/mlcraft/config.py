"""Project settings: one frozen dataclass, stored as ``mlcraft.toml``.

Every default lives here (or in a signature), nowhere else. "Unset" is ``None``. This module is also
the one reader of ``MLCRAFT_*`` environment variables.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlcraft.exceptions import ConfigError, ProjectError

__all__ = [
    "ProjectConfig",
    "check_test_size",
    "SEED",
    "TIME_LIMIT_S",
    "TEST_SIZE",
    "N_FOLDS",
    "MONITOR_SINCE",
    "TUNE_STRATEGY",
    "TUNE_TRIALS",
    "DEMO_TIME_LIMIT_S",
    "MAX_BODY_BYTES",
    "POLL_SECONDS",
    "resolve_budget",
    "load_config",
    "dump_config",
    "env_n_jobs",
    "env_db",
    "env_api_key",
    "env_serve_settings",
    "SERVE_SETTINGS_ENV",
    "IN_MEMORY_SHARE",
    "env_in_memory_limit",
    "parse_bytes",
]


def check_test_size(value: float, where: str = "--test-size") -> float:
    """The share of rows set aside as the test set: 0 <= test size < 1 (0 for none).

    ``where`` names the setting the value came from (an option, or a key of mlcraft.toml).
    """
    if not 0.0 <= value < 1.0:  # NaN fails too
        raise ConfigError(
            f"test size {value} ({where}) is outside the allowed range 0 <= test size < 1: it is the share of rows "
            "set aside as the test set; use e.g. 0.2, or 0 for no test set"
        )
    return value


# the defaults of a new project (ProjectConfig's fields, Project.create's signature and the CLI's help use these)
SEED = 42
TIME_LIMIT_S = 300.0  # seconds for `train`, start-up, final refit and saving included
TEST_SIZE = 0.2
N_FOLDS = 5
MONITOR_SINCE = "7d"  # how far back `monitor` looks by default
TUNE_STRATEGY = "bayes"  # `mlcraft tune`'s default search strategy
TUNE_TRIALS = 20  # and number of configurations tried
DEMO_TIME_LIMIT_S = 40.0  # seconds of training per demo dataset

# section name -> fields stored in it (the file stays readable; the dataclass stays flat)
_SECTIONS: dict[str, tuple[str, ...]] = {
    "framing": (
        "target",
        "task",
        "metric",
        "positive_class",
        "objective",
        "labels",
        "contamination",
        "dims",
        "clusters",
        "semi_supervised",
    ),
    "forecast": ("time", "series_id", "horizon", "frequency", "season", "known", "country"),
    "data": ("source", "dataset", "test_source", "test_dataset"),
    "roles": ("id_column", "categorical", "drop"),
    "split": ("split_method", "test_size", "stratify_on"),
    "train": ("seed", "time_limit", "max_trials", "n_folds"),
}


@dataclass(frozen=True)
class ProjectConfig:
    """All that is needed to re-run a project.

    Parameters
    ----------
    target : str or None
        Column to predict; None for a kind without one (clustering).
    task : str
        The name of a registered kind of problem (:func:`mlcraft.tasks.get_kind` checks it).
    metric : str
        Canonical metric name (see :mod:`mlcraft.core.analysis.metrics`).
    positive_class : str, int, bool or None
        The class that counts as positive for binary metrics.
    labels : str or None
        A kind without a target: a known labelling (``--labels``), never a feature and never fitted,
        only used to score the result.
    dims : int or None
        ``--task embed``: the number of coordinates of the embedding (``--dims``), resolved when
        the problem is framed (omitted: the PCA components that keep 95% of the variance).
    clusters : int or None
        ``--task cluster``: the number of clusters asked for (``--clusters``); families that find
        their own number (DBSCAN, HDBSCAN, mean shift...) are left out. None: chosen by the search.
    contamination : float or None
        Anomaly detection: the share of training rows flagged (``--contamination``); None: estimated
        from the training rows' scores (``auto``, see :mod:`mlcraft.models.anomaly`).
    time, series_id, horizon, frequency, season
        ``--task forecast``: the time column (``--time``), the columns naming each series
        (``--series-id``; None: one series), how many steps to forecast (``--horizon``), the
        pandas frequency alias (``--frequency``; inferred when the problem is framed) and the
        values per cycle that follows from it (``season``).
    known : tuple of str or None
        ``--task forecast``: covariates known in the future (``--known``: calendar events,
        promotions), given for the horizon at predict time; the other covariates are static per
        series (constant within each) or past-only.
    semi_supervised : bool
        A classification target may have missing labels (``--semi-supervised``): those rows stay in
        the training data, are never tested or scored, and only the semi-supervised families fit them.
    objective : str or None
        The objective in the user's own words (``--objective``), shown by explore and report; None:
        they show a generated sentence instead, and say so. Older ``mlcraft.toml`` files have none.
    source : str
        Where the data came from (a path, or ``"<DataFrame>"``).
    dataset : str
        Content hash of the stored dataset version (``data/<hash>.parquet``).
    test_source, test_dataset : str or None
        A separate test set brought by the user (``--test-data``), if any.
    id_column : str or None
        Identifier column: never a feature; decides the stable test split.
    categorical, drop : tuple of str
        Role overrides given by the user.
    split_method : {"hash", "stratified", "random", "external", "none"}
    test_size : float
        Share of rows set aside as the test set (0 allowed).
    stratify_on : str or None
        Column whose quantile bins stratify the split (the book's ``income_cat``).
    seed : int
    time_limit : float or None
        Seconds for ``train`` (None: no limit, ``max_trials`` fixes the work).
    max_trials : int or None
        Fixed amount of work instead of a time limit (reproducible runs).
    n_folds : int
        Cross-validation folds.
    """

    target: str | None
    task: str
    metric: str
    source: str
    dataset: str
    positive_class: str | int | bool | None = None
    objective: str | None = None
    labels: str | None = None
    dims: int | None = None
    clusters: int | None = None
    contamination: float | None = None
    time: str | None = None
    series_id: tuple[str, ...] | None = None
    horizon: int | None = None
    frequency: str | None = None
    season: int | None = None
    known: tuple[str, ...] | None = None
    country: str | None = None
    semi_supervised: bool = False
    test_source: str | None = None
    test_dataset: str | None = None
    id_column: str | None = None
    categorical: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    split_method: str = "stratified"
    test_size: float = TEST_SIZE
    stratify_on: str | None = None
    seed: int = SEED
    time_limit: float | None = TIME_LIMIT_S
    max_trials: int | None = None
    n_folds: int = N_FOLDS
    extra: dict[str, Any] = field(default_factory=dict)  # sections owned by later features

    def __post_init__(self) -> None:
        check_test_size(self.test_size, "test_size in mlcraft.toml [split]")
        if self.n_folds < 2:
            raise ConfigError(f"n_folds={self.n_folds}: cross-validation needs at least 2 folds")
        if self.dims is not None and (
            isinstance(self.dims, bool) or not isinstance(self.dims, int) or self.dims < 1
        ):
            raise ConfigError(
                f"--dims {self.dims!r}: give a whole number of coordinates, at least 1"
            )
        if self.clusters is not None and (
            isinstance(self.clusters, bool)
            or not isinstance(self.clusters, int)
            or self.clusters < 2
        ):
            raise ConfigError(
                f"--clusters {self.clusters!r}: give a whole number of clusters, at least 2"
            )
        if self.time_limit is not None and self.time_limit <= 0:
            raise ConfigError(f"time limit {self.time_limit} must be positive (seconds)")
        if self.max_trials is not None and self.max_trials < 1:
            raise ConfigError(f"max trials {self.max_trials} must be at least 1")
        if self.objective is not None and (
            not isinstance(self.objective, str) or not self.objective.strip()
        ):
            raise ConfigError(
                f'objective {self.objective!r} is empty or not text: describe the goal in a few words, e.g. --objective "price districts for investment", or leave it out'
            )

    def replace(self, **changes: Any) -> ProjectConfig:
        return dataclasses.replace(self, **changes)

    def to_toml_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        for section, names in _SECTIONS.items():
            table = {}
            for name in names:
                value = getattr(self, name)
                if value is None:
                    continue  # TOML has no null: unset keys are left out
                table[name] = list(value) if isinstance(value, tuple) else value
            doc[section] = table
        for section, table in self.extra.items():
            doc[section] = table
        return doc

    @classmethod
    def from_toml_dict(cls, doc: dict[str, Any]) -> ProjectConfig:
        flat: dict[str, Any] = {}
        extra = {}
        known = set(_SECTIONS)
        for section, table in doc.items():
            if section in known:
                flat.update(table)
            else:
                extra[section] = table
        for name in ("categorical", "drop", "series_id", "known"):
            if name in flat:
                flat[name] = tuple(flat[name])
        flat.setdefault("target", None)  # stored unset: a kind without a target
        if "time_limit" not in flat:
            flat["time_limit"] = None  # stored unset: fixed-work mode
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(flat) - names
        if unknown:
            raise ConfigError(f"mlcraft.toml: unknown setting(s) {', '.join(sorted(unknown))}")
        try:
            return cls(**flat, extra=extra)
        except TypeError as exc:
            raise ConfigError(f"mlcraft.toml is incomplete: {exc}") from None


def resolve_budget(
    time_limit: float | None, max_trials: int | None, stored: ProjectConfig | None = None
) -> tuple[float | None, int | None]:
    """The budget of a run, ``(time_limit, max_trials)``, from what the user gave (None: not given).

    The one place this is decided (``train``, ``retrain``, the facade and the CLI call it):

    - either given: as given; ``max_trials`` alone means fixed work and no time limit (reproducible);
    - neither: the project's stored settings (``stored``), or for a new project :data:`TIME_LIMIT_S`.

    >>> resolve_budget(None, None), resolve_budget(None, 10), resolve_budget(60.0, None)
    ((300.0, None), (None, 10), (60.0, None))
    """
    if time_limit is not None or max_trials is not None:
        return time_limit, max_trials
    if stored is not None:
        return stored.time_limit, stored.max_trials
    return TIME_LIMIT_S, None


def dump_config(config: ProjectConfig) -> str:
    import tomli_w

    header = "# mlcraft project settings: all that is needed to re-run this project.\n"
    return header + tomli_w.dumps(config.to_toml_dict())


def load_config(path: str | os.PathLike[str]) -> ProjectConfig:
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise ProjectError(
            f"{path.parent} is not an mlcraft project (no mlcraft.toml): run `mlcraft train DATA --target COL --project {path.parent}` first"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix or restore the file") from None
    return ProjectConfig.from_toml_dict(doc)


def env_n_jobs() -> int | None:
    """``MLCRAFT_N_JOBS``: default number of parallel workers (unset: all cores)."""
    raw = os.environ.get("MLCRAFT_N_JOBS")
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"MLCRAFT_N_JOBS={raw!r} is not an integer") from None
    if value == 0:
        raise ConfigError("MLCRAFT_N_JOBS=0: use a positive number of workers, or -1 for all cores")
    return value


def env_db() -> str | None:
    """``MLCRAFT_DB``: the project database URL (e.g. ``postgresql://user@host/db``); unset: SQLite in the project."""
    return os.environ.get("MLCRAFT_DB") or None


def env_api_key() -> str | None:
    """``MLCRAFT_API_KEY``: the key ``mlcraft serve`` requires for /predict and /admin (unset: none)."""
    return os.environ.get("MLCRAFT_API_KEY") or None


SERVE_SETTINGS_ENV = "MLCRAFT_SERVE_SETTINGS"
MAX_BODY_BYTES = 10 * 1024 * 1024  # request bodies above this are refused (413)
POLL_SECONDS = 2.0  # how often a server checks the registry for a new champion


def env_serve_settings() -> str | None:
    """``MLCRAFT_SERVE_SETTINGS``: how `mlcraft serve` hands its settings (JSON) to each worker process."""
    return os.environ.get(SERVE_SETTINGS_ENV) or None


# data larger than this share of the machine's memory (estimated in memory) is streamed, not loaded:
# a training run holds several copies of its table (loaded, checked, prepared, per fold)
IN_MEMORY_SHARE = 0.125
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
_UNITS |= {"K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_UNITS |= {"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_bytes(raw: str, where: str) -> int:
    """``"200MB"``, ``"1.5GB"``, ``"4GiB"`` or a plain number of bytes, as bytes.

    >>> parse_bytes("200MB", "x"), parse_bytes("2GiB", "x"), parse_bytes("1000", "x")
    (200000000, 2147483648, 1000)
    """
    text = raw.strip().upper().replace(" ", "")
    number = text.rstrip("KMGTIB")
    unit = text[len(number) :]
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if unit not in _UNITS or not value > 0:
        raise ConfigError(
            f"{where}={raw!r} is not a size; give a positive number of bytes with an optional unit, e.g. 200MB or 2GB"
        )
    return int(value * _UNITS[unit])


def env_in_memory_limit() -> int | None:
    """``MLCRAFT_IN_MEMORY_LIMIT``: tables estimated larger than this in memory are streamed (e.g.
    ``200MB``); unset: :data:`IN_MEMORY_SHARE` of the machine's memory."""
    raw = os.environ.get("MLCRAFT_IN_MEMORY_LIMIT")
    if raw is None or raw == "":
        return None
    return parse_bytes(raw, "MLCRAFT_IN_MEMORY_LIMIT")
