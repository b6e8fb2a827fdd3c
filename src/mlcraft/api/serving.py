"""What a prediction server does, without the HTTP: hold the champion, predict, flag, log, reload.

:class:`ModelService` loads the champion once (from the registry, hash checked) and answers
predictions for parsed request bodies. ``reload`` loads the new version completely, then swaps one
reference: requests in flight finish on the model they started with, none is dropped. ``poll``
reloads when the registry's champion changed (a promotion, a retrain or a rollback).
"""

from __future__ import annotations

import gc
import io
import json
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlcraft.config import MAX_BODY_BYTES, POLL_SECONDS  # the defaults live in config
from mlcraft.core.data.schema import FeatureColumns
from mlcraft.core.predict.batching import LoopBatcher, MicroBatcher
from mlcraft.core.predict.pipeline import FittedModel
from mlcraft.exceptions import DataError
from mlcraft.monitoring import LogWriter, PredictionLog, RequestRecord, input_flags
from mlcraft.monitoring.log import LOG_QUEUE_SIZE

if TYPE_CHECKING:
    from mlcraft.api.project import Project

__all__ = [
    "ServeSettings",
    "ModelService",
    "LoadedModel",
    "PredictResult",
    "Prepared",
    "parse_json_records",
    "new_request_id",
    "record_json_schema",
    "settle_heap",
    "MAX_BODY_BYTES",
    "POLL_SECONDS",
]

NO_PREDICTION = "no_prediction"


@dataclass(frozen=True)
class ServeSettings:
    """Everything ``mlcraft serve`` needs; picklable so that each worker process gets a copy."""

    project: str
    db: str | None = None
    api_key: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    log: bool = True
    log_queue: int = LOG_QUEUE_SIZE
    poll_seconds: float = POLL_SECONDS
    freeze_heap: bool = False  # `mlcraft serve`: see settle_heap

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class LoadedModel:
    version: int
    model: FittedModel
    meta: dict[str, Any]
    loaded_at: float


@dataclass
class Prepared:
    """A request checked against the schema of the model that will answer it."""

    loaded: LoadedModel
    frame: pd.DataFrame | None  # the body as a table (None: records checked without one)
    records: list[dict[str, Any]] | None
    features: pd.DataFrame | FeatureColumns
    notes: list[str]


@dataclass
class PredictResult:
    """The answer to one request, and what goes to the log."""

    body: dict[str, Any]
    record: RequestRecord


def new_request_id() -> str:
    return uuid.uuid4().hex


