"""Values made safe for JSON: the one cleaner every writer of JSON uses.

NumPy scalars become Python numbers, arrays and tuples lists, paths strings, NaN, infinities and
pandas' missing markers ``None`` (strict JSON has no NaN); mapping keys become strings. NumPy and
pandas are never imported here: a value can only be theirs if they are loaded already.

Examples
--------
>>> import math
>>> clean({"a": (1, math.nan), 2: float("inf")})
{'a': [1, None], '2': None}
>>> dumps({"x": math.nan})
'{"x": null}'
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

__all__ = ["native", "clean", "scalar", "default", "dumps"]

_PLAIN = (str, int, float, bool, type(None))


def native(value: Any) -> Any:
    """``value`` with a NumPy scalar (``np.int64``, ``np.float32``, ``np.bool_``...) as the Python one."""
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.generic):
        return value.item()
    return value


def _missing(value: Any) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and (value is pandas.NA or value is pandas.NaT)


def clean(value: Any) -> Any:
    """``value`` as strict JSON would hold it: recursively, NumPy values as Python ones, tuples and
    arrays as lists, paths as strings, NaN, infinities and ``pd.NA``/``NaT`` as None, keys as strings.
    Anything else (a datetime, an object) is left as it is."""
    if isinstance(value, float):  # np.float64 included
        return float(value) if math.isfinite(value) else None
    if type(value) in _PLAIN:
        return value
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if _missing(value):
        return None
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        if isinstance(value, numpy.ndarray):
            return clean(value.tolist())
        if isinstance(value, numpy.generic):
            return clean(value.item())
    return value


def scalar(value: Any) -> Any:
    """One JSON scalar (a logged record's value, a prediction, a label): :func:`clean`'s conversions,
    and anything that is still not a string, number, boolean or None (a list, a date) as its string.

    >>> scalar([1, 2]), scalar(float("nan"))
    ('[1, 2]', None)
    """
    if isinstance(value, (dict, list, tuple)):
        return str(value)
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.ndarray):
        return str(value)
    value = clean(value)
    return value if type(value) in _PLAIN else str(value)


def default(obj: Any) -> Any:
    """``json.dumps``' ``default`` hook for writers that keep NaN as NaN (``allow_nan=True``): NumPy
    scalars and arrays, paths; anything else is refused (``TypeError``)."""
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        if isinstance(obj, numpy.generic):
            return obj.item()
        if isinstance(obj, numpy.ndarray):
            return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps(value: Any, **kwargs: Any) -> str:
    """``value`` as strict JSON text (see :func:`clean`); what is still not JSON is written as its string."""
    return json.dumps(clean(value), allow_nan=False, default=str, **kwargs)
