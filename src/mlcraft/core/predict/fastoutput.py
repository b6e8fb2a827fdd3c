"""Fast outputs that model families register for their fitted estimators (the compiled path's plugins).

:mod:`mlcraft.core.predict.compiled` reads a fitted preparation into NumPy operations and then asks
this registry how to get the estimator's output from the prepared array. A family that can do better
than the estimator's own ``predict`` / ``predict_proba`` (a booster called directly, trees walked
without a Python call each) registers a builder when its module is imported; core knows no
family by name. An estimator no entry matches takes the generic path: its own ``predict`` or
``predict_proba`` on the prepared array (slower for small batches, the same values).

A builder's function takes the prepared array and returns what ``ProblemKind.predict_raw`` returns:
values for regression, probabilities in ``classes`` order for classification. It may carry
``single_threaded = True`` (an attribute) when it chooses its own threads, so no thread-pool limit is
put around it. A builder returns None to leave the estimator to the generic path, and raises
:class:`NotCompilable` when the whole model should keep scikit-learn's path.

Examples
--------
>>> import numpy as np
>>> from sklearn.linear_model import LinearRegression
>>> def linear_output(est, kind, classes, prepared):
...     coef, intercept = np.asarray(est.coef_, dtype=float), float(est.intercept_)
...     return lambda X: X @ coef + intercept
>>> entry = register_fast_output(
...     "doc_linear", lambda est: type(est) is LinearRegression, linear_output
... )
>>> est = LinearRegression().fit(np.eye(3), [1.0, 2.0, 3.0])
>>> fast_output_for(est).name
'doc_linear'
>>> unregister_fast_output("doc_linear")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

if TYPE_CHECKING:
    from mlcraft.tasks import ProblemKind

__all__ = [
    "FastOutput",
    "NotCompilable",
    "Prepared",
    "fast_output_for",
    "matching",
    "fast_outputs",
    "register_fast_output",
    "unregister_fast_output",
]

ArrayFn: TypeAlias = Callable[[np.ndarray], np.ndarray]


class NotCompilable(Exception):
    """The fitted object holds a step the compiler does not know; keep scikit-learn's path."""


@dataclass(frozen=True)
class Prepared:
    """What a builder may need to know of the prepared array it will be given.

    ``native_counts``: categories per native categorical column (the first columns), where the
    preparation outputs pandas; ``as_frame``: the frame scikit-learn's path hands the estimator,
    built from the array (None where the preparation outputs arrays).
    """

    native_counts: list[int] | None = None
    as_frame: Callable[[np.ndarray], Any] | None = None

    def estimator_input(self, X: np.ndarray) -> Any:
        """The estimator's input on scikit-learn's path: ``X``, or the frame made from it."""
        return X if self.as_frame is None else self.as_frame(X)


Builder: TypeAlias = Callable[[Any, "ProblemKind", Sequence[Any] | None, Prepared], ArrayFn | None]


@dataclass(frozen=True)
class FastOutput:
    """One registered fast output: which fitted estimators it takes, and how it is built."""

    name: str
    matches: Callable[[Any], bool]
    build: Builder


_REGISTRY: dict[str, FastOutput] = {}


def register_fast_output(name: str, matches: Callable[[Any], bool], build: Builder) -> FastOutput:
    """Register ``build(estimator, kind, classes, prepared) -> (X -> raw output) | None`` for the
    fitted estimators ``matches(estimator)`` accepts (the estimator inside mlcraft's wrappers).

    Entries are asked in the order they were registered; registering a name again replaces its
    entry (a module imported twice registers once)."""
    entry = FastOutput(name, matches, build)
    _REGISTRY[name] = entry
    return entry


def unregister_fast_output(name: str) -> None:
    """Forget the entry registered as ``name`` (nothing if there is none)."""
    _REGISTRY.pop(name, None)


def fast_outputs() -> list[str]:
    """The names registered, in the order they are asked."""
    return list(_REGISTRY)


def matching(estimator: Any) -> Iterator[FastOutput]:
    """The entries that take ``estimator``, in the order they are asked."""
    return (entry for entry in list(_REGISTRY.values()) if entry.matches(estimator))


def fast_output_for(estimator: Any) -> FastOutput | None:
    """The first entry that takes ``estimator``, or None (the generic path)."""
    return next(matching(estimator), None)
