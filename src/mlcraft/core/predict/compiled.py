"""A fitted model's predictions without scikit-learn's per-call bookkeeping (small batches).

scikit-learn validates its input, tracks feature names and, with pandas output, builds frames at
every step of every call: one row through mlcraft's ``ColumnTransformer`` and a boosted model's
wrapper costs milliseconds while the arithmetic takes microseconds. :func:`compile_predictor`
reads the fitted parameters of the preparation steps mlcraft builds (imputers, one-hot and ordinal
encoders, native categories, the log of heavy tails, scaling, datetime parts) into plain NumPy
operations, then takes the estimator's output from the prepared array through the fast output its
family registered (:mod:`mlcraft.core.predict.fastoutput`), or else through the estimator's own
``predict`` / ``predict_proba``. An object that knows its own compiled form (an ensemble of
pipelines) offers it as ``__mlcraft_compile__(compiler, task, classes)``. Anything the compiler
does not know (a transformer of another kind, sparse output) is not compiled: the model keeps the
scikit-learn path.

A compiled predictor is used only after it reproduced the scikit-learn path on probe rows built
from the schema: every known category, an unseen one, missing values, numbers inside and outside
the training range (:func:`verified_predictor`).

Examples
--------
>>> predict = verified_predictor(model.pipeline, model.schema, model.task, model.classes)  # doctest: +SKIP
>>> predict(features)  # same values as predict_array(model.pipeline, features, ...)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from mlcraft.core.data.preprocess import DatetimeParts, LogHeavyTails, NativeCategories
from mlcraft.core.data.schema import FeatureColumns, Role, Schema, column_values
from mlcraft.core.fit.family import _Wrapper
from mlcraft.core.predict.fastoutput import NotCompilable, Prepared, matching
from mlcraft.tasks import get_kind

__all__ = [
    "Compiler",
    "NotCompilable",
    "PipelineParts",
    "compile_predictor",
    "pipeline_parts",
    "verified_predictor",
    "probe_frame",
]

Features: TypeAlias = (
    pd.DataFrame | FeatureColumns
)  # checked features (Schema.coerce or coerce_records)
Predictor = Callable[[Features], np.ndarray]
ArrayFn = Callable[[np.ndarray], np.ndarray]
RTOL, ATOL = 1e-9, 1e-12  # agreement asked of a compiled predictor on the probe rows
_UNSEEN = "\x00mlcraft-unseen-category"


def _frame(features: Features) -> pd.DataFrame:
    return features.to_frame() if isinstance(features, FeatureColumns) else features


# -- numeric steps ---------------------------------------------------------------------------------
def _numeric_step(step: Any) -> ArrayFn:
    if step is None or step == "passthrough":
        return lambda X: X
    if type(step) is LogHeavyTails:
        cols = np.asarray(step.log_columns_, dtype=int)

        def log(X):
            if cols.size:
                X = X.copy()
                X[:, cols] = np.log1p(np.clip(X[:, cols], 0, None))
            return X

        return log
    if type(step) is SimpleImputer and step.strategy in (
        "median",
        "mean",
        "most_frequent",
        "constant",
    ):
        if not (isinstance(step.missing_values, float) and np.isnan(step.missing_values)):
            raise NotCompilable("an imputer of values other than NaN")
        fill = np.asarray(step.statistics_, dtype=float)
        keep = np.ones(fill.size, dtype=bool) if step.keep_empty_features else ~np.isnan(fill)
        marked = np.asarray(step.indicator_.features_, dtype=int) if step.add_indicator else None

        def impute(X):
            missing = np.isnan(X)
            out = np.where(missing, fill, X)[:, keep]
            return out if marked is None else np.hstack([out, missing[:, marked].astype(float)])

        return impute
    if type(step) is StandardScaler:
        mean = step.mean_ if step.with_mean else None
        scale = step.scale_ if step.with_std else None

        def standardise(X):
            X = X - mean if mean is not None else X.copy()
            if scale is not None:
                X /= scale
            return X

        return standardise
    raise NotCompilable(f"a {type(step).__name__} step")


def _chain(fns: Sequence[ArrayFn]) -> ArrayFn:
    def run(X):
        for fn in fns:
            X = fn(X)
        return X

    return run


def _float_columns(features: Features, names: Sequence[str]) -> np.ndarray:
    return np.column_stack([np.asarray(column_values(features, n), dtype=float) for n in names])


# -- categorical blocks: a lookup table per column, read from the fitted block itself ---------------
class _CategoryTables:
    """Each categorical column's encoded output for every known category, an unseen one and a
    missing value, found by transforming probe rows with the fitted block."""

    def __init__(self, block: Pipeline, names: Sequence[str]):
        steps = [s for _, s in block.steps if s is not None and s != "passthrough"]
        kinds = [type(s) for s in steps]
        if not (len(steps) >= 2 and kinds[0] is SimpleImputer and steps[0].strategy == "constant"):
            raise NotCompilable("a categorical block that does not start with a constant imputer")
        encoder = steps[1]
        if kinds[1:] not in ([OneHotEncoder], [OrdinalEncoder], [OrdinalEncoder, NativeCategories]):
            raise NotCompilable("a categorical block of unknown steps")
        self.native = NativeCategories in kinds
        self.n_categories = list(steps[2].n_categories_) if self.native else None
        widths = self._widths(encoder)
        values = [list(cats) for cats in encoder.categories_]
        rows = max(len(v) for v in values) + 2
        probe = {}
        for name, known in zip(names, values):
            column = known + [_UNSEEN, np.nan]
            column += [known[0]] * (rows - len(column))
            probe[name] = np.asarray(column, dtype=object)
        out = _as_float_matrix(block.transform(pd.DataFrame(probe)))
        if out.shape[1] != sum(widths):
            raise NotCompilable("a categorical block whose output width is not the encoder's")
        self.names = list(names)
        self.index: list[dict[Any, int]] = []
        self.tables: list[np.ndarray] = []
        start = 0
        for known, width in zip(values, widths):
            k = len(known)
            table = np.vstack(
                [
                    out[:k, start : start + width],
                    out[k : k + 1, start : start + width],
                    out[k + 1 : k + 2, start : start + width],
                ]
            )
            self.index.append({v: i for i, v in enumerate(known)})
            self.tables.append(table)  # rows: the known categories, then unseen, then missing
            start += width

    @staticmethod
    def _widths(encoder) -> list[int]:
        if isinstance(encoder, OrdinalEncoder):
            return [1] * len(encoder.categories_)
        if encoder.drop is not None or encoder.sparse_output:
            raise NotCompilable("a one-hot encoder that drops categories or outputs sparse")
        infrequent = getattr(encoder, "infrequent_categories_", None) or [None] * len(
            encoder.categories_
        )
        return [
            len(c) - (0 if inf is None else len(inf) - 1)
            for c, inf in zip(encoder.categories_, infrequent)
        ]

    def __call__(self, features: Features) -> np.ndarray:
        parts = []
        for name, index, table in zip(self.names, self.index, self.tables):
            values = np.asarray(column_values(features, name), dtype=object)
            unseen = len(index)
            rows = np.fromiter(
                (index.get(v, unseen) for v in values), dtype=np.intp, count=len(values)
            )
            rows[pd.isna(values)] = unseen + 1
            parts.append(table[rows])
        return np.hstack(parts)


def _as_float_matrix(out: Any) -> np.ndarray:
    """A block's output as floats; pandas categories become their codes (missing: NaN)."""
    if hasattr(out, "toarray"):
        raise NotCompilable("sparse output")
    if isinstance(out, pd.DataFrame):
        cols = []
        for name in out.columns:
            col = out[name]
            if isinstance(col.dtype, pd.CategoricalDtype):
                codes = col.cat.codes.to_numpy().astype(float)
                codes[codes < 0] = np.nan
                cols.append(codes)
            else:
                cols.append(col.to_numpy(dtype=float))
        return np.column_stack(cols)
    return np.asarray(out, dtype=float)


