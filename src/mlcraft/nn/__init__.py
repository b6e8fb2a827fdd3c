"""PyTorch networks as scikit-learn estimators: the book's part II as mlcraft model families.

>>> from mlcraft.nn import MLPRegressor  # doctest: +SKIP
>>> MLPRegressor(hidden_layer_sizes=(300, 300), dropout=0.2).fit(X, y).predict(X, mc_samples=100)  # doctest: +SKIP

Importing this package is cheap: torch loads on first use of a name below (``pip install
mlcraft[nn]`` installs it).
"""

from __future__ import annotations

import importlib

__all__ = [
    "MLPRegressor",
    "MLPClassifier",
    "WideAndDeepRegressor",
    "WideAndDeepClassifier",
    "find_learning_rate",
    "LRFinderResult",
    "Callback",
    "EarlyStopping",
    "ModelCheckpoint",
    "TensorBoard",
    "History",
    "ProgressBar",
    "DivergenceWarning",
    "InvalidInputError",
    "NetworkMemoryError",
]

_HOME = {
    "MLPRegressor": "estimators",
    "MLPClassifier": "estimators",
    "WideAndDeepRegressor": "estimators",
    "WideAndDeepClassifier": "estimators",
    "find_learning_rate": "lr_finder",
    "LRFinderResult": "lr_finder",
    "Callback": "callbacks",
    "EarlyStopping": "callbacks",
    "ModelCheckpoint": "callbacks",
    "TensorBoard": "callbacks",
    "History": "callbacks",
    "ProgressBar": "callbacks",
    "DivergenceWarning": "base",
    "InvalidInputError": "data",
    "NetworkMemoryError": "training",
}


def __getattr__(name: str):
    if name in _HOME:
        return getattr(importlib.import_module(f"mlcraft.nn.{_HOME[name]}"), name)
    raise AttributeError(f"module 'mlcraft.nn' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
