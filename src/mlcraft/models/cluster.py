"""Clustering: k-means (and mini-batch), Gaussian mixtures (and the Bayesian one), agglomerative,
BIRCH, DBSCAN, HDBSCAN, spectral clustering, mean shift and affinity propagation.

Every family is scikit-learn's estimator after the usual preparation (scaled numbers, one-hot
categories). ``fit(X, y)`` ignores ``y`` (the engine passes the reference coordinates it scores
with); ``predict(X)`` gives each new row a cluster id, ``-1`` meaning noise.

The estimators that cluster only the rows they were fitted on (agglomerative, DBSCAN, HDBSCAN,
spectral) are wrapped in :class:`AssignByNeighbours`: a new row takes the cluster of its nearest
clustered training row (DBSCAN: its nearest core sample, and noise when that is further than
``eps``). The same wrapper fits the methods whose cost grows with the square of the rows (and
BIRCH, whose last step can) on a seeded subsample of large tables, as the kernel SVM is.

The number of clusters is searched in ``[2, kmax]`` with ``kmax = min(20, max(2, n_rows // 20))``
(at least about 20 rows a cluster); each k-based family's portfolio tries the small k in turn, so
that the search sees the silhouette of every k from 2 up, as the book chooses k.

>>> from sklearn.datasets import make_blobs
>>> X, _ = make_blobs(300, centers=[(0, 0), (8, 0), (0, 8)], random_state=0)
>>> model = AssignByNeighbours(DBSCAN(min_samples=5), radius="eps", eps_quantile=0.9).fit(X)
>>> model.n_clusters_
3
>>> model.predict([[0.2, 8.1], [1e3, 1e3]]).tolist()  # the last: far from every core sample
[2, -1]
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.cluster import (
    DBSCAN,
    HDBSCAN,
    AffinityPropagation,
    AgglomerativeClustering,
    Birch,
    KMeans,
    MeanShift,
    MiniBatchKMeans,
    SpectralClustering,
    estimate_bandwidth,
)
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_is_fitted, validate_data

from mlcraft.core.analysis.clusters import k_distances
from mlcraft.core.fit.family import Choice, Family, Float, Int, time_left

__all__ = [
    "AssignByNeighbours",
    "CLUSTER",
    "EmbedThenCluster",
    "MixtureByCriterion",
    "k_distance_eps",
    "kmax",
    "FAMILIES",
]

CLUSTER = frozenset({"cluster"})

# rows the quadratic methods are fitted on (the other rows are predicted)
AGGLOMERATIVE_MAX_ROWS = 5_000  # ward's condensed distances: 8 * m^2 / 2 bytes (100 MB)
DBSCAN_MAX_ROWS = 10_000  # its eps-neighbourhoods hold up to m^2 / k indices
HDBSCAN_MAX_ROWS = 10_000
BIRCH_MAX_ROWS = 10_000  # its final agglomerative step may see one subcluster a row
SPECTRAL_MAX_ROWS = 3_000
MEANSHIFT_MAX_ROWS = 5_000
AFFINITY_MAX_ROWS = 2_000  # similarity, responsibility and availability: three m x m matrices
TSNE_MAX_ROWS = 5_000  # Barnes-Hut t-SNE: about 3.5 s for 1,400 rows x 30 components here
MIXTURE_MAX_K = 10  # the mixtures' criterion walks k = 2 .. this (or kmax, if smaller)
PATIENCE = 2  # ... and stops after this many k in a row without a lower criterion
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
LARGE_TABLE_ROWS = 50_000  # above it, mini-batch k-means is the cheap k-means


def kmax(n_rows: int) -> int:
    """The largest number of clusters searched: at least about 20 rows a cluster, at most 20."""
    return min(20, max(2, n_rows // 20))


def _k(n_rows: int) -> Int:
    high = kmax(n_rows)
    return Int(2, high, min(8, high))  # 8: KMeans' own default, where the table allows it


def _small_ks(n_rows: int, up_to: int = 10) -> list[int]:
    return list(range(2, min(kmax(n_rows), up_to) + 1))


def k_distance_eps(X: Any, min_samples: int, quantile: float) -> float:
    """DBSCAN's ``eps`` read from the k-distance curve: the ``quantile`` of the rows' distances to
    their ``min_samples``-th neighbour (the row itself counted, as DBSCAN counts it).

    A row whose k-distance is at most ``eps`` is a core sample, so about ``quantile`` of the rows
    are core samples; the elbow of the sorted k-distance curve usually sits between 0.8 and 0.95.
    """
    eps = float(np.quantile(k_distances(X, min_samples), quantile))
    return max(eps, 1e-10)  # duplicated rows: a k-distance of 0 (DBSCAN needs eps > 0)


class AssignByNeighbours(ClusterMixin, BaseEstimator):
    """A clustering estimator made to predict new rows (and to fit on a subsample of large tables).

    Estimators without a ``predict`` of their own (agglomerative, DBSCAN, HDBSCAN, spectral): a new
    row takes the cluster of its nearest clustered training row (DBSCAN: its nearest core sample),
    or noise (-1) when that is further than ``radius``. Estimators with one (BIRCH, mean shift,
    affinity propagation) predict with it: this wrapper then only subsamples and sets their scale.

    Parameters
    ----------
    estimator : scikit-learn clusterer
        Fitted (a clone) on the training rows; its ``labels_`` are kept (and, for DBSCAN,
        ``core_sample_indices_`` say which rows are indexed).
    radius : float, "eps" or None
        A new row further than this from its nearest indexed row is noise (-1). "eps": the inner
        estimator's ``eps`` (DBSCAN). None: every new row gets a cluster.
    eps_quantile : float or None
        Set the inner estimator's ``eps`` at fit time with :func:`k_distance_eps` (its
        ``min_samples`` as k), instead of a fixed distance that depends on the data's scale.
    bandwidth_quantile : float or None
        Set the inner estimator's ``bandwidth`` at fit time with scikit-learn's
        ``estimate_bandwidth(X, quantile=bandwidth_quantile)`` (mean shift: the mean distance of
        the rows to their ``quantile * n``-th neighbour).
    max_rows : int or None
        Fit the inner estimator on at most this many rows, drawn with ``random_state`` (for the
        methods whose cost grows with the square of the rows); the other rows are predicted.
    random_state : int or None
        Seed of that subsample.

    Attributes
    ----------
    labels_ : ndarray of int
        The cluster of each training row (-1: noise).
    estimator_ : estimator
        The fitted clone (its n x n ``affinity_matrix_``, if any, is dropped: prediction never
        reads it and it would dominate the saved model).
    eps_, bandwidth_ : float or None
        The scale given to the inner estimator when ``eps_quantile`` / ``bandwidth_quantile`` is set.
    radius_ : float or None
        The resolved radius.
    index_ : NearestNeighbors or None
        Over the clustered (DBSCAN: core) training rows; None when no row got a cluster or the
        inner estimator predicts itself.
    index_labels_ : ndarray of int
        The cluster of each indexed row.
    n_clusters_ : int
        Clusters found on the training rows (noise not counted).
    """

    def __init__(
        self,
        estimator: Any = None,
        radius: float | str | None = None,
        eps_quantile: float | None = None,
        bandwidth_quantile: float | None = None,
        max_rows: int | None = None,
        random_state: int | None = None,
    ):
        self.estimator = estimator
        self.radius = radius
        self.eps_quantile = eps_quantile
        self.bandwidth_quantile = bandwidth_quantile
        self.max_rows = max_rows
        self.random_state = random_state

    def fit(self, X, y=None):
        """Cluster the rows of ``X`` (``y`` is ignored)."""
        X = validate_data(self, X, dtype=np.float64)
        n = X.shape[0]
        rows = np.arange(n)
        if self.max_rows is not None and n > self.max_rows:
            rng = np.random.default_rng(self.random_state)
            rows = np.sort(rng.choice(n, size=int(self.max_rows), replace=False))
        fit_X = X[rows]
        est = clone(self.estimator)
        self.eps_ = self.bandwidth_ = None
        if self.eps_quantile is not None:
            k = est.get_params()["min_samples"]
            self.eps_ = k_distance_eps(fit_X, k, float(self.eps_quantile))
            est.set_params(eps=self.eps_)
        if self.bandwidth_quantile is not None:
            quantile = float(self.bandwidth_quantile)
            bandwidth = estimate_bandwidth(fit_X, quantile=quantile, random_state=self.random_state)
            self.bandwidth_ = max(float(bandwidth), 1e-10)  # all rows identical: 0
            est.set_params(bandwidth=self.bandwidth_)
        with warnings.catch_warnings():
            # spectral clustering of well separated groups: the neighbour graph comes in pieces,
            # and each piece is rightly a cluster
            warnings.filterwarnings("ignore", message="Graph is not fully connected")
            est.fit(fit_X)
        if hasattr(est, "affinity_matrix_"):
            del est.affinity_matrix_
        self.estimator_ = est
        labels = np.asarray(est.labels_, dtype=np.int64)
        radius = est.get_params()["eps"] if self.radius == "eps" else self.radius
        self.radius_ = None if radius is None else float(radius)
        if self._predicts_itself():
            keep = np.zeros(0, dtype=np.int64)
        else:
            core = getattr(est, "core_sample_indices_", None)
            keep = np.flatnonzero(labels >= 0) if core is None else np.asarray(core, np.int64)
            keep = keep[labels[keep] >= 0]
        self.index_labels_ = labels[keep]
        self.index_ = NearestNeighbors(n_neighbors=1).fit(fit_X[keep]) if len(keep) else None
        self.n_clusters_ = int(len(np.unique(labels[labels >= 0])))
        self.labels_ = labels if len(rows) == n else self.predict(X)
        return self

    def _predicts_itself(self) -> bool:
        return hasattr(self.estimator_, "predict") and self.radius is None

    def predict(self, X):
        """The cluster of each row of ``X`` (-1: noise)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        if self._predicts_itself():
            return np.asarray(self.estimator_.predict(X), dtype=np.int64)
        if self.index_ is None:
            return np.full(X.shape[0], -1, dtype=np.int64)
        dist, ind = self.index_.kneighbors(X, n_neighbors=1)
        out = self.index_labels_[ind[:, 0]]
        if self.radius_ is not None:
            out[dist[:, 0] > self.radius_] = -1
        return out