# -- the preparation -------------------------------------------------------------------------------
class _Preparation:
    """A fitted ``ColumnTransformer`` as NumPy: blocks in order, stacked side by side."""

    def __init__(self, ct: ColumnTransformer):
        if type(ct) is not ColumnTransformer:
            raise NotCompilable(f"a {type(ct).__name__} preparation")
        self.blocks: list[Callable[[Features], np.ndarray]] = []
        self.native_counts: list[int] | None = None  # categories per native column (pandas output)
        for _name, trans, columns in ct.transformers_:
            if trans == "drop" or len(columns) == 0:
                continue
            names = list(columns)
            if not all(isinstance(n, str) for n in names):
                raise NotCompilable("columns selected by position")
            self.blocks.append(self._block(trans, names))
        self.pandas = getattr(ct, "_sklearn_output_config", {}).get("transform") == "pandas"
        self.names_out = list(ct.get_feature_names_out()) if self.pandas else None

    def _block(self, trans: Any, names: list[str]):
        if trans == "passthrough" or (type(trans) is FunctionTransformer and trans.func is None):
            return lambda f: _float_columns(
                f, names
            )  # (fitted "passthrough" is an identity FunctionTransformer)
        if type(trans) is not Pipeline:
            raise NotCompilable(f"a {type(trans).__name__} block")
        first = trans.steps[0][1]
        if (
            type(first) is SimpleImputer
            and first.strategy == "constant"
            and not np.issubdtype(np.asarray(first.statistics_).dtype, np.number)
        ):
            tables = _CategoryTables(trans, names)
            if tables.native:
                if self.native_counts is not None:
                    raise NotCompilable("two native categorical blocks")
                self.native_counts = tables.n_categories
            return tables
        if type(first) is DatetimeParts:
            rest = _chain([_numeric_step(s) for _, s in trans.steps[1:]])
            return lambda f: rest(np.asarray(first.transform(_frame(f)[names]), dtype=float))
        numeric = _chain([_numeric_step(s) for _, s in trans.steps])
        return lambda f: numeric(_float_columns(f, names))

    def __call__(self, features: Features) -> np.ndarray:
        return np.hstack([block(features) for block in self.blocks])

    def as_frame(self, X: np.ndarray) -> pd.DataFrame:
        """The pandas output scikit-learn's path gives (native categories first), from ``X``."""
        counts = self.native_counts or []
        assert self.names_out is not None  # set wherever the output is pandas (the only caller)
        data: dict[str, Any] = {}
        for j, name in enumerate(self.names_out):
            if j < len(counts):
                codes = np.nan_to_num(X[:, j], nan=-1).astype(int)
                data[name] = pd.Categorical.from_codes(codes, categories=range(counts[j]))
            else:
                data[name] = X[:, j]
        return pd.DataFrame(data)


