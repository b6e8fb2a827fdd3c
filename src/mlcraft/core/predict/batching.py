"""Adaptive micro-batching: requests that arrive while the model is busy are predicted together.

A model's fixed cost per call (the preprocessing pipeline's bookkeeping) dwarfs the per-row cost for
small requests, so a server predicting one request at a time saturates early. :class:`MicroBatcher`
runs predictions on one thread: it takes the first waiting request and every other one already
queued for the same model version (up to ``max_rows``), predicts them in one call, and hands each
request its rows back. Nothing waits for a batch to fill: an idle server answers at once.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Any

import numpy as np
import pandas as pd

from mlcraft.core.data.schema import FeatureColumns

__all__ = ["MicroBatcher", "LoopBatcher", "predict_batch", "MAX_BATCH_ROWS"]

MAX_BATCH_ROWS = 4096
_STOP = object()


class MicroBatcher:
    """Predict ``(model, features)`` submissions in batches on a background thread.

    Examples
    --------
    >>> batcher = MicroBatcher()  # doctest: +SKIP
    >>> batcher.submit(model, features).result()  # doctest: +SKIP
    array([...])
    """

    def __init__(self, max_rows: int = MAX_BATCH_ROWS):
        self.max_rows = max_rows
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="mlcraft-batcher", daemon=True)
        self._thread.start()
        self.batches = self.requests = 0

    def submit(self, model: Any, features: pd.DataFrame | FeatureColumns) -> Future:
        """A future of ``model.predict_raw(features)``."""
        future: Future = Future()
        self._queue.put((model, features, future))
        return future

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        carry = None
        while True:
            item = carry if carry is not None else self._queue.get()
            carry = None
            if item is _STOP:
                return
            batch, rows = [item], len(item[1])
            while rows < self.max_rows:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP or nxt[0] is not item[0]:
                    carry = nxt  # another model version (or the end): its own batch
                    break
                batch.append(nxt)
                rows += len(nxt[1])
            self._predict(batch)

    def _predict(self, batch: list[tuple[Any, pd.DataFrame, Future]]) -> None:
        if predict_batch(batch):
            self.batches += 1
            self.requests += len(batch)


class LoopBatcher:
    """Micro-batching on the event loop itself, for small requests: every request that reaches the
    model in the same turn of the loop is predicted in one call when that turn ends (no thread
    hop, no GIL hand-over; the call is short because the requests are small).

    Examples
    --------
    >>> batcher = LoopBatcher()  # doctest: +SKIP
    >>> await batcher.submit(model, features)  # doctest: +SKIP
    array([...])
    """

    def __init__(self):
        self._pending: list[tuple[Any, Any, Any]] = []
        self.batches = self.requests = 0

    def submit(self, model: Any, features: pd.DataFrame | FeatureColumns):
        """An asyncio future of ``model.predict_raw(features)``; call it on the event loop."""
        import asyncio

        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)  # after the requests that are ready in this turn
        self._pending.append((model, features, future))
        return future

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        groups: dict[int, list] = {}
        for item in pending:
            groups.setdefault(id(item[0]), []).append(item)
        for batch in groups.values():
            live = [item for item in batch if not item[2].done()]  # (a client that went away)
            if live and predict_batch(live):
                self.batches += 1
                self.requests += len(live)


def predict_batch(batch: list[tuple[Any, Any, Any]]) -> bool:
    """Predict ``(model, features, future)`` items of one model in one call and hand each future
    its rows; on an error every future gets it (False)."""
    model = batch[0][0]
    try:
        features = batch[0][1] if len(batch) == 1 else _concat([b[1] for b in batch])
        raw = np.asarray(model.predict_raw(features))
    except Exception as exc:  # noqa: BLE001 - the requests fail, the server goes on
        for _, _, future in batch:
            future.set_exception(exc)
        return False
    start = 0
    for _, features, future in batch:
        future.set_result(raw[start : start + len(features)])
        start += len(features)
    return True


def _concat(parts: list) -> pd.DataFrame | FeatureColumns:
    """Requests' features stacked (a frame as soon as one request came as one: CSV, many records)."""
    if all(isinstance(p, FeatureColumns) for p in parts):
        return FeatureColumns.concat(parts)
    return pd.concat(
        [p.to_frame() if isinstance(p, FeatureColumns) else p for p in parts], ignore_index=True
    )
