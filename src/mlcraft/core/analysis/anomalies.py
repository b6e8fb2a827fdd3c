"""What an anomaly detector's answers look like: the score distribution and its threshold, the most
anomalous rows, and, with known labels (1 = anomaly), ROC AUC, average precision and precision at
the flag rate; plus the scores the search ranks detectors by.

Raw output is ``[score, flag]`` per row (see :mod:`mlcraft.tasks.anomaly`); ``Y`` is the rows'
reference coordinates with the known labels as its last column (NaN without labels).

Without labels, ``consensus`` ranks detectors by the Spearman correlation of their held-out scores
with a model-free outlyingness of the same rows in the reference space: the mean of the ranks of
(a) the distance to the rows' coordinate-wise median and (b) the distance to the 10th nearest
other row. It rewards a detector that agrees with both a global and a local notion of "far from
the others"; it is no substitute for labels (state it when reporting a champion chosen by it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr
from sklearn import metrics as skm

__all__ = [
    "LABEL_METRICS",
    "outlyingness",
    "consensus",
    "roc_auc",
    "average_precision",
    "precision_at_rate",
    "anomaly_diagnostics",
    "TOP_ROWS",
]

LABEL_METRICS = frozenset({"roc_auc", "average_precision", "precision_at_rate"})
TOP_ROWS = 20  # the most anomalous rows listed by analyse
NEIGHBOUR = 10
SAMPLE = 5_000  # outlyingness's neighbour distances: at most this many rows (a fixed sample)
BINS = 40


def _split(Y: Any, raw: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Coordinates, known labels, scores and flags of the rows that have a finite score."""
    Y = np.asarray(Y, dtype=float)
    raw = np.asarray(raw, dtype=float).reshape(-1, 2)
    keep = np.isfinite(raw[:, 0])
    return Y[keep, :-1], Y[keep, -1], raw[keep, 0], raw[keep, 1]


def outlyingness(coordinates: np.ndarray) -> np.ndarray:
    """A model-free outlyingness of each row (see the module's docstring), in (0, 1]."""
    from sklearn.neighbors import NearestNeighbors

    X = np.asarray(coordinates, dtype=float)
    n = len(X)
    if n < 3:
        return np.full(n, 0.5)
    centre = np.median(X, axis=0)
    far = np.sqrt(((X - centre) ** 2).sum(axis=1))
    index_rows = (
        np.arange(n)
        if n <= SAMPLE
        else np.sort(np.random.default_rng(0).choice(n, SAMPLE, replace=False))
    )
    k = min(NEIGHBOUR, len(index_rows) - 1)
    nn = NearestNeighbors(n_neighbors=k + 1).fit(X[index_rows])
    dist, _ = nn.kneighbors(X)
    local = dist[:, k]  # the row itself (distance 0) among its neighbours when it is indexed
    return (rankdata(far) + rankdata(local)) / (2.0 * n)


def consensus(Y: Any, raw: Any) -> float:
    """Spearman correlation of the scores with :func:`outlyingness` (0 when either is constant)."""
    X, _, score, _ = _split(Y, raw)
    if len(score) < 3 or np.ptp(score) == 0:
        return 0.0
    rho = spearmanr(score, outlyingness(X)).statistic
    return 0.0 if not np.isfinite(rho) else float(rho)


