"""Dimensionality reduction: mlcraft's searched embedding against plain PCA with the same D (issue 15).

On scikit-learn's bundled tables with known classes (iris, wine, breast_cancer, digits), the class
column is given as ``--labels`` only (never a feature, never fitted). mlcraft trains ``--task
embed --dims D`` within the time limit and chooses the family by held-out trustworthiness; the
reference is PCA with D components fitted on the same standardised training rows. Both are scored
on the project's test rows: trustworthiness (5 neighbours) in the reference space, and the 5-NN
accuracy of the classes from the coordinates (a 5-fold cross-validation on the test rows: how much
class structure the embedding keeps; the classes never reach the embedding).

    python benchmarks/bench_embed.py [--budget 30] [--dims 2] [--datasets iris,wine]
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
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from mlcraft.api import Project
from mlcraft.tasks import get_kind

LOADERS = {
    "iris": datasets.load_iris,
    "wine": datasets.load_wine,
    "breast_cancer": datasets.load_breast_cancer,
    "digits": datasets.load_digits,
}


def table(name: str) -> pd.DataFrame:
    bunch = LOADERS[name](as_frame=True)
    frame = bunch.frame.copy()
    frame = frame.rename(columns={"target": "label"})
    return frame


def knn_accuracy(E: np.ndarray, labels: np.ndarray) -> float:
    folds = int(min(5, np.unique(labels, return_counts=True)[1].min()))
    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    return float(np.mean(cross_val_score(KNeighborsClassifier(5), E, labels, cv=cv)))


def run(name: str, budget: float, dims: int) -> dict:
    frame = table(name)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        project = Project.create(
            Path(tmp) / "p", frame, task="embed", labels="label", dims=dims, time_limit=budget
        )
        result = project.train(time_limit=budget)
        fit_s = time.perf_counter() - started
        train = project.training_frame()
        test = project.test_frame()
        schema = project.schema
        X_train, _ = schema.coerce(train.drop(columns="label"))
        X_test, _ = schema.coerce(test.drop(columns="label"))
        space = get_kind("embed").reference(schema, X_train)
        Y_train, Y_test = space.coordinates(X_train), space.coordinates(X_test)
        ours = project.predict(test.drop(columns="label")).to_numpy()
        pca = PCA(n_components=dims).fit(Y_train).transform(Y_test)
        labels = test["label"].to_numpy()
        return {
            "dataset": name,
            "test_rows": len(test),
            "dims": dims,
            "choice": result.best,
            "cv": round(result.cv_mean, 4),
            "trust_mlcraft": round(float(trustworthiness(Y_test, ours, n_neighbors=5)), 4),
            "trust_pca": round(float(trustworthiness(Y_test, pca, n_neighbors=5)), 4),
            "knn_mlcraft": round(knn_accuracy(ours, labels), 4),
            "knn_pca": round(knn_accuracy(pca, labels), 4),
            "knn_all_columns": round(knn_accuracy(Y_test, labels), 4),
            "fit_s": round(fit_s, 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=30.0)
    parser.add_argument("--dims", type=int, default=2)
    parser.add_argument("--datasets", default=",".join(LOADERS))
    args = parser.parse_args()
    rows = [run(name, args.budget, args.dims) for name in args.datasets.split(",")]
    print(json.dumps(rows, indent=1))
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
