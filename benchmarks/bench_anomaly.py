"""Anomaly detection quality: mlcraft's default against each single detector (issue 15, part 4).

Tables made from scikit-learn's bundled data, the anomaly column given as ``--labels`` only (never a
feature, never fitted):

- ``digits_0``: the digit 0 as the anomalies, 3% of the rows (the other digits are normal);
- ``digits_7``: the same with the digit 7, 2% of the rows;
- ``breast_cancer``: malignant tumours subsampled to 5% of the rows;
- ``wine_0``: wine class 0 subsampled to 5% of classes 1 and 2;
- ``iris_setosa``: iris setosa subsampled to 5% of the other two species.

mlcraft trains with its defaults (no ``--metric``: the champion is chosen without looking at the
labels) within the budget; every single detector is its family's default configuration fitted on
the same prepared training rows. All are scored on the project's test rows (40% of the table) by ROC AUC against the
known anomalies. Where PyOD imports (``PYTHONPATH`` pointing at a ``pip install --target`` of
``pyod`` and ``numba``, for example), its detectors at their defaults (ECOD, COPOD, IForest, KNN, LOF,
HBOS) are fitted on the same training rows in mlcraft's reference space (numbers standardised,
categories one-hot encoded) and scored the same way; PyOD is not a dependency of mlcraft.

    python benchmarks/bench_anomaly.py [--budget 30] [--datasets digits_0,breast_cancer]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
from sklearn import datasets
from sklearn.metrics import roc_auc_score

from mlcraft.api import Project
from mlcraft.core.fit.family import BuildContext
from mlcraft.core.predict.pipeline import make_pipeline
from mlcraft.models import families_for
from mlcraft.tasks import get_kind

ROOT = Path(__file__).resolve().parents[1]


def _with_anomalies(frame: pd.DataFrame, is_anomaly: pd.Series, share: float, seed: int):
    normal, odd = frame[~is_anomaly], frame[is_anomaly]
    k = max(2, int(round(len(normal) * share / (1 - share))))
    odd = odd.sample(min(k, len(odd)), random_state=seed)
    out = pd.concat([normal.assign(anomaly=0), odd.assign(anomaly=1)])
    out = out.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    out.columns = [str(c) for c in out.columns]
    return out


def table(name: str, seed: int = 0) -> pd.DataFrame:
    if name.startswith("digits_"):
        bunch = datasets.load_digits(as_frame=True)
        digit = int(name.split("_")[1])
        share = 0.03 if digit == 0 else 0.02
        frame = bunch.frame.drop(columns="target")
        return _with_anomalies(frame, bunch.frame["target"] == digit, share, seed)
    if name == "breast_cancer":
        bunch = datasets.load_breast_cancer(as_frame=True)
        frame = bunch.frame.drop(columns="target")
        return _with_anomalies(frame, bunch.frame["target"] == 0, 0.05, seed)
    if name == "wine_0":
        bunch = datasets.load_wine(as_frame=True)
        frame = bunch.frame.drop(columns="target")
        return _with_anomalies(frame, bunch.frame["target"] == 0, 0.05, seed)
    if name == "iris_setosa":
        bunch = datasets.load_iris(as_frame=True)
        frame = bunch.frame.drop(columns="target")
        return _with_anomalies(frame, bunch.frame["target"] == 0, 0.05, seed)
    raise SystemExit(f"unknown table {name}")


TABLES = ["digits_0", "digits_7", "breast_cancer", "wine_0", "iris_setosa"]


PYOD = ["ECOD", "COPOD", "IForest", "KNN", "LOF", "HBOS"]


def pyod_scores(Y_train, Y_test, truth) -> dict[str, float]:
    """ROC AUC of PyOD's detectors at their defaults, or nothing where PyOD does not import."""
    try:
        import pyod.models as models  # noqa: F401
    except ImportError:
        return {}
    import importlib

    out = {}
    for name in PYOD:
        cls = getattr(importlib.import_module(f"pyod.models.{name.lower()}"), name)
        detector = cls()
        detector.fit(Y_train)
        out[f"pyod_{name}"] = float(roc_auc_score(truth, detector.decision_function(Y_test)))
    return out


def run(name: str, budget: float, seed: int = 42) -> dict:
    frame = table(name)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        project = Project.create(
            Path(tmp) / "p",
            frame,
            task="anomaly",
            labels="anomaly",
            time_limit=budget,
            seed=seed,
            test_size=0.4,  # more test anomalies: a less noisy ROC AUC
        )
        project.train(time_limit=budget)
        elapsed = time.perf_counter() - start
        train, test = project.training_frame(), project.test_frame()
        schema = project.schema
        X_train, _ = schema.coerce(train, where="training data")
        X_test, _ = schema.coerce(test, where="test set")
        truth = test["anomaly"].to_numpy()
        model = project.load_model()
        scores = {"mlcraft": float(roc_auc_score(truth, model.predict_raw(X_test)[:, 0]))}
        context = BuildContext(task="anomaly", n_rows=len(X_train), n_features=0, seed=seed)
        for family in families_for("anomaly"):
            pipe = make_pipeline(
                family, schema, family.default_params("anomaly", len(X_train)), context
            )
            pipe.fit(X_train)
            scores[family.name] = float(roc_auc_score(truth, pipe.predict(X_test)[:, 0]))
        best_single = max(v for k, v in scores.items() if k not in ("mlcraft", "rank_average"))
        space = get_kind("anomaly").reference(schema, X_train)
        pyod = pyod_scores(space.coordinates(X_train), space.coordinates(X_test), truth)
        return {
            "table": name,
            "rows": len(frame),
            "anomalies": int(frame["anomaly"].sum()),
            "test_rows": len(test),
            "test_anomalies": int(truth.sum()),
            "family": project.registry.meta(project.registry.require_champion()).get("family"),
            "seconds": round(elapsed, 1),
            "roc_auc": {k: round(v, 4) for k, v in scores.items()},
            "best_single": round(best_single, 4),
            "at_least_best_single": scores["mlcraft"] >= best_single - 1e-9,
            "pyod_roc_auc": {k: round(v, 4) for k, v in pyod.items()},
            "best_pyod": round(max(pyod.values()), 4) if pyod else None,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=30.0)
    parser.add_argument("--datasets", default=",".join(TABLES))
    args = parser.parse_args()
    out_dir = ROOT / "bench-out"
    out_dir.mkdir(exist_ok=True)
    rows = []
    for name in args.datasets.split(","):
        row = run(name, args.budget)
        print(json.dumps(row), flush=True)
        rows.append(row)
    (out_dir / "anomaly.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
