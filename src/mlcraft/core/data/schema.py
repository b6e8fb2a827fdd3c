"""Column roles, inferred from the data, and the input contract a trained model enforces.

Roles: numeric, categorical (strings, low-cardinality integers, booleans), datetime, identifier
(unique per row: never a feature, decides the stable split), text (long strings with many unique
values), constant and empty (dropped with a note), dropped (by the user).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from mlcraft.core.data.load import MAX_MAGNITUDE, check_magnitude
from mlcraft.exceptions import DataError, SchemaError

__all__ = [
    "Role",
    "FEATURE_ROLES",
    "ColumnInfo",
    "Schema",
    "infer_schema",
    "detect_identifier",
    "as_category_strings",
    "looks_like_id_name",
    "refresh_schema",
    "FeatureColumns",
    "column_values",
    "FAST_RECORDS",
]

MAX_INT_CATEGORIES = 10  # integer columns with at most this many values are categorical
MAX_STORED_CATEGORIES = 1000
TEXT_MIN_WORDS = 3.0
TEXT_MIN_LENGTH = 40.0
HIGH_CARDINALITY = 50
FAST_RECORDS = 64  # JSON requests of up to this many records are checked without building a frame


class Role(str, Enum):  # noqa: UP042 (StrEnum changes str(Role.X) to the value: behaviour)
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    DATETIME = "datetime"
    IDENTIFIER = "identifier"
    TEXT = "text"
    CONSTANT = "constant"
    EMPTY = "empty"
    DROPPED = "dropped"


FEATURE_ROLES = (Role.NUMERIC, Role.CATEGORICAL, Role.DATETIME)


@dataclass(frozen=True)
class ColumnInfo:
    """What was learned about one column on the training rows."""

    name: str
    role: Role
    dtype: str
    n_unique: int
    n_missing: int
    note: str | None = None
    categories: tuple[str, ...] | None = None  # seen categories, when there are not too many
    low: float | None = None  # numeric range seen in training
    high: float | None = None

    @property
    def is_feature(self) -> bool:
        return self.role in FEATURE_ROLES


@dataclass(frozen=True)
class Schema:
    """The columns of a training table, by role, plus the target."""

    target: str | None  # None: a kind without a target (clustering)
    columns: tuple[ColumnInfo, ...]
    n_rows: int
    target_dtype: str = "float64"
    notes: tuple[str, ...] = field(default=())

    def names(self, *roles: Role) -> list[str]:
        return [c.name for c in self.columns if c.role in roles]

    @property
    def numeric(self) -> list[str]:
        return self.names(Role.NUMERIC)

    @property
    def categorical(self) -> list[str]:
        return self.names(Role.CATEGORICAL)

    @property
    def datetime(self) -> list[str]:
        return self.names(Role.DATETIME)

    @property
    def features(self) -> list[str]:
        return [c.name for c in self.columns if c.is_feature]

    def column(self, name: str) -> ColumnInfo:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        for col in doc["columns"]:
            col["role"] = col["role"].value
            if col["categories"] is not None:
                col["categories"] = list(col["categories"])
        doc["notes"] = list(self.notes)
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Schema:
        columns = []
        for col in doc["columns"]:
            col = dict(col)
            col["role"] = Role(col["role"])
            if col.get("categories") is not None:
                col["categories"] = tuple(col["categories"])
            columns.append(ColumnInfo(**col))
        return cls(
            target=doc["target"],
            columns=tuple(columns),
            n_rows=doc["n_rows"],
            target_dtype=doc.get("target_dtype", "float64"),
            notes=tuple(doc.get("notes", ())),
        )

    # -- the input contract ------------------------------------------------------------------
    def coerce(
        self,
        frame: pd.DataFrame,
        *,
        where: str = "input",
        line_of: Callable[[int], str] | None = None,
    ) -> tuple[pd.DataFrame, list[str]]:
        """Check ``frame`` against the schema and return ``(features, notes)``.

        Missing feature columns and values that cannot be converted to the column's type are
        :class:`SchemaError`; extra columns and unseen categories are notes, not errors.
        """
        features = self.features
        missing = [name for name in features if name not in frame.columns]
        if missing:
            listed = ", ".join(map(repr, missing[:5])) + (" ..." if len(missing) > 5 else "")
            raise SchemaError(
                f"{where}: missing column(s) {listed} that the model was trained with; "
                "add them (empty values are allowed)"
            )
        notes = self._extra_columns_note(frame.columns)
        at = line_of or (lambda i: f"row {i + 1}")
        out: dict[str, Any] = {}
        for col in self.columns:
            if not col.is_feature:
                continue
            values = frame[col.name]
            if col.role is Role.NUMERIC:
                out[col.name] = _to_float(values, col.name, where, at)
            elif col.role is Role.CATEGORICAL:
                out[col.name] = strings = as_category_strings(values)
                notes += _unseen_note(col, strings)
            else:
                out[col.name] = _to_datetime(values, col.name, where, at)
        result = pd.DataFrame(out, index=frame.index)
        return result, notes

    def coerce_records(
        self, records: list[dict[str, Any]]
    ) -> tuple[FeatureColumns, list[str]] | None:
        """:meth:`coerce` for a few JSON records whose values are plainly typed (numbers or null in
        numeric columns, strings or null in categorical ones), without building a pandas frame.

        Returns None when anything needs the general path (a missing key, a number written as a
        string, a value too large, a datetime column, many records): ``coerce`` on the records'
        frame then gives the same features, or the error that names the column and record.
        """
        plan = self._record_plan
        if len(records) > FAST_RECORDS or plan.has_datetime:
            return None
        notes = self._extra_columns_note(dict.fromkeys(k for record in records for k in record))
        data: dict[str, np.ndarray] = {}
        try:
            flat = [record[name] for name in plan.numeric for record in records]
            for col in plan.categorical:
                values = [record[col.name] for record in records]
                if not all(v is None or type(v) is str for v in values):
                    return None
                data[col.name] = strings = np.array(
                    [np.nan if v is None else v for v in values], dtype=object
                )
                notes += _unseen_note(col, strings)
        except KeyError:
            return None
        if flat:
            for v in flat:  # plain numbers within the magnitude limit (NaN: missing, as in coerce)
                if v is not None and (
                    not (type(v) is float or type(v) is int)
                    or (not -MAX_MAGNITUDE <= v <= MAX_MAGNITUDE and v == v)
                ):
                    return None
            numbers = np.array([np.nan if v is None else v for v in flat], dtype=float).reshape(
                len(plan.numeric), len(records)
            )
            data.update(zip(plan.numeric, numbers))
        data = {name: data[name] for name in plan.features}  # the schema's order
        return FeatureColumns(data, len(records)), notes

    @functools.cached_property
    def _record_plan(self) -> _RecordPlan:
        """The feature columns by role, worked out once per schema (requests are checked against it)."""
        features = [c for c in self.columns if c.is_feature]
        return _RecordPlan(
            features=tuple(c.name for c in features),
            numeric=tuple(c.name for c in features if c.role is Role.NUMERIC),
            categorical=tuple(c for c in features if c.role is Role.CATEGORICAL),
            has_datetime=any(c.role is Role.DATETIME for c in features),
            known=frozenset(c.name for c in self.columns)
            | ({self.target} if self.target is not None else set()),
        )

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop(
            "_record_plan", None
        )  # derived: a pickled schema is the same whether or not it served
        return state

    def _extra_columns_note(self, names: Iterable[Any]) -> list[str]:
        known = self._record_plan.known
        extra = [str(name) for name in names if name not in known]
        if not extra:
            return []
        return [
            f"ignored {len(extra)} column(s) the model does not use: {', '.join(extra[:5])}"
            + (" ..." if len(extra) > 5 else "")
        ]

    def coerce_target(self, values: pd.Series, numeric: bool, where: str = "data") -> pd.Series:
        """The target column, converted to numbers when ``numeric`` (the kind's ``numeric_target``)."""
        if numeric:
            return _to_float(values, str(self.target), where, lambda i: f"row {i + 1}")
        return values


class _RecordPlan(NamedTuple):
    features: tuple[str, ...]
    numeric: tuple[str, ...]
    categorical: tuple[ColumnInfo, ...]
    has_datetime: bool
    known: frozenset[str]


class FeatureColumns:
    """Checked features as NumPy columns by name (what :meth:`Schema.coerce_records` returns):
    numbers as floats (NaN: missing), categories as strings (NaN: missing)."""

    __slots__ = ("data", "n_rows")

    def __init__(self, data: dict[str, np.ndarray], n_rows: int):
        self.data = data
        self.n_rows = n_rows

    def __len__(self) -> int:
        return self.n_rows

    @property
    def columns(self) -> list[str]:
        return list(self.data)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.data)

    @classmethod
    def concat(cls, parts: list[FeatureColumns]) -> FeatureColumns:
        names = parts[0].columns
        return cls(
            {n: np.concatenate([p.data[n] for p in parts]) for n in names},
            sum(p.n_rows for p in parts),
        )


