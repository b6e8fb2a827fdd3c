"""From a schema to one scikit-learn ``ColumnTransformer`` per candidate (fitted inside each fold).

Numeric: optional log of heavy-tailed positive columns, median imputation with missing indicators,
optional standard scaling. Categorical: one-hot with rare categories grouped and unknown ones
tolerated; ordinal codes for tree families; or native categories (pandas ``category`` dtype) for
LightGBM and histogram gradient boosting. Datetimes: year, month, day, weekday and hour parts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from mlcraft.core.data.schema import Schema

__all__ = [
    "build_preprocessor",
    "DatetimeParts",
    "LogHeavyTails",
    "NativeCategories",
    "CATEGORICAL_MODES",
    "VarianceKeptPCA",
    "ClusterSimilarity",
    "REDUCTIONS",
    "reduction_step",
]

CATEGORICAL_MODES = ("onehot", "ordinal", "native", "passthrough")
MIN_FREQUENCY = 5  # categories seen fewer times are grouped as "infrequent"
MAX_ONEHOT = 64  # at most this many one-hot columns per categorical feature
MAX_NATIVE = 254  # histogram gradient boosting allows at most 255 bins per feature
MISSING = "__missing__"


class DatetimeParts(TransformerMixin, BaseEstimator):
    """Expand datetime columns into numeric year, month, day, weekday and hour parts."""

    PARTS = ("year", "month", "day", "weekday", "hour")

    def fit(self, X, y=None):
        frame = pd.DataFrame(X)
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = frame.shape[1]
        return self

    def transform(self, X):
        check_is_fitted(self)
        frame = pd.DataFrame(X)
        out = {}
        for name in frame.columns:
            values = pd.to_datetime(frame[name], errors="coerce")
            accessor = values.dt
            for part in self.PARTS:
                attr = "day_of_week" if part == "weekday" else part
                out[f"{name}_{part}"] = getattr(accessor, attr).astype(float)
        return pd.DataFrame(out, index=frame.index).to_numpy(dtype=float)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self)
        return np.asarray(
            [f"{n}_{p}" for n in self.feature_names_in_ for p in self.PARTS], dtype=object
        )


class LogHeavyTails(TransformerMixin, BaseEstimator):
    """``log1p`` of non-negative columns whose skewness exceeds ``threshold`` (chosen in ``fit``)."""

    def __init__(self, threshold: float = 1.0):
        self.threshold = threshold

    def fit(self, X, y=None):
        if hasattr(X, "columns"):  # names kept for pandas output (native categories with scaling)
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        X = np.asarray(X, dtype=float)
        self.n_features_in_ = X.shape[1]
        chosen = []
        for j in range(X.shape[1]):
            col = X[:, j]
            col = col[~np.isnan(col)]
            if col.size > 2 and col.min() >= 0 and np.ptp(col) > 0:
                if stats.skew(col) > self.threshold:
                    chosen.append(j)
        self.log_columns_ = np.asarray(chosen, dtype=int)
        return self

    def transform(self, X):
        check_is_fitted(self)
        X = np.array(X, dtype=float, copy=True)
        if self.log_columns_.size:
            X[:, self.log_columns_] = np.log1p(np.clip(X[:, self.log_columns_], 0, None))
        return X

    def get_feature_names_out(self, input_features=None):
        if input_features is not None:
            return np.asarray(input_features, dtype=object)
        names = getattr(self, "feature_names_in_", None)
        return (
            names
            if names is not None
            else np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)
        )


class NativeCategories(TransformerMixin, BaseEstimator):
    """Ordinal codes as pandas ``category`` columns, so tree boosters split on them natively."""

    def fit(self, X, y=None):
        codes = np.asarray(X, dtype=float)
        self.n_features_in_ = codes.shape[1]
        self.n_categories_ = [int(np.nanmax(c)) + 1 if np.isfinite(c).any() else 1 for c in codes.T]
        return self

    def transform(self, X):
        check_is_fitted(self)
        index = (
            X.index if isinstance(X, pd.DataFrame) else None
        )  # keep rows aligned in ColumnTransformer
        codes = np.asarray(X, dtype=float)
        data = {}
        for j in range(codes.shape[1]):
            col = codes[:, j]
            col = np.where((col < 0) | (col >= self.n_categories_[j]), np.nan, col)
            data[f"cat{j}"] = pd.Categorical.from_codes(
                np.nan_to_num(col, nan=-1).astype(int), categories=range(self.n_categories_[j])
            )
        return pd.DataFrame(data, index=index)

    def set_output(self, *, transform=None):
        return self

    def get_feature_names_out(self, input_features=None):
        names = (
            list(input_features)
            if input_features is not None
            else [f"cat{i}" for i in range(self.n_features_in_)]
        )
        return np.asarray(names, dtype=object)


def _categorical_steps(mode: str):
    impute = SimpleImputer(strategy="constant", fill_value=MISSING)
    if mode == "onehot":
        encoder = OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            min_frequency=MIN_FREQUENCY,
            max_categories=MAX_ONEHOT,
            sparse_output=False,
        )
        return Pipeline([("impute", impute), ("onehot", encoder)])
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value",
        unknown_value=-1,
        encoded_missing_value=-1,
        min_frequency=MIN_FREQUENCY,
        max_categories=MAX_NATIVE if mode == "native" else None,
    )
    return Pipeline([("impute", impute), ("ordinal", encoder)])


def _numeric_steps(*, scale: bool, log_heavy_tails: bool, impute: bool):
    steps = []
    if log_heavy_tails:
        steps.append(("log", LogHeavyTails()))
    if impute:
        steps.append(
            (
                "impute",
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            )
        )
    if scale:
        steps.append(("scale", StandardScaler()))
    return Pipeline(steps) if steps else "passthrough"


def build_preprocessor(
    schema: Schema,
    *,
    scale: bool = False,
    categorical: str = "onehot",
    log_heavy_tails: bool = False,
    impute: bool = True,
) -> ColumnTransformer:
    """The preparation step for one candidate.

    Parameters
    ----------
    schema : Schema
        Column roles from the training rows.
    scale : bool
        Standardise numeric columns (linear models, SVMs, k-NN, neural networks).
    categorical : {"onehot", "ordinal", "native", "passthrough"}
        How categorical columns are encoded. "native" returns a pandas frame with ``category``
        columns first (LightGBM and HistGradientBoosting detect them from the dtype).
        "passthrough": every feature column as it is (a forecaster reads its series ids, stamps
        and covariates itself), nothing scaled, imputed or encoded.
    log_heavy_tails : bool
        Apply ``log1p`` to heavy-tailed non-negative numeric columns.
    impute : bool
        Impute numeric missing values (families that handle NaN natively can skip it).
    """
    if categorical not in CATEGORICAL_MODES:
        raise ValueError(f"categorical must be one of {CATEGORICAL_MODES}, got {categorical!r}")
    if categorical == "passthrough":  # the model reads the columns as they are (a forecaster)
        keep = ColumnTransformer(
            [("keep", "passthrough", list(schema.features))],
            remainder="drop",
            verbose_feature_names_out=False,
        )
        return keep.set_output(transform="pandas")
    blocks = []
    if schema.categorical:
        cat = _categorical_steps(categorical)
        if categorical == "native":
            cat.steps.append(("category", NativeCategories()))
        blocks.append(("cat", cat, schema.categorical))
    if schema.numeric:
        blocks.append(
            (
                "num",
                _numeric_steps(scale=scale, log_heavy_tails=log_heavy_tails, impute=impute),
                schema.numeric,
            )
        )
    if schema.datetime:
        parts = _numeric_steps(scale=scale, log_heavy_tails=False, impute=impute)
        after = [] if isinstance(parts, str) else parts.steps
        blocks.append(("date", Pipeline([("parts", DatetimeParts()), *after]), schema.datetime))
    transformer = ColumnTransformer(blocks, remainder="drop", verbose_feature_names_out=True)
    if categorical == "native":
        transformer.set_output(transform="pandas")
    return transformer


# -- searchable preparations after the encoding (supervised kinds: linear models, SVMs, k-NN) --------

# the values of a trial's ``prepare`` setting: the encoded columns as they are, replaced by the
# principal components keeping a share of their variance, or with the RBF similarity to k k-means
# centres appended
REDUCTIONS = (
    "none",
    "pca:0.8",
    "pca:0.9",
    "pca:0.95",
    "pca:0.99",
    "similarity:5",
    "similarity:10",
    "similarity:20",
)
SIMILARITY_FIT_ROWS = 20_000  # k-means of the similarity features is fitted on at most these rows


def _dense(X) -> np.ndarray:
    return np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)


class VarianceKeptPCA(TransformerMixin, BaseEstimator):
    """The prepared columns replaced by the principal components that keep ``variance`` of their
    variance (the book's ``PCA(n_components=0.95)`` before a model); sparse input is made dense."""

    def __init__(self, variance: float = 0.95):
        self.variance = variance

    def fit(self, X, y=None):
        from sklearn.decomposition import PCA

        X = _dense(X)
        share = float(self.variance)
        self.pca_ = PCA(n_components=share if share < 1 else None, svd_solver="full").fit(X)
        self.n_components_ = int(self.pca_.n_components_)
        return self

    def transform(self, X):
        check_is_fitted(self)
        return self.pca_.transform(_dense(X))


class ClusterSimilarity(TransformerMixin, BaseEstimator):
    """The book's cluster-similarity features (its housing chapter): the Gaussian RBF similarity of
    each row to ``n_clusters`` k-means centres of the prepared training rows, appended to the
    columns. ``gamma_scale`` is in units of ``1 / columns`` (distances between standardised rows
    grow with the columns)."""

    def __init__(
        self, n_clusters: int = 10, gamma_scale: float = 1.0, random_state: int | None = None
    ):
        self.n_clusters = n_clusters
        self.gamma_scale = gamma_scale
        self.random_state = random_state

    def fit(self, X, y=None):
        from sklearn.cluster import KMeans

        X = _dense(X)
        rows = np.arange(len(X))
        if len(X) > SIMILARITY_FIT_ROWS:
            rng = np.random.default_rng(self.random_state)
            rows = np.sort(rng.choice(len(X), SIMILARITY_FIT_ROWS, replace=False))
        k = int(max(1, min(self.n_clusters, len(rows))))
        self.kmeans_ = KMeans(n_clusters=k, n_init=3, random_state=self.random_state).fit(X[rows])
        self.gamma_ = float(self.gamma_scale) / max(X.shape[1], 1)
        return self

    def transform(self, X):
        from sklearn.metrics.pairwise import rbf_kernel

        check_is_fitted(self)
        X = _dense(X)
        return np.c_[X, rbf_kernel(X, self.kmeans_.cluster_centers_, gamma=self.gamma_)]


def reduction_step(params: dict, seed: int) -> TransformerMixin | None:
    """The step a trial's ``prepare`` setting (one of :data:`REDUCTIONS`) adds after the encoding,
    or None: ``"pca:<share>"`` (the components keeping that share of the variance) or
    ``"similarity:<k>"`` (RBF similarity to k k-means centres, gamma 1 / columns, appended).

    >>> type(reduction_step({"prepare": "pca:0.9"}, 0)).__name__, reduction_step({}, 0)
    ('VarianceKeptPCA', None)
    """
    choice = str(params.get("prepare", "none"))
    method, _, value = choice.partition(":")
    if choice == "none":
        return None
    if method == "pca" and value:
        return VarianceKeptPCA(float(value))
    if method == "similarity" and value:
        return ClusterSimilarity(int(value), 1.0, random_state=seed)
    raise ValueError(f"prepare must be one of {', '.join(REDUCTIONS)}, got {choice!r}")
