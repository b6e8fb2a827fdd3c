"""A plain JSON ``POST /predict`` answered without FastAPI's routing, middleware and dependencies.

A single-row request spends 0.3 to 0.5 ms in FastAPI and Starlette (route matching, the middleware
stack, dependency resolution, the ``Request`` object) for 0.5 to 0.8 ms of its own work on a slow
2-core machine (measured in-process through ASGI: docs/benchmarks.md). :class:`PredictFastPath` wraps the FastAPI app given to uvicorn and
answers the common case itself through the endpoint's own answer function
(:func:`mlcraft.serve.answer.answer_predict`): a JSON body of at most
``INLINE_BODY_BYTES`` with the right API key (if one is set), records that pass the input contract,
a prediction that succeeds. Everything else (CSV, other paths, a missing or wrong key, a large
body, any input the contract refuses: any mlcraft error) goes to the FastAPI app with the body
replayed, so its answer is FastAPI's own: the HTTP contract, status codes and error log are
unchanged. (An unexpected exception is a 500 either way.)
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Any

from mlcraft.api.serving import new_request_id
from mlcraft.exceptions import MlcraftError
from mlcraft.serve.answer import answer_predict
from mlcraft.serve.schemas import CSV_TYPES

__all__ = ["PredictFastPath", "render_json"]


def render_json(content: Any) -> bytes:
    """The bytes Starlette's ``JSONResponse`` renders for ``content``."""
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


class PredictFastPath:
    """ASGI wrapper around the app made by :func:`mlcraft.serve.app.create_app`."""

    def __init__(self, app: Any, inline_bytes: int):
        self.app = app
        self.inline_bytes = inline_bytes
        self.answered = 0  # requests this path answered itself (the rest went to FastAPI)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/predict":
            return await self.app(scope, receive, send)
        service = getattr(self.app.state, "service", None)
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        if (
            service is None
            or not declared.isdigit()
            or int(declared) > self.inline_bytes
            or not self._key_ok(headers.get(b"x-api-key"))
        ):
            return await self.app(scope, receive, send)
        if (
            headers.get(b"content-type", b"").split(b";")[0].strip().lower().decode("latin-1")
            in CSV_TYPES
        ):
            return await self.app(scope, receive, send)
        start = (
            time.perf_counter()
        )  # (as the endpoint: the logged latency includes reading the body)
        body, message = await self._body(receive)
        if body is None:  # longer than declared, or the client went away: FastAPI's handling
            return await self.app(scope, _replay(message, receive), send)
        request_id = new_request_id()
        try:
            answer = await answer_predict(service, body, request_id, start)
        except MlcraftError:  # refused input: the endpoint answers (and logs) it
            return await self.app(
                scope,
                _replay({"type": "http.request", "body": body, "more_body": False}, receive),
                send,
            )
        payload = render_json(answer)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(payload)).encode()),
                    (b"content-type", b"application/json"),
                    (b"x-request-id", request_id.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
        self.answered += 1

    def _key_ok(self, given: bytes | None) -> bool:
        expected = self.app.state.settings.api_key
        return not expected or (given is not None and hmac.compare_digest(given, expected.encode()))

    async def _body(self, receive) -> tuple[bytes | None, dict]:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None, message
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            if size > self.inline_bytes:
                return None, {
                    "type": "http.request",
                    "body": b"".join(chunks),
                    "more_body": message.get("more_body", False),
                }
            if not message.get("more_body", False):
                return b"".join(chunks), message


def _replay(first: dict, receive):
    """A ``receive`` that gives ``first`` again, then what the client sends next."""
    sent = False

    async def again():
        nonlocal sent
        if not sent:
            sent = True
            return first
        return await receive()

    return again
