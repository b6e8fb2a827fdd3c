"""The FastAPI application: thin HTTP over :class:`mlcraft.api.serving.ModelService`.

The champion is loaded once in ``lifespan`` and injected with ``Depends(get_service)`` (tests swap it
with ``app.dependency_overrides``). A background task polls the registry so that a promotion, retrain
or rollback reaches a running server; ``POST /admin/reload`` does it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader

from mlcraft.api import Project
from mlcraft.api.serving import (
    ModelService,
    ServeSettings,
    new_request_id,
    record_json_schema,
)
from mlcraft.exceptions import DataError, MlcraftError, NotFittedError, RegistryError
from mlcraft.serve import schemas
from mlcraft.serve.answer import INLINE_BODY_BYTES, answer_predict

__all__ = ["create_app", "served_app", "app_from_env", "get_service", "answer_predict"]

API_KEY_HEADER = "X-API-Key"
_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="Required when the server was started with --api-key or MLCRAFT_API_KEY.",
)


class BodyTooLarge(Exception):
    pass


async def get_service(request: Request) -> ModelService:
    """The model service loaded at start-up (async: a plain ``def`` dependency costs a thread hop)."""
    return request.app.state.service


async def require_key(request: Request, key: str | None = Depends(_key_header)) -> None:
    expected = request.app.state.settings.api_key
    if expected and not (key and hmac.compare_digest(key.encode(), expected.encode())):
        raise HTTPException(
            status_code=401,
            detail=f"missing or wrong API key: send it in the {API_KEY_HEADER} header",
            headers={"WWW-Authenticate": "ApiKey"},
        )


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) beyond ``limit`` bytes without reading the rest."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(int(declared))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(size)
        chunks.append(chunk)
    return b"".join(chunks)


def _status_of(exc: MlcraftError) -> int:
    if isinstance(exc, DataError):
        return 422
    if isinstance(exc, NotFittedError):
        return 503
    if isinstance(exc, RegistryError):
        return 409
    return 400


def _error(status: int, message: str, request_id: str | None = None) -> JSONResponse:
    headers = {"X-Request-ID": request_id} if request_id else None
    return JSONResponse(
        {"detail": message, "request_id": request_id}, status_code=status, headers=headers
    )


def create_app(settings: ServeSettings, *, service: ModelService | None = None) -> FastAPI:
    """The server for one project. ``service`` replaces the one the lifespan would load (tests)."""
    project = Project.open(settings.project, db=settings.db)
    record_schema = record_json_schema(project)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.service = service or await run_in_threadpool(ModelService, project, settings)
        poller = asyncio.create_task(_poll(app, settings.poll_seconds))
        try:
            yield
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            await run_in_threadpool(app.state.service.close)

    app = FastAPI(
        title="mlcraft model server",
        version="1",
        description=f"Predictions of the champion model of the mlcraft project `{project.path.name}` (target `{project.config.target}`, {project.config.task}).",
        lifespan=lifespan,
    )
    app.state.settings = settings
    if service is not None:
        app.state.service = service

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge):
        return _error(
            413,
            f"request body of {exc.args[0]} bytes or more is over the limit of {settings.max_body_bytes} bytes; split it into smaller requests",
        )

    @app.get(
        "/health",
        response_model=schemas.Health,
        summary="Liveness, the served version and the prediction log's counters",
    )
    def health(svc: ModelService = Depends(get_service)) -> dict[str, Any]:
        return svc.health()

    @app.get(
        "/model",
        response_model=schemas.ModelInfo,
        summary="The served model: version, schema, metrics",
    )
    def model_info(svc: ModelService = Depends(get_service)) -> dict[str, Any]:
        return svc.describe()

    @app.post(
        "/predict",
        summary="Predict one record (a JSON object), many (a JSON array) or a CSV table (text/csv)",
        dependencies=[Depends(require_key)],
        response_model=schemas.Predictions,
        responses=schemas.ERROR_RESPONSES,
        openapi_extra={"requestBody": schemas.predict_body(record_schema)},
    )
    async def predict(request: Request, svc: ModelService = Depends(get_service)):
        start = time.perf_counter()
        request_id = new_request_id()
        try:
            body = await read_body(request, settings.max_body_bytes)
            csv = (
                request.headers.get("content-type", "").split(";")[0].strip().lower()
                in schemas.CSV_TYPES
            )
            answer = await answer_predict(svc, body, request_id, start, csv=csv)
        except MlcraftError as exc:
            status = _status_of(exc)
            svc.log_error(
                request_id, "/predict", status, str(exc), (time.perf_counter() - start) * 1000
            )
            return _error(status, str(exc), request_id)
        return JSONResponse(answer, headers={"X-Request-ID": request_id})

    @app.post(
        "/feedback",
        summary="Ground truth that arrived later, joined to logged predictions by request id or by a key column",
        dependencies=[Depends(require_key)],
        response_model=schemas.FeedbackResult,
        responses=schemas.ERROR_RESPONSES,
    )
    def feedback(body: schemas.Feedback, svc: ModelService = Depends(get_service)):
        from mlcraft.api.feedback import add_feedback_records

        try:
            return add_feedback_records(svc.project, body.records, key=body.key).to_dict()
        except MlcraftError as exc:
            return _error(_status_of(exc), str(exc))

    @app.post(
        "/admin/reload",
        summary="Load the champion (or ?version=N) and swap it in without dropping requests",
        dependencies=[Depends(require_key)],
        response_model=schemas.Reload,
        responses=schemas.ERROR_RESPONSES,
    )
    async def reload(
        version: int | None = Query(
            None, ge=1, le=2**31 - 1, description="A model version (default: the champion)"
        ),
        svc: ModelService = Depends(get_service),
    ):
        try:
            old, new = await run_in_threadpool(svc.reload, version)
        except MlcraftError as exc:
            return _error(_status_of(exc), str(exc))
        return {"previous_version": old, "model_version": new}

    return app


async def _poll(app: FastAPI, seconds: float) -> None:
    """Pick up promotions and rollbacks made while the server runs."""
    while True:
        await asyncio.sleep(seconds)
        service = getattr(app.state, "service", None)
        if service is None:
            continue
        with contextlib.suppress(Exception):  # a database hiccup must not stop serving
            await run_in_threadpool(service.poll)


def served_app(settings: ServeSettings):
    """What uvicorn runs: the app behind :class:`~mlcraft.serve.fastpath.PredictFastPath`, which
    answers plain JSON predictions itself and hands everything else to the app."""
    from mlcraft.serve.fastpath import PredictFastPath

    return PredictFastPath(
        create_app(settings), inline_bytes=min(INLINE_BODY_BYTES, settings.max_body_bytes)
    )


def app_from_env():
    """The app for ``uvicorn --factory`` in each worker process (settings come from the parent)."""
    from mlcraft.config import env_serve_settings

    raw = env_serve_settings()
    if raw is None:
        raise RuntimeError(
            "MLCRAFT_SERVE_SETTINGS is not set; start the server with `mlcraft serve`"
        )
    return served_app(ServeSettings.from_json(raw))
