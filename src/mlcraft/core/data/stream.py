"""Parquet data larger than memory: a file or a directory of files read in batches of rows.

What decides that data is streamed (:func:`should_stream`): its estimated size in memory, the
larger of ``rows x columns x 8`` bytes and the Parquet metadata's uncompressed size, against the
limit :func:`in_memory_limit` (``MLCRAFT_IN_MEMORY_LIMIT``, else
:data:`mlcraft.config.IN_MEMORY_SHARE` of the machine's memory). Smaller data is loaded whole, as
always; CSV is always loaded whole.

A streamed table is read with pyarrow (``ParquetFile.iter_batches``), one batch of rows at a time,
each batch normalised as :func:`mlcraft.core.data.load.load_table` normalises a whole table, so a
batch holds the same values and dtypes as the same rows of the loaded table. Its test split is
computed batch by batch with the rule of the kinds without a target (a hash of ``--id``, else of
each row: :func:`batch_is_test`), and its content is fingerprinted (:func:`fingerprint`) so that a
project that refers to it can refuse data that changed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mlcraft.config import IN_MEMORY_SHARE, env_in_memory_limit
from mlcraft.core.data.load import PARQUET_SUFFIXES, LoadedTable, TableChunks, _normalise_dtypes
from mlcraft.core.data.split import hash_fraction, row_fraction
from mlcraft.exceptions import DataError

__all__ = [
    "ParquetSource",
    "open_source",
    "is_parquet_source",
    "in_memory_limit",
    "should_stream",
    "fingerprint",
    "batch_is_test",
    "draw_sample",
    "BATCH_ROWS",
    "SAMPLE_ROWS",
    "format_bytes",
    "table_chunks",
]

BATCH_ROWS = 65_536  # rows per batch read (x 30 float64 columns: 16 MB)
SAMPLE_ROWS = 50_000  # rows the schema, the settings and the sampled families are learnt from
_HASH_BLOCK = 8 << 20


@dataclass(frozen=True)
class ParquetSource:
    """One Parquet file, or a directory of Parquet files with the same columns (read in name order)."""

    path: Path
    files: tuple[Path, ...]
    columns: tuple[str, ...]
    rows: int
    uncompressed_bytes: int

    @property
    def estimated_bytes(self) -> int:
        """Bytes in memory, estimated: at least 8 a value, or the uncompressed Parquet pages."""
        return max(self.rows * len(self.columns) * 8, self.uncompressed_bytes)

    def batches(
        self, batch_rows: int = BATCH_ROWS, columns: list[str] | None = None
    ) -> Iterator[tuple[int, pd.DataFrame]]:
        """``(position of the first row, frame)`` for each batch, in file then row order."""
        import pyarrow.parquet as pq

        start = 0
        for file in self.files:
            # pre_buffer=False: with pyarrow's default read-ahead cache the resident memory grew by
            # about the file's size over one pass (3M x 30 float64: +680 MB; without it: +80 MB)
            parquet = pq.ParquetFile(file, pre_buffer=False)
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
                frame = _normalise_dtypes(batch.to_pandas())
                frame.index = pd.RangeIndex(start, start + len(frame))
                yield start, frame
                start += len(frame)

    def describe(self) -> str:
        where = str(self.path) if len(self.files) == 1 else f"{self.path} ({len(self.files)} files)"
        return f"{where}: {self.rows:,} rows x {len(self.columns)} columns"


def format_bytes(n: float) -> str:
    """``1.5 GB``, ``200 MB``, ``12 kB``: a size for a message."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} bytes"


def is_parquet_source(data: object) -> bool:
    """A path to a Parquet file or to a directory (which must then hold Parquet files)."""
    if not isinstance(data, (str, os.PathLike)):
        return False
    path = Path(data)
    return path.is_dir() or path.suffix.lower() in PARQUET_SUFFIXES


