"""The test split, set aside before anything looks at the data, and the cross-validation folds.

With an identifier column, a row's side is decided by a hash of its identifier, so a row keeps its
side when the dataset is refreshed with new rows (the book's stable split). Without one, a seeded
stratified shuffle (on the class, or on quantile bins of the target or of ``stratify_on``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold, StratifiedShuffleSplit

from mlcraft.config import check_test_size
from mlcraft.exceptions import DataError

__all__ = ["TestSplit", "split_test", "hash_fraction", "row_fraction", "cv_folds", "strata"]

N_BINS = 5


@dataclass(frozen=True)
class TestSplit:
    """Which rows are test rows, and how that was decided."""

    is_test: np.ndarray  # bool per row
    method: str  # "hash" | "stratified" | "random" | "none"

    @property
    def n_test(self) -> int:
        return int(self.is_test.sum())


def hash_fraction(values: pd.Series) -> np.ndarray:
    """A stable number in [0, 1) per identifier (integral floats hash like ints: 7.0 == 7)."""

    def key(v: object) -> bytes:
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            v = int(v)
        return str(v).encode("utf-8")

    out = np.empty(len(values), dtype=float)
    for i, v in enumerate(values.to_numpy(dtype=object)):
        digest = hashlib.blake2b(key(v), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "big") / 2.0**64
    return out


def row_fraction(frame: pd.DataFrame) -> np.ndarray:
    """A stable number in [0, 1) per row from its content (for rows without an identifier)."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)
    return hashed / 2.0**64


def strata(values: pd.Series, *, classification: bool, n_bins: int = N_BINS) -> np.ndarray | None:
    """Labels to stratify on: the class, or quantile bins of a numeric column (None if impossible)."""
    if classification or not pd.api.types.is_numeric_dtype(values.dtype):
        labels = values.astype(str).to_numpy()
    else:
        numbers = values.to_numpy(dtype=float)
        edges = np.unique(np.nanquantile(numbers, np.linspace(0, 1, n_bins + 1)[1:-1]))
        labels = np.digitize(numbers, edges).astype(str)
        labels[np.isnan(numbers)] = "missing"
    counts = pd.Series(labels).value_counts()
    if (counts < 2).any():
        return None  # a stratum of one row cannot be split
    return labels


def _check_sides(n: int, n_test: int, test_size: float) -> None:
    if n_test < 1 or n - n_test < 2:
        raise DataError(
            f"{n} rows cannot be split with test size {test_size} (--test-size): that leaves {n_test} test and "
            f"{n - n_test} training rows (at least 1 test and 2 training rows are needed); use more data, another --test-size, or --test-size 0"
        )


def split_test(
    frame: pd.DataFrame,
    target: str | None,
    *,
    classification: bool,
    test_size: float,
    seed: int,
    id_column: str | None = None,
    stratify_on: str | None = None,
) -> TestSplit:
    """Set the test rows aside.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": range(1000), "y": [0, 1] * 500})
    >>> s = split_test(df, "y", classification=True, test_size=0.2, seed=0, id_column="id")
    >>> s.method, 150 < s.n_test < 250
    ('hash', True)
    """
    check_test_size(test_size)
    n = len(frame)
    if test_size == 0:
        return TestSplit(np.zeros(n, dtype=bool), "none")
    if id_column is not None:
        return TestSplit(hash_fraction(frame[id_column]) < test_size, "hash")
    if target is None and stratify_on is None:  # no target (clustering): a hash of each row
        is_test = row_fraction(frame) < test_size
        _check_sides(n, int(is_test.sum()), test_size)
        return TestSplit(is_test, "hash")
    if stratify_on is not None and stratify_on not in frame.columns:
        raise DataError(f"--stratify-on {stratify_on!r}: no such column")
    column = frame[stratify_on] if stratify_on is not None else frame[target]
    labels = strata(column, classification=classification and stratify_on is None)
    n_test = int(round(n * test_size))
    _check_sides(n, n_test, test_size)
    is_test = np.zeros(n, dtype=bool)
    if labels is not None and n_test >= len(set(labels)):
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=n_test, random_state=seed)
        _, test_idx = next(splitter.split(np.zeros(n), labels))
        method = "stratified"
    else:
        test_idx = np.random.default_rng(seed).permutation(n)[:n_test]
        method = "random"
    is_test[test_idx] = True
    return TestSplit(is_test, method)


def cv_folds(
    y: pd.Series, *, classification: bool, n_folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded folds: stratified on the class for classification, shuffled K-fold otherwise."""
    n = len(y)
    if n < n_folds * 2:
        raise DataError(
            f"only {n} training rows: too few for {n_folds}-fold cross-validation; add data"
        )
    if classification:
        counts = y.value_counts()
        smallest = int(counts.min())
        if smallest < 2:
            raise DataError(
                f"class {counts.idxmin()!r} has a single training row; cross-validation needs at least 2 per class "
                "(add examples or merge rare classes)"
            )
        k = min(n_folds, smallest)
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        return [(tr, va) for tr, va in splitter.split(np.zeros(n), y.astype(str))]
    splitter = KFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(n)))
