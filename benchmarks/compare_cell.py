"""One cell of `make bench-compare`: one system, one dataset, one time budget; prints a JSON line.

Runs in the environment of the system it measures: mlcraft in `.venv`, FLAML and AutoGluon in
`.bench-venv` (see `bench_compare.py`). Every system trains on the same 80/20 split
(`train_test_split(test_size=0.2, random_state=42)`, stratified for classification) and is scored
on the same test rows with the same scikit-learn metric.

Usage: python benchmarks/compare_cell.py SYSTEM DATASET BUDGET_S WORKDIR
SYSTEM: mlcraft | flaml | ag_medium | ag_best
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"

# dataset -> (task, metric); the metric is mlcraft's default for the task
DATASETS = {
    "housing": ("regression", "rmse"),
    "titanic": ("binary", "roc_auc"),
    "breast_cancer": ("binary", "roc_auc"),
    "wine": ("multiclass", "log_loss"),
    "diabetes": ("regression", "rmse"),
}


def load(name: str) -> tuple[pd.DataFrame, str]:
    if name == "housing":
        return pd.read_csv(SHARED / "housing.csv"), "median_house_value"
    if name == "titanic":
        return pd.read_csv(SHARED / "titanic.csv").drop(columns=["PassengerId"]), "Survived"
    from sklearn import datasets

    bunch = {
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
        "diabetes": datasets.load_diabetes,
    }[name](as_frame=True)
    return bunch.frame.copy(), "target"


def split(name: str):
    from sklearn.model_selection import train_test_split

    frame, target = load(name)
    task, _ = DATASETS[name]
    stratify = frame[target] if task != "regression" else None
    train, test = train_test_split(frame, test_size=0.2, random_state=42, stratify=stratify)
    return train.reset_index(drop=True), test.reset_index(drop=True), target


def score(name: str, y_true, pred) -> float:
    """``pred``: values (regression) or class probabilities, columns in sorted class order."""
    from sklearn import metrics

    task, metric = DATASETS[name]
    if metric == "rmse":
        return float(np.sqrt(metrics.mean_squared_error(y_true, pred)))
    classes = sorted(pd.unique(y_true))
    proba = np.asarray(pred, dtype=float)
    if metric == "roc_auc":
        return float(metrics.roc_auc_score(np.asarray(y_true) == classes[1], proba[:, 1]))
    return float(metrics.log_loss(y_true, proba, labels=classes))


def run_mlcraft(train, test, target, budget, workdir):
    import mlcraft

    project = mlcraft.Project.create(
        Path(workdir) / "project", data=train, target=target, test_size=0.0, time_limit=budget
    )
    start = time.perf_counter()
    result = project.train()
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    out = project.predict(test.drop(columns=[target]))
    predict_s = time.perf_counter() - start
    proba = [c for c in out.columns if c.startswith("proba_")]
    pred = out[proba].to_numpy() if proba else out[target].to_numpy()
    if proba:  # mlcraft's columns follow its sorted classes, as the scorer expects
        order = np.argsort([c[len("proba_") :] for c in proba])
        pred = pred[:, order]
    return pred, fit_s, predict_s, {"champion": result.best}


def run_flaml(train, test, target, budget, workdir, task):
    from flaml import AutoML

    automl = AutoML()
    metric = {"regression": "rmse", "binary": "roc_auc", "multiclass": "log_loss"}[task]
    start = time.perf_counter()
    automl.fit(
        X_train=train.drop(columns=[target]),
        y_train=train[target],
        task="regression" if task == "regression" else "classification",
        time_budget=budget,
        metric=metric,
        seed=42,
        verbose=0,
        log_file_name=str(Path(workdir) / "flaml.log"),
    )
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    X_test = test.drop(columns=[target])
    pred = automl.predict(X_test) if task == "regression" else automl.predict_proba(X_test)
    predict_s = time.perf_counter() - start
    if task != "regression":
        pred = np.asarray(pred)[:, np.argsort(np.asarray(automl.classes_))]
    return pred, fit_s, predict_s, {"champion": automl.best_estimator}


def run_autogluon(train, test, target, budget, workdir, task, presets):
    from autogluon.tabular import TabularPredictor

    metric = {
        "regression": "root_mean_squared_error",
        "binary": "roc_auc",
        "multiclass": "log_loss",
    }[task]
    predictor = TabularPredictor(
        label=target, eval_metric=metric, path=str(Path(workdir) / "ag"), verbosity=0
    )
    start = time.perf_counter()
    predictor.fit(train, time_limit=budget, presets=presets)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    X_test = test.drop(columns=[target])
    if task == "regression":
        pred = predictor.predict(X_test).to_numpy()
    else:
        proba = predictor.predict_proba(X_test)
        pred = proba[sorted(proba.columns)].to_numpy()
    predict_s = time.perf_counter() - start
    return pred, fit_s, predict_s, {"champion": predictor.model_best}


def main() -> int:
    system, name, budget, workdir = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    os.makedirs(workdir, exist_ok=True)
    task, metric = DATASETS[name]
    train, test, target = split(name)
    if system == "mlcraft":
        pred, fit_s, predict_s, extra = run_mlcraft(train, test, target, budget, workdir)
    elif system == "flaml":
        pred, fit_s, predict_s, extra = run_flaml(train, test, target, budget, workdir, task)
    elif system in ("ag_medium", "ag_best"):
        presets = "medium_quality" if system == "ag_medium" else "best_quality"
        pred, fit_s, predict_s, extra = run_autogluon(
            train, test, target, budget, workdir, task, presets
        )
    else:
        raise SystemExit(f"unknown system {system!r}")
    record = {
        "system": system,
        "dataset": name,
        "budget_s": budget,
        "metric": metric,
        "test": score(name, test[target], pred),
        "fit_wall_s": round(fit_s, 1),
        "predict_wall_s": round(predict_s, 2),
        "train_rows": len(train),
        "test_rows": len(test),
        **extra,
    }
    print("RESULT " + json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