def open_source(path: str | os.PathLike[str]) -> ParquetSource:
    """Read the metadata of a Parquet file or directory, refusing bad input in one line."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory; check the path")
    if path.is_dir():
        files = tuple(sorted(p for p in path.iterdir() if p.suffix.lower() in PARQUET_SUFFIXES))
        if not files:
            raise DataError(
                f"{path}: a directory with no Parquet files (*.parquet, *.pq); give a Parquet file or a directory of them"
            )
    else:
        files = (path,)
    columns: tuple[str, ...] | None = None
    types = None
    rows = size = 0
    for file in files:
        try:
            meta = pq.ParquetFile(file).metadata
            schema = pq.read_schema(file)
        except Exception as exc:  # pyarrow raises many types for a damaged file
            raise DataError(
                f"{file}: not a readable Parquet file ({type(exc).__name__}: {exc}); re-export it"
            ) from None
        names = tuple(schema.names)
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise DataError(
                f"{file}: column name {dup!r} appears more than once; rename the duplicates"
            )
        kinds = tuple(str(t) for t in schema.types)
        if columns is None:
            columns, types = names, kinds
        elif names != columns or kinds != types:
            raise DataError(
                f"{file}: its columns ({_columns(names, kinds)}) differ from those of {files[0].name} "
                f"({_columns(columns, types)}); a directory must hold files with the same columns"
            )
        rows += meta.num_rows
        size += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    assert columns is not None
    if not columns:
        raise DataError(f"{path}: no columns found; give a table with named columns")
    if rows == 0:
        raise DataError(f"{path}: no data rows; add rows or pick another file")
    return ParquetSource(path, files, columns, rows, size)


def _columns(names: tuple[str, ...], types) -> str:
    shown = ", ".join(f"{n} {t}" for n, t in list(zip(names, types))[:6])
    return shown + (", ..." if len(names) > 6 else "")


def in_memory_limit() -> int:
    """Bytes a table may take in memory and still be loaded whole (see the module's docstring)."""
    limit = env_in_memory_limit()
    if limit is not None:
        return limit
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: assume 8 GB
        total = 8 * 10**9
    return int(IN_MEMORY_SHARE * total)


def should_stream(data: object) -> bool:
    """Whether ``data`` is Parquet estimated larger than :func:`in_memory_limit` (a directory of
    Parquet files is always read through this module)."""
    if not is_parquet_source(data):
        return False
    assert isinstance(data, (str, os.PathLike))
    if Path(data).is_dir():
        return True
    if not Path(data).is_file():
        return False
    return open_source(data).estimated_bytes > in_memory_limit()


def fingerprint(source: ParquetSource) -> str:
    """A hash of every byte of every file (with their names): the data's identity for a project
    that refers to it instead of copying it."""
    digest = hashlib.blake2b(digest_size=8)
    for file in source.files:
        digest.update(file.name.encode() + b"\x1f")
        with open(file, "rb") as fh:
            while block := fh.read(_HASH_BLOCK):
                digest.update(block)
    return digest.hexdigest()


def batch_is_test(frame: pd.DataFrame, *, test_size: float, id_column: str | None) -> np.ndarray:
    """The test rows of one batch: the in-memory split's rule for the kinds without a target (a
    hash of the identifier, else of each row, below ``test_size``), which depends on the row only."""
    if test_size == 0:
        return np.zeros(len(frame), dtype=bool)
    if id_column is not None:
        return hash_fraction(frame[id_column]) < test_size
    return row_fraction(frame) < test_size


def draw_sample(
    source: ParquetSource, n: int, seed: int, batch_rows: int = BATCH_ROWS
) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` rows drawn uniformly (seeded) from the whole source, in their order, and their
    positions; one pass over the data, memory bounded by the sample and one batch."""
    rng = np.random.default_rng(seed)
    positions = np.sort(rng.choice(source.rows, size=min(n, source.rows), replace=False))
    parts = []
    for start, frame in source.batches(batch_rows):
        lo, hi = np.searchsorted(positions, [start, start + len(frame)])
        if hi > lo:
            parts.append(frame.iloc[positions[lo:hi] - start])
    return pd.concat(parts).reset_index(drop=True), positions


def table_chunks(path: str | os.PathLike[str], chunk_rows: int = BATCH_ROWS) -> TableChunks:
    """A Parquet file or directory as :class:`~mlcraft.core.data.load.TableChunks` (what
    ``predict`` scores chunk by chunk); each chunk's ``line_of`` names the row in the whole data."""
    source = open_source(path)
    state = {"done": 0}

    def chunks() -> Iterator[LoadedTable]:
        for start, frame in source.batches(chunk_rows):
            table = LoadedTable(frame.reset_index(drop=True), str(source.path), [])
            table.line_of = lambda i, start=start: f"row {start + i + 1}"  # type: ignore[method-assign,misc]  # offset per chunk
            state["done"] = start + len(frame)
            yield table

    return TableChunks(str(source.path), chunks(), source.rows, "rows", lambda: state["done"])
