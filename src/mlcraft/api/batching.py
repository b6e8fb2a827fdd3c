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

__all__ = ["MicroBatcher", "MAX_BATCH_ROWS"]

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

    def submit(self, model: Any, features: pd.DataFrame) -> Future:
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
        model = batch[0][0]
        try:
            features = batch[0][1] if len(batch) == 1 else pd.concat([b[1] for b in batch], ignore_index=True)
            raw = np.asarray(model.predict_raw(features))
        except BaseException as exc:  # the requests fail, the thread goes on
            for _, _, future in batch:
                future.set_exception(exc)
            return
        self.batches += 1
        self.requests += len(batch)
        start = 0
        for _, features, future in batch:
            future.set_result(raw[start : start + len(features)])
            start += len(features)