class MixtureByCriterion(ClusterMixin, BaseEstimator):
    """A Gaussian mixture whose number of components (and covariance type) is chosen by an
    information criterion on the rows it is fitted on, as the book chooses them: every
    ``k`` in ``[2, max_components]`` for each covariance type in ``covariance_type`` ("all": the
    four), and the fit of the lowest BIC (or AIC) is kept. k grows until the criterion has not
    improved for ``PATIENCE`` k in a row, or the fit's deadline
    (:func:`~mlcraft.core.fit.family.time_left`) would not leave room for the next k.

    ``predict`` gives the most probable component, ``predict_proba`` each row's membership
    probabilities. ``criteria_`` lists ``{"k", "covariance", "bic", "aic"}`` of every fit tried.
    ``n_components``: a number of components the user fixed (``--clusters``): only the covariance
    type is then chosen by the criterion.
    """

    def __init__(
        self,
        max_components: int = MIXTURE_MAX_K,
        n_components: int | None = None,
        covariance_type: str = "all",
        criterion: str = "bic",
        reg_covar: float = 1e-4,
        random_state: int | None = None,
    ):
        self.max_components = max_components
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.criterion = criterion
        self.reg_covar = reg_covar
        self.random_state = random_state

    def fit(self, X, y=None):
        """Fit every candidate on ``X`` (``y`` is ignored) and keep the lowest criterion's."""
        X = validate_data(self, X, dtype=np.float64)
        started = time.perf_counter()
        types = COVARIANCE_TYPES if self.covariance_type == "all" else (self.covariance_type,)
        high = max(2, min(int(self.max_components), X.shape[0] - 1))
        low = 2
        if self.n_components is not None:
            low = high = min(int(self.n_components), max(X.shape[0] - 1, 1))
        best, best_score, self.criteria_ = None, math.inf, []
        self.stopped_at_ = None  # the k the fit's deadline stopped the walk before, if it did
        best_k = low
        for k in range(low, high + 1):
            if k - best_k > PATIENCE:  # the criterion has not improved for PATIENCE k in a row
                break
            if best is not None and time_left() < 1.5 * (time.perf_counter() - started) / (k - low):
                self.stopped_at_ = k
                break
            for cov in types:
                gm = GaussianMixture(
                    n_components=k,
                    covariance_type=cov,
                    reg_covar=self.reg_covar,
                    random_state=self.random_state,
                ).fit(X)
                row = {"k": k, "covariance": cov, "bic": float(gm.bic(X)), "aic": float(gm.aic(X))}
                self.criteria_.append(row)
                if row[self.criterion] < best_score:
                    best, best_score, best_k = gm, row[self.criterion], k
        assert best is not None
        self.mixture_ = best
        self.n_components_ = int(best.n_components)
        self.covariance_type_ = str(best.covariance_type)
        self.labels_ = best.predict(X)
        return self

    def predict(self, X):
        """The most probable component of each row."""
        check_is_fitted(self)
        return self.mixture_.predict(validate_data(self, X, dtype=np.float64, reset=False))

    def predict_proba(self, X):
        """Each row's membership probability of every component."""
        check_is_fitted(self)
        return self.mixture_.predict_proba(validate_data(self, X, dtype=np.float64, reset=False))


