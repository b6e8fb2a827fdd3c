"""The final refit of a champion on data larger than memory, batch by batch.

A project whose data is larger than memory (:mod:`mlcraft.core.data.stream`) is searched like any
other on a seeded sample of its rows (the families are compared by their cross-validated scores on
that sample's training rows). Then, if the champion's estimator learns incrementally (it has
``partial_fit``: incremental PCA, mini-batch k-means), it is refitted on **every** training row of
the whole data, in two passes over it:

1. the preparation fitted on the sample (missing-value fill, categories, heavy-tail logs), except
   each standard scaler, re-estimated with ``StandardScaler.partial_fit`` on every training row;
2. the estimator, with the champion's settings, by ``partial_fit`` on each prepared batch (a
   mini-batch k-means starts from the sample model's centres, so the k chosen on the sample stays).

The test rows are left out batch by batch with the in-memory split's rule
(:func:`mlcraft.core.data.stream.batch_is_test`). A champion that cannot learn incrementally is kept
as fitted on the sample, and the notes say so. The result is an ordinary fitted pipeline.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mlcraft.config import ProjectConfig
from mlcraft.core.data import stream
from mlcraft.core.data.load import check_finite
from mlcraft.core.data.schema import Schema
from mlcraft.core.data.stream import ParquetSource, batch_is_test
from mlcraft.core.fit.search import CVResult
from mlcraft.core.predict.pipeline import FittedModel

__all__ = ["learns_incrementally", "stream_refit", "StreamedFit", "incremental_alternative"]


@dataclasses.dataclass
class StreamedFit:
    """What the streamed refit produced: the model and what to tell the user."""

    model: FittedModel
    notes: list[str]
    rows: int  # training rows the saved model learnt from
    streamed: bool  # whether it learnt from every training row (else: from the sample)


def learns_incrementally(pipeline: Any) -> bool:
    """A preparation and one estimator with ``partial_fit`` (not a bagged or blended model)."""
    return (
        isinstance(pipeline, Pipeline)
        and len(pipeline.steps) == 2
        and hasattr(pipeline.steps[-1][1], "partial_fit")
    )


def incremental_alternative(trainer: Any, run_dir: Path, champion: CVResult) -> CVResult | None:
    """The best trial of a family that learns incrementally whose cross-validated score is within
    one standard deviation of the champion's (a tie on the sample: the model that can learn from
    every row is preferred), or None. ``trainer``: the :class:`~mlcraft.core.fit.trainer.Trainer`
    that ran the search into ``run_dir``."""
    trials = pd.read_csv(run_dir / "trials.csv")
    folds = pd.read_csv(run_dir / "cv_scores.csv")
    metric = [c for c in folds.columns if c not in ("model", "fold")][0]
    sign = trainer.data.scorer.sign
    trials = trials[(trials["status"] == "ok") & (trials["model"] != champion.name)]
    close = trials[sign * (trials[trials.columns[4]] - champion.mean) >= -champion.std]
    for _, row in close.sort_values(trials.columns[4], ascending=sign < 0).iterrows():
        params = json.loads(row["params"])
        build, _ = trainer.member(row["family"], params)
        if learns_incrementally(build()):
            scores = folds.loc[folds["model"] == row["model"], metric].tolist()
            return CVResult(str(row["model"]), str(row["family"]), params, scores or [row.iloc[4]])
    return None


def _training_batches(
    source: ParquetSource,
    config: ProjectConfig,
    schema: Schema,
    batch_rows: int,
    deadline: float | None = None,
    cut: list[bool] | None = None,
) -> Iterator[pd.DataFrame]:
    """The checked features of every training row, batch by batch; after the first batch, none
    once ``deadline`` (a ``time.time()``) has passed (``cut`` records that it did)."""
    for n, (_, frame) in enumerate(source.batches(batch_rows)):
        if n and deadline is not None and time.time() > deadline:
            if cut is not None:
                cut.append(True)
            return
        keep = ~batch_is_test(frame, test_size=config.test_size, id_column=config.id_column)
        if not keep.any():
            continue
        rows = frame[keep]
        check_finite(rows, source.describe(), lambda i, rows=rows: f"row {rows.index[i] + 1}")
        X, _ = schema.coerce(rows.reset_index(drop=True), where=str(source.path))
        yield X


def _scalers(prepare: Any) -> list[tuple[Pipeline, int, Any]]:
    """``(pipeline, position of its scaler, its columns)`` for each scaler of a fitted preparation."""
    found = []
    for _, transformer, columns in getattr(prepare, "transformers_", []):
        if isinstance(transformer, Pipeline):
            for i, (_, step) in enumerate(transformer.steps):
                if isinstance(step, StandardScaler):
                    found.append((transformer, i, columns))
    return found


def _dense(values: Any) -> np.ndarray:
    return np.asarray(values.toarray() if hasattr(values, "toarray") else values, dtype=float)


def _refit_scalers(prepare: Any, batches: Iterator[pd.DataFrame]) -> int:
    """Pass 1: each scaler re-estimated on every training row (``partial_fit``); returns the rows."""
    places = _scalers(prepare)
    fresh = [clone(pipe.steps[i][1]) for pipe, i, _ in places]
    rows = 0
    for X in batches:
        rows += len(X)
        for (pipe, i, columns), scaler in zip(places, fresh):
            before = X[columns] if i == 0 else pipe[:i].transform(X[columns])
            scaler.partial_fit(_dense(before))
    for (pipe, i, _), scaler in zip(places, fresh):
        pipe.steps[i] = (pipe.steps[i][0], scaler)
    return rows


def _refit_estimator(
    estimator: Any, prepare: Any, batches: Iterator[pd.DataFrame], min_rows: int
) -> int:
    """Pass 2: ``partial_fit`` on each prepared batch (a short last batch joins the one before);
    returns the rows."""
    pending: np.ndarray | None = None
    seen = 0
    for X in batches:
        seen += len(X)
        prepared = _dense(prepare.transform(X))
        if pending is not None and len(prepared) < min_rows:
            pending = np.vstack([pending, prepared])
            continue
        if pending is not None:
            estimator.partial_fit(pending)
        pending = prepared
    if pending is not None:
        estimator.partial_fit(pending)
    return seen


def stream_refit(
    model: FittedModel,
    sample_X: pd.DataFrame,
    source: ParquetSource,
    *,
    config: ProjectConfig,
    schema: Schema,
    families: Sequence[str],
    batch_rows: int | None = None,
    deadline: float | None = None,
) -> StreamedFit:
    """Refit ``model`` (the champion, fitted on ``sample_X``) on every training row of ``source``
    when it learns incrementally; otherwise keep it. ``families``: those the search compared;
    ``batch_rows``: rows per batch (default :data:`mlcraft.core.data.stream.BATCH_ROWS`);
    ``deadline``: the time limit's end (a ``time.time()``): each pass stops there (after at
    least one batch) and the notes say how many rows the model learnt from."""
    batch_rows = stream.BATCH_ROWS if batch_rows is None else batch_rows
    sampled = [f for f in families if f != model.family]
    notes = [
        f"the search compared {', '.join(families)} by cross-validated {config.metric} on the held-out folds of "
        f"a {len(sample_X):,}-row sample of the training rows (not on all rows)"
    ]
    if not learns_incrementally(model.pipeline):
        notes.append(
            f"the champion {model.family} cannot learn incrementally: it is saved as fitted on the "
            f"{len(sample_X):,}-row sample, not on all {source.rows:,} rows"
        )
        return StreamedFit(model, notes, len(sample_X), False)
    fitted = model.pipeline.steps[-1][1]
    pipeline = clone(model.pipeline)
    prepare = pipeline.steps[0][1].fit(sample_X)  # fill values and categories: from the sample
    cut: list[bool] = []
    rows = _refit_scalers(
        prepare, _training_batches(source, config, schema, batch_rows, deadline, cut)
    )
    estimator = pipeline.steps[-1][1]
    if hasattr(fitted, "cluster_centers_") and "init" in estimator.get_params():
        estimator.set_params(init=fitted.cluster_centers_, n_init=1)  # k and start: the sample's
    min_rows = max(
        int(getattr(estimator, "n_components", None) or 0),
        int(getattr(estimator, "n_clusters", None) or 0),
        1,
    )
    rows = min(
        rows,
        _refit_estimator(
            estimator,
            prepare,
            _training_batches(source, config, schema, batch_rows, deadline, cut),
            min_rows,
        ),
    )
    learnt = (
        f"the first {rows:,} training rows of {source.describe()} (the time limit ended the pass; "
        "a longer --time-limit lets it see every row)"
        if cut
        else f"all {rows:,} training rows of {source.describe()}"
    )
    notes.append(
        f"{model.family} (the champion) learnt incrementally from {learnt}, "
        f"in batches of {batch_rows:,} rows (scaling by partial_fit, then the model by partial_fit); "
        "missing-value fill and categories come from the sample"
    )
    if sampled:
        notes.append(
            f"sampled families (fitted on the sample only, for the comparison): {', '.join(sampled)}"
        )
    return StreamedFit(dataclasses.replace(model, pipeline=pipeline), notes, rows, True)
