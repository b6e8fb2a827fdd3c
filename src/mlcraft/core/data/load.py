"""Load a table from CSV, Parquet or a DataFrame, and refuse bad input with one clear line.

CSV: the encoding (UTF-8, UTF-8 with BOM, UTF-16 by BOM, or Windows-1252 when the text is clean) and
the delimiter are detected; ragged rows and duplicate header names are errors naming the line.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mlcraft.exceptions import DataError

__all__ = [
    "LoadedTable",
    "load_table",
    "frame_hash",
    "check_finite",
    "require_columns",
    "detect_encoding",
    "TableChunks",
    "iter_table_chunks",
]

PARQUET_SUFFIXES = (".parquet", ".pq")
_DELIMITERS = [",", ";", "\t", "|"]
_CHUNK = 1 << 20


@dataclass
class LoadedTable:
    """A loaded table and what was noticed while loading it."""

    frame: pd.DataFrame
    source: str
    notes: list[str] = field(default_factory=list)
    first_line: int = 2  # file line of the first data row (CSV header is line 1)

    def line_of(self, position: int) -> str:
        """Where row ``position`` (0-based) came from, for error messages."""
        if self.source.endswith(PARQUET_SUFFIXES) or self.source == "<DataFrame>":
            return f"row {position + 1}"
        return f"line {position + self.first_line}"


def load_table(
    source: str | os.PathLike[str] | pd.DataFrame, *, encoding: str | None = None
) -> LoadedTable:
    """Load ``source`` into a DataFrame, checking it can be used.

    Parameters
    ----------
    source : path or DataFrame
        A ``.csv`` (any delimiter), ``.parquet`` file, or an in-memory DataFrame (copied).
    encoding : str, optional
        Force a text encoding instead of detecting it.

    Returns
    -------
    LoadedTable

    Examples
    --------
    >>> import pandas as pd
    >>> load_table(pd.DataFrame({"a": [1, 2]})).frame.shape
    (2, 1)
    """
    if isinstance(source, pd.DataFrame):
        table = LoadedTable(_check_frame_columns(source.copy(), "<DataFrame>"), "<DataFrame>")
    else:
        path = Path(source)
        _check_readable(path)
        if path.suffix.lower() in PARQUET_SUFFIXES:
            table = LoadedTable(_read_parquet(path), str(path))
        else:
            table = _read_csv(path, encoding)
    if len(table.frame.columns) == 0:
        raise DataError(
            f"{table.source}: no columns found; check that the file is a table with a header row"
        )
    if len(table.frame) == 0:
        raise DataError(
            f"{table.source}: no data rows (only a header); add rows or pick another file"
        )
    table.frame = _normalise_dtypes(table.frame)
    return table


@dataclass
class TableChunks:
    """A file read in chunks of rows: ``total`` and ``done()`` measure progress in ``unit``."""

    source: str
    chunks: Iterator[LoadedTable]
    total: int
    unit: str  # "bytes" (CSV) or "rows" (Parquet)
    done: Callable[[], int]
    notes: list[str] = field(default_factory=list)


def iter_table_chunks(
    source: str | os.PathLike[str], *, chunk_rows: int = 50_000, encoding: str | None = None
) -> TableChunks:
    """Read a CSV or Parquet file ``chunk_rows`` rows at a time, in constant memory.

    The same checks as :func:`load_table` (encoding, delimiter, ragged rows, duplicate names); each
    chunk's ``line_of`` names the line in the whole file.
    """
    path = Path(source)
    _check_readable(path)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return _parquet_chunks(path, chunk_rows)
    encoding, delimiter, header_line, notes = _csv_layout(path, encoding)
    fh = open(path, "rb")

    def chunks() -> Iterator[LoadedTable]:
        offset = 0
        try:
            reader = pd.read_csv(
                fh,
                sep=delimiter,
                encoding=encoding,
                skiprows=header_line - 1,
                chunksize=chunk_rows,
                low_memory=False,
                float_precision=FLOAT_PRECISION,
            )
            for frame in reader:
                yield LoadedTable(
                    _normalise_dtypes(frame), str(path), [], first_line=header_line + 1 + offset
                )
                offset += len(frame)
        except (pd.errors.ParserError, ValueError) as exc:
            raise DataError(
                f"{path}: cannot parse as CSV ({exc}); check quoting and delimiters"
            ) from None
        finally:
            fh.close()
        if offset == 0:
            raise DataError(f"{path}: no data rows (only a header); add rows or pick another file")

    return TableChunks(
        str(path),
        chunks(),
        path.stat().st_size,
        "bytes",
        lambda: fh.tell() if not fh.closed else path.stat().st_size,
        notes,
    )


def _read_csv_check_encoding(path: Path, encoding: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise DataError(
            f"--encoding {encoding!r} is not a known text encoding (try utf-8, latin-1, cp1252)"
        ) from None
    bad = _first_decode_error(path, encoding)
    if bad is not None:
        raise DataError(
            f"{path}: byte 0x{bad[1]:02x} at offset {bad[0]} is not valid {encoding}; pick another --encoding"
        )


def _parquet_chunks(path: Path, chunk_rows: int) -> TableChunks:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path, pre_buffer=False)  # the read-ahead cache grows with the file
        _check_duplicate_names(parquet.schema_arrow.names, str(path))
    except DataError:
        raise
    except Exception as exc:
        raise DataError(
            f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc}); re-export it"
        ) from None
    total = parquet.metadata.num_rows
    if total == 0:
        raise DataError(f"{path}: no data rows; add rows or pick another file")
    state = {"done": 0}

    def chunks() -> Iterator[LoadedTable]:
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            frame = _normalise_dtypes(batch.to_pandas())
            table = LoadedTable(frame, str(path), [])
            start = state["done"]
            table.line_of = lambda i, start=start: f"row {start + i + 1}"  # type: ignore[method-assign,misc]  # offset per chunk
            state["done"] += len(frame)
            yield table

    return TableChunks(str(path), chunks(), total, "rows", lambda: state["done"])


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise DataError(
            f"{path}: no such file; check the path (relative paths start at {Path.cwd()})"
        )
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a data file; give a .csv or .parquet file")
    if not os.access(path, os.R_OK):
        raise DataError(f"{path}: permission denied; make the file readable (chmod +r) or copy it")
    if path.stat().st_size == 0:
        raise DataError(
            f"{path}: the file is empty (0 bytes); give a file with a header row and data rows"
        )


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
        _check_duplicate_names(names, str(path))
        frame = pd.read_parquet(path)
    except DataError:
        raise
    except Exception as exc:  # pyarrow raises many types for a damaged file
        raise DataError(
            f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc}); re-export it"
        ) from None
    return frame


def detect_encoding(path: Path) -> tuple[str, str | None]:
    """Return ``(encoding, note)``; raise :class:`DataError` if the bytes are not text we can read."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", None
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", "read as UTF-16 (byte-order mark found)"
    bad = _first_decode_error(path, "utf-8")
    if bad is None:
        return "utf-8", None
    if _first_decode_error(path, "cp1252") is None and _looks_like_text(path, "cp1252"):
        return (
            "cp1252",
            "not UTF-8: read as Windows-1252 (Latin-1); pass --encoding to choose another",
        )
    offset, byte = bad
    raise DataError(
        f"{path}: not UTF-8 text (byte 0x{byte:02x} at offset {offset}) and no other encoding fits; "
        "re-save the file as UTF-8 or pass --encoding"
    )


