"""Ground truth that arrives after the prediction, joined to the prediction log.

A label row names the prediction it belongs to by ``request_id`` (plus ``row`` for a request of
several records, default 0), or by a key column of the logged inputs (``key``, e.g. an id column:
every logged prediction whose input had that value gets the label).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlcraft.core.data.load import load_table
from mlcraft.exceptions import DataError
from mlcraft.monitoring import PredictionLog
from mlcraft.tasks import get_kind

if TYPE_CHECKING:
    from mlcraft.api.project import Project

__all__ = ["FeedbackSummary", "add_feedback", "add_feedback_records"]


@dataclass(frozen=True)
class FeedbackSummary:
    """What became of a batch of labels; :meth:`to_dict` is the server's ``/feedback`` answer.

    Attributes
    ----------
    received : the rows received, with or without a label.
    matched : the labelled rows joined to at least one logged prediction.
    unmatched : the labelled rows that matched no logged prediction.
    notes : what the user should know (rows skipped for want of a label, labels unmatched).
    """

    received: int
    matched: int
    unmatched: int
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        """``{"received", "matched", "unmatched", "notes"}``."""
        return asdict(self)


def add_feedback(
    project: Project, source: str | os.PathLike[str] | pd.DataFrame, *, key: str | None = None
) -> FeedbackSummary:
    """Join the labels in ``source`` (CSV, Parquet or DataFrame) to the prediction log."""
    table = load_table(source)
    return _join(project, table.frame, key, table.source, table.line_of)


def add_feedback_records(
    project: Project, records: Sequence[dict[str, Any]], *, key: str | None = None
) -> FeedbackSummary:
    """Like :func:`add_feedback`, for records received as JSON."""
    if not records:
        raise DataError("feedback holds no records; send at least one")
    return _join(
        project, pd.DataFrame.from_records(list(records)), key, "feedback", lambda i: f"record {i}"
    )


def _join(
    project: Project, frame: pd.DataFrame, key: str | None, where: str, line_of
) -> FeedbackSummary:
    target = project.config.target
    if target is None:
        raise DataError(
            f"{where}: a {project.kind.name} project has no target, so no labels to feed back"
        )
    if target not in frame.columns:
        raise DataError(
            f"{where}: no {target!r} column; the labels go in a column named like the target"
        )
    labelled = frame[frame[target].notna()]
    notes = []
    if len(labelled) < len(frame):
        notes.append(f"{len(frame) - len(labelled)} row(s) without a label were skipped")
    labels = _labels(project, labelled[target], where, line_of)
    log = PredictionLog(project.registry.db)
    if key is None and "request_id" in labelled.columns:
        pairs = _by_request_id(labelled, where, line_of)
        found = log.logged_rows(pairs)
        matches = [(rid, i, label) for (rid, i), label in zip(pairs, labels) if (rid, i) in found]
        matched_inputs = sum((rid, i) in found for rid, i in pairs)
    else:
        key = key or project.config.id_column
        if key is None or key not in labelled.columns:
            raise DataError(
                f"{where}: cannot tell which prediction each label belongs to; add a request_id column "
                "(from the /predict answer) or name a key column of the inputs with --key COLUMN"
            )
        if '"' in key or "\\" in key:
            raise DataError(
                f"{where}: key column {key!r} has a quote or backslash in its name; rename it to join on it"
            )
        matches, matched_inputs = _by_key(log, key, labelled[key], labels)
    if matches:
        log.add_labels(matches)
    unmatched = len(labelled) - matched_inputs
    if unmatched:
        notes.append(
            f"{unmatched} label(s) matched no logged prediction (check the request ids or the key values)"
        )
    return FeedbackSummary(
        received=len(frame), matched=matched_inputs, unmatched=unmatched, notes=notes
    )


def _labels(project: Project, values: pd.Series, where: str, line_of) -> list[Any]:
    def label_at(pos: int) -> str:
        return f"{where}: label {values.iloc[pos]!r} at {line_of(int(values.index[pos]))}"

    return get_kind(project.config.task).label_values(values, label_at)


def _by_request_id(frame: pd.DataFrame, where: str, line_of) -> list[tuple[str, int]]:
    rows = frame["row"] if "row" in frame.columns else pd.Series(0, index=frame.index)
    out = []
    for pos, (rid, row) in enumerate(zip(frame["request_id"], rows)):
        if not isinstance(rid, str) or not rid:
            raise DataError(
                f"{where}: request_id at {line_of(int(frame.index[pos]))} is {rid!r}; quote the request_id a /predict answer returned"
            )
        try:
            out.append((rid, int(row)))
        except (TypeError, ValueError):
            raise DataError(
                f"{where}: row at {line_of(int(frame.index[pos]))} is {row!r}, not a record position (0, 1, ...)"
            ) from None
    return out


def _key_texts(value: Any) -> list[str]:
    """How a key value may read in the JSON log (7, 7.0 and "7" all match)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return [str(int(value)), f"{int(value)}.0"]
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return [str(int(value)), f"{int(value)}.0"]
    return [str(value)]


def _by_key(
    log: PredictionLog, key: str, values: pd.Series, labels: list[Any]
) -> tuple[list[tuple[str, int, Any]], int]:
    label_of: dict[str, Any] = {}
    for value, label in zip(values, labels):
        for text in _key_texts(value):
            label_of[text] = label
    found = log.rows_with_key(key, sorted(label_of))
    matches = [(rid, i, label_of[text]) for rid, i, text in found]
    hit = {text for _, _, text in found}
    matched = sum(any(t in hit for t in _key_texts(v)) for v in values)
    return matches, matched
