"""What a clustering looks like: sizes, silhouettes per cluster and the internal scores.

Measured in the reference space of the rows (see :mod:`mlcraft.tasks.cluster`), with
scikit-learn's metrics. Silhouettes are computed on at most ``SAMPLE`` rows (a fixed sample): they
cost the square of the rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm

from mlcraft.formatting import format_number

__all__ = [
    "cluster_diagnostics",
    "k_curve",
    "mixture_curve",
    "external_cluster_scores",
    "k_distances",
    "k_distance_curve",
    "cluster_profiles",
]

SAMPLE = 2_000  # silhouettes are quadratic in the rows: scored on a fixed sample (here and by the search)
PROFILE = 100  # silhouette values kept per cluster for its knife plot
MAX_K = 12  # the k-means curve of inertia and silhouette is drawn for k = 2 .. MAX_K
NOISE = -1


def _sample(n: int, seed: int = 0) -> np.ndarray:
    if n <= SAMPLE:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, SAMPLE, replace=False))


def cluster_diagnostics(coordinates: Any, labels: np.ndarray) -> dict[str, Any]:
    """Sizes, per-cluster silhouettes (noise rows count 0) and the internal scores of a clustering.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.r_[np.zeros((20, 2)), np.ones((20, 2)) * 10] + np.random.default_rng(0).normal(size=(40, 2)) * 0.1
    >>> d = cluster_diagnostics(X, np.r_[np.zeros(20), np.ones(20)].astype(int))
    >>> d["n_clusters"], d["silhouette"] > 0.9
    (2, True)
    """
    X = np.asarray(coordinates, dtype=float)
    labels = np.asarray(labels, dtype=int)
    clustered = labels != NOISE
    ids, counts = np.unique(labels[clustered], return_counts=True)
    out: dict[str, Any] = {
        "n_rows": int(len(labels)),
        "n_clusters": int(len(ids)),
        "noise": int((~clustered).sum()),
        "silhouette": -1.0,
        "calinski_harabasz": None,
        "davies_bouldin": None,
        "sizes": [],
    }
    per_row = np.zeros(len(labels))
    idx = _sample(len(labels))
    if len(ids) >= 2:
        inside = idx[clustered[idx]]
        if len(np.unique(labels[inside])) >= 2:
            per_row[inside] = skm.silhouette_samples(X[inside], labels[inside])
        out["silhouette"] = float(per_row[idx].mean())
        out["calinski_harabasz"] = float(
            skm.calinski_harabasz_score(X[clustered], labels[clustered])
        )
        out["davies_bouldin"] = float(skm.davies_bouldin_score(X[clustered], labels[clustered]))
    for cid, count in zip(ids, counts):
        mine = idx[labels[idx] == cid]
        values = np.sort(per_row[mine])[::-1]
        keep = np.unique(np.linspace(0, len(values) - 1, min(len(values), PROFILE)).astype(int))
        out["sizes"].append(
            {
                "cluster": int(cid),
                "rows": int(count),
                "share": float(count / len(labels)),
                "silhouette": float(values.mean()) if len(values) else None,
                "profile": [float(v) for v in values[keep]] if len(values) else [],
            }
        )
    return out


def external_cluster_scores(labels_true: Any, labels_pred: Any) -> dict[str, float]:
    """A clustering scored against known labels (``--labels``; never fitted on, never searched).

    Adjusted Rand index, normalised mutual information, homogeneity and completeness, from
    scikit-learn; noise (-1) counts as a cluster of its own, and rows whose known label is missing
    are left out.

    >>> scores = external_cluster_scores(["a", "a", "b", "b"], [1, 1, 0, 0])
    >>> {name: round(value, 3) for name, value in scores.items()}
    {'adjusted_rand': 1.0, 'normalized_mutual_info': 1.0, 'homogeneity': 1.0, 'completeness': 1.0}
    """
    import pandas as pd

    true = pd.Series(np.asarray(labels_true, dtype=object))
    pred = np.asarray(labels_pred)
    if len(true) != len(pred):
        raise ValueError(f"{len(true)} known labels for {len(pred)} predicted clusters")
    known = true.notna().to_numpy()
    t, p = true[known].astype(str).to_numpy(), pred[known]
    return {
        "adjusted_rand": float(skm.adjusted_rand_score(t, p)),
        "normalized_mutual_info": float(skm.normalized_mutual_info_score(t, p)),
        "homogeneity": float(skm.homogeneity_score(t, p)),
        "completeness": float(skm.completeness_score(t, p)),
    }


def k_curve(coordinates: Any, max_k: int = MAX_K, seed: int = 0) -> list[dict[str, float]]:
    """Inertia and silhouette of k-means for k = 2 .. ``max_k`` on (a sample of) the rows: the
    book's two ways of choosing k (the elbow of the inertia curve, the highest silhouette), shown
    beside the model the search chose by held-out silhouette."""
    from sklearn.cluster import KMeans

    X = np.asarray(coordinates, dtype=float)[_sample(len(coordinates), seed)]
    out = []
    for k in range(2, min(max_k, len(X) - 1) + 1):
        model = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(X)
        if len(np.unique(model.labels_)) < 2:
            break
        out.append(
            {
                "k": k,
                "inertia": float(model.inertia_),
                "silhouette": float(skm.silhouette_score(X, model.labels_)),
            }
        )
    return out


def knife_curves(coordinates: Any, around: int, seed: int = 0) -> list[dict[str, Any]]:
    """The book's silhouette diagrams ("knife plots") of k-means for a few k around ``around`` (the
    chosen model's number of clusters): each k's clusters with their sorted silhouettes, as
    :func:`cluster_diagnostics` gives them, on (a sample of) the rows."""
    from sklearn.cluster import KMeans

    X = np.asarray(coordinates, dtype=float)[_sample(len(coordinates), seed)]
    low = max(2, min(around, MAX_K) - 1)
    out = []
    for k in range(low, min(low + 4, len(X) - 1, MAX_K + 1)):
        labels = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(X)
        if len(np.unique(labels)) < 2:
            break
        d = cluster_diagnostics(X, labels)
        out.append({"k": k, "silhouette": d["silhouette"], "sizes": d["sizes"]})
    return out


TSNE_ROWS = 2_000  # rows of the t-SNE map (a seeded sample): about 10 s on one core


def tsne_map(coordinates: Any, labels: np.ndarray, seed: int = 0) -> dict[str, list]:
    """A 2-D t-SNE map of (a sample of at most ``TSNE_ROWS``) rows, PCA to 30 columns first, with
    each row's cluster: neighbours stay together, so groups that the first two principal
    components overlap can show apart."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    X = np.asarray(coordinates, dtype=float)
    rows = np.sort(_sample(len(X), seed)[:TSNE_ROWS]) if len(X) > TSNE_ROWS else np.arange(len(X))
    X = X[rows]
    if len(X) < 5:
        return {"x": [], "y": [], "cluster": []}
    if X.shape[1] > 30:
        X = PCA(30, random_state=seed).fit_transform(X)
    xy = TSNE(
        2,
        perplexity=min(30.0, (len(X) - 1) / 3.0),
        init="pca",
        max_iter=500,
        random_state=seed,
        n_jobs=1,  # (a figure: the analysis's other work runs beside it)
    ).fit_transform(X)
    return {
        "x": [round(float(v), 3) for v in xy[:, 0]],
        "y": [round(float(v), 3) for v in xy[:, 1]],
        "cluster": [int(v) for v in np.asarray(labels)[rows]],
    }


COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def mixture_curve(coordinates: Any, max_k: int = MAX_K, seed: int = 0) -> list[dict[str, Any]]:
    """BIC and AIC of Gaussian mixtures for k = 1 .. ``max_k`` and each covariance type, on (a
    sample of) the rows: the book's way of choosing a mixture's k (the lowest BIC)."""
    from sklearn.mixture import GaussianMixture

    X = np.asarray(coordinates, dtype=float)[_sample(len(coordinates), seed)]
    out = []
    for cov in COVARIANCE_TYPES:
        for k in range(1, min(max_k, len(X) - 1) + 1):
            gm = GaussianMixture(k, covariance_type=cov, reg_covar=1e-4, random_state=seed).fit(X)
            out.append(
                {"covariance": cov, "k": k, "bic": float(gm.bic(X)), "aic": float(gm.aic(X))}
            )
    return out


def k_distances(X: Any, k: int) -> np.ndarray:
    """Each row's distance to its ``k``-th nearest neighbour, the row itself counted (as DBSCAN
    counts ``min_samples``): the k-distance curve, and where DBSCAN's eps is read from."""
    from sklearn.neighbors import NearestNeighbors

    X = np.asarray(X, dtype=float)
    k = max(1, min(int(k), len(X)))
    return NearestNeighbors(n_neighbors=k).fit(X).kneighbors(X)[0][:, -1]


def k_distance_curve(
    coordinates: Any, k: int = 10, points: int = 200, seed: int = 0
) -> dict[str, Any]:
    """:func:`k_distances` sorted, on a sample of the rows, kept at ``points`` points: DBSCAN's
    eps is read at the curve's knee (the book's heuristic)."""
    X = np.asarray(coordinates, dtype=float)[_sample(len(coordinates), seed)]
    k = max(1, min(k, len(X)))
    ordered = np.sort(k_distances(X, k))
    keep = np.unique(np.linspace(0, len(ordered) - 1, min(points, len(ordered))).astype(int))
    return {"k": k, "rank": [int(i) for i in keep], "distance": [float(ordered[i]) for i in keep]}


def cluster_profiles(
    features: Any, labels: np.ndarray, max_columns: int = 12, max_categories: int = 3
) -> dict[str, Any]:
    """Per cluster (noise included, as -1): its rows, the mean of each numeric feature and the
    commonest categories of each categorical one (their shares inside the cluster), as text for a
    table; the first ``max_columns`` features, in their order."""
    import pandas as pd

    frame = pd.DataFrame(features).reset_index(drop=True)
    labels = np.asarray(labels, dtype=int)
    columns = [str(c) for c in frame.columns[:max_columns]]
    rows = []
    for cid in np.unique(labels):
        part = frame[labels == cid]
        row: dict[str, Any] = {"cluster": str(cid) if cid != NOISE else "noise", "rows": len(part)}
        for col, values in zip(columns, (part[c] for c in frame.columns[:max_columns])):
            if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
                values.dtype
            ):
                row[col] = "-" if values.isna().all() else format_number(float(values.mean()))
            else:
                shares = values.astype(str).value_counts(normalize=True).head(max_categories)
                row[col] = ", ".join(f"{k} {v:.0%}" for k, v in shares.items())
        rows.append(row)
    return {"columns": columns, "rows": rows}