class EmbedThenCluster(ClusterMixin, BaseEstimator):
    """Cluster the rows in a 2-D t-SNE map of them (PCA first when there are many columns).

    t-SNE keeps each row's neighbours near it and pulls apart groups that a straight-line distance
    in many dimensions blurs (the book's digits). It maps only the rows it is fitted on: wrap it in
    :class:`AssignByNeighbours`, which gives a new row the cluster of its nearest clustered
    training row in the prepared space. ``labels_``: the clusterer's labels of the training rows
    (-1: noise); ``embedding_``: their map.
    """

    def __init__(
        self,
        clusterer: Any = None,
        perplexity: float = 30.0,
        pca_components: int = 30,
        random_state: int | None = None,
        n_jobs: int | None = None,
    ):
        self.clusterer = clusterer
        self.perplexity = perplexity
        self.pca_components = pca_components
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X, y=None):
        X = validate_data(self, X, dtype=np.float64)
        n, d = X.shape
        if d > self.pca_components and n > self.pca_components:
            X = PCA(self.pca_components, random_state=self.random_state).fit_transform(X)
        if n < 5:  # nothing to map: every row its own neighbourhood
            self.embedding_ = np.zeros((n, 2))
        else:
            self.embedding_ = TSNE(
                2,
                perplexity=min(float(self.perplexity), (n - 1) / 3.0),
                init="pca",
                random_state=self.random_state,
                n_jobs=self.n_jobs,
            ).fit_transform(X)
        self.labels_ = np.asarray(clone(self.clusterer).fit(self.embedding_).labels_, np.int64)
        return self


