"""Clustering: rows grouped by similarity, with no column to predict (the book's chapter 9).

A clustering project has no target. Models are compared by internal scores (silhouette by
default) of the clusters they give **held-out** rows, all measured in one reference space: the
training rows' numeric columns standardised and their categories one-hot encoded, so that a model
whose own preparation differs is measured with the same ruler. The ruler is fitted on the training
rows only and never fitted to the clusters. A known labelling (``--labels COL``) is never a
feature and never fitted: it only scores the result (adjusted Rand index, mutual information).

The engine sees the reference coordinates through the target slot: ``y`` is the training rows'
coordinates in that space (a frame with one column per coordinate), so a fold is scored as
``scorer(y[held_out], clusters of held_out)`` like any other kind. Models ignore ``y`` when fitting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlcraft.exceptions import ConfigError, DataError
from mlcraft.formatting import format_number
from mlcraft.tasks.base import register_kind
from mlcraft.tasks.rows import ReferenceSpace, WithoutTarget

__all__ = ["Cluster", "ReferenceSpace", "NOISE"]

NOISE = -1  # the cluster id of a row that belongs to no cluster (DBSCAN's convention)


@register_kind
class Cluster(WithoutTarget):
    name = "cluster"
    description = "group similar rows (no target)"
    estimator_type = "clusterer"
    default_metric = "silhouette"
    report_section = "cluster"
    stability_measure = "adjusted Rand index"
    settings = ("clusters",)

    # -- framing ---------------------------------------------------------------------------------
    def frame_settings(
        self,
        schema: Any,
        X_train: pd.DataFrame,
        settings: dict[str, Any],
        *,
        metric: str,
        known: pd.Series | None,
    ) -> tuple[dict[str, Any], list[str]]:
        """``--clusters K``: at least 2, and fewer than the rows the smallest fits see (the
        stability check fits each model on half the training rows; a cluster needs a row)."""
        k = settings.get("clusters")
        if k is None:
            return settings, []
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
            raise ConfigError(f"--clusters {k!r}: give a whole number of clusters, at least 2")
        half = len(X_train) // 2
        if k >= half:
            raise DataError(
                f"--clusters {k}: the models are fitted on as few as {half} of the "
                f"{len(X_train)} training rows (half of them, to measure their stability), not "
                f"more than the clusters asked for; ask for at most {max(half - 1, 2)} clusters or bring more rows"
            )
        return {**settings, "clusters": int(k)}, []

    # -- outputs ---------------------------------------------------------------------------------
    def empty_output(self, n_rows: int, classes: Sequence[Any] | None) -> np.ndarray:
        return np.full(n_rows, float(NOISE))

    def predict_raw(self, estimator: Any, X: Any, classes: Sequence[Any] | None) -> np.ndarray:
        return np.asarray(estimator.predict(X), dtype=float).ravel()

    def served_raw(self, estimator: Any, X: Any, raw: np.ndarray) -> np.ndarray:
        """Mixtures (a final step with ``predict_proba``): ``[cluster, p_0 .. p_k-1]`` columns, each
        row's membership probability of every component; other families: the cluster ids."""
        model = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
        if not hasattr(model, "predict_proba"):
            return raw
        proba = np.asarray(estimator.predict_proba(X), dtype=float)
        return np.column_stack([np.asarray(raw, dtype=float).ravel(), proba])

    def labels(
        self,
        raw: np.ndarray,
        classes: Sequence[Any] | None,
        positive_class: Any = None,
        threshold: float | None = None,
    ) -> np.ndarray:
        raw = np.asarray(raw, dtype=float)
        ids = raw[:, 0] if raw.ndim == 2 else raw
        return np.where(np.isfinite(ids), ids, NOISE).astype(int)

    def outputs(
        self, raw: np.ndarray, labels: np.ndarray, classes: Sequence[Any] | None
    ) -> tuple[list[Any], list[dict[str, float]] | None]:
        values = [int(v) for v in labels]
        raw = np.asarray(raw, dtype=float)
        if raw.ndim != 2:
            return values, None
        keys = [str(j) for j in range(raw.shape[1] - 1)]  # a JSON object's keys are strings
        return values, [dict(zip(keys, map(float, row[1:]), strict=True)) for row in raw]

    def prediction_columns(
        self, raw: np.ndarray, labels: np.ndarray, target: str, classes: Sequence[Any] | None
    ) -> dict[str, np.ndarray]:
        """The cluster column, and a mixture's membership probabilities as ``proba_<cluster>``."""
        columns = {target: labels}
        raw = np.asarray(raw, dtype=float)
        if raw.ndim == 2:
            columns.update({f"proba_{j}": raw[:, j + 1] for j in range(raw.shape[1] - 1)})
        return columns

    def logged_raw(
        self, values: Sequence[Any], probabilities: Sequence[dict[str, float] | None], classes
    ) -> np.ndarray:
        ids = np.array(values, dtype=float)
        given = [p for p in probabilities if p is not None]
        if not len(values) or len(given) < len(values):
            return ids
        keys = sorted(given[0], key=int)
        proba = np.array([[float(p.get(k, 0.0)) for k in keys] for p in given])
        return np.column_stack([ids, proba.reshape(len(ids), len(keys))])

    def label_values(self, values: pd.Series, where: Callable[[int], str]) -> list[Any]:
        raise DataError(
            "a clustering project has no labels to feed back; score against a known labelling with --labels at training"
        )

    # -- analysis --------------------------------------------------------------------------------
    def diagnose(
        self,
        y: np.ndarray,
        raw: np.ndarray,
        *,
        classes: Sequence[Any] | None,
        positive_class: Any = None,
        threshold: float | None = None,
        categories: dict[str, pd.Series] | None = None,
        known: pd.Series | None = None,
        features: pd.DataFrame | None = None,
        settings: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        from mlcraft.core.analysis import clusters

        labels = self.labels(raw, None)
        out = clusters.cluster_diagnostics(y, labels)
        out["k_curve"] = clusters.k_curve(y)
        out["knife"] = clusters.knife_curves(y, out["n_clusters"])
        out["tsne_map"] = clusters.tsne_map(y, labels)
        out["mixture_curve"] = clusters.mixture_curve(y)
        out["k_distance"] = clusters.k_distance_curve(y)
        out["profiles"] = None if features is None else clusters.cluster_profiles(features, labels)
        out["known"] = None if known is None else clusters.external_cluster_scores(known, labels)
        return out

    def known_scores(self, raw: np.ndarray, known: pd.Series) -> dict[str, float]:
        """Adjusted Rand index, normalised mutual information, homogeneity and completeness."""
        from mlcraft.core.analysis import clusters

        return clusters.external_cluster_scores(known, self.labels(raw, None))

    def align_out_of_fold(
        self, raw: np.ndarray, fold_of_row: np.ndarray, reference: Callable[[], np.ndarray]
    ) -> np.ndarray:
        """Each fold model numbers its clusters its own way: renumber each fold's clusters to the
        saved model's by the largest overlap (a one-to-one matching); an unmatched cluster gets a
        new number, noise stays noise."""
        from scipy.optimize import linear_sum_assignment

        ref = self.labels(reference(), None)
        labels = self.labels(raw, None)
        out = labels.copy()
        spare = int(max(ref.max(initial=0), labels.max(initial=0))) + 1
        for fold in np.unique(fold_of_row):
            rows = (fold_of_row == fold) & (labels != NOISE)
            mine, theirs = np.unique(labels[rows]), np.unique(ref[rows])
            overlap = np.array(
                [[np.sum(rows & (labels == a) & (ref == b)) for b in theirs] for a in mine]
            )
            matched: dict[int, int] = {}
            if overlap.size:
                for i, j in zip(*linear_sum_assignment(-overlap)):
                    if theirs[j] != NOISE:
                        matched[int(mine[i])] = int(theirs[j])
            for a in mine:
                if int(a) not in matched:
                    matched[int(a)] = spare
                    spare += 1
                out[rows & (labels == a)] = matched[int(a)]
        return out.astype(float)

    def agreement(self, raw_a: np.ndarray, raw_b: np.ndarray) -> float:
        """The adjusted Rand index of the two clusterings (noise as its own cluster): cluster ids
        may differ, the grouping is compared."""
        from sklearn.metrics import adjusted_rand_score

        return float(adjusted_rand_score(self.labels(raw_a, None), self.labels(raw_b, None)))

    def prediction_groups(self, labels: np.ndarray) -> list[str] | None:
        """Each row's cluster ("noise" for -1): monitor shows the share per cluster over time."""
        return ["noise" if int(v) == NOISE else str(int(v)) for v in np.asarray(labels)]

    def diagnostics_summary(self, diagnostics: dict[str, Any]) -> list[str]:
        d = diagnostics
        lines = [
            f"{d['n_clusters']} cluster(s), {d['noise']:,} noise row(s); out-of-fold silhouette {format_number(d['silhouette'])}"
        ]
        if d.get("stability"):
            s = d["stability"]
            lines.append(
                f"stability: adjusted Rand {format_number(s['mean'])} between fits on random halves of the rows ({s['repeats']} halvings)"
            )
        if d.get("finalists"):
            lines.append(
                "stability of the best of each family: "
                + ", ".join(f"{f['model']} {format_number(f['stability'])}" for f in d["finalists"])
            )
        if d.get("known"):
            k = d["known"]
            lines.append(
                f"against the known labels: adjusted Rand {format_number(k['adjusted_rand'])}, NMI {format_number(k['normalized_mutual_info'])}"
            )
        return lines
