"""Clustering quality: mlcraft's automatic choice against k-means told the true k (issue 15).

On scikit-learn's bundled tables with known classes (iris, wine, breast_cancer, digits), the class
column is given as ``--labels`` only (never a feature, never fitted). mlcraft trains within the time
limit and chooses the family and the number of clusters by held-out silhouette; the reference is
k-means with the true k (k-means++, 10 inits) fitted on the same standardised training rows. Both
are scored on the project's test rows by the adjusted Rand index and normalised mutual information
against the classes.

    python benchmarks/bench_cluster.py [--budget 60] [--datasets iris,wine]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import datasets
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.preprocessing import StandardScaler

from mlcraft.api import Project

ROOT = Path(__file__).resolve().parents[1]
LOADERS = {
    "iris": datasets.load_iris,
    "wine": datasets.load_wine,
    "breast_cancer": datasets.load_breast_cancer,
    "digits": datasets.load_digits,
}


def table(name: str) -> pd.DataFrame:
    bunch = LOADERS[name](as_frame=True)
    frame = bunch.frame.rename(columns={"target": "label"})
    frame.columns = [str(c) for c in frame.columns]
    return frame


def run(name: str, budget: float, seed: int = 42) -> dict:
    frame = table(name)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        project = Project.create(
            Path(tmp) / "p", frame, task="cluster", labels="label", time_limit=budget, seed=seed
        )
        result = project.train(time_limit=budget)
        elapsed = time.perf_counter() - start
        train, test = project.training_frame(), project.test_frame()
        ours = project.predict(test.drop(columns="label"))["cluster"].to_numpy()
        features = [c for c in frame.columns if c != "label"]
        scaler = StandardScaler().fit(train[features])
        k = frame["label"].nunique()
        kmeans = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(
            scaler.transform(train[features])
        )
        theirs = kmeans.predict(scaler.transform(test[features]))
        truth = test["label"].to_numpy()
        meta = project.registry.meta(result.version)
        board = project.leaderboard()
        best_by_family = board[board["status"] == "ok"].drop_duplicates("family")
        return {
            "dataset": name,
            "rows": len(frame),
            "test_rows": len(test),
            "true_k": int(k),
            "chosen": result.best,
            "family": meta.get("family"),
            "clusters_found": int(len(np.unique(ours[ours >= 0]))),
            "noise_rows": int((ours < 0).sum()),
            "cv_silhouette": result.cv_mean,
            "ari": float(adjusted_rand_score(truth, ours)),
            "nmi": float(normalized_mutual_info_score(truth, ours)),
            "kmeans_true_k_ari": float(adjusted_rand_score(truth, theirs)),
            "kmeans_true_k_nmi": float(normalized_mutual_info_score(truth, theirs)),
            "fit_s": round(elapsed, 1),
            "trials": int(len(project.leaderboard())),
            "best_by_family": {
                str(r["family"]): round(float(r["silhouette_mean"]), 4)
                for _, r in best_by_family.iterrows()
            },
            "budget_s": budget,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--datasets", default=",".join(LOADERS))
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out" / "cluster.jsonl")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name in args.datasets.split(","):
        row = run(name, args.budget)
        print(json.dumps(row), flush=True)
        with args.out.open("a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
