"""Dimensionality reduction: PCA (full and randomized SVD), incremental PCA, kernel PCA, locally
linear embedding, Isomap, and Gaussian and sparse random projections (the book's chapter 8).

Every family is scikit-learn's transformer after the usual preparation (scaled numbers, one-hot
categories), with ``n_components`` the project's ``--dims`` (``BuildContext.options["dims"]``). ``fit(X, y)``
ignores ``y`` (the engine passes the reference coordinates it scores with); ``transform(X)`` maps
new rows. The methods whose cost grows with the square of the rows (kernel PCA, LLE, Isomap) are
fitted on a seeded subsample of large tables by :class:`FitOnSample`; every row is still mapped.

UMAP is a family only where umap-learn is installed (``requires="umap"``; its import takes
seconds, so it is imported only when a UMAP model is built). t-SNE and MDS embed only the rows
they were fitted on: they are not families (a model must place new rows); asking for one says so in one line (:data:`NOT_FAMILIES`), and ``analyse`` draws
them as maps of the training rows. Nor is linear discriminant analysis: it fits on labels, which a
project without a target never does.

>>> import numpy as np
>>> from sklearn.decomposition import KernelPCA
>>> X = np.random.default_rng(0).normal(size=(300, 4))
>>> model = FitOnSample(KernelPCA(n_components=2), max_rows=100, random_state=0).fit(X)
>>> model.transform(X).shape, len(model.rows_)
((300, 2), 100)
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.decomposition import PCA, IncrementalPCA, KernelPCA
from sklearn.manifold import Isomap, LocallyLinearEmbedding
from sklearn.random_projection import GaussianRandomProjection, SparseRandomProjection
from sklearn.utils.validation import check_is_fitted, validate_data

from mlcraft.core.fit.family import BuildContext, Choice, Family, Float, Int
from mlcraft.tasks.embed import CANNOT_TRANSFORM

__all__ = ["FitOnSample", "EMBED", "NOT_FAMILIES", "FAMILIES"]

EMBED = frozenset({"embed"})

KERNEL_PCA_MAX_ROWS = 3_000  # an n x n kernel matrix and its eigenvectors
LLE_MAX_ROWS = 2_000  # its dense eigensolver (10 or more coordinates) is cubic in the rows
ISOMAP_MAX_ROWS = 3_000  # all shortest paths of the neighbour graph: an n x n matrix
UMAP_MAX_ROWS = 20_000

# what asking for a method that cannot place new rows answers (one line; the CLI exits 2)
NOT_FAMILIES = {
    name: f"{why}; `mlcraft analyse` draws it as a 2-D map of the training rows. Train with pca, "
    "randomized_pca, incremental_pca, kernel_pca, lle, isomap, gaussian_projection, sparse_projection "
    "(or umap, with umap-learn installed)"
    for name, why in CANNOT_TRANSFORM.items()
}
# linear discriminant analysis fits on labels; an embedding project never fits its --labels (they
# only score the result), so LDA is not a family: asking for it says what to do instead
NOT_FAMILIES["lda"] = (
    "LDA fits on labels, and a project without a target never fits its --labels (they only "
    "score the embedding); for a supervised projection train a classifier with --target COL"
)


class FitOnSample(TransformerMixin, BaseEstimator):
    """A transformer fitted on at most ``max_rows`` rows of a large table (drawn with
    ``random_state``); it transforms (and, when the inner one can, inverts) every row."""

    def __init__(
        self, estimator: Any = None, max_rows: int = 3_000, random_state: int | None = None
    ):
        self.estimator = estimator
        self.max_rows = max_rows
        self.random_state = random_state

    def fit(self, X, y=None):
        X = validate_data(self, X, dtype=np.float64)
        n = X.shape[0]
        rows = np.arange(n)
        if n > self.max_rows:
            rng = np.random.default_rng(self.random_state)
            rows = np.sort(rng.choice(n, size=int(self.max_rows), replace=False))
        self.rows_ = rows
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            self.estimator_ = clone(self.estimator).fit(X[rows])
        return self

    def transform(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.estimator_.transform(X)

    @property
    def inverse_transform(self):  # only when the inner estimator has one (kernel PCA, fitted so)
        check_is_fitted(self)
        return self.estimator_.inverse_transform


def _dims(ctx: BuildContext) -> int:
    """The coordinates asked for, never more than the prepared columns."""
    dims = ctx.options.get("dims") or 2
    return int(max(1, min(dims, max(ctx.n_features, 1))))


def _pca(p, ctx):
    return PCA(n_components=_dims(ctx), whiten=p["whiten"], svd_solver="full")


def _randomized_pca(p, ctx):
    return PCA(
        n_components=_dims(ctx),
        svd_solver="randomized",
        iterated_power=p["iterated_power"],
        random_state=ctx.seed,
    )


def _incremental_pca(p, ctx):
    dims = _dims(ctx)
    return IncrementalPCA(n_components=dims, batch_size=max(int(p["batch_size"]), dims))


def _kernel_pca(p, ctx):
    inner = KernelPCA(
        n_components=_dims(ctx),
        kernel=p["kernel"],
        gamma=p["gamma_scale"] / max(ctx.n_features, 1),  # in units of scikit-learn's 1/columns
        # the pre-image, for its reconstruction error (the book's way of choosing kernel and gamma)
        fit_inverse_transform=True,
        eigen_solver="auto",
        random_state=ctx.seed,
        n_jobs=ctx.n_jobs,
    )
    return FitOnSample(inner, max_rows=KERNEL_PCA_MAX_ROWS, random_state=ctx.seed)


def _lle(p, ctx):
    dims = _dims(ctx)
    method = p["method"]
    neighbours = int(p["n_neighbors"])
    if method == "modified":  # modified LLE needs more neighbours than coordinates
        neighbours = max(neighbours, dims + 1)
    inner = LocallyLinearEmbedding(
        n_components=dims,
        n_neighbors=neighbours,
        method=method,
        eigen_solver="auto",  # scikit-learn: dense below 200 rows or from 10 coordinates, else ARPACK
        random_state=ctx.seed,
        n_jobs=ctx.n_jobs,
    )
    return FitOnSample(inner, max_rows=LLE_MAX_ROWS, random_state=ctx.seed)


def _isomap(p, ctx):
    inner = Isomap(n_components=_dims(ctx), n_neighbors=int(p["n_neighbors"]), n_jobs=ctx.n_jobs)
    return FitOnSample(inner, max_rows=ISOMAP_MAX_ROWS, random_state=ctx.seed)


def _umap(p, ctx):
    import umap  # seconds to import: only when a UMAP model is built

    inner = umap.UMAP(
        n_components=_dims(ctx),
        n_neighbors=int(p["n_neighbors"]),
        min_dist=float(p["min_dist"]),
        random_state=ctx.seed,
    )
    return FitOnSample(inner, max_rows=UMAP_MAX_ROWS, random_state=ctx.seed)


def _gaussian_projection(p, ctx):
    return GaussianRandomProjection(n_components=_dims(ctx), random_state=ctx.seed + p["draw"])


def _sparse_projection(p, ctx):
    return SparseRandomProjection(
        n_components=_dims(ctx),
        density=p["density"],
        dense_output=True,
        random_state=ctx.seed + p["draw"],
    )


def _quadratic(per_row: float, cap: int, base: float = 0.05):
    def cost(n, d):
        m = min(n, cap)
        return base + per_row * m**2 * (1 + d / 20) + 1e-6 * n * max(d, 1)

    return cost


def _family(**fields: Any) -> Family:
    """An embedding family: distances and variances need scaled numbers and one-hot categories."""
    return Family(tasks=EMBED, needs_scaling=True, categorical="onehot", **fields)


FAMILIES = [
    _family(
        name="pca",
        priority=70,
        build=_pca,
        space=lambda task, n: {"whiten": Choice((False, True), False)},
        cost=lambda n, d: 0.01 + 2e-8 * n * max(d, 1) ** 2,
        description="PCA (the components of largest variance; full SVD)",
    ),
    _family(
        name="randomized_pca",
        priority=50,
        build=_randomized_pca,
        space=lambda task, n: {"iterated_power": Int(2, 8, 4)},
        cost=lambda n, d: 0.01 + 5e-8 * n * max(d, 1),
        description="randomized PCA (an approximate SVD: fast on many columns)",
    ),
    _family(
        name="incremental_pca",
        priority=40,
        build=_incremental_pca,
        space=lambda task, n: {"batch_size": Choice((256, 1024, 4096), 1024)},
        cost=lambda n, d: 0.02 + 4e-8 * n * max(d, 1) ** 2,
        description="incremental PCA (fitted batch by batch: memory bounded by the batch)",
    ),
    _family(
        name="kernel_pca",
        priority=45,
        build=_kernel_pca,
        space=lambda task, n: {
            "kernel": Choice(("rbf", "poly", "sigmoid", "cosine"), "rbf"),
            "gamma_scale": Float(0.03, 10.0, 1.0, log=True),  # x 1 / columns
        },
        cost=_quadratic(6e-8, KERNEL_PCA_MAX_ROWS, base=0.1),
        description=f"kernel PCA (kernel and gamma searched; fitted on at most {KERNEL_PCA_MAX_ROWS:,} rows)",
        portfolio=lambda task, n: [
            {"gamma_scale": 0.1},
            {"gamma_scale": 5.0},
            {"kernel": "cosine"},
        ],
        memory=lambda n, d, p: 50e6 + 8.0 * 4 * min(n, KERNEL_PCA_MAX_ROWS) ** 2,
    ),
    _family(
        name="lle",
        priority=30,
        build=_lle,
        space=lambda task, n: {
            "n_neighbors": Int(5, 50, 10, log=True),
            "method": Choice(("standard", "modified"), "standard"),
        },
        cost=_quadratic(4e-8, LLE_MAX_ROWS, base=0.1),
        description=f"locally linear embedding (fitted on at most {LLE_MAX_ROWS:,} rows)",
        portfolio=lambda task, n: [{"method": "modified"}, {"n_neighbors": 25}],
        memory=lambda n, d, p: 50e6 + 8.0 * 3 * min(n, LLE_MAX_ROWS) ** 2,
    ),
    _family(
        name="isomap",
        priority=35,
        build=_isomap,
        space=lambda task, n: {"n_neighbors": Int(5, 50, 10, log=True)},
        cost=_quadratic(1e-7, ISOMAP_MAX_ROWS, base=0.1),
        description=f"Isomap (geodesic distances on the neighbour graph; fitted on at most {ISOMAP_MAX_ROWS:,} rows)",
        portfolio=lambda task, n: [{"n_neighbors": 25}],
        memory=lambda n, d, p: 50e6 + 8.0 * 4 * min(n, ISOMAP_MAX_ROWS) ** 2,
    ),
    _family(
        name="umap",
        priority=30,
        build=_umap,
        requires="umap",  # umap-learn: the family exists only where it is installed
        space=lambda task, n: {
            "n_neighbors": Int(5, 50, 15, log=True),
            "min_dist": Float(0.0, 0.99, 0.1),
        },
        cost=lambda n, d: 2.0 + 2e-4 * min(n, UMAP_MAX_ROWS) * (1 + d / 20),
        description=f"UMAP (needs umap-learn; fitted on at most {UMAP_MAX_ROWS:,} rows)",
    ),
    _family(
        name="gaussian_projection",
        priority=20,
        build=_gaussian_projection,
        space=lambda task, n: {"draw": Int(0, 9, 0)},  # which random matrix
        cost=lambda n, d: 0.005 + 1e-8 * n * max(d, 1),
        description="Gaussian random projection (distances kept within the Johnson-Lindenstrauss bound)",
        portfolio=lambda task, n: [{"draw": 1}, {"draw": 2}],
    ),
    _family(
        name="sparse_projection",
        priority=20,
        build=_sparse_projection,
        space=lambda task, n: {
            "density": Choice(("auto", 0.1, 0.3), "auto"),
            "draw": Int(0, 9, 0),
        },
        cost=lambda n, d: 0.005 + 5e-9 * n * max(d, 1),
        description="sparse random projection (like the Gaussian one, with a sparse matrix)",
        portfolio=lambda task, n: [{"draw": 1}, {"density": 0.3}],
    ),
]
