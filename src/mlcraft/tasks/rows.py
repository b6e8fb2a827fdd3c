"""What the kinds without a target share: the reference space their rows are judged in, and a
base class with their split and folds.

A clustering, an embedding or an anomaly detector has no column to predict. Each is judged in one
**reference space**: the training rows' numbers standardised and their categories one-hot encoded,
fitted on the training rows only, so that models whose own preparation differs are measured with
the same ruler. The test rows are set aside by a hash of the identifier (else of each row), so a
refreshed table keeps its test rows; the folds are plain k-fold (nothing to stratify on).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlcraft.core.data.preprocess import build_preprocessor
from mlcraft.core.data.schema import Schema
from mlcraft.core.data.split import TestSplit, cv_folds, split_test
from mlcraft.tasks.base import Folds, ProblemKind

__all__ = ["ReferenceSpace", "WithoutTarget"]


@dataclass
class ReferenceSpace:
    """The ruler every model of a kind without a target is measured with: a preparation fitted on
    the training rows (numbers standardised, categories one-hot encoded)."""

    transformer: Any

    @classmethod
    def fit(cls, schema: Schema, X: pd.DataFrame) -> ReferenceSpace:
        transformer = build_preprocessor(schema, scale=True, categorical="onehot")
        transformer.fit(X)
        return cls(transformer)

    def coordinates(self, X: pd.DataFrame) -> np.ndarray:
        out = self.transformer.transform(X)
        out = out.toarray() if hasattr(out, "toarray") else np.asarray(out)
        return np.asarray(out, dtype=float)


class WithoutTarget(ProblemKind):
    """A kind with no column to predict, judged in the :class:`ReferenceSpace` of its training rows
    (the engine passes their coordinates where a target would go; models never fit them)."""

    classification = False
    numeric_target = False
    needs_target = False
    ensembles = False

    def split_test(
        self,
        frame: pd.DataFrame,
        target: str | None,
        *,
        test_size: float,
        seed: int,
        id_column: str | None = None,
        stratify_on: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> TestSplit:
        return split_test(
            frame, None, classification=False, test_size=test_size, seed=seed, id_column=id_column
        )  # a hash of the identifier, else of each row (the labels never decide the split)

    def folds(
        self,
        y: pd.Series,
        *,
        n_folds: int,
        seed: int,
        features: pd.DataFrame | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Folds:
        return cv_folds(y, classification=False, n_folds=n_folds, seed=seed)

    def reference(self, schema: Schema, X_train: pd.DataFrame) -> ReferenceSpace:
        """The ruler, fitted on the training rows (see the module's docstring)."""
        return ReferenceSpace.fit(schema, X_train)
