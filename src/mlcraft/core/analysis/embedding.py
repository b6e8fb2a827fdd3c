"""What an embedding keeps: the explained-variance curve, reconstruction errors, trustworthiness, the
Johnson-Lindenstrauss bound and 2-D maps of the rows (the book's chapter 8).

Everything is measured in the reference space of the rows (their prepared columns: numbers
standardised, categories one-hot encoded; see :mod:`mlcraft.tasks.embed`), with scikit-learn.
Methods whose cost grows with the square of the rows (kernel PCA, t-SNE, MDS, trustworthiness) run
on a fixed, seeded sample.
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any

import numpy as np

__all__ = [
    "VARIANCE_KEPT",
    "MIN_DIMS",
    "MAX_DIMS",
    "variance_curve",
    "dims_for_variance",
    "reconstruction_error",
    "kernel_pca_preimage",
    "jl_bound",
    "trustworthiness_by_k",
    "maps",
    "umap_available",
    "embedding_diagnostics",
]

VARIANCE_KEPT = 0.95  # the share of the variance the default number of dimensions keeps
MIN_DIMS, MAX_DIMS = 2, 50  # the default number of dimensions stays within these
KERNEL_SAMPLE = 500  # rows kernel PCA's pre-image error is measured on (n x n kernel matrices)
MAP_SAMPLE = 1_000  # rows of the t-SNE map
MDS_SAMPLE = 300  # rows of the MDS map (SMACOF: n x n distances, many iterations)
TRUST_SAMPLE = 1_000


def _sample(n: int, size: int, seed: int) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def variance_curve(Y: Any, *, share: float = VARIANCE_KEPT) -> dict[str, Any]:
    """PCA's explained variance ratio of each component of ``Y``, cumulated, and how many
    components keep ``share`` of the variance.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Y = rng.normal(size=(200, 2)) @ rng.normal(size=(2, 6)) + rng.normal(size=(200, 6)) * 0.01
    >>> variance_curve(Y)["components_kept"]
    2
    """
    from sklearn.decomposition import PCA

    Y = np.asarray(Y, dtype=float)
    ratio = PCA().fit(Y).explained_variance_ratio_
    cumulative = np.cumsum(ratio)
    kept = int(np.searchsorted(cumulative, share - 1e-12) + 1)
    return {
        "share": share,
        "ratio": [float(r) for r in ratio],
        "cumulative": [float(c) for c in cumulative],
        "components_kept": min(kept, len(ratio)),
    }


def dims_for_variance(Y: Any, *, share: float = VARIANCE_KEPT) -> int:
    """The default number of dimensions: the PCA components that keep ``share`` of the variance of
    ``Y``, at least :data:`MIN_DIMS` and at most :data:`MAX_DIMS` (and never more than its columns)."""
    Y = np.asarray(Y, dtype=float)
    kept = variance_curve(Y, share=share)["components_kept"]
    width = min(Y.shape[1], Y.shape[0])
    return int(min(max(kept, MIN_DIMS), MAX_DIMS, width))


def reconstruction_error(Y: Any, model: Any) -> float | None:
    """Mean squared error between the rows of ``Y`` and their pre-images from ``model``'s
    embedding (``inverse_transform(transform(Y))``), or None when it has no inverse."""
    if not hasattr(model, "inverse_transform"):
        return None
    Y = np.asarray(Y, dtype=float)
    try:
        back = model.inverse_transform(model.transform(Y))
    except (AttributeError, ValueError, NotImplementedError):
        return None
    return float(np.mean((Y - np.asarray(back, dtype=float)) ** 2))


def kernel_pca_preimage(Y: Any, dims: int, *, seed: int = 0) -> list[dict[str, Any]]:
    """The book's choice of kernel PCA's kernel and gamma: the pre-image reconstruction error of
    each (kernel, gamma) on a sample of the rows, best first. Gamma is given in units of
    ``1 / columns`` (scikit-learn's default is 1)."""
    from sklearn.decomposition import KernelPCA

    Y = np.asarray(Y, dtype=float)
    Y = Y[_sample(len(Y), KERNEL_SAMPLE, seed)]
    width = max(Y.shape[1], 1)
    out = []
    for kernel in ("rbf", "sigmoid", "poly"):
        for scale in (0.1, 0.3, 1.0, 3.0):
            model = KernelPCA(
                n_components=min(dims, len(Y) - 1),
                kernel=kernel,
                gamma=scale / width,
                fit_inverse_transform=True,
                random_state=seed,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    model.fit(Y)
                    error = reconstruction_error(Y, model)
                except (ValueError, np.linalg.LinAlgError):
                    error = None
            if error is not None and np.isfinite(error):
                out.append({"kernel": kernel, "gamma_scale": scale, "error": error})
    return sorted(out, key=lambda r: r["error"])


def jl_bound(n_rows: int, dims: int) -> list[dict[str, Any]]:
    """The Johnson-Lindenstrauss bound: the dimensions a random projection of ``n_rows`` rows needs
    to keep every pairwise distance within a factor ``1 +- eps`` (with high probability)."""
    from sklearn.random_projection import johnson_lindenstrauss_min_dim

    rows = []
    for eps in (0.1, 0.2, 0.3, 0.5):
        need = int(johnson_lindenstrauss_min_dim(max(n_rows, 2), eps=eps))
        rows.append({"eps": eps, "min_dims": need, "met": dims >= need})
    return rows


def trustworthiness_by_k(Y: Any, E: Any, ks: tuple[int, ...] = (5, 10, 20)) -> list[dict]:
    """Trustworthiness of embedding ``E`` of the rows ``Y`` for several neighbourhood sizes."""
    from sklearn.manifold import trustworthiness

    Y, E = np.asarray(Y, dtype=float), np.asarray(E, dtype=float)
    idx = _sample(len(Y), TRUST_SAMPLE, 0)
    Y, E = Y[idx], E[idx]
    return [
        {"k": k, "trustworthiness": float(trustworthiness(Y, E, n_neighbors=k))}
        for k in ks
        if k < len(Y) / 2
    ]


def umap_available() -> bool:
    """umap-learn is installed (its import takes seconds: it is imported only when used)."""
    return importlib.util.find_spec("umap") is not None


def maps(Y: Any, *, seed: int = 0) -> dict[str, Any]:
    """2-D maps of the rows for the pictures: PCA (every row), t-SNE (a sample), MDS (a smaller
    sample) and UMAP (a sample, only when umap-learn is installed). ``rows`` are the sampled
    rows' positions; ``skipped`` says which maps were left out and why."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import MDS, TSNE

    Y = np.asarray(Y, dtype=float)
    out: dict[str, Any] = {"maps": {}, "skipped": []}
    two = min(2, Y.shape[1])
    xy = PCA(n_components=two, random_state=seed).fit_transform(Y)
    out["maps"]["pca"] = {"rows": np.arange(len(Y)), "xy": _two(xy)}
    idx = _sample(len(Y), MAP_SAMPLE, seed)
    if len(idx) > 5:
        tsne = TSNE(
            n_components=2,
            perplexity=min(30.0, (len(idx) - 1) / 3),
            init="pca",
            random_state=seed,
            max_iter=500,
        )
        from threadpoolctl import threadpool_limits

        # one OpenMP thread: on a small sample Barnes-Hut's threads cost more than they save, and
        # on a loaded machine they collapse (1,000 rows, 2 busy cores: 22 s on all, 4.8 s on one)
        with threadpool_limits(1, user_api="openmp"):
            out["maps"]["tsne"] = {"rows": idx, "xy": tsne.fit_transform(Y[idx])}
    small = _sample(len(Y), MDS_SAMPLE, seed)
    if len(small) > 3:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scikit-learn's notices about changing defaults
            mds = MDS(n_components=2, random_state=seed, n_init=1, max_iter=200)
            out["maps"]["mds"] = {"rows": small, "xy": mds.fit_transform(Y[small])}
    if umap_available():
        import umap  # seconds to import: only here

        reducer = umap.UMAP(n_components=2, random_state=seed)
        out["maps"]["umap"] = {"rows": idx, "xy": reducer.fit_transform(Y[idx])}
    else:
        out["skipped"].append("UMAP: umap-learn is not installed (pip install umap-learn)")
    return out


def _two(xy: np.ndarray) -> np.ndarray:
    return xy if xy.shape[1] == 2 else np.c_[xy, np.zeros(len(xy))]


def _knn_accuracy(X: np.ndarray, labels: np.ndarray, seed: int = 0) -> float | None:
    """Cross-validated 5-nearest-neighbour accuracy of ``labels`` from ``X`` (how much of a known
    labelling an embedding keeps; the labels are only scored, never fitted by the embedding)."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    _, counts = np.unique(labels, return_counts=True)
    folds = int(min(5, counts.min()))
    if folds < 2 or len(counts) < 2:
        return None
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    model = KNeighborsClassifier(n_neighbors=min(5, len(X) - 1))
    return float(np.mean(cross_val_score(model, X, labels, cv=cv)))


def embedding_diagnostics(Y: Any, E: Any, *, known: Any = None, seed: int = 0) -> dict[str, Any]:
    """What ``analyse`` shows of an embedding ``E`` (out-of-fold coordinates) of the rows whose
    reference coordinates are ``Y``: trustworthiness, the explained-variance curve, PCA's and
    kernel PCA's reconstruction errors at the same number of dimensions, the Johnson-Lindenstrauss
    bound, and, given ``known`` labels, how well 5 nearest neighbours recover them.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Y = rng.normal(size=(120, 2)) @ rng.normal(size=(2, 5))
    >>> d = embedding_diagnostics(Y, Y[:, :2])
    >>> d["dims"], d["width"], d["variance"]["components_kept"], d["jl"][0]["eps"]
    (2, 5, 2, 0.1)
    """
    import pandas as pd
    from sklearn.decomposition import PCA

    from mlcraft.core.analysis.metrics import get_metric

    Y = np.asarray(Y, dtype=float)
    E = np.asarray(E, dtype=float).reshape(len(Y), -1)
    dims = E.shape[1]
    curve = variance_curve(Y)
    pca = PCA(n_components=min(dims, *Y.shape)).fit(Y)
    trust = get_metric("trustworthiness", "embed")._func
    assert trust is not None
    out: dict[str, Any] = {
        "n_rows": int(len(Y)),
        "dims": int(dims),
        "width": int(Y.shape[1]),
        "trustworthiness": float(trust(Y, E)),
        "trust_by_k": trustworthiness_by_k(Y, E),
        "variance": curve,
        "variance_at_dims": float(curve["cumulative"][min(dims, len(curve["cumulative"])) - 1]),
        "pca_error": reconstruction_error(Y, pca),
        "kernel_pca": kernel_pca_preimage(Y, dims, seed=seed)[:6],
        "jl": jl_bound(len(Y), dims),
        "umap": umap_available(),
        "known": None,
    }
    if known is not None:
        labels = pd.Series(known).astype(str).to_numpy()
        out["known"] = {
            "knn_embedding": _knn_accuracy(E, labels, seed),
            "knn_reference": _knn_accuracy(Y, labels, seed),
            "classes": sorted(set(labels.tolist()))[:50],
            # each row's class, for the colours of the maps (small tables only)
            "codes": pd.Categorical(labels).codes.tolist() if len(labels) <= 20_000 else None,
        }
    return out
