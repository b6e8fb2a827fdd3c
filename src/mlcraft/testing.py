"""Conformance checks every registered model family must pass (scikit-learn's ``test_common`` idea).

>>> from mlcraft.models import REGISTRY
>>> for family in REGISTRY.values():  # doctest: +SKIP
...     check_family(family)
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd

from mlcraft.core.data.schema import infer_schema
from mlcraft.core.fit.family import BuildContext, Choice, Family, Float, Int
from mlcraft.core.predict.pipeline import make_pipeline, predict_array
from mlcraft.tasks import get_kind

__all__ = ["check_family", "toy_frame"]


def toy_frame(task: str, n: int = 120, seed: int = 0) -> pd.DataFrame:
    """A small table with numeric, categorical and missing values and a learnable target."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.uniform(0, 10, size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    signal = 2 * x1 + 0.3 * x2 + (color == "red") * 1.5 + rng.normal(scale=0.3, size=n)
    frame = pd.DataFrame({"x1": x1, "x2": x2, "color": color})
    frame.loc[::17, "x2"] = np.nan
    kind = get_kind(task)
    if kind.numeric_target:
        frame["y"] = signal
    elif kind.has_positive_class:
        frame["y"] = np.where(signal > np.median(signal), "yes", "no")
    else:
        frame["y"] = pd.cut(signal, 3, labels=["low", "mid", "high"]).astype(str)
    return frame


def _check_space(family: Family, task: str) -> None:
    space = family.space(task, 1000)
    defaults = family.default_params(task, 1000)
    for name, dim in space.items():
        if isinstance(dim, (Int, Float)):
            assert dim.low <= dim.default <= dim.high, (
                f"{family.name}.{name}: default outside [low, high]"
            )
            assert dim.low < dim.high, f"{family.name}.{name}: empty range"
        elif isinstance(dim, Choice):
            assert dim.default in dim.choices, (
                f"{family.name}.{name}: default not among the choices"
            )
        else:
            raise AssertionError(
                f"{family.name}.{name}: unknown dimension type {type(dim).__name__}"
            )
        assert defaults[name] == dim.default


def check_family(family: Family, tasks: tuple[str, ...] | None = None) -> None:
    """Fit ``family`` at its defaults on a toy problem per task and check what the system relies on.

    Checked: the search space is well formed and its defaults are the first trial; the cost estimate
    is positive; the pipeline fits and predicts the right shape; class probabilities are valid and
    follow ``classes``; the fitted pipeline pickles and predicts identically after unpickling; two
    fits with the same seed give the same predictions.
    """
    assert family.name and family.tasks, "a family needs a name and tasks"
    assert family.cost(1000, 10) > 0, f"{family.name}: cost must be positive"
    for task in tasks or sorted(family.tasks):
        _check_space(family, task)
        frame = toy_frame(task)
        schema = infer_schema(frame, "y")
        X, _ = schema.coerce(frame)
        y = frame["y"]
        kind = get_kind(task)
        classes = kind.classes(y)
        context = BuildContext(task=task, n_rows=len(frame), n_features=3, seed=0)
        params = family.default_params(task, len(frame))
        first = make_pipeline(family, schema, params, context).fit(X, y)
        pred = predict_array(first, X, task, classes)
        expected = kind.empty_output(len(frame), classes).shape
        assert pred.shape == expected, f"{family.name}: {task} output shape {pred.shape}"
        assert np.all(np.isfinite(pred)), f"{family.name}: non-finite predictions"
        if kind.classification:
            assert np.allclose(pred.sum(axis=1), 1.0, atol=1e-6), (
                f"{family.name}: probabilities do not sum to 1"
            )
            assert np.all((pred >= 0) & (pred <= 1)), f"{family.name}: probabilities outside [0, 1]"
        again = pickle.loads(pickle.dumps(first))
        assert np.array_equal(predict_array(again, X, task, classes), pred), (
            f"{family.name}: unpickled model predicts differently"
        )
        second = make_pipeline(family, schema, params, context).fit(X, y)
        assert np.array_equal(predict_array(second, X, task, classes), pred), (
            f"{family.name}: same seed, different predictions"
        )