# -- builds --------------------------------------------------------------------------------------


def _n_clusters(p, ctx) -> int:
    """The project's ``--clusters``, else the searched ``n_clusters``."""
    given = ctx.options.get("clusters")
    return int(given) if given is not None else int(p["n_clusters"])


def _takes_k(options) -> tuple[str, ...]:
    """A family searching ``n_clusters``: ``--clusters`` decides it."""
    return ("n_clusters",) if options.get("clusters") is not None else ()


def _finds_k(options) -> tuple[str, ...] | None:
    """A family that finds its own number of clusters: left out when ``--clusters`` is given."""
    return None if options.get("clusters") is not None else ()


def _kmeans(p, ctx):
    return KMeans(
        n_clusters=_n_clusters(p, ctx), init="k-means++", n_init=p["n_init"], random_state=ctx.seed
    )


def _minibatch_kmeans(p, ctx):
    return MiniBatchKMeans(
        n_clusters=_n_clusters(p, ctx),
        init="k-means++",
        n_init=p["n_init"],
        batch_size=p["batch_size"],
        random_state=ctx.seed,
    )


# reg_covar 1e-4 (scikit-learn: 1e-6): a one-hot column constant within a component makes its
# covariance singular; in standardised units 1e-4 is negligible elsewhere
_REG_COVAR = 1e-4