def _first_decode_error(path: Path, encoding: str) -> tuple[int, int] | None:
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return offset + exc.start, chunk[exc.start]
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return offset, 0
    return None


def _looks_like_text(path: Path, encoding: str) -> bool:
    """Control characters (other than tab/CR/LF) mean binary data, whatever decodes."""
    with open(path, encoding=encoding, newline="") as fh:
        while chunk := fh.read(_CHUNK):
            if any(ord(ch) < 32 and ch not in "\t\r\n" for ch in chunk):
                return False
    return True


def _sniff_delimiter(sample: str) -> str:
    lines = [line for line in sample.splitlines() if line.strip()][:50]
    if not lines:
        return ","
    best, best_score = ",", -1.0
    for delim in _DELIMITERS:
        counts = [len(next(csv.reader([line], delimiter=delim))) for line in lines]
        if counts[0] < 2:
            continue
        consistent = sum(c == counts[0] for c in counts) / len(counts)
        score = consistent * 1000 + counts[0]
        if score > best_score:
            best, best_score = delim, score
    return best


def _csv_layout(path: Path, encoding: str | None) -> tuple[str, str, int, list[str]]:
    """``(encoding, delimiter, header line, notes)`` of a CSV file, after checking every row."""
    notes: list[str] = []
    if encoding is None:
        encoding, note = detect_encoding(path)
        if note:
            notes.append(note)
    else:
        _read_csv_check_encoding(path, encoding)
    with open(path, encoding=encoding, newline="") as fh:
        sample = fh.read(64 * 1024)
    delimiter = _sniff_delimiter(sample)
    return encoding, delimiter, _scan_rows(path, encoding, delimiter), notes


