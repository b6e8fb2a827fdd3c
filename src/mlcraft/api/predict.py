"""Predictions for a table or a file, checked against the training schema."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from mlcraft import atomic
from mlcraft.core.data import load_table
from mlcraft.core.pipeline import Prediction
from mlcraft.exceptions import ConfigError

if TYPE_CHECKING:
    from mlcraft.api.project import Project

__all__ = ["predict_table", "predict_file", "PredictSummary", "write_table"]


@dataclass
class PredictSummary:
    out: Path
    rows: int
    version: int
    notes: list[str] = field(default_factory=list)


def predict_table(project: Project, data, *, version: int | None = None, encoding: str | None = None) -> Prediction:
    table = load_table(data, encoding=encoding)
    model = project.load_model(version)
    prediction = model.predict(table.frame, where=table.source, line_of=table.line_of)
    prediction.notes[:0] = table.notes
    return prediction


def write_table(frame: pd.DataFrame, out: str | os.PathLike[str]) -> Path:
    """Write CSV (or Parquet, by suffix) atomically."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise ConfigError(f"--out {out}: use a .csv or .parquet file name")
    with atomic.atomic_path(out) as tmp:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
    return out


def predict_file(project: Project, source, out, *, version: int | None = None, encoding: str | None = None) -> PredictSummary:
    resolved = version if version is not None else project.registry.require_champion()
    prediction = predict_table(project, source, version=resolved, encoding=encoding)
    path = write_table(prediction.frame, out)
    return PredictSummary(path, len(prediction.frame), resolved, prediction.notes)