def _gmm(p, ctx):
    return MixtureByCriterion(
        max_components=min(MIXTURE_MAX_K, kmax(ctx.n_rows)),
        n_components=ctx.options.get("clusters"),
        covariance_type=p["covariance_type"],
        criterion=p["criterion"],
        reg_covar=_REG_COVAR,
        random_state=ctx.seed,
    )


def _tsne_hdbscan(p, ctx):
    inner = EmbedThenCluster(
        HDBSCAN(min_cluster_size=p["min_cluster_size"], copy=True),
        perplexity=p["perplexity"],
        random_state=ctx.seed,
        n_jobs=ctx.n_jobs,
    )
    return AssignByNeighbours(inner, max_rows=TSNE_MAX_ROWS, random_state=ctx.seed)


def _bayesian_gmm(p, ctx):
    return BayesianGaussianMixture(
        n_components=p["n_components"],
        covariance_type=p["covariance_type"],
        weight_concentration_prior=p["weight_concentration_prior"],
        reg_covar=_REG_COVAR,
        max_iter=200,
        random_state=ctx.seed,
    )


def _agglomerative(p, ctx):
    inner = AgglomerativeClustering(n_clusters=_n_clusters(p, ctx), linkage=p["linkage"])
    return AssignByNeighbours(inner, max_rows=AGGLOMERATIVE_MAX_ROWS, random_state=ctx.seed)


def _birch(p, ctx):
    # the threshold (a subcluster's radius) in units of sqrt(features): distances between rows of
    # standardised data grow like it, and a threshold far below them makes every row a subcluster
    threshold = p["threshold"] * math.sqrt(max(ctx.n_features, 1))
    inner = Birch(threshold=threshold, n_clusters=_n_clusters(p, ctx))
    return AssignByNeighbours(inner, max_rows=BIRCH_MAX_ROWS, random_state=ctx.seed)


def _dbscan(p, ctx):
    inner = DBSCAN(min_samples=p["min_samples"], n_jobs=ctx.n_jobs)
    return AssignByNeighbours(
        inner,
        radius="eps",
        eps_quantile=p["eps_quantile"],
        max_rows=DBSCAN_MAX_ROWS,
        random_state=ctx.seed,
    )


def _hdbscan(p, ctx):
    inner = HDBSCAN(
        min_cluster_size=p["min_cluster_size"],
        cluster_selection_method=p["cluster_selection_method"],
        n_jobs=ctx.n_jobs,
        copy=True,
    )
    return AssignByNeighbours(inner, max_rows=HDBSCAN_MAX_ROWS, random_state=ctx.seed)


def _spectral(p, ctx):
    inner = SpectralClustering(
        n_clusters=_n_clusters(p, ctx),
        affinity=p["affinity"],
        n_neighbors=min(p["n_neighbors"], max(1, min(ctx.n_rows, SPECTRAL_MAX_ROWS) - 1)),
        assign_labels="cluster_qr",
        random_state=ctx.seed,
        n_jobs=ctx.n_jobs,
    )
    return AssignByNeighbours(inner, max_rows=SPECTRAL_MAX_ROWS, random_state=ctx.seed)


def _meanshift(p, ctx):
    inner = MeanShift(bin_seeding=True, n_jobs=ctx.n_jobs)
    return AssignByNeighbours(
        inner,
        bandwidth_quantile=p["bandwidth_quantile"],
        max_rows=MEANSHIFT_MAX_ROWS,
        random_state=ctx.seed,
    )


def _affinity_propagation(p, ctx):
    inner = AffinityPropagation(damping=p["damping"], random_state=ctx.seed)
    return AssignByNeighbours(inner, max_rows=AFFINITY_MAX_ROWS, random_state=ctx.seed)


# -- spaces and portfolios -----------------------------------------------------------------------


def _kmeans_portfolio(task, n):
    # every small k in turn (the book chooses k by the silhouette of each); on large tables
    # mini-batch k-means walks the k instead
    return [{"n_clusters": k} for k in _small_ks(n)] if n <= LARGE_TABLE_ROWS else []


def _minibatch_portfolio(task, n):
    return [{"n_clusters": k} for k in _small_ks(n)] if n > LARGE_TABLE_ROWS else []


def _gmm_portfolio(task, n):
    # k and the covariance type by BIC (the default), then by AIC, then k by BIC per type
    return [{"criterion": "aic"}] + [{"covariance_type": c} for c in COVARIANCE_TYPES]