class ModelService:
    """The served model of one project.

    Examples
    --------
    >>> service = ModelService(Project.open("runs/housing"), ServeSettings("runs/housing"))  # doctest: +SKIP
    >>> service.predict_records([{"longitude": -122.2, ...}], "req-1")["predictions"]  # doctest: +SKIP
    """

    def __init__(self, project: Project, settings: ServeSettings):
        self.project = project
        self.settings = settings
        self.registry = project.registry
        self._swap = threading.Lock()
        self._event_id = -1
        self.current = self._load(None)
        self.started = time.time()
        self.writer: LogWriter | None = None
        self.batcher = MicroBatcher()
        self.loop_batcher = LoopBatcher()
        if settings.log:
            self.writer = LogWriter(
                PredictionLog(self.registry.db), max_queue=settings.log_queue
            ).start()
        if settings.freeze_heap:
            settle_heap()

    # -- the model -------------------------------------------------------------------------------
    def _load(self, version: int | None) -> LoadedModel:
        champion, event_id = self.registry.champion_state()
        if version is None:
            version = champion if champion is not None else self.registry.require_champion()
        model = self.registry.load(version)
        if model.kind.forecasts:  # a forecaster answers from every known row, test rows included
            from mlcraft.api.forecast import read_history

            read_history(model, self.project.dataset())
        model.compiled()  # build (and verify) the fast small-batch path before the first request
        loaded = LoadedModel(version, model, self.registry.meta(version), time.time())
        self._event_id = event_id
        return loaded

    def reload(self, version: int | None = None) -> tuple[int, int]:
        """Load ``version`` (default: the champion now) and swap it in; returns ``(old, new)``."""
        with self._swap:
            old = self.current.version
            loaded = self._load(version)  # loaded completely before the swap
            self.current = loaded
            if self.settings.freeze_heap:
                settle_heap()  # the new model goes into the frozen heap; the old one is collected
            return old, loaded.version

    def poll(self) -> bool:
        """Reload if the registry's champion changed since the last load; True if it did."""
        champion, event_id = self.registry.champion_state()
        if event_id == self._event_id or champion is None:
            return False
        if champion == self.current.version:
            self._event_id = event_id
            return False
        self.reload()
        return True

    def describe(self) -> dict[str, Any]:
        current = self.current
        meta = current.meta
        schema = current.model.schema
        return {
            "version": current.version,
            "champion": self.registry.champion(),
            "family": meta.get("family"),
            "task": current.model.task,
            "target": current.model.target,
            "classes": None
            if current.model.classes is None
            else [_scalar(c) for c in current.model.classes],
            "metric": meta.get("metric"),
            "cv": {"mean": meta.get("cv_mean"), "std": meta.get("cv_std")},
            "test": self.registry.test_score(current.version),
            "created": meta.get("created"),
            "dataset": meta.get("dataset"),
            "loaded_at": current.loaded_at,
            "schema": [
                {
                    "name": c.name,
                    "role": c.role.value,
                    "categories": None if c.categories is None else list(c.categories),
                    "low": c.low,
                    "high": c.high,
                }
                for c in schema.columns
                if c.is_feature
            ],
        }

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "model_version": self.current.version,
            "uptime_s": round(time.time() - self.started, 3),
            "log": None if self.writer is None else self.writer.stats(),
        }

    # -- predictions -----------------------------------------------------------------------------
    def predict_records(self, records: list[dict[str, Any]], request_id: str) -> PredictResult:
        """Check and predict ``records`` now, on the calling thread."""
        prepared = self.prepare_records(records)
        return self.finish(
            prepared, prepared.loaded.model.predict_raw(prepared.features), request_id
        )

    def predict_csv(self, body: bytes, request_id: str) -> PredictResult:
        prepared = self.prepare_csv(body)
        return self.finish(
            prepared, prepared.loaded.model.predict_raw(prepared.features), request_id
        )

    def prepare_records(self, records: list[dict[str, Any]]) -> Prepared:
        """Check ``records`` against the served model's schema (DataError names column and value).

        A few plainly typed records are checked without pandas (``Schema.coerce_records``)."""
        loaded = self.current
        if loaded.model.kind.forecasts and any(
            r.get(loaded.model.target) is not None for r in records if isinstance(r, dict)
        ):  # a forecast request that brings recent values: answered by a copy reading them
            return self._prepare(
                _records_frame(records), records, "request", lambda i: f"record {i}", loaded
            )
        fast = loaded.model.schema.coerce_records(records)
        if fast is not None:
            return Prepared(loaded, None, records, *fast)
        return self._prepare(
            _records_frame(records), records, "request", lambda i: f"record {i}", loaded
        )

    def prepare_csv(self, body: bytes) -> Prepared:
        return self._prepare(_csv_frame(body), None, "CSV body", lambda i: f"line {i + 2}")

    def _prepare(
        self, frame: pd.DataFrame, records, where: str, line_of, loaded: LoadedModel | None = None
    ) -> Prepared:
        loaded = (
            loaded or self.current
        )  # one model for the whole request, even if a reload swaps it meanwhile
        target = loaded.model.target
        if loaded.model.kind.forecasts and target in frame.columns and frame[target].notna().any():
            from mlcraft.api.forecast import with_recent_history

            recent = frame[target].notna().to_numpy()
            model = with_recent_history(loaded.model, self.project.dataset(), frame[recent], where)
            loaded = LoadedModel(loaded.version, model, loaded.meta, loaded.loaded_at)
            frame = frame[~recent].reset_index(drop=True)
            if records is not None:
                records = [r for r, keep in zip(records, ~recent) if keep]
        features, notes = loaded.model.schema.coerce(frame, where=where, line_of=line_of)
        return Prepared(loaded, frame, records, features, notes)

    def submit(self, prepared: Prepared) -> Future:
        """A future of the model's raw output, predicted in a micro-batch with concurrent requests."""
        return self.batcher.submit(prepared.loaded.model, prepared.features)

    def predict_async(self, prepared: Prepared):
        """An awaitable of the model's raw output (on the event loop): small requests are batched
        on the loop itself, larger ones on the batching thread (so the loop goes on meanwhile)."""
        import asyncio

        if isinstance(prepared.features, FeatureColumns):  # at most FAST_RECORDS plain records
            return self.loop_batcher.submit(prepared.loaded.model, prepared.features)
        return asyncio.wrap_future(self.submit(prepared))

    def finish(self, prepared: Prepared, raw: np.ndarray, request_id: str) -> PredictResult:
        """The answer (predictions, probabilities, flags, notes) and the log record."""
        current, model = prepared.loaded, prepared.loaded.model
        predictions, proba = _outputs(model, raw)
        flags = input_flags(model.schema, prepared.features)
        for i in (i for i, v in enumerate(predictions) if v is None):
            flags.setdefault(i, []).append(
                {
                    "column": model.target,
                    "value": None,
                    "issue": NO_PREDICTION,
                    "message": "the model gave no finite value for this record (extreme inputs?)",
                }
            )
        body = {
            "request_id": request_id,
            "model_version": current.version,
            "target": model.target,
            "predictions": predictions,
            "probabilities": proba,
            "flags": [{"row": i, **f} for i in sorted(flags) for f in flags[i]],
            "notes": prepared.notes,
        }
        inputs = prepared.records if prepared.records is not None else _LazyRecords(prepared.frame)
        record = RequestRecord(
            request_id=request_id,
            ts=time.time(),
            endpoint="/predict",
            model_version=current.version,
            latency_ms=0.0,
            status=200,
            inputs=inputs,
            predictions=predictions,
            proba=proba,
            flags=flags,
        )
        return PredictResult(body, record)

    def log(self, record: RequestRecord) -> None:
        """Queue ``record`` for the prediction log (never waits)."""
        if self.writer is not None:
            self.writer.submit(record)

    def log_error(
        self, request_id: str, endpoint: str, status: int, error: str, latency_ms: float
    ) -> None:
        self.log(
            RequestRecord(
                request_id, time.time(), endpoint, self.current.version, latency_ms, status, error
            )
        )

    def close(self) -> None:
        self.batcher.close()
        if self.writer is not None:
            self.writer.close()
        if self.settings.freeze_heap:
            gc.unfreeze()