def column_values(features: pd.DataFrame | FeatureColumns, name: str) -> np.ndarray:
    """One column of checked features as a NumPy array, from a frame or :class:`FeatureColumns`."""
    if isinstance(features, FeatureColumns):
        return features.data[name]
    return features[name].to_numpy()


@functools.lru_cache(maxsize=256)
def category_set(categories: tuple[str, ...]) -> frozenset[str]:
    """The seen categories of a column as a set, built once (requests check against it)."""
    return frozenset(categories)


def _unseen_note(col: ColumnInfo, strings: np.ndarray) -> list[str]:
    if col.categories is None:
        return []
    seen = category_set(col.categories)
    unseen = list(dict.fromkeys(v for v in strings if isinstance(v, str) and v not in seen))
    if not unseen:
        return []
    count = sum(1 for v in strings if isinstance(v, str) and v not in seen)
    return [
        f"column {col.name!r}: {count} row(s) with categories not seen in training (e.g. {unseen[0]!r}); they are treated as infrequent"
    ]


def looks_like_id_name(name: str) -> bool:
    lower = name.lower().strip()
    return (
        lower in {"id", "uuid", "guid", "key", "index"}
        or lower.endswith(("_id", "-id", " id", "uuid", "guid"))
        or name.endswith(("Id", "ID"))
    )


