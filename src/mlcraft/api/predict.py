"""Predictions for a table or a file, checked against the training schema."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlcraft import atomic
from mlcraft.core.data.load import iter_table_chunks, load_table
from mlcraft.core.predict.pipeline import Prediction
from mlcraft.exceptions import ConfigError

if TYPE_CHECKING:
    from mlcraft.api.project import Project

__all__ = ["predict_table", "predict_file", "PredictSummary", "write_table", "CHUNK_ROWS"]


@dataclass
class PredictSummary:
    out: Path
    rows: int
    version: int
    notes: list[str] = field(default_factory=list)


def predict_table(
    project: Project, data, *, version: int | None = None, encoding: str | None = None
) -> Prediction:
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


CHUNK_ROWS = 50_000  # rows per chunk when scoring a file (memory stays constant whatever its size)
MAX_NOTES = 10


def predict_file(
    project: Project,
    source,
    out,
    *,
    version: int | None = None,
    encoding: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[int, int, str], None] | None = None,
) -> PredictSummary:
    """Score a CSV or Parquet file (or a directory of Parquet files) of any size chunk by chunk
    into ``out`` (written atomically, Parquet through one ``ParquetWriter``): memory stays constant.

    ``progress(done, total, unit)`` is called after each chunk (unit: "bytes" or "rows"). A bad value
    anywhere stops the run with an error naming its line, and ``out`` is not written.
    """
    out = Path(out)
    if out.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise ConfigError(f"--out {out}: use a .csv or .parquet file name")
    resolved = version if version is not None else project.registry.require_champion()
    model = project.load_model(resolved)
    if Path(source).is_dir():  # a directory of Parquet files, read file by file
        from mlcraft.core.data.stream import table_chunks

        chunks = table_chunks(source, chunk_rows)
    else:
        chunks = iter_table_chunks(source, chunk_rows=chunk_rows, encoding=encoding)
    notes, rows = list(chunks.notes), 0
    with atomic.atomic_path(out) as tmp:
        writer = _ChunkWriter(tmp, out.suffix.lower())
        try:
            for table in chunks.chunks:
                prediction = model.predict(table.frame, where=table.source, line_of=table.line_of)
                writer.write(prediction.frame)
                rows += len(prediction.frame)
                notes += [n for n in prediction.notes if n not in notes]
                if progress is not None:
                    progress(chunks.done(), chunks.total, chunks.unit)
        finally:
            writer.close()
    if len(notes) > MAX_NOTES:
        notes = notes[:MAX_NOTES] + [f"... and {len(notes) - MAX_NOTES} more note(s)"]
    return PredictSummary(out, rows, resolved, notes)


class _ChunkWriter:
    """Appends prediction chunks to one CSV or Parquet file."""

    def __init__(self, path: Path, suffix: str):
        self.path, self.csv = path, suffix == ".csv"
        self._parquet: Any = None  # a pyarrow ParquetWriter, opened on the first chunk
        self._schema = None
        self._first = True

    def write(self, frame: pd.DataFrame) -> None:
        if self.csv:
            frame.to_csv(
                self.path, mode="w" if self._first else "a", header=self._first, index=False
            )
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False, schema=self._schema)
            if self._parquet is None:
                self._schema = table.schema
                self._parquet = pq.ParquetWriter(self.path, self._schema)
            self._parquet.write_table(table)
        self._first = False

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
