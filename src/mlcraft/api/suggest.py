"""`mlcraft suggest-labels`: the unlabelled rows whose labels would help most (active learning).

Two reasons to ask a person for a row's label (the book's chapter 9, and uncertainty sampling):

- **representative**: the row nearest the centre of a k-means cluster (on the prepared rows) that
  holds no labelled row yet: labelling it tells the models about a region they know nothing of
  (the book labels the 50 rows nearest the centres of 50 clusters of the digits);
- **least confident**: the champion's highest class probability for the row is among the lowest.

With a trained champion, half the rows (rounded up) are representatives and half the least
confident; before any model exists (or on a table without any label), every row is a
representative. The answer is the rows as they are in the data, an empty target column to fill,
the row's position in the stored data (``row``) and why it was chosen (``reason``).
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans

from mlcraft import atomic
from mlcraft.core.data.preprocess import build_preprocessor
from mlcraft.core.data.schema import Schema, infer_schema
from mlcraft.exceptions import ConfigError, DataError

if TYPE_CHECKING:
    from mlcraft.api.project import Project

__all__ = ["Suggestion", "suggest_rows", "suggest_for_project", "suggest_for_table", "REASONS"]

REASONS = ("representative", "least confident")
ROW, REASON, CONFIDENCE = "row", "reason", "confidence"


@dataclass
class Suggestion:
    """The rows to label: ``frame`` (original columns, an empty target, ``row``, ``reason``)."""

    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    out: Path | None = None

    @property
    def counts(self) -> dict[str, int]:
        return {r: int((self.frame[REASON] == r).sum()) for r in REASONS}


def suggest_rows(
    prepared: np.ndarray,
    labelled: np.ndarray,
    n: int,
    *,
    confidence: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, list[str]]:
    """Positions of ``n`` unlabelled rows of ``prepared`` to label, and why each was chosen.

    ``labelled`` marks the rows that have a label; ``confidence`` (one value per row, e.g. the
    highest class probability) ranks the least confident, when a model gave it.

    Examples
    --------
    >>> X = np.r_[np.zeros((5, 2)), np.ones((5, 2)) * 10]
    >>> rows, why = suggest_rows(X, np.r_[True, [False] * 9], 1)
    >>> int(rows[0]) >= 5, why
    (True, ['representative'])
    """
    unlabelled = np.flatnonzero(~labelled)
    n = min(int(n), len(unlabelled))
    n_rep = n if confidence is None else math.ceil(n / 2)
    chosen: list[int] = []
    reasons: list[str] = []
    if n_rep:
        k = min(int(labelled.sum()) + n_rep, len(prepared))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kmeans = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(prepared)
        cluster = kmeans.labels_
        distance = kmeans.transform(prepared)[np.arange(len(prepared)), cluster]
        known = set(cluster[labelled].tolist())
        sizes = np.bincount(cluster, minlength=k)
        for c in sorted(set(range(k)) - known, key=lambda c: (-sizes[c], c)):
            members = unlabelled[cluster[unlabelled] == c]
            if len(members) and len(chosen) < n_rep:
                chosen.append(int(members[np.argmin(distance[members])]))
                reasons.append(REASONS[0])
    if confidence is not None or len(chosen) < n:  # the rest: least confident (or nearest a centre)
        order = (
            unlabelled[np.argsort(confidence[unlabelled], kind="stable")]
            if confidence is not None
            else unlabelled
        )
        taken = set(chosen)
        for row in order.tolist():
            if len(chosen) >= n:
                break
            if row not in taken:
                chosen.append(int(row))
                reasons.append(REASONS[1] if confidence is not None else REASONS[0])
    return np.asarray(chosen, dtype=int), reasons


def _prepared(schema: Schema, X: pd.DataFrame) -> np.ndarray:
    """The rows as k-means sees them: numbers standardised, categories one-hot, gaps imputed."""
    prepare = build_preprocessor(schema, scale=True, categorical="onehot", log_heavy_tails=True)
    out = prepare.fit_transform(X)
    return np.asarray(out.toarray() if hasattr(out, "toarray") else out, dtype=float)


def _check_n(n: int) -> None:
    if n < 1:
        raise ConfigError(f"--n {n}: ask for at least one row to label")


def _answer(
    frame: pd.DataFrame, target: str, positions: np.ndarray, rows: np.ndarray, reasons: list[str]
) -> pd.DataFrame:
    out = frame.iloc[positions].copy()
    out[target] = pd.Series([None] * len(out), index=out.index, dtype=object)
    out.insert(0, ROW, rows)
    out[REASON] = reasons
    return out.reset_index(drop=True)


def suggest_for_project(
    project: Project, n: int, *, out: str | os.PathLike[str] | None = None
) -> Suggestion:
    """The ``n`` unlabelled training rows of ``project`` whose labels would help most."""
    from mlcraft.api.train import training_data

    _check_n(n)
    cfg = project.config
    if cfg.target is None or not project.kind.semi_supervised:
        raise ConfigError(
            f"{project.path}: suggest-labels finds rows to label for a classification target; this project is a {cfg.task} task"
        )
    data = training_data(project)
    if data.unlabelled is None or not len(data.unlabelled):
        raise DataError(
            f"{project.path}: every training row has a label (rows without one need `mlcraft train --semi-supervised`); there is nothing to suggest"
        )
    X = pd.concat([data.X, data.unlabelled], ignore_index=True)
    labelled = np.r_[np.ones(len(data.X), bool), np.zeros(len(data.unlabelled), bool)]
    stored = np.r_[data.rows, data.unlabelled_rows]
    dataset = project.dataset()
    notes: list[str] = []
    features = dataset.iloc[stored].drop(columns=[cfg.target])
    hashes = pd.util.hash_pandas_object(features, index=False).to_numpy()
    labelled |= np.isin(hashes, hashes[labelled])  # an unlabelled copy of a row labelled since
    confidence = None
    if project.registry.champion() is not None:
        model = project.load_model()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            answer = model.predict(dataset.iloc[stored].reset_index(drop=True)).frame
        confidence = answer.filter(like="proba_").to_numpy(dtype=float).max(axis=1)
    else:
        notes.append(
            "no trained model yet: every suggestion is a cluster representative (train, then ask again for the least confident rows)"
        )
    picked, reasons = suggest_rows(
        _prepared(project.schema, X), labelled, n, confidence=confidence, seed=cfg.seed
    )
    frame = _answer(dataset, cfg.target, stored[picked], stored[picked], reasons)
    if confidence is not None:
        frame[CONFIDENCE] = np.round(confidence[picked], 4)
    if len(frame) < n:
        notes.append(f"only {len(frame)} unlabelled training row(s) to suggest")
    return _write(Suggestion(frame, notes), out)


def suggest_for_table(
    data: pd.DataFrame | str | os.PathLike[str],
    target: str,
    n: int,
    *,
    seed: int = 0,
    out: str | os.PathLike[str] | None = None,
) -> Suggestion:
    """Before any project: the ``n`` rows of a table to label first (cluster representatives).

    ``target`` is the column to fill; it may be absent or empty in ``data`` (the book's digits
    before anyone labelled them); rows that already have a label are never suggested.
    """
    from mlcraft.core.data.load import load_table

    _check_n(n)
    table = load_table(data)
    frame = table.frame
    has = frame[target].notna().to_numpy() if target in frame else np.zeros(len(frame), bool)
    if has.all():
        raise DataError(f"{table.source}: every row has a {target!r} label; nothing to suggest")
    features = frame.drop(columns=[target]) if target in frame else frame
    schema = infer_schema(features, None)
    X, _ = schema.coerce(features, where=str(table.source))
    picked, reasons = suggest_rows(_prepared(schema, X), has, n, seed=seed)
    return _write(Suggestion(_answer(frame, target, picked, picked, reasons)), out)


def _write(suggestion: Suggestion, out: str | os.PathLike[str] | None) -> Suggestion:
    if out is not None:
        path = Path(out)
        atomic.write_text(path, suggestion.frame.to_csv(index=False))
        suggestion.out = path
    return suggestion