def as_category_strings(values: pd.Series) -> np.ndarray:
    """Categories as strings, the same way at training and at serving (1, 1.0 and "1" agree).

    Vectorised for the usual column types; mixed Python objects take the element-wise path.
    """
    dtype = values.dtype
    missing = values.isna().to_numpy()
    if pd.api.types.is_bool_dtype(dtype):
        out = np.where(values.fillna(False).to_numpy(dtype=bool), "True", "False").astype(object)
    elif pd.api.types.is_integer_dtype(dtype):
        out = values.to_numpy(dtype=float, na_value=0).astype(np.int64).astype(str).astype(object)
    elif pd.api.types.is_float_dtype(dtype):
        arr = values.to_numpy(dtype=float, na_value=np.nan)
        integral = np.isfinite(arr) & (np.mod(arr, 1) == 0) & (np.abs(arr) < 2.0**53)
        out = np.empty(len(arr), dtype=object)
        out[integral] = arr[integral].astype(np.int64).astype(str)
        rest = ~integral & ~missing
        out[rest] = [str(v) for v in arr[rest]]
    elif pd.api.types.is_string_dtype(dtype) and pd.api.types.infer_dtype(values, skipna=True) in (
        "string",
        "empty",
    ):
        out = values.to_numpy(dtype=object, copy=True)  # (may be a read-only view otherwise)
    else:
        return _category_strings_elementwise(values)
    out[missing] = np.nan
    return out


def _category_strings_elementwise(values: pd.Series) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    arr = values.to_numpy(dtype=object)
    for i, v in enumerate(arr):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
            out[i] = np.nan
        elif isinstance(v, (bool, np.bool_)):
            out[i] = "True" if v else "False"
        elif (
            isinstance(v, (float, np.floating))
            and float(v).is_integer()
            and abs(float(v)) < 2.0**53
        ):
            out[i] = str(int(v))
        else:
            out[i] = str(v)
    return out


