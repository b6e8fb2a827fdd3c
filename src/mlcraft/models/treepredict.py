"""Tree ensembles' predictions without a Python call per tree (the batches a served model sees).

scikit-learn's forests predict tree by tree through joblib, and histogram gradient boosting calls
one Cython predictor per iteration: one row through a forest of 300 trees or a boosted model of
1,000 iterations costs milliseconds of per-tree overhead for microseconds of arithmetic.

* :func:`forest_output` calls each fitted tree's Cython ``tree_.predict`` directly (no joblib,
  no validation) and averages, as the forest does.
* :func:`hgb_output` stacks the nodes of every iteration's tree into flat arrays and walks all
  trees at once, one NumPy step per level, for batches small enough that rows x trees stays in
  cache; larger batches keep scikit-learn's own (compiled, row-parallel) predictor.

Both are registered as fast outputs (:mod:`mlcraft.core.predict.fastoutput`) by the families that
fit those models, forests in :mod:`mlcraft.models.trees` and histogram boosting in
:mod:`mlcraft.models.boosting` (with LightGBM's booster, which uses :data:`THREADED_ROWS` too), and
used only through :func:`mlcraft.core.predict.compiled.verified_predictor`, which checks them
against scikit-learn on probe rows; anything they do not know (several outputs, categories taken
from pandas dtypes other than mlcraft's native ones) raises :class:`Unsupported`, and the model
keeps scikit-learn's path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from joblib import cpu_count

from mlcraft.core.predict.fastoutput import NotCompilable
from mlcraft.core.predict.threads import one_thread
from mlcraft.tasks import ProblemKind, align_proba

__all__ = [
    "Unsupported",
    "forest_output",
    "hgb_output",
    "in_classes",
    "STACKED_CELLS",
    "THREADED_ROWS",
]

STACKED_CELLS = 400_000  # rows x trees walked at once; beyond it, scikit-learn's predictor
THREADED_ROWS = (
    5_000  # from this many rows, predictions use every core (rows and trees are independent)
)


class Unsupported(NotCompilable):
    """A fitted model with a part these predictors do not know (the caller keeps scikit-learn's path)."""


def in_classes(
    output: Callable[[np.ndarray], np.ndarray],
    est: Any,
    kind: ProblemKind,
    classes: Sequence[Any] | None,
) -> Callable[[np.ndarray], np.ndarray]:
    """``output`` (values, or probabilities in ``est.classes_`` order) as a fast output gives it:
    probabilities in ``classes`` order (``ProblemKind.predict_raw``'s convention)."""
    if not kind.classification:
        return output
    fitted = est.classes_
    order = fitted if classes is None else classes

    def proba(X: np.ndarray) -> np.ndarray:
        return align_proba(output(X), fitted, order)

    vars(proba)["single_threaded"] = getattr(output, "single_threaded", False)
    return proba


def _tree_sum(trees: list[Any], X32: np.ndarray, width: int) -> np.ndarray:
    total = np.zeros((len(X32), width))
    for tree in trees:
        total += tree.predict(X32)[:, :width]
    return total


def forest_output(est: Any, regression: bool) -> Callable[[np.ndarray], np.ndarray]:
    """``X -> est.predict(X)`` (regression) or ``est.predict_proba(X)``, tree by tree in Cython;
    from :data:`THREADED_ROWS` rows, the trees are shared among threads (the trees release the
    interpreter lock), one per core."""
    if getattr(est, "n_outputs_", 1) != 1:
        raise Unsupported("a forest with several outputs")
    trees = [e.tree_ for e in est.estimators_]
    width = 1 if regression else int(est.n_classes_)

    def output(X: np.ndarray) -> np.ndarray:
        X32 = np.ascontiguousarray(X, dtype=np.float32)  # the trees' own input type
        cores = min(len(trees), cpu_count()) if len(X32) >= THREADED_ROWS else 1
        if cores > 1:
            shares = [trees[i::cores] for i in range(cores)]
            with ThreadPoolExecutor(cores) as pool:
                total = sum(
                    pool.map(lambda share: _tree_sum(share, X32, width), shares),
                    np.zeros((len(X32), width)),
                )
        else:
            total = _tree_sum(trees, X32, width)
        total /= len(trees)
        return total[:, 0] if regression else total

    vars(output)["single_threaded"] = True  # no BLAS or OpenMP inside: no thread-pool limit needed
    return output


def _in_bitsets(bitsets: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(len(rows), 256): whether each value 0..255 is in bitset ``rows[i]`` (32-bit words)."""
    values = np.arange(256)
    words = bitsets[rows][:, values // 32].astype(np.int64)
    return ((words >> (values % 32)) & 1).astype(bool)


class _Stacked:
    """Every tree of a fitted histogram gradient boosting model as one flat node table; leaves
    point to themselves, so a fixed number of steps (the deepest tree's depth) reaches every leaf.

    A categorical split goes left for the categories in its bitset, right for the other known
    ones, and the missing-value way for an unknown or negative one (scikit-learn's rule); each
    categorical node gets a row of a (nodes, 257) table, the last column for out-of-range codes.
    """

    def __init__(self, est: Any):
        predictors = [p for iteration in est._predictors for p in iteration]
        if not predictors:
            raise Unsupported("no trees")
        self.per_iteration = int(est.n_trees_per_iteration_)
        nodes = [p.nodes for p in predictors]
        sizes = [len(n) for n in nodes]
        offsets = np.cumsum([0] + sizes[:-1])
        table = np.concatenate(nodes)
        shift = np.repeat(offsets, sizes)
        index = np.arange(len(table))
        leaf = table["is_leaf"].astype(bool)
        self.left = np.where(leaf, index, table["left"].astype(np.int64) + shift)
        self.right = np.where(leaf, index, table["right"].astype(np.int64) + shift)
        self.feature = np.where(leaf, 0, table["feature_idx"]).astype(np.int64)
        self.threshold = np.where(leaf, np.inf, table["num_threshold"]).astype(
            float
        )  # a leaf "goes left" to itself
        self.missing_left = table["missing_go_to_left"].astype(bool) | leaf
        self.value = table["value"].astype(float)
        self.roots = offsets.astype(np.int64)
        self.depth = int(table["depth"].max())
        self.baseline = np.asarray(est._baseline_prediction, dtype=float).reshape(1, -1)
        categorical = table["is_categorical"].astype(bool) & ~leaf
        self.has_categories = bool(categorical.any())
        if self.has_categories:
            known, f_idx_map = est._bin_mapper.make_known_categories_bitsets()
            cat_nodes = np.flatnonzero(categorical)
            tree_of = np.repeat(np.arange(len(nodes)), sizes)
            raw_left = np.vstack(
                [
                    _in_bitsets(
                        predictors[tree_of[i]].raw_left_cat_bitsets,
                        np.array([table["bitset_idx"][i]]),
                    )
                    for i in cat_nodes
                ]
            )
            is_known = _in_bitsets(
                np.asarray(known), np.asarray(f_idx_map)[self.feature[cat_nodes]]
            )
            missing = self.missing_left[cat_nodes][:, None]
            go_left = np.where(raw_left, True, np.where(is_known, False, missing))
            self.category_left = np.vstack(
                [np.zeros((1, 257), dtype=bool), np.hstack([go_left, missing])]
            )
            self.category_row = np.zeros(len(table), dtype=np.int64)
            self.category_row[cat_nodes] = np.arange(1, len(cat_nodes) + 1)

    def raw(self, X: np.ndarray) -> np.ndarray:
        n = len(X)
        node = np.broadcast_to(self.roots, (n, len(self.roots))).copy()
        rows = np.arange(n)[:, None]
        for _ in range(self.depth):
            x = X[rows, self.feature[node]]
            missing = np.isnan(x)
            go_left = (x <= self.threshold[node]) | (missing & self.missing_left[node])
            if self.has_categories:
                category = self.category_row[node]
                split = category > 0
                if split.any():
                    code = np.where(missing | (x < 0) | (x > 255), 256, np.nan_to_num(x)).astype(
                        np.int64
                    )
                    by_category = self.category_left[category, code]
                    go_left = np.where(split & ~missing, by_category, go_left)
            node = np.where(go_left, self.left[node], self.right[node])
        leaves = self.value[node].reshape(
            n, -1, self.per_iteration
        )  # (rows, iterations, trees per iteration)
        return self.baseline + leaves.sum(axis=1)


def _recoder(
    est: Any, native_counts: list[int] | None, as_frame: Callable[[np.ndarray], Any] | None
) -> Callable[[np.ndarray], np.ndarray]:
    """The model's own input from the prepared array: with categories detected from pandas dtypes,
    scikit-learn ordinal-encodes those columns again (codes of the categories seen in training);
    a lookup per column, read from its fitted encoder by probing."""
    pre = getattr(est, "_preprocessor", None)
    if pre is None:
        return lambda X: X
    k = len(native_counts or [])
    masks = [
        np.asarray(cols)
        for _, trans, cols in pre.transformers_
        if not (isinstance(trans, str) and trans == "drop")
    ]
    if not native_counts or as_frame is None or len(masks) != 2 or masks[0].dtype != bool:
        raise Unsupported(
            "categorical features from the input's dtypes that are not mlcraft's native categories"
        )
    expected = np.arange(len(masks[0])) < k
    if not (np.array_equal(masks[0], expected) and np.array_equal(masks[1], ~expected)):
        raise Unsupported("native categories that are not the first columns")
    n = max(native_counts) + 1
    probe = np.zeros((n, len(masks[0])))
    for j, count in enumerate(native_counts):
        probe[:, j] = np.where(np.arange(n) < count, np.arange(n), np.nan)
    out = np.asarray(pre.transform(as_frame(probe)), dtype=float)
    tables = [out[:count, j] for j, count in enumerate(native_counts)]

    def recode(X: np.ndarray) -> np.ndarray:
        X = np.array(X, dtype=float)
        for j, table in enumerate(tables):
            codes = X[:, j].copy()
            known = ~np.isnan(codes) & (codes >= 0) & (codes < len(table))
            X[:, j] = np.nan
            X[known, j] = table[codes[known].astype(np.int64)]
        return X

    return recode


def hgb_output(
    est: Any,
    regression: bool,
    fallback: Callable[[np.ndarray], np.ndarray],
    *,
    native_counts: list[int] | None = None,
    as_frame: Callable[[np.ndarray], Any] | None = None,
) -> Callable[[np.ndarray], np.ndarray]:
    """``X -> est.predict(X)`` (regression) or ``est.predict_proba(X)``: all trees walked at once
    for small batches, ``fallback`` (scikit-learn's path) for the others. ``native_counts`` and
    ``as_frame`` describe the prepared array's native categorical columns (pandas output)."""
    stacked = _Stacked(est)
    recode = _recoder(est, native_counts, as_frame)
    limit = max(1, STACKED_CELLS // max(1, len(stacked.roots)))

    def output(X: np.ndarray) -> np.ndarray:
        if len(X) >= THREADED_ROWS:
            return fallback(X)  # scikit-learn's predictor, on every core
        if len(X) > limit:
            with one_thread():
                return fallback(X)
        raw = stacked.raw(recode(X))
        if regression:
            return np.asarray(est._loss.link.inverse(raw.ravel()), dtype=float)
        return np.asarray(est._loss.predict_proba(raw), dtype=float)

    vars(output)["single_threaded"] = (
        True  # threads chosen above: no thread-pool limit needed around it
    )
    return output
