"""Targets and raw outputs: class probabilities aligned to a list of classes, and labels decided from them.

Kind-agnostic helpers used by the kinds of problem (:mod:`mlcraft.tasks`), the metrics and the
diagnostics alike, so they sit at the bottom of the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["align_proba", "decide_labels"]


def align_proba(
    proba: np.ndarray, fitted_classes: Sequence[Any], classes: Sequence[Any]
) -> np.ndarray:
    """Columns of ``proba`` (in ``fitted_classes`` order) rearranged to ``classes``; absent ones are 0."""
    fitted = list(fitted_classes)
    if fitted == list(classes):
        return proba
    out = np.zeros((proba.shape[0], len(classes)))
    for j, cls in enumerate(classes):
        if cls in fitted:
            out[:, j] = proba[:, fitted.index(cls)]
    return out


def decide_labels(
    proba: np.ndarray,
    classes: Sequence[Any],
    positive_class: Any = None,
    threshold: float | None = None,
) -> np.ndarray:
    """Class labels from probabilities: the positive class above ``threshold`` (binary), else the argmax.

    Missing probabilities count as 0 (a model that returned NaN for a class never picks it).

    Examples
    --------
    >>> import numpy as np
    >>> decide_labels(np.array([[0.7, 0.3], [0.2, 0.8]]), ["no", "yes"], "yes", 0.25).tolist()
    ['yes', 'yes']
    """
    proba = np.nan_to_num(proba, nan=0.0, posinf=1.0, neginf=0.0)
    labels = np.asarray(classes, dtype=object)
    if len(labels) == 2 and positive_class is not None and threshold is not None:
        pos = list(classes).index(positive_class)
        return labels[np.where(proba[:, pos] >= threshold, pos, 1 - pos)]
    return labels[np.argmax(proba, axis=1)]
