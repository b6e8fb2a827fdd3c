"""Choosing a binary decision threshold for a required precision or recall (the book's chapter 3).

The rows count as positive when the positive class's probability is ``>= threshold``, exactly as
:func:`mlcraft.tasks.decide_labels` decides at prediction time, so the precision and recall
reported here are the ones the saved threshold gives on the same predictions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn import metrics as skm

from mlcraft.exceptions import ConfigError

__all__ = ["ThresholdChoice", "choose_threshold", "precision_recall_at"]


@dataclass(frozen=True)
class ThresholdChoice:
    """A chosen threshold, the rule that chose it, and what it gives and costs."""

    threshold: float
    rule: str  # "min_precision" | "min_recall"
    target: float
    precision: float
    recall: float
    previous_threshold: float
    previous_precision: float
    previous_recall: float

    @property
    def summary(self) -> str:
        other = "recall" if self.rule == "min_precision" else "precision"
        before = self.previous_recall if other == "recall" else self.previous_precision
        after = self.recall if other == "recall" else self.precision
        wanted = "precision" if self.rule == "min_precision" else "recall"
        return (
            f"threshold {self.threshold:.4f} gives {wanted} {getattr(self, wanted):.3f} (>= {self.target:g}) "
            f"at the cost of {other} {after:.3f} (was {before:.3f} at threshold {self.previous_threshold:g})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "summary": self.summary}


def precision_recall_at(
    is_positive: np.ndarray, score: np.ndarray, threshold: float
) -> tuple[float, float]:
    """Precision and recall of the decision ``score >= threshold``."""
    decided = np.asarray(score) >= threshold
    return (
        float(skm.precision_score(is_positive, decided, zero_division=0)),
        float(skm.recall_score(is_positive, decided, zero_division=0)),
    )


def _check(value: float | None, name: str) -> None:
    if value is not None and not 0.0 < value <= 1.0:
        raise ConfigError(
            f"--{name.replace('_', '-')} {value:g}: give a share between 0 and 1, e.g. 0.9"
        )


def choose_threshold(
    is_positive: np.ndarray,
    score: np.ndarray,
    *,
    min_precision: float | None = None,
    min_recall: float | None = None,
    current: float = 0.5,
) -> ThresholdChoice:
    """The threshold that meets the requirement and gives up the least of the other measure.

    With ``min_precision``: the highest recall among thresholds whose precision reaches it. With
    ``min_recall``: the highest precision among thresholds whose recall reaches it.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0, 0, 1, 0, 1, 1]); s = np.array([0.1, 0.3, 0.4, 0.6, 0.8, 0.9])
    >>> c = choose_threshold(y, s, min_precision=0.99)
    >>> c.threshold, c.precision, round(c.recall, 3)
    (0.8, 1.0, 0.667)
    """
    if (min_precision is None) == (min_recall is None):
        raise ConfigError("give exactly one of --min-precision and --min-recall")
    _check(min_precision, "min_precision")
    _check(min_recall, "min_recall")
    is_positive = np.asarray(is_positive, dtype=bool)
    if is_positive.all() or not is_positive.any():
        raise ConfigError(
            "the out-of-fold predictions hold a single class; a threshold cannot be chosen"
        )
    precision, recall, thresholds = skm.precision_recall_curve(is_positive, score)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    if min_precision is not None:
        rule, target, ok = "min_precision", min_precision, precision >= min_precision
        key = np.lexsort(
            (thresholds, precision, recall)
        )  # best recall, then precision, then threshold
        reached, best_value = "precision", float(precision.max())
    else:
        assert min_recall is not None  # exactly one of the two is given (checked above)
        rule, target, ok = "min_recall", min_recall, recall >= min_recall
        key = np.lexsort((thresholds, recall, precision))
        reached, best_value = "recall", float(recall.max())
    candidates = [i for i in key[::-1] if ok[i]]
    if not candidates:
        raise ConfigError(
            f"no threshold reaches {reached} {target:g} on the out-of-fold predictions (the best is {best_value:.3f}); ask for less"
        )
    i = candidates[0]
    previous = precision_recall_at(is_positive, score, current)
    return ThresholdChoice(
        float(thresholds[i]),
        rule,
        float(target),
        float(precision[i]),
        float(recall[i]),
        float(current),
        *previous,
    )
