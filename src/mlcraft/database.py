"""The project's database: SQLite inside the project (WAL mode) or PostgreSQL (``--db postgresql://...``).

One small layer over the two DB-API drivers (stdlib :mod:`sqlite3`, and ``psycopg`` from the
``[postgres]`` extra) so that the registry and the prediction log run the same SQL on both. Queries
are written with ``?`` placeholders. Write transactions are serialised: ``BEGIN IMMEDIATE`` in
SQLite, a transaction-scoped advisory lock in PostgreSQL, so concurrent writers (a retrain and a
rollback, several server workers) queue instead of interleaving.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mlcraft.exceptions import ConfigError, RegistryError

__all__ = ["Database", "DEFAULT_DB_NAME", "redact"]

DEFAULT_DB_NAME = "mlcraft.db"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 60_000
_LOCK_KEY = 0x6D6C6372  # "mlcr": the advisory lock every PostgreSQL writer takes

# {id} and {float} are filled per dialect
_DDL = [
    """CREATE TABLE IF NOT EXISTS mlcraft_info (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS model_versions (
        version INTEGER PRIMARY KEY, created TEXT NOT NULL, sha256 TEXT NOT NULL, family TEXT,
        metric TEXT, cv_mean {float}, dataset TEXT, meta TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS registry_events (
        id {id}, at TEXT NOT NULL, action TEXT NOT NULL, version INTEGER NOT NULL,
        previous INTEGER, by_user TEXT NOT NULL, reason TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS test_scores (
        id {id}, version INTEGER NOT NULL, dataset TEXT, metric TEXT NOT NULL, value {float} NOT NULL,
        ci_low {float}, ci_high {float}, n INTEGER, at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS requests (
        request_id TEXT PRIMARY KEY, ts {float} NOT NULL, endpoint TEXT NOT NULL, model_version INTEGER,
        n_rows INTEGER NOT NULL, latency_ms {float} NOT NULL, status INTEGER NOT NULL, error TEXT)""",
    """CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts)""",
    """CREATE TABLE IF NOT EXISTS predictions (
        request_id TEXT NOT NULL, row_index INTEGER NOT NULL, ts {float} NOT NULL, model_version INTEGER NOT NULL,
        inputs TEXT NOT NULL, prediction TEXT NOT NULL, proba TEXT, flags TEXT,
        PRIMARY KEY (request_id, row_index))""",
    """CREATE INDEX IF NOT EXISTS predictions_ts ON predictions (ts)""",
    """CREATE TABLE IF NOT EXISTS labels (
        request_id TEXT NOT NULL, row_index INTEGER NOT NULL, label TEXT NOT NULL, received {float} NOT NULL,
        PRIMARY KEY (request_id, row_index))""",
]
_APPEND_ONLY_SQLITE = [
    """CREATE TRIGGER IF NOT EXISTS registry_events_no_update BEFORE UPDATE ON registry_events
       BEGIN SELECT RAISE(ABORT, 'registry_events is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS registry_events_no_delete BEFORE DELETE ON registry_events
       BEGIN SELECT RAISE(ABORT, 'registry_events is append-only'); END""",
]
_APPEND_ONLY_POSTGRES = [
    """CREATE OR REPLACE FUNCTION mlcraft_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'registry_events is append-only'; END $$ LANGUAGE plpgsql""",
    """DROP TRIGGER IF EXISTS registry_events_append_only ON registry_events""",
    """CREATE TRIGGER registry_events_append_only BEFORE UPDATE OR DELETE ON registry_events
       FOR EACH ROW EXECUTE FUNCTION mlcraft_append_only()""",
]


def redact(url: str) -> str:
    """``url`` without its password (for messages and listings)."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}{':***' if ':' in creds else ''}@{host}"


class Database:
    """A connection factory plus the schema, for one project's database.

    Parameters
    ----------
    url : str
        ``sqlite:///ABSOLUTE/PATH``, a plain file path (SQLite), or ``postgresql://user@host:port/db``
        (passwords are best left to ``PGPASSWORD`` or ``~/.pgpass``).

    Examples
    --------
    >>> db = Database("sqlite:////tmp/example.db")  # doctest: +SKIP
    >>> with db.transaction(write=True) as cur:  # doctest: +SKIP
    ...     cur.execute("SELECT COUNT(*) FROM model_versions")
    """

    def __init__(self, url: str | os.PathLike[str]):
        url = str(url)
        if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            self.dialect = "postgresql"
            self.url = url.replace("postgresql+psycopg://", "postgresql://", 1)
            self.path: Path | None = None
        elif url.startswith("sqlite://") or "://" not in url:
            self.dialect = "sqlite"
            raw = url[len("sqlite:///") :] if url.startswith("sqlite:///") else url
            self.path = Path(
                ("/" + raw) if url.startswith("sqlite:///") and not raw.startswith("/") else raw
            )
            self.url = f"sqlite:///{self.path}"
        else:
            raise ConfigError(
                f"--db {redact(url)}: use a PostgreSQL URL (postgresql://user@host/db) or a SQLite file (sqlite:///path/mlcraft.db)"
            )
        self._local = threading.local()
        self._ready = False

    def __repr__(self) -> str:
        return f"Database({redact(self.url)!r})"

    # -- connections -----------------------------------------------------------------------------
    def connect(self, *, synchronous: str = "FULL") -> Any:
        """A new connection (autocommit; use :meth:`transaction` for atomic work)."""
        if self.dialect == "sqlite":
            assert self.path is not None  # every SQLite URL names a file
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={synchronous}")
            return conn
        try:
            import psycopg
        except ImportError:
            raise ConfigError(
                "a PostgreSQL --db needs the psycopg driver: pip install 'mlcraft[postgres]'"
            ) from None
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RegistryError(
                f"cannot connect to {redact(self.url)} ({first}); check that the server runs and the URL is right"
            ) from None

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = self.connect()
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def sql(self, query: str) -> str:
        """``query`` with ``?`` placeholders in this dialect."""
        return query if self.dialect == "sqlite" else query.replace("?", "%s")

    @contextlib.contextmanager
    def transaction(self, *, write: bool = False, conn: Any = None) -> Iterator[Cursor]:
        """A transaction: committed when the block ends, rolled back if it raises.

        ``write=True`` serialises it with every other writer of this database.
        """
        self.ensure_schema()
        with self._transaction(conn or self._connection(), write) as cursor:
            yield cursor

    @contextlib.contextmanager
    def _transaction(self, conn: Any, write: bool) -> Iterator[Cursor]:
        cursor = Cursor(self, conn.cursor())
        try:
            if self.dialect == "sqlite":
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            else:
                conn.execute("BEGIN")
                if write:
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            yield cursor
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):
                conn.execute("ROLLBACK")
            raise

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Rows of one read-only statement."""
        self.ensure_schema()
        cur = self._connection().cursor()
        cur.execute(self.sql(sql), *self.params(params))
        return cur.fetchall()

    def params(self, params: Sequence[Any]) -> tuple:
        """Positional arguments after the SQL: none at all when there are no parameters."""
        return (tuple(params),) if params else ()

    def json_field(self, column: str) -> str:
        """SQL for one key of a JSON text column (the key is a ``?`` parameter)."""
        if self.dialect == "sqlite":
            return f"json_extract({column}, '$.\"' || ? || '\"')"
        return f"(({column})::jsonb ->> ?)"

    # -- schema ----------------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Create the tables on first use (idempotent, safe with concurrent processes)."""
        if self._ready:
            return
        conn = self._connection()
        float_type = "DOUBLE PRECISION"
        ident = (
            "INTEGER PRIMARY KEY AUTOINCREMENT"
            if self.dialect == "sqlite"
            else "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
        )
        statements = [s.format(id=ident, float=float_type) for s in _DDL]
        statements += _APPEND_ONLY_SQLITE if self.dialect == "sqlite" else _APPEND_ONLY_POSTGRES
        with self._transaction(conn, write=True) as cur:
            if self.dialect == "sqlite":
                cur.execute("SELECT 1 FROM sqlite_master WHERE name = 'mlcraft_info'")
            else:
                cur.execute(
                    "SELECT 1 FROM information_schema.tables WHERE table_name = 'mlcraft_info' AND table_schema = current_schema()"
                )
            exists = cur.fetchone() is not None
            version = None
            if exists:
                cur.execute("SELECT value FROM mlcraft_info WHERE key = 'schema_version'")
                row = cur.fetchone()
                version = int(row[0]) if row else None
            if version is not None and version > SCHEMA_VERSION:
                raise RegistryError(
                    f"{redact(self.url)} was written by a newer mlcraft (schema {version}); upgrade mlcraft"
                )
            if version != SCHEMA_VERSION:
                for statement in statements:
                    cur.execute(statement)
                cur.execute(
                    "INSERT INTO mlcraft_info (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    ("schema_version", str(SCHEMA_VERSION)),
                )
        self._ready = True


class Cursor:
    """A DB-API cursor that accepts ``?`` placeholders in both dialects."""

    def __init__(self, db: Database, cursor: Any):
        self.db, self.raw = db, cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        self.raw.execute(self.db.sql(sql), *self.db.params(params))
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.raw.executemany(self.db.sql(sql), [tuple(r) for r in rows])

    def fetchone(self) -> tuple | None:
        return self.raw.fetchone()

    def fetchall(self) -> list[tuple]:
        return self.raw.fetchall()
