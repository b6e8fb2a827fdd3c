"""Small, fast problems for the mlcraft.nn tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

FAST = dict(hidden_layer_sizes=(16, 16), batch_size=32, max_epochs=8, random_state=0, num_threads=1)


def regression(n: int = 300, d: int = 5, scale: float = 1.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X @ rng.normal(size=d) + 0.5 * np.sin(3 * X[:, 0]) + 0.1 * rng.normal(size=n)) * scale
    return X, y


def classification(n: int = 300, d: int = 5, classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    score = X @ rng.normal(size=(d, classes))
    return X, np.array(list("abcdefgh"))[score.argmax(axis=1)]


def with_category(
    n: int = 300, n_categories: int = 30, seed: int = 0
) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, n_categories, size=n)
    effect = rng.normal(size=n_categories)
    x = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "city": pd.Categorical.from_codes(
                codes, categories=[f"c{i}" for i in range(n_categories)]
            ),
            "x": x,
        }
    )
    return frame, 2 * effect[codes] + x