def _read_csv(path: Path, encoding: str | None) -> LoadedTable:
    encoding, delimiter, header_line, notes = _csv_layout(path, encoding)
    try:
        frame = pd.read_csv(
            path,
            sep=delimiter,
            encoding=encoding,
            low_memory=False,
            skiprows=header_line - 1,
            float_precision=FLOAT_PRECISION,
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(
            f"{path}: cannot parse as CSV ({exc}); check quoting and delimiters"
        ) from None
    if delimiter != ",":
        notes.append(f"delimiter detected: {delimiter!r}")
    return LoadedTable(frame, str(path), notes, first_line=header_line + 1)


def _scan_rows(path: Path, encoding: str, delimiter: str) -> int:
    """Check the header and that every row has as many fields as the header; return the header's line."""
    with open(path, encoding=encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        header: list[str] | None = None
        header_line = 1
        for row in reader:
            if header is None:
                if not row or all(not cell.strip() for cell in row):
                    header_line = reader.line_num + 1
                    continue  # leading blank lines
                header = row
                _check_duplicate_names([c.strip() for c in header], str(path))
                if any(not c.strip() for c in header):
                    pos = [i + 1 for i, c in enumerate(header) if not c.strip()]
                    raise DataError(
                        f"{path}: line {reader.line_num}: header has an empty column name at position {pos[0]}; name every column"
                    )
                continue
            if not row:
                continue  # blank line: pandas skips it too
            if len(row) != len(header):
                raise DataError(
                    f"{path}: line {reader.line_num} has {len(row)} fields but the header has {len(header)} "
                    "(ragged CSV); fix that row or quote fields that contain the delimiter"
                )
    if header is None:
        raise DataError(f"{path}: no header row and no data; give a CSV with a header row")
    return header_line


def _check_duplicate_names(names: Iterable[str], where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataError(
                f"{where}: column name {name!r} appears more than once; rename the duplicates"
            )
        seen.add(name)


def _check_frame_columns(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    names = [str(c) for c in frame.columns]
    _check_duplicate_names(names, where)
    frame.columns = names
    return frame.reset_index(drop=True)


def _normalise_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns holding mixed Python objects become strings (keeping missing values)."""
    for name in frame.columns:
        col = frame[name]
        if col.dtype == object:
            non_null = col.dropna()
            types = {type(v) for v in non_null.iloc[:1000]}
            if len(types) > 1 or (types and not types <= {str}):
                if types <= {bool, np.bool_}:
                    continue
                frame[name] = col.map(lambda v: v if pd.isna(v) else str(v)).astype(object)
    return frame


def frame_hash(frame: pd.DataFrame) -> str:
    """Content hash of a table: column names, dtypes and every value (order matters)."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, frame.columns)).encode())
    digest.update("\x1f".join(str(t) for t in frame.dtypes).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def require_columns(
    frame: pd.DataFrame, columns: Iterable[str], where: str, what: str = "column"
) -> None:
    """Raise a :class:`DataError` naming the first missing column and the closest existing names."""
    for name in columns:
        if name not in frame.columns:
            close = difflib.get_close_matches(name, list(map(str, frame.columns)), n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            available = ", ".join(map(str, list(frame.columns)[:12]))
            more = "..." if len(frame.columns) > 12 else ""
            raise DataError(
                f"{where}: {what} {name!r} not found{hint} (columns: {available}{more})"
            )


# a number written by Python reads back as the same float (pandas 2's C parser defaults to a
# faster "high" precision that can differ in the last bit: a re-exported row would then look new)
FLOAT_PRECISION = "round_trip"
MAX_MAGNITUDE = 1e150  # larger numbers overflow float64 once scaled, squared or multiplied


def check_magnitude(
    values: np.ndarray,
    name: str,
    where: str,
    at: Callable[[int], str],
    error: type[DataError] = DataError,
) -> None:
    """Refuse numbers too large to compute with, naming the column and the first place that holds one."""
    huge = np.abs(values) > MAX_MAGNITUDE
    if huge.any():
        first = int(np.flatnonzero(huge)[0])
        raise error(
            f"{where}: column {name!r} holds {values[first]:.3g} at {at(first)}, too large to compute with (the limit is "
            f"{MAX_MAGNITUDE:.0e} in magnitude: scaling or squaring it would overflow); fix the value or leave it empty"
        )


def check_finite(frame: pd.DataFrame, where: str, line_of=None) -> None:
    """Refuse infinite values (and numbers too large to compute with), naming the column and the
    first row that holds one."""
    at = line_of or (lambda i: f"row {i + 1}")
    for name in frame.columns:
        col = frame[name]
        if not pd.api.types.is_float_dtype(col.dtype):
            continue
        values = col.to_numpy(dtype=float, na_value=np.nan)
        bad = np.isinf(values)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{where}: column {name!r} has {int(bad.sum())} infinite value(s) (first at {at(first)}: {values[first]}); "
                "replace them with a finite number or leave the cell empty (missing)"
            )
        check_magnitude(values, name, where, at)