# -- estimators ------------------------------------------------------------------------------------
GENERIC = "generic"  # the path of an estimator no registered fast output takes


def _estimator(
    est: Any, prep: _Preparation, task: str, classes: Sequence[Any] | None
) -> tuple[ArrayFn, str]:
    """The estimator's output (``ProblemKind.predict_raw``'s convention) from the prepared array,
    and the name of the fast output that gives it (:data:`GENERIC`: the estimator's own methods)."""
    kind = get_kind(task)
    while isinstance(est, _Wrapper) and hasattr(
        est, "estimator_"
    ):  # GrowWithin, Subsampled: they predict with estimator_
        est = est.estimator_
    prepared = Prepared(
        native_counts=prep.native_counts, as_frame=prep.as_frame if prep.pandas else None
    )
    for entry in matching(est):
        fast = entry.build(est, kind, classes, prepared)
        if fast is not None:
            return fast, entry.name

    def estimator_output(X):
        return kind.predict_raw(est, prepared.estimator_input(X), classes)

    return estimator_output, GENERIC


@dataclass(frozen=True)
class PipelineParts:
    """A fitted preparation + estimator pipeline, compiled: ``estimator(prepare(features))``."""

    prepare: _Preparation
    estimator: ArrayFn
    path: str  # the fast output's name, or GENERIC


def pipeline_parts(pipeline: Any, task: str, classes: Sequence[Any] | None) -> PipelineParts:
    """The compiled preparation and estimator of a fitted ``Pipeline([("prepare", ...), (_, est)])``;
    :class:`NotCompilable` for anything else."""
    steps = pipeline.steps if type(pipeline) is Pipeline else []
    if type(pipeline) is not Pipeline or len(steps) != 2 or steps[0][0] != "prepare":
        raise NotCompilable(f"a {type(pipeline).__name__} that is not preparation + estimator")
    prep = _Preparation(steps[0][1])
    estimator, path = _estimator(steps[1][1], prep, task, classes)
    return PipelineParts(prep, estimator, path)