def _to_float(values: pd.Series, name: str, where: str, at: Callable[[int], str]) -> np.ndarray:
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
    else:
        raw = values.astype(object)
        blank = raw.map(lambda v: isinstance(v, str) and not v.strip())
        raw = raw.mask(blank)
        numbers = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = np.isnan(numbers) & raw.notna().to_numpy()
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise SchemaError(
                f"{where}: column {name!r} expects numbers, but {at(first)} holds {raw.iloc[first]!r}; "
                "fix the value or leave the cell empty"
            )
    inf = np.isinf(numbers)
    if inf.any():
        first = int(np.flatnonzero(inf)[0])
        raise SchemaError(
            f"{where}: column {name!r} has an infinite value at {at(first)}; use a finite number or leave it empty"
        )
    check_magnitude(numbers, name, where, at, SchemaError)
    return numbers


def _parse_datetimes(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.to_datetime(values.astype(object), errors="coerce", format="mixed")


def _to_datetime(values: pd.Series, name: str, where: str, at: Callable[[int], str]) -> pd.Series:
    parsed = _parse_datetimes(values)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert(None)
    bad = parsed.isna().to_numpy() & values.notna().to_numpy()
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise SchemaError(
            f"{where}: column {name!r} expects dates, but {at(first)} holds {values.iloc[first]!r}; "
            "use a date such as 2024-01-31 or leave the cell empty"
        )
    return parsed


# -- inference --------------------------------------------------------------------------------
def detect_identifier(frame: pd.DataFrame, target: str, explicit: str | None = None) -> str | None:
    """The identifier column used for the stable split: given, or a unique id-like column."""
    if explicit is not None:
        if explicit not in frame.columns:
            raise DataError(f"--id {explicit!r}: no such column")
        if frame[explicit].isna().any():
            raise DataError(
                f"--id {explicit!r}: the identifier column has missing values; fill them or pick another column"
            )
        return explicit
    candidates = [c for c in frame.columns if c != target and _is_identifier(frame[c])]
    named = [c for c in candidates if looks_like_id_name(c)]
    return (named or candidates or [None])[0]


def _is_identifier(values: pd.Series) -> bool:
    if values.isna().any() or len(values) < 2:
        return False
    if not values.is_unique:
        return False
    if pd.api.types.is_integer_dtype(values.dtype):
        ordered = np.sort(values.to_numpy())
        return looks_like_id_name(str(values.name)) or bool(np.all(np.diff(ordered) == 1))
    if pd.api.types.is_string_dtype(values.dtype) or values.dtype == object:
        return not _is_text(values)
    return False


def _is_text(values: pd.Series) -> bool:
    sample = values.dropna().astype(str).iloc[:2000]
    if sample.empty:
        return False
    words = sample.str.split().str.len().mean()
    length = sample.str.len().mean()
    return bool(words >= TEXT_MIN_WORDS or length >= TEXT_MIN_LENGTH)


def _looks_like_dates(values: pd.Series) -> bool:
    sample = values.dropna().astype(str).iloc[:200]
    if sample.empty or not sample.str.contains(r"\d").all():
        return False
    if not sample.str.contains(r"\d[-/:.]\d|\d{4}-\d").all() or sample.str.len().min() < 6:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= 0.95)


def _infer_role(values: pd.Series, n_rows: int) -> tuple[Role, str | None]:
    non_null = values.dropna()
    n_unique = int(non_null.nunique())
    if non_null.empty:
        return Role.EMPTY, "entirely missing: dropped"
    if n_unique == 1 and len(non_null) == len(values):
        return Role.CONSTANT, f"a single value ({non_null.iloc[0]!r}): dropped"
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return Role.CATEGORICAL, None
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return Role.DATETIME, "expanded into year, month, day, weekday and hour"
    if pd.api.types.is_numeric_dtype(dtype):
        if pd.api.types.is_integer_dtype(dtype) and n_unique <= MAX_INT_CATEGORIES:
            return Role.CATEGORICAL, f"integer with {n_unique} values: categorical"
        return Role.NUMERIC, None
    if _looks_like_dates(values):
        return Role.DATETIME, "dates: expanded into year, month, day, weekday and hour"
    if n_unique > 0.5 * len(non_null) and _is_text(values):
        return Role.TEXT, f"free text ({n_unique} distinct values): dropped for now"
    if n_unique > HIGH_CARDINALITY:
        return Role.CATEGORICAL, f"high cardinality ({n_unique} values): rare ones grouped"
    return Role.CATEGORICAL, None