def settle_heap() -> None:
    """Collect garbage, then freeze what is left (``gc.freeze``): the libraries and the loaded model.

    A server process holds a few hundred thousand long-lived objects. Without this, a full
    collection walks all of them now and then under load (the log's queued records reach the oldest
    generation), and every request in flight waits: 27 to 120 ms each, one or two per 10 s of load on
    a slow 2-core machine (docs/benchmarks.md). Frozen objects are left out of collections but still freed when
    no longer referenced. Each call first unfreezes, so a model swapped out (and anything a request
    in flight kept alive meanwhile) is collected at the latest by the next call.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class _LazyRecords:
    """The rows of a CSV body as dicts, built only when the log writer asks (in its own thread)."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame

    def __len__(self) -> int:
        return len(self.frame)

    def __iter__(self):
        return iter(self.frame.to_dict(orient="records"))


def _scalar(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _outputs(
    model: FittedModel, raw: np.ndarray
) -> tuple[list[Any], list[dict[str, float]] | None]:
    return model.kind.outputs(raw, model.labels(raw), model.classes)


def _records_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    for i, record in enumerate(records):
        for name, value in record.items():
            if isinstance(value, (dict, list)):
                raise DataError(
                    f"request: record {i}, column {name!r}: {json.dumps(value)[:60]} is not a single value; send numbers, strings, booleans or null"
                )
    return pd.DataFrame.from_records(records)


def parse_json_records(body: bytes) -> list[dict[str, Any]]:
    """One JSON object, or an array of objects, as a list of records (DataError otherwise)."""
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(
            f"request body is not valid JSON ({exc}); send an object per record, or an array of them"
        ) from None
    if isinstance(doc, dict) and isinstance(doc.get("records"), list):
        doc = doc["records"]
    if isinstance(doc, dict):
        doc = [doc]
    if not isinstance(doc, list):
        raise DataError(
            f"request body is a JSON {type(doc).__name__}; send an object per record, or an array of them"
        )
    if not doc:
        raise DataError("request body holds no records; send at least one")
    for i, record in enumerate(doc):
        if not isinstance(record, dict):
            raise DataError(
                f"request: record {i} is a JSON {type(record).__name__}, not an object of column: value"
            )
    return doc


def _csv_frame(body: bytes) -> pd.DataFrame:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"CSV body: byte 0x{body[exc.start]:02x} at offset {exc.start} is not UTF-8; send UTF-8 text"
        ) from None
    if not text.strip():
        raise DataError("CSV body is empty; send a header line and at least one row")
    try:
        frame = pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(
            f"CSV body cannot be parsed ({str(exc).strip()}); check quoting and the number of fields per line"
        ) from None
    if frame.empty:
        raise DataError("CSV body has a header but no rows; send at least one row")
    return frame


def record_json_schema(project: Project) -> dict[str, Any]:
    """JSON Schema of one input record: the project's feature columns (extra columns are ignored)."""
    from mlcraft.core.data.schema import Role

    properties: dict[str, Any] = {}
    for col in project.schema.columns:
        if not col.is_feature:
            continue
        if col.role is Role.NUMERIC:
            spec: dict[str, Any] = {"type": ["number", "null"]}
        elif col.role is Role.DATETIME:
            spec = {"type": ["string", "null"], "format": "date-time"}
        else:
            spec = {"type": ["string", "number", "boolean", "null"]}
            if col.categories is not None and len(col.categories) <= 20:
                spec["examples"] = list(col.categories[:5])
        properties[col.name] = spec
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": True,
    }
