"""The project directory: where everything about one ML project lives.

::

    DIR/mlcraft.toml            settings: all that is needed to re-run
    DIR/data/<hash>.parquet     each dataset version, stored once, named by content hash
    DIR/data/<hash>.json        where it came from, rows, columns, when
                                (Parquet data larger than memory: <hash>.parquet is a seeded sample,
                                and the JSON's "reference" names the whole data and its fingerprint)
    DIR/split/<hash>.parquet    the test-split assignment of that version (is_test per row)
    DIR/schema.json             column roles inferred on the training rows
    DIR/runs/<id>/              leaderboard, CV scores per fold, out-of-fold predictions, chosen pipeline, log
    DIR/models/<version>/       fitted model + metadata (see :mod:`mlcraft.registry`)
    DIR/evaluations/            test-set evaluations, and the record of each look at the test set

Every write is atomic; temporaries left by a crash start with ``.tmp-`` and are never read.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from mlcraft import atomic
from mlcraft.config import ProjectConfig, dump_config, load_config
from mlcraft.core.data.schema import Schema
from mlcraft.exceptions import DataError, ProjectError

__all__ = ["Workspace", "now_iso", "read_parquet"]

CONFIG_NAME = "mlcraft.toml"
STALE_AFTER_S = 3600.0  # a temporary untouched this long was left by a crash


def read_parquet(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a Parquet file with pyarrow (often several times faster than ``pd.read_parquet``)."""
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pandas()


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Workspace:
    """Paths and storage of one project directory."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    # -- layout ----------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def split_dir(self) -> Path:
        return self.root / "split"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def evaluations_dir(self) -> Path:
        return self.root / "evaluations"

    @property
    def schema_path(self) -> Path:
        return self.root / "schema.json"

    def exists(self) -> bool:
        return self.config_path.is_file()

    def check(self) -> None:
        if not self.root.exists():
            raise ProjectError(
                f"{self.root}: no such project; create it with `mlcraft train DATA --target COL --project {self.root}`"
            )
        if not self.exists():
            raise ProjectError(
                f"{self.root}: not an mlcraft project (no {CONFIG_NAME}); create it with `mlcraft train DATA --target COL --project {self.root}`"
            )

    # -- settings and schema -----------------------------------------------------------------------
    def read_config(self) -> ProjectConfig:
        return load_config(self.config_path)

    def write_config(self, config: ProjectConfig, root: Path | None = None) -> None:
        atomic.write_text((root or self.root) / CONFIG_NAME, dump_config(config))

    def read_schema(self) -> Schema:
        return Schema.from_dict(atomic.read_json(self.schema_path))

    def write_schema(self, schema: Schema, root: Path | None = None) -> None:
        atomic.write_json((root or self.root) / "schema.json", schema.to_dict())

    # -- datasets --------------------------------------------------------------------------------
    def store_dataset(
        self, frame: pd.DataFrame, digest: str, info: dict, root: Path | None = None
    ) -> None:
        """Store a dataset version once (an existing version is never overwritten)."""
        base = (root or self.root) / "data"
        path = base / f"{digest}.parquet"
        if path.exists():
            return
        try:
            with atomic.atomic_path(path) as tmp:
                frame.to_parquet(tmp, index=False)
        except (ValueError, TypeError, ImportError) as exc:
            raise DataError(
                f"cannot store the data as Parquet ({exc}); check for columns of mixed types"
            ) from None
        atomic.write_json(
            base / f"{digest}.json",
            {
                **info,
                "hash": digest,
                "rows": len(frame),
                "columns": list(map(str, frame.columns)),
                "stored": now_iso(),
            },
        )

    def dataset_reference(self, digest: str) -> dict | None:
        """Where a dataset version larger than memory lives (path, fingerprint, rows), or None
        for a version stored whole."""
        path = self.data_dir / f"{digest}.json"
        if not path.exists():
            return None
        return atomic.read_json(path).get("reference")

    def open_reference(self, digest: str):
        """The whole data a streamed dataset version refers to, after checking that it is unchanged
        (a :class:`~mlcraft.core.data.stream.ParquetSource`); a :class:`DataError` if it moved or changed.

        A reference, not a copy: copying data larger than memory into the project would double
        its disk use, and reading it again costs the same as reading the copy.
        """
        from mlcraft.core.data import stream

        reference = self.dataset_reference(digest)
        if reference is None:
            raise ProjectError(
                f"{self.root}: dataset version {digest} is stored whole, not referred to"
            )
        where = reference["path"]
        try:
            source = stream.open_source(where)
        except DataError as exc:
            raise DataError(
                f"{exc}; this project's data (dataset {digest}) was read from there: put it back, or create a new project"
            ) from None
        if stream.fingerprint(source) != reference["fingerprint"]:
            raise DataError(
                f"{where} changed since this project was created (its fingerprint is no longer {reference['fingerprint']}); "
                "put the original data back, or create a new --project for the new data"
            )
        return source

    def load_dataset(self, digest: str) -> pd.DataFrame:
        path = self.data_dir / f"{digest}.parquet"
        if not path.exists():
            raise ProjectError(
                f"{self.root}: dataset version {digest} is missing from data/; the project is damaged"
            )
        return read_parquet(path)

    def write_split(self, digest: str, is_test: np.ndarray, root: Path | None = None) -> None:
        path = (root or self.root) / "split" / f"{digest}.parquet"
        with atomic.atomic_path(path) as tmp:
            pd.DataFrame({"is_test": np.asarray(is_test, dtype=bool)}).to_parquet(tmp, index=False)

    def read_split(self, digest: str) -> np.ndarray:
        path = self.split_dir / f"{digest}.parquet"
        if not path.exists():
            raise ProjectError(
                f"{self.root}: the test-split assignment for dataset {digest} is missing; the project is damaged"
            )
        return read_parquet(path)["is_test"].to_numpy(dtype=bool)

    # -- runs and locking ------------------------------------------------------------------------
    def new_run_id(self) -> str:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        return f"{stamp}-{secrets.token_hex(2)}"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def run_ids(self) -> list[str]:
        if not self.runs_dir.is_dir():
            return []
        return sorted(
            p.name for p in self.runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
        )

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Serialise writers of this project (another process waits for the lock)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def clean(self) -> None:
        """Remove temporaries left by an interrupted command.

        Only those untouched for ``STALE_AFTER_S``: a fresh one may be the work of a command running
        now in another process (a server starting while a retrain writes its model, say).
        """
        for directory in (
            self.root,
            self.data_dir,
            self.split_dir,
            self.runs_dir,
            self.models_dir,
            self.evaluations_dir,
        ):
            atomic.remove_stale_temporaries(directory, older_than=STALE_AFTER_S)
