"""The demo: train, evaluate and predict on datasets bundled with scikit-learn (no download)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlcraft.config import DEMO_TIME_LIMIT_S
from mlcraft.exceptions import ConfigError

if TYPE_CHECKING:  # loaded by the functions: `mlcraft --help` reads DEMO_DATASETS only
    import pandas as pd

    from mlcraft.api.evaluate import Evaluation
    from mlcraft.api.project import Project
    from mlcraft.api.train import TrainResult
    from mlcraft.core.fit.events import Callback

__all__ = ["DEMO_DATASETS", "DEMO_TIME_LIMIT_S", "DemoResult", "load_demo_dataset", "run_demo"]

DEMO_DATASETS = {
    "breast_cancer": "binary: malignant or benign tumour from 30 cell measurements (569 rows)",
    "wine": "multiclass: which of 3 cultivars a wine comes from (178 rows)",
    "diabetes": "regression: disease progression after one year (442 rows)",
}


def load_demo_dataset(name: str) -> pd.DataFrame:
    """A dataset bundled with scikit-learn as a DataFrame with a ``target`` column (class names as labels)."""
    from sklearn import datasets

    loaders = {
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
        "diabetes": datasets.load_diabetes,
    }
    if name not in loaders:
        raise ConfigError(f"unknown demo dataset {name!r}; choose one of: {', '.join(loaders)}")
    bunch = loaders[name](as_frame=True)
    frame = bunch.frame.copy()
    if hasattr(bunch, "target_names") and name != "diabetes":
        frame["target"] = [str(bunch.target_names[i]) for i in frame["target"]]
    return frame


@dataclass
class DemoResult:
    name: str
    project: Project
    train: TrainResult
    evaluation: Evaluation
    predictions: pd.DataFrame


def run_demo(
    root: str | os.PathLike[str],
    *,
    datasets: Iterable[str] | None = None,
    time_limit: float = DEMO_TIME_LIMIT_S,
    callbacks: Callable[[Project], Iterable[Callback]] | None = None,
) -> Iterator[DemoResult]:
    """Train, evaluate and predict on each dataset, in ``root/<name>``; yields one result per dataset."""
    from mlcraft.api.project import Project

    root = Path(root)
    for name in datasets or DEMO_DATASETS:
        frame = load_demo_dataset(name)
        project = Project.create(root / name, data=frame, target="target", time_limit=time_limit)
        result = project.train(callbacks=callbacks(project) if callbacks else ())
        evaluation = project.evaluate()
        sample = frame.drop(columns=["target"]).head(5)
        yield DemoResult(name, project, result, evaluation, project.predict(sample))
