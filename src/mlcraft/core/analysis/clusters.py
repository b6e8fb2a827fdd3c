"""What a clustering looks like: sizes, silhouettes per cluster and the internal scores.

Measured in the reference space of the rows (see :mod:`mlcraft.tasks.cluster`), with
scikit-learn's metrics. Silhouettes are computed on at most ``SAMPLE`` rows (a fixed sample): they
cost the square of the rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm

__all__ = ["cluster_diagnostics", "external_scores", "k_curve", "SAMPLE"]

SAMPLE = 2_000
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


def external_scores(known: Any, labels: np.ndarray) -> dict[str, float]:
    """Agreement with a known labelling (noise counted as its own cluster): adjusted Rand index,
    normalised mutual information, homogeneity and completeness (scikit-learn's)."""
    truth = np.asarray(known, dtype=object).astype(str)
    pred = np.asarray(labels, dtype=int)
    return {
        "adjusted_rand": float(skm.adjusted_rand_score(truth, pred)),
        "normalized_mutual_info": float(skm.normalized_mutual_info_score(truth, pred)),
        "homogeneity": float(skm.homogeneity_score(truth, pred)),
        "completeness": float(skm.completeness_score(truth, pred)),
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