def _labelled(Y: Any, raw: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    _, known, score, flag = _split(Y, raw)
    if np.isnan(known).all():
        from mlcraft.exceptions import ConfigError

        raise ConfigError(
            "this metric scores detectors against known anomalies: train with --labels COL"
        )
    keep = np.isfinite(known)
    return known[keep] > 0.5, score[keep], flag[keep]


def roc_auc(Y: Any, raw: Any) -> float:
    """ROC AUC of the scores against the known anomalies (0.5 when the rows hold one class)."""
    truth, score, _ = _labelled(Y, raw)
    if truth.all() or not truth.any():
        return 0.5
    return float(skm.roc_auc_score(truth, score))


def average_precision(Y: Any, raw: Any) -> float:
    """Average precision of the scores (the share of anomalies when the rows hold one class)."""
    truth, score, _ = _labelled(Y, raw)
    if truth.all() or not truth.any():
        return float(truth.mean()) if len(truth) else 0.0
    return float(skm.average_precision_score(truth, score))


def precision_at_rate(Y: Any, raw: Any) -> float:
    """The share of known anomalies among the flagged rows (0 when none is flagged)."""
    truth, _, flag = _labelled(Y, raw)
    flagged = flag > 0.5
    return float(truth[flagged].mean()) if flagged.any() else 0.0


def label_scores(known: Any, raw: Any) -> dict[str, float]:
    """Scores against known anomalies (1 = anomaly; missing labels left out): ROC AUC, average
    precision and precision at the contamination rate, as :func:`roc_auc` ... compute them."""
    known = np.asarray(pd.to_numeric(pd.Series(known), errors="coerce"), dtype=float)
    Y = np.column_stack([np.zeros(len(known)), known])  # no coordinates needed: the labels only
    return {
        "roc_auc": roc_auc(Y, raw),
        "average_precision": average_precision(Y, raw),
        "precision_at_rate": precision_at_rate(Y, raw),
    }


def _curves(truth: np.ndarray, score: np.ndarray, points: int = 200) -> dict[str, Any]:
    fpr, tpr, _ = skm.roc_curve(truth, score)
    precision, recall, _ = skm.precision_recall_curve(truth, score)

    def thin(*arrays):
        idx = np.unique(np.linspace(0, len(arrays[0]) - 1, min(points, len(arrays[0]))).astype(int))
        return [a[idx].tolist() for a in arrays]

    fpr_, tpr_ = thin(fpr, tpr)
    recall_, precision_ = thin(recall, precision)
    return {"fpr": fpr_, "tpr": tpr_, "recall": recall_, "precision": precision_}


def anomaly_diagnostics(
    coordinates: np.ndarray,
    raw: np.ndarray,
    *,
    known: np.ndarray | None = None,
    features: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Out-of-fold scores and flags: how many rows are flagged, the score distribution and the
    threshold between flagged and unflagged rows, the most anomalous rows (with their features),
    and with ``known`` labels the scores against them and the ROC and precision-recall curves."""
    raw = np.asarray(raw, dtype=float).reshape(-1, 2)
    finite = np.isfinite(raw[:, 0])
    score, flag = raw[finite, 0], raw[finite, 1] > 0.5
    n = int(finite.sum())
    threshold = None
    if flag.any() and (~flag).any():
        threshold = float((score[flag].min() + score[~flag].max()) / 2)
    elif flag.any():
        threshold = float(score[flag].min())
    counts, edges = np.histogram(score, bins=BINS) if n else (np.zeros(0), np.zeros(1))
    rows = np.flatnonzero(finite)
    top = rows[np.argsort(-raw[rows, 0], kind="stable")[:TOP_ROWS]]
    listed = []
    for i in top:
        item: dict[str, Any] = {
            "row": int(i),
            "score": float(raw[i, 0]),
            "flag": int(raw[i, 1] > 0.5),
        }
        if known is not None and np.isfinite(known[i]):
            item["known"] = int(known[i] > 0.5)
        if features is not None:
            item["features"] = {
                str(c): (None if pd.isna(v) else (v.item() if hasattr(v, "item") else v))
                for c, v in features.iloc[int(i)].items()
            }
        listed.append(item)
    out: dict[str, Any] = {
        "rows": n,
        "flagged": int(flag.sum()),
        "flag_rate": float(flag.mean()) if n else 0.0,
        "threshold": threshold,
        "score_mean": float(score.mean()) if n else None,
        "histogram": {"counts": counts.astype(int).tolist(), "edges": edges.tolist()},
        "top": listed,
        "feature_names": None if features is None else [str(c) for c in features.columns],
        "consensus": consensus(np.column_stack([coordinates, np.full(len(raw), np.nan)]), raw),
        "known": None,
    }
    if known is not None:
        k = np.asarray(known, dtype=float)
        Y = np.column_stack([coordinates, k])
        truth = k[finite] > 0.5
        out["known"] = {
            "anomalies": int(truth.sum()),
            "roc_auc": roc_auc(Y, raw),
            "average_precision": average_precision(Y, raw),
            "precision_at_rate": precision_at_rate(Y, raw),
            "recall_at_rate": float(flag[truth].mean()) if truth.any() else 0.0,
            "curves": _curves(truth, score) if truth.any() and (~truth).any() else None,
        }
    return out