def _agglomerative_portfolio(task, n):
    k = _k(n).default
    by_k = [{"n_clusters": j, "linkage": "ward"} for j in _small_ks(n)]
    return by_k + [{"n_clusters": k, "linkage": c} for c in ("average", "complete")]


def _by_k(param: str, up_to: int):
    return lambda task, n: [{param: k} for k in _small_ks(n, up_to)]


def _tsne_space(task, n):
    high = max(10, min(n, TSNE_MAX_ROWS) // 10)
    return {
        "min_cluster_size": Int(5, high, min(15, high), log=True),
        "perplexity": Float(5.0, 50.0, 30.0),
    }


def _hdbscan_space(task, n):
    high = max(10, min(500, min(n, HDBSCAN_MAX_ROWS) // 10))
    return {
        # scikit-learn's 5: larger minimum sizes made excess-of-mass selection merge clusters
        # (6 well separated blobs: 6 clusters at 5 and 10, 2 at 50)
        "min_cluster_size": Int(5, high, 5, log=True),
        "cluster_selection_method": Choice(("eom", "leaf"), "eom"),
    }


# -- costs: seconds of one fit on one core, measured on make_blobs tables of 2,000 and 20,000 rows
# x 10 standardised columns at the defaults (the commit that added this module has the numbers) --


def _kmeans_cost(n, d):
    # Lloyd: n_init (3) x iterations x n x k (8) x d
    return 0.015 + 1.2e-8 * n * max(d, 1) * 8 * 3


def _minibatch_cost(n, d):
    # 4,096-row batches until the inertia stops improving: about a fifth of k-means' estimate, so
    # that the search's cheap-first rule takes it first on large tables
    return 0.01 + 2.2e-9 * n * max(d, 1) * 8 * 3


def _gmm_cost(n, d):
    # EM with full covariances: iterations x n x k x d^2, for k = 2 .. 10 (54 components) and the
    # four covariance types (about 2.5 times the full one's cost)
    return 0.03 + 2e-8 * n * 54 * 2.5 * max(d, 1) * (1 + d / 4)


def _tsne_cost(n, d):
    # PCA to 30 columns, then Barnes-Hut t-SNE (about n log n), then HDBSCAN on the 2-D map
    m = min(n, TSNE_MAX_ROWS)
    return 0.3 + 2.5e-3 * m * (1 + math.log10(max(m, 10)) / 4) + _assign_cost(n, d, TSNE_MAX_ROWS)


def _bayesian_gmm_cost(n, d):
    # variational EM is slower per iteration and needs more of them (100-200 at 10 components)
    return 0.05 + 6e-6 * n * max(d, 1) * (1 + d / 4)


def _assign_cost(n, d, cap):
    """Predicting the rows left out of the subsample (a k-d tree query each)."""
    return 1e-6 * max(n - cap, 0) * max(d, 1)


def _subsampled_cost(per_row: float, power: int, cap: int, base: float = 0.05):
    """``base + per_row * m^power * (1 + d / 20)`` on the ``m = min(n, cap)`` fitted rows, plus the
    assignment of the others."""

    def cost(n, d):
        m = min(n, cap)
        return base + per_row * m**power * (1 + d / 20) + _assign_cost(n, d, cap)

    return cost


def _square_memory(cap: int, copies: float):
    """A few copies of the data, plus ``copies`` matrices of ``min(n, cap)^2`` numbers."""
    return lambda n, d, p: 50e6 + 8.0 * n * max(d, 1) * 4 + 8.0 * copies * min(n, cap) ** 2


def _mixture_memory(n, d, p):
    k = int(p.get("n_components", 20))
    return 50e6 + 8.0 * n * max(d, 1) * 6 + 8.0 * n * k * 3 + 8.0 * k * max(d, 1) ** 2


def _family(**fields: Any) -> Family:
    """A clustering family: distances need scaled numbers and one-hot categories, whatever the method."""
    return Family(tasks=CLUSTER, needs_scaling=True, categorical="onehot", **fields)


FAMILIES = [
    _family(
        name="kmeans",
        decided_by=_takes_k,
        priority=70,
        build=_kmeans,
        space=lambda task, n: {"n_clusters": _k(n), "n_init": Choice((3, 10), 3)},
        cost=_kmeans_cost,
        description="k-means (k-means++ initialisation, the best of several runs)",
        portfolio=_kmeans_portfolio,
    ),
    _family(
        name="minibatch_kmeans",
        decided_by=_takes_k,
        priority=40,
        build=_minibatch_kmeans,
        space=lambda task, n: {
            "n_clusters": _k(n),
            "n_init": Choice((3, 10), 3),
            # 4,096 (scikit-learn: 1,024): on 1,000,000 x 30 it stopped after 152 batches in 1.6 s,
            # where 1,024 took 894 batches and 7.7 s (k-means itself: 3.9 s)
            "batch_size": Choice((1024, 4096, 16384), 4096),
        },
        cost=_minibatch_cost,
        description="mini-batch k-means (k-means on small random batches, for large tables)",
        portfolio=_minibatch_portfolio,
    ),
    _family(
        name="gmm",
        priority=60,
        build=_gmm,
        space=lambda task, n: {
            "criterion": Choice(("bic", "aic"), "bic"),
            "covariance_type": Choice(("all", *COVARIANCE_TYPES), "all"),
        },
        cost=_gmm_cost,
        description=(
            "Gaussian mixture (EM; k from 2 to 10 and the covariance type chosen by BIC or AIC on "
            "the training rows; a row goes to its most probable component)"
        ),
        portfolio=_gmm_portfolio,
        memory=_mixture_memory,
    ),
    _family(
        name="bayesian_gmm",
        decided_by=_finds_k,
        priority=50,
        build=_bayesian_gmm,
        space=lambda task, n: {
            # an upper bound: the components it does not need get weights near 0
            "n_components": Int(2, kmax(n), min(10, kmax(n))),
            "weight_concentration_prior": Float(1e-3, 10.0, 0.1, log=True),
            "covariance_type": Choice(("full", "diag"), "full"),
        },
        cost=_bayesian_gmm_cost,
        description="Bayesian Gaussian mixture (variational; prunes the components it does not need)",
        portfolio=lambda task, n: [
            {"n_components": kmax(n)},
            {"weight_concentration_prior": 0.001},
            {"covariance_type": "diag"},
        ],
        memory=_mixture_memory,
    ),
    _family(
        name="agglomerative",
        decided_by=_takes_k,
        priority=45,
        build=_agglomerative,
        space=lambda task, n: {
            "n_clusters": _k(n),
            "linkage": Choice(("ward", "average", "complete"), "ward"),
        },
        cost=_subsampled_cost(2.5e-8, 2, AGGLOMERATIVE_MAX_ROWS),
        description=f"agglomerative clustering (fitted on at most {AGGLOMERATIVE_MAX_ROWS:,} rows)",
        portfolio=_agglomerative_portfolio,
        memory=_square_memory(AGGLOMERATIVE_MAX_ROWS, 1.5),
    ),
    _family(
        name="birch",
        decided_by=_takes_k,
        priority=35,
        build=_birch,
        space=lambda task, n: {
            "threshold": Float(0.1, 1.0, 0.25, log=True),  # x sqrt(features)
            "n_clusters": _k(n),
        },
        cost=_subsampled_cost(2e-6, 1, BIRCH_MAX_ROWS),
        description=(
            "BIRCH (a tree of subclusters, then agglomerative clustering of them; "
            f"fitted on at most {BIRCH_MAX_ROWS:,} rows)"
        ),
        portfolio=_by_k("n_clusters", 6),
        # the final agglomerative step: up to one subcluster a row at the smallest threshold
        memory=_square_memory(BIRCH_MAX_ROWS, 1.5),
    ),
    _family(
        name="dbscan",
        decided_by=_finds_k,
        priority=45,
        build=_dbscan,
        space=lambda task, n: {
            "min_samples": Int(3, 50, 10, log=True),
            "eps_quantile": Float(0.5, 0.99, 0.9),  # eps read from the k-distance curve
        },
        cost=_subsampled_cost(8e-9, 2, DBSCAN_MAX_ROWS),
        description=(
            "DBSCAN (eps from the k-distance curve; a new row joins its nearest core sample "
            f"within eps, else is noise; fitted on at most {DBSCAN_MAX_ROWS:,} rows)"
        ),
        portfolio=lambda task, n: [
            {"eps_quantile": 0.8},
            {"eps_quantile": 0.97},
            {"min_samples": 5},
            {"min_samples": 25},
        ],
        # the eps-neighbourhoods: up to a quarter of the fitted rows each
        memory=_square_memory(DBSCAN_MAX_ROWS, 0.25),
    ),
    _family(
        name="hdbscan",
        decided_by=_finds_k,
        priority=50,
        build=_hdbscan,
        space=_hdbscan_space,
        cost=_subsampled_cost(1e-8, 2, HDBSCAN_MAX_ROWS),
        description=(
            "HDBSCAN (density-based clusters of any shape, and noise; "
            f"fitted on at most {HDBSCAN_MAX_ROWS:,} rows)"
        ),
        portfolio=lambda task, n: [  # 15, or the space's top on small tables (never outside it)
            {"min_cluster_size": min(15, _hdbscan_space(task, n)["min_cluster_size"].high)},
            {
                "cluster_selection_method": "leaf",
                "min_cluster_size": min(15, _hdbscan_space(task, n)["min_cluster_size"].high),
            },
        ],
    ),
    _family(
        name="tsne_hdbscan",
        decided_by=_finds_k,
        priority=48,
        build=_tsne_hdbscan,
        space=_tsne_space,
        cost=_tsne_cost,
        description=(
            "t-SNE map then HDBSCAN (clusters of the 2-D map; a new row joins its nearest "
            f"clustered training row; fitted on at most {TSNE_MAX_ROWS:,} rows)"
        ),
        portfolio=lambda task, n: [
            {"min_cluster_size": min(30, max(10, min(n, TSNE_MAX_ROWS) // 10))}
        ],
        memory=lambda n, d, p: 100e6 + 8.0 * n * max(d, 1) * 4 + 8.0 * min(n, TSNE_MAX_ROWS) * 400,
    ),
    _family(
        name="spectral",
        decided_by=_takes_k,
        priority=20,
        build=_spectral,
        space=lambda task, n: {
            "n_clusters": _k(n),
            "affinity": Choice(("nearest_neighbors", "rbf"), "nearest_neighbors"),
            # of the nearest-neighbour graph; scikit-learn's 10 cut 3 clear blobs into the small
            # groups a one-hot column made (a graph in pieces: each piece is a cluster)
            "n_neighbors": Int(5, 50, 20, log=True),
        },
        cost=_subsampled_cost(1e-7, 2, SPECTRAL_MAX_ROWS, base=0.1),
        description=f"spectral clustering (small data: fitted on at most {SPECTRAL_MAX_ROWS:,} rows)",
        portfolio=_by_k("n_clusters", 6),
        memory=_square_memory(SPECTRAL_MAX_ROWS, 4),
    ),
    _family(
        name="meanshift",
        decided_by=_finds_k,
        priority=10,
        build=_meanshift,
        # scikit-learn's bandwidth quantile, 0.3, merges tables of more than three or four clusters
        space=lambda task, n: {"bandwidth_quantile": Float(0.02, 0.3, 0.1, log=True)},
        cost=_subsampled_cost(6e-4 / 1.5, 1, MEANSHIFT_MAX_ROWS, base=0.2),
        description=(
            "mean shift (finds the number of clusters; "
            f"fitted on at most {MEANSHIFT_MAX_ROWS:,} rows)"
        ),
        memory=_square_memory(MEANSHIFT_MAX_ROWS, 1),
    ),
    _family(
        name="affinity_propagation",
        decided_by=_finds_k,
        priority=10,
        build=_affinity_propagation,
        space=lambda task, n: {"damping": Float(0.5, 0.95, 0.5)},
        cost=_subsampled_cost(2e-7, 2, AFFINITY_MAX_ROWS, base=0.2),
        description=(
            "affinity propagation (finds the number of clusters; "
            f"fitted on at most {AFFINITY_MAX_ROWS:,} rows)"
        ),
        memory=_square_memory(AFFINITY_MAX_ROWS, 4),
    ),
]