def compile_predictor(pipeline: Any, task: str, classes: Sequence[Any] | None) -> Predictor:
    """``features -> predict_array(pipeline, features, task, classes)`` without scikit-learn's
    per-call overhead; :class:`NotCompilable` if a step is of a kind it does not know.

    The predictor's ``path`` attribute names how the estimator's output is taken (the registered
    fast output, or ``"generic"``); ``single_threaded`` says it chooses its own threads. An object
    with a ``__mlcraft_compile__(compiler, task, classes)`` method (an ensemble) compiles itself,
    given the :class:`Compiler`."""
    compile_self = getattr(type(pipeline), "__mlcraft_compile__", None)
    if compile_self is not None:
        return compile_self(pipeline, COMPILER, task, classes)
    parts = pipeline_parts(pipeline, task, classes)
    prep, estimator = parts.prepare, parts.estimator

    def pipeline_output(features):
        return estimator(prep(features))

    vars(pipeline_output)["single_threaded"] = getattr(estimator, "single_threaded", False)
    vars(pipeline_output)["path"] = parts.path
    return pipeline_output


@dataclass(frozen=True)
class Compiler:
    """What an object that compiles itself is handed: the compiler of its parts.

    ``parts(pipeline, task, classes)`` gives a member pipeline's :class:`PipelineParts` (its
    preparation may be shared), ``predictor(obj, task, classes)`` compiles anything else whole."""

    parts: Callable[[Any, str, Sequence[Any] | None], PipelineParts]
    predictor: Callable[[Any, str, Sequence[Any] | None], Predictor]


COMPILER = Compiler(parts=pipeline_parts, predictor=compile_predictor)


# -- verification ----------------------------------------------------------------------------------
def probe_frame(schema: Schema, seed: int = 0) -> pd.DataFrame:
    """Rows that exercise every branch of a preparation: each known category, an unseen one,
    missing values, numbers inside, at the edges of and outside the training range."""
    rng = np.random.default_rng(seed)
    cats = [
        len(c.categories or ())
        for c in schema.columns
        if c.is_feature and c.role is Role.CATEGORICAL
    ]
    rows = max([24] + [n + 4 for n in cats])
    data: dict[str, Any] = {}
    for k, col in enumerate(c for c in schema.columns if c.is_feature):
        if col.role is Role.NUMERIC:
            low = col.low if col.low is not None else -1.0
            high = col.high if col.high is not None else 1.0
            span = (high - low) or 1.0
            special = [low, high, (low + high) / 2, low - span, high + span, np.nan, 0.0]
            values = np.concatenate([special, rng.uniform(low, high, rows)])[:rows]
            data[col.name] = np.roll(values, k)
        elif col.role is Role.CATEGORICAL:
            known = list(col.categories or ["a", "b"])
            labels = (known + ["never seen in training", None] + known * rows)[:rows]
            data[col.name] = pd.Series(np.roll(np.asarray(labels, dtype=object), k), dtype=object)
        else:
            stamps = pd.date_range("2000-01-01", periods=rows - 1, freq="37h").astype(
                str
            ).tolist() + [None]
            data[col.name] = np.roll(np.asarray(stamps, dtype=object), k)
    return pd.DataFrame(data)


def verified_predictor(
    pipeline: Any, schema: Schema, task: str, classes: Sequence[Any] | None
) -> Predictor | None:
    """The compiled predictor if it can be built and reproduces scikit-learn's path on
    :func:`probe_frame` rows (all at once and one at a time); otherwise None."""
    try:
        predictor = compile_predictor(pipeline, task, classes)
        features, _ = schema.coerce(probe_frame(schema))
        for batch in (features, features.iloc[[0]], features.iloc[[len(features) - 1]]):
            expected = get_kind(task).predict_raw(pipeline, batch, classes)
            got = predictor(batch)
            if got.shape != expected.shape or not np.allclose(
                got, expected, rtol=RTOL, atol=ATOL, equal_nan=True
            ):
                return None
    except NotCompilable:
        return None
    except Exception:  # noqa: BLE001 - a probe the compiled path cannot take: keep scikit-learn's path
        return None
    return predictor
