"""The prediction log: every request's inputs, outputs, model version, latency and request id.

:class:`PredictionLog` reads and writes the log tables of the project's database.
:class:`LogWriter` is what a server uses: ``submit`` only puts the record on a bounded queue (it never
waits); a background thread serialises records to JSON and writes them in batches, one transaction
per batch. When the queue is full the record is dropped and counted, never the prediction.
``close`` drains the queue, so a server stopped with SIGTERM or Ctrl-C loses no acknowledged request.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlcraft import jsonsafe
from mlcraft.database import Database

__all__ = [
    "RequestRecord",
    "PredictionLog",
    "LogWriter",
    "LOG_QUEUE_SIZE",
    "LOG_BATCH_SIZE",
    "LOG_FLUSH_SECONDS",
]

LOG_QUEUE_SIZE = 10_000  # requests waiting to be written
LOG_BATCH_SIZE = 256  # requests per transaction
LOG_FLUSH_SECONDS = 0.05  # the longest a record waits for its batch to fill
_RETRIES = 5


@dataclass
class RequestRecord:
    """One request as the server saw it. ``inputs`` are the records received (dicts), or None."""

    request_id: str
    ts: float
    endpoint: str
    model_version: int | None
    latency_ms: float
    status: int
    error: str | None = None
    inputs: Iterable[dict[str, Any]] | None = None  # iterated once, by the writer
    predictions: Sequence[Any] | None = None
    proba: Sequence[dict[str, float]] | None = None
    flags: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return 0 if self.predictions is None else len(self.predictions)


_PLAIN = frozenset({str, int, float, bool, type(None)})


def _dumps(value: Any) -> str:
    """``value`` (a record, a prediction or a label) as JSON text: each value one JSON scalar
    (:func:`mlcraft.jsonsafe.scalar`: NumPy scalars as numbers, NaN and infinities as null, anything
    else that is not a plain JSON scalar as its string)."""
    if isinstance(value, dict):
        if all(
            type(k) is str and type(v) in _PLAIN for k, v in value.items()
        ):  # a JSON body's record: as it is
            try:
                return json.dumps(value, allow_nan=False)
            except ValueError:  # NaN or an infinity: null, below
                pass
        return json.dumps({str(k): jsonsafe.scalar(v) for k, v in value.items()})
    return json.dumps(jsonsafe.scalar(value))


class PredictionLog:
    """The log tables of one project database."""

    def __init__(self, db: Database):
        self.db = db

    # -- writing ---------------------------------------------------------------------------------
    def write(self, records: Iterable[RequestRecord], conn: Any = None) -> int:
        """Write ``records`` in one transaction; returns the number of requests written."""
        requests, rows = [], []
        for rec in records:
            requests.append(
                (
                    rec.request_id,
                    rec.ts,
                    rec.endpoint,
                    rec.model_version,
                    rec.n_rows,
                    rec.latency_ms,
                    rec.status,
                    rec.error,
                )
            )
            if rec.predictions is None or rec.inputs is None:
                continue
            for i, (inputs, pred) in enumerate(zip(rec.inputs, rec.predictions)):
                proba = None if rec.proba is None else _dumps(rec.proba[i])
                flags = jsonsafe.dumps(rec.flags[i]) if i in rec.flags else None
                rows.append(
                    (
                        rec.request_id,
                        i,
                        rec.ts,
                        rec.model_version,
                        _dumps(inputs),
                        _dumps(pred),
                        proba,
                        flags,
                    )
                )
        with self.db.transaction(write=True, conn=conn) as cur:
            cur.executemany(
                "INSERT INTO requests (request_id, ts, endpoint, model_version, n_rows, latency_ms, status, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                requests,
            )
            cur.executemany(
                "INSERT INTO predictions (request_id, row_index, ts, model_version, inputs, prediction, proba, flags) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return len(requests)

    def add_labels(self, labels: Sequence[tuple[str, int, Any]]) -> None:
        """Attach ground truth to logged rows: ``(request_id, row_index, label)``; a later label wins."""
        now = time.time()
        with self.db.transaction(write=True) as cur:
            cur.executemany(
                "INSERT INTO labels (request_id, row_index, label, received) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (request_id, row_index) DO UPDATE SET label = excluded.label, received = excluded.received",
                [(rid, int(i), _dumps(label), now) for rid, i, label in labels],
            )

    # -- reading ---------------------------------------------------------------------------------
    def logged_rows(self, pairs: Sequence[tuple[str, int]]) -> set[tuple[str, int]]:
        """Which ``(request_id, row_index)`` pairs are in the log."""
        found: set[tuple[str, int]] = set()
        ids = sorted({rid for rid, _ in pairs})
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for rid, i in self.db.query(
                f"SELECT request_id, row_index FROM predictions WHERE request_id IN ({marks})",
                chunk,
            ):
                found.add((rid, int(i)))
        return found

    def rows_with_key(self, column: str, values: Sequence[str]) -> list[tuple[str, int, str]]:
        """Logged rows whose input ``column`` has one of ``values`` (compared as text)."""
        out = []
        field_sql = self.db.json_field("inputs")
        for start in range(0, len(values), 500):
            chunk = list(values[start : start + 500])
            marks = ", ".join("?" * len(chunk))
            sql = f"SELECT request_id, row_index, CAST({field_sql} AS TEXT) FROM predictions WHERE CAST({field_sql} AS TEXT) IN ({marks})"
            out += [(r, int(i), v) for r, i, v in self.db.query(sql, [column, column, *chunk])]
        return out

    def predictions(
        self, since: float, until: float | None = None, limit: int | None = None
    ) -> list[tuple]:
        """``(ts, model_version, inputs, prediction, proba, flags, label)`` rows, newest last."""
        sql = (
            "SELECT p.ts, p.model_version, p.inputs, p.prediction, p.proba, p.flags, l.label FROM predictions p "
            "LEFT JOIN labels l ON l.request_id = p.request_id AND l.row_index = p.row_index WHERE p.ts >= ?"
        )
        params: list[Any] = [since]
        if until is not None:
            sql += " AND p.ts < ?"
            params.append(until)
        sql += " ORDER BY p.ts DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return list(reversed(self.db.query(sql, params)))

    def requests(self, since: float, until: float | None = None) -> list[tuple]:
        """``(ts, endpoint, model_version, n_rows, latency_ms, status)`` of requests since ``since``."""
        sql = "SELECT ts, endpoint, model_version, n_rows, latency_ms, status FROM requests WHERE ts >= ?"
        params: list[Any] = [since]
        if until is not None:
            sql += " AND ts < ?"
            params.append(until)
        return self.db.query(sql + " ORDER BY ts", params)

    def request_ids(self) -> set[str]:
        return {r[0] for r in self.db.query("SELECT request_id FROM requests")}


class LogWriter:
    """Batched, non-blocking writes of :class:`RequestRecord` s from a background thread.

    Parameters
    ----------
    log : PredictionLog
    max_queue : int
        Requests that may wait; beyond that ``submit`` drops the record and counts it.
    batch_size : int
        Requests per transaction.
    flush_seconds : float
        The longest a record waits for a batch to fill.
    """

    def __init__(
        self,
        log: PredictionLog,
        *,
        max_queue: int = LOG_QUEUE_SIZE,
        batch_size: int = LOG_BATCH_SIZE,
        flush_seconds: float = LOG_FLUSH_SECONDS,
    ):
        self.log = log
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()
        self._stop = object()
        self.submitted = self.dropped = self.written = self.failed = 0
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="mlcraft-log-writer", daemon=True)
        self._started = False

    def start(self) -> LogWriter:
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    def submit(self, record: RequestRecord) -> bool:
        """Queue ``record`` without waiting; False (and counted) if the queue is full."""
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            with self._lock:
                self.dropped += 1
            return False
        with self._lock:
            self.submitted += 1
        return True

    def stats(self) -> dict[str, Any]:
        return {
            "queued": self._queue.qsize(),
            "submitted": self.submitted,
            "written": self.written,
            "dropped": self.dropped,
            "failed": self.failed,
            "last_error": self.last_error,
        }

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is written (True) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                done = self.written + self.failed >= self.submitted
            if done:
                return True
            time.sleep(0.005)
        return False

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the thread."""
        if not self._started:
            return
        try:
            self._queue.put(self._stop, timeout=timeout)
        except queue.Full:
            pass
        self._thread.join(timeout)

    def _run(self) -> None:
        conn = self.log.db.connect(synchronous="NORMAL")
        try:
            stopping = False
            while not stopping:
                first = self._queue.get()
                if first is self._stop:
                    break
                batch = [first]
                stopping = self._take(batch)
                if not stopping and len(batch) < self.batch_size:
                    # Let a short batch gather while asleep, then take what came: waking for each
                    # record would take the interpreter lock from the serving thread once per request.
                    time.sleep(self.flush_seconds)
                    stopping = self._take(batch)
                self._write(conn, batch)
        finally:
            conn.close()

    def _take(self, batch: list[RequestRecord]) -> bool:
        """Add what is queued to ``batch`` (up to the batch size); True if the stop sign came."""
        while len(batch) < self.batch_size:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False
            if item is self._stop:
                return True
            batch.append(item)
        return False

    def _write(self, conn: Any, batch: list[RequestRecord]) -> None:
        for attempt in range(_RETRIES):
            try:
                self.log.write(batch, conn=conn)
            except Exception as exc:  # a locked or unreachable database must not kill the thread
                self.last_error = f"{type(exc).__name__}: {exc}"
                time.sleep(min(0.05 * 2**attempt, 1.0))
                continue
            with self._lock:
                self.written += len(batch)
            return
        with self._lock:
            self.failed += len(batch)
