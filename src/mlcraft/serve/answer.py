"""The answer of ``POST /predict``, shared by the FastAPI endpoint (:mod:`mlcraft.serve.app`) and the
fast path (:mod:`mlcraft.serve.fastpath`), so that both give the same answer to the same body."""

from __future__ import annotations

import time
from typing import Any

from fastapi.concurrency import run_in_threadpool

from mlcraft.api.serving import ModelService, parse_json_records

__all__ = ["answer_predict", "INLINE_BODY_BYTES"]

INLINE_BODY_BYTES = (
    32 * 1024
)  # smaller requests are checked on the event loop (a thread hop costs more)


async def _maybe_threaded(func, *args, large: bool):
    return await run_in_threadpool(func, *args) if large else func(*args)


async def answer_predict(
    svc: ModelService, body: bytes, request_id: str, start: float, *, csv: bool = False
) -> dict[str, Any]:
    """The answer of ``POST /predict`` to ``body``: check it, predict (micro-batched with concurrent
    requests), log the request and return the response body. The endpoint and the fast path
    (:class:`~mlcraft.serve.fastpath.PredictFastPath`) both answer through this function.

    ``start`` is when the request began (``time.perf_counter()``; the logged latency counts from
    there). Refused input raises the :class:`~mlcraft.exceptions.MlcraftError` that says why;
    nothing is logged then (the caller answers and logs the error).
    """
    large = len(body) > INLINE_BODY_BYTES  # checked in a worker thread, so the event loop goes on
    if csv:
        prepared = await _maybe_threaded(svc.prepare_csv, body, large=large)
    else:
        prepared = await _maybe_threaded(svc.prepare_records, parse_json_records(body), large=large)
    raw = await svc.predict_async(prepared)
    result = await _maybe_threaded(svc.finish, prepared, raw, request_id, large=large)
    result.record.latency_ms = (time.perf_counter() - start) * 1000
    svc.log(result.record)
    return result.body