def infer_schema(
    frame: pd.DataFrame,
    target: str | None,
    *,
    categorical: Iterable[str] = (),
    drop: Iterable[str] = (),
    id_column: str | None = None,
) -> Schema:
    """Give every column of ``frame`` (the training rows) a role.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"x": [1.5, 2.5, 3.5], "c": ["a", "b", "a"], "y": [0.1, 0.2, 0.3]})
    >>> [(c.name, c.role.value) for c in infer_schema(df, "y").columns]
    [('x', 'numeric'), ('c', 'categorical')]
    """
    categorical, drop = set(categorical), set(drop)
    for name in categorical | drop:
        if name not in frame.columns:
            raise DataError(f"role override: column {name!r} not found in the data")
        if name == target:
            raise DataError(
                f"role override: {name!r} is the target; it cannot be dropped or made a feature"
            )
    columns = []
    n_rows = len(frame)
    for name in frame.columns:
        if name == target:
            continue
        values = frame[name]
        note: str | None
        if name in drop:
            role, note = Role.DROPPED, "dropped by the user"
        elif name == id_column:
            role, note = Role.IDENTIFIER, "identifier: not a feature; decides the stable test split"
        elif name in categorical:
            role, note = Role.CATEGORICAL, "categorical (set by the user)"
        else:
            role, note = _infer_role(values, n_rows)
            if (
                role in (Role.NUMERIC, Role.CATEGORICAL)
                and _is_identifier(values)
                and looks_like_id_name(name)
            ):
                role, note = Role.IDENTIFIER, "unique per row: identifier, not a feature"
            elif role is Role.CATEGORICAL and values.is_unique and n_rows >= 20:
                role, note = Role.IDENTIFIER, "unique per row: identifier, not a feature"
        columns.append(_describe(name, values, role, note))
    schema = Schema(
        target=target,
        columns=tuple(columns),
        n_rows=n_rows,
        target_dtype="none" if target is None else str(frame[target].dtype),
    )
    if not schema.features:
        raise DataError(
            "no usable feature columns: every column is the target, an identifier, text, constant or empty; "
            "add feature columns or override roles with --categorical"
        )
    return schema


def _describe(name: str, values: pd.Series, role: Role, note: str | None) -> ColumnInfo:
    categories = low = high = None
    if role is Role.CATEGORICAL:
        strings = pd.unique(as_category_strings(values))
        strings = sorted(s for s in strings if isinstance(s, str))
        categories = tuple(strings) if len(strings) <= MAX_STORED_CATEGORIES else None
    elif role is Role.NUMERIC:
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
        finite = numbers[np.isfinite(numbers)]
        if finite.size:
            low, high = float(finite.min()), float(finite.max())
    return ColumnInfo(
        name=name,
        role=role,
        dtype=str(values.dtype),
        n_unique=int(values.nunique(dropna=True)),
        n_missing=int(values.isna().sum()),
        note=note,
        categories=categories,
        low=low,
        high=high,
    )


def refresh_schema(schema: Schema, frame: pd.DataFrame) -> Schema:
    """``schema`` with its statistics (categories, ranges, counts) re-learned on ``frame``; roles kept.

    For retraining on a new dataset version: a column never changes role, but new categories and a
    wider range become part of what the model has seen.
    """
    from dataclasses import replace

    columns = tuple(
        _describe(c.name, frame[c.name], c.role, c.note) if c.name in frame.columns else c
        for c in schema.columns
    )
    return replace(schema, columns=columns, n_rows=len(frame))
