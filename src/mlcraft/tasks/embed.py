"""Dimensionality reduction: each row mapped to ``dims`` coordinates, with no column to predict (the
book's chapter 8).

An embedding project has no target. It is judged like a clustering, in the cluster kind's
:class:`~mlcraft.tasks.rows.ReferenceSpace` (the training rows' numbers standardised, their
categories one-hot encoded, fitted on the training rows only): the engine's ``y`` is the rows'
reference coordinates, and a fold is scored as ``scorer(y[held_out], embedding of held_out)``,
by default with scikit-learn's trustworthiness (are a row's nearest neighbours in the embedding
near it in the prepared columns?). Models ignore ``y`` when fitting.

The number of coordinates (``--dims``) is settled when the problem is framed: the user's, refused
when it is more than the prepared columns, or the PCA components that keep 95% of their variance
(between 2 and 50). The raw output is the ``(rows, dims)`` matrix of coordinates; their names
(``dim_1`` ...) go where classes go, so that every part of the engine sizes its arrays by them.

Methods that only map the rows they were fitted on (t-SNE, MDS) are not models of this kind: they
cannot place new rows. ``analyse`` draws them as 2-D maps of the training rows (and UMAP's, which
is a family too when umap-learn is installed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlcraft.core.data.schema import Schema
from mlcraft.exceptions import ConfigError, DataError
from mlcraft.formatting import format_number
from mlcraft.tasks.base import register_kind
from mlcraft.tasks.rows import ReferenceSpace, WithoutTarget

__all__ = ["Embed", "coordinate_names", "CANNOT_TRANSFORM"]

# methods that embed only the rows they were fitted on: one line each, for the refusals
CANNOT_TRANSFORM = {
    "tsne": "t-SNE cannot place new rows: it only maps the rows it was fitted on",
    "mds": "MDS cannot place new rows: it only maps the rows it was fitted on",
}


def coordinate_names(dims: int) -> list[str]:
    """The names of an embedding's coordinates: ``dim_1`` ... ``dim_<dims>``."""
    return [f"dim_{j + 1}" for j in range(dims)]


@register_kind
class Embed(WithoutTarget):
    name = "embed"
    description = "reduce the columns to a few coordinates (no target)"
    estimator_type = "transformer"
    default_metric = "trustworthiness"
    report_section = "embed"
    settings = ("dims",)

    # -- framing ---------------------------------------------------------------------------------
    def frame_settings(
        self,
        schema: Schema,
        X_train: pd.DataFrame,
        settings: dict[str, Any],
        *,
        metric: str,
        known: pd.Series | None,
    ) -> tuple[dict[str, Any], list[str]]:
        """Settle ``dims``: the user's (at most the prepared columns), else the PCA components that
        keep 95% of their variance, between 2 and 50."""
        from mlcraft.core.analysis import embedding

        Y = ReferenceSpace.fit(schema, X_train).coordinates(X_train)
        width = Y.shape[1]
        dims = settings.get("dims")
        if dims is not None:
            if isinstance(dims, bool) or not isinstance(dims, (int, np.integer)) or dims < 1:
                raise ConfigError(
                    f"--dims {dims!r}: give a whole number of coordinates, at least 1"
                )
            if dims > width:
                raise ConfigError(
                    f"--dims {dims} is more than the {width} column(s) the rows have once prepared "
                    f"(numbers scaled, categories one-hot encoded); choose --dims between 1 and {width}"
                )
            return {**settings, "dims": int(dims)}, []
        curve = embedding.variance_curve(Y)
        chosen = embedding.dims_for_variance(Y)
        note = (
            f"--dims {chosen}: the PCA components that keep {embedding.VARIANCE_KEPT:.0%} of the variance "
            f"of the {width} prepared column(s) ({curve['components_kept']}, kept between "
            f"{embedding.MIN_DIMS} and {embedding.MAX_DIMS}); give --dims to choose"
        )
        return {**settings, "dims": chosen}, [note]

    def raw_columns(self, config: Any) -> list[str] | None:
        if config.dims is None:
            raise ConfigError(
                "this embedding project has no --dims in mlcraft.toml; add dims = N under [framing]"
            )
        return coordinate_names(int(config.dims))

    # -- outputs ---------------------------------------------------------------------------------
    def empty_output(self, n_rows: int, classes: Sequence[Any] | None) -> np.ndarray:
        return np.full((n_rows, len(classes or [])), np.nan)

    def predict_raw(self, estimator: Any, X: Any, classes: Sequence[Any] | None) -> np.ndarray:
        if not hasattr(estimator, "transform"):
            raise ConfigError(
                f"{type(estimator).__name__} cannot place new rows: it only maps the rows it was "
                "fitted on; train with a method that transforms (pca, kernel_pca, isomap, lle, random projections)"
            )
        out = np.asarray(estimator.transform(X), dtype=float)
        return out.reshape(len(out), -1)

    def labels(
        self,
        raw: np.ndarray,
        classes: Sequence[Any] | None,
        positive_class: Any = None,
        threshold: float | None = None,
    ) -> np.ndarray:
        return np.asarray(raw, dtype=float)

    def prediction_columns(
        self, raw: np.ndarray, labels: np.ndarray, target: str, classes: Sequence[Any] | None
    ) -> dict[str, np.ndarray]:
        raw = np.asarray(raw, dtype=float).reshape(len(raw), -1)
        names = list(classes) if classes else coordinate_names(raw.shape[1])
        return {str(name): raw[:, j] for j, name in enumerate(names)}

    def outputs(
        self, raw: np.ndarray, labels: np.ndarray, classes: Sequence[Any] | None
    ) -> tuple[list[Any], list[dict[str, float]] | None]:
        raw = np.asarray(raw, dtype=float).reshape(len(raw), -1)
        return [[float(v) for v in row] for row in raw], None

    def logged_raw(
        self, values: Sequence[Any], probabilities: Sequence[dict[str, float] | None], classes
    ) -> np.ndarray:
        return np.array([list(v) for v in values], dtype=float)

    def label_values(self, values: pd.Series, where: Callable[[int], str]) -> list[Any]:
        raise DataError(
            "an embedding project has no labels to feed back; score against a known labelling with --labels at training"
        )

    # -- analysis --------------------------------------------------------------------------------
    def align_out_of_fold(
        self, raw: np.ndarray, fold_of_row: np.ndarray, reference: Callable[[], np.ndarray]
    ) -> np.ndarray:
        """Each fold's model has its own axes (PCA's signs, a projection's rotation): map each
        fold's coordinates onto the saved model's by the orthogonal Procrustes rotation (after
        centring), so that out-of-fold coordinates of different folds can be drawn together.
        Distances within a fold, and so its trustworthiness, do not change."""
        from scipy.linalg import orthogonal_procrustes

        raw = np.asarray(raw, dtype=float)
        ref = np.asarray(reference(), dtype=float).reshape(raw.shape)
        out = raw.copy()
        for fold in np.unique(fold_of_row):
            rows = (fold_of_row == fold) & np.isfinite(raw).all(axis=1)
            if rows.sum() < 2:
                continue
            mine, theirs = raw[rows], ref[rows]
            mine_mean, theirs_mean = mine.mean(axis=0), theirs.mean(axis=0)
            rotation, _ = orthogonal_procrustes(mine - mine_mean, theirs - theirs_mean)
            out[rows] = (mine - mine_mean) @ rotation + theirs_mean
        return out

    def diagnose(
        self,
        y: np.ndarray,
        raw: np.ndarray,
        *,
        classes: Sequence[Any] | None,
        positive_class: Any = None,
        threshold: float | None = None,
        categories: dict[str, pd.Series] | None = None,
        known: pd.Series | None = None,
        features: pd.DataFrame | None = None,
        settings: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        from mlcraft.core.analysis import embedding

        return embedding.embedding_diagnostics(y, raw, known=known)

    def model_diagnostics(self, pipeline: Any, X: pd.DataFrame) -> dict[str, Any]:
        """The saved model's reconstruction error on the training rows, in its own prepared
        columns (mean squared, standard units), for the methods with an inverse (PCA, kernel PCA
        fitted with its pre-image, random projections); None for the others (LLE, Isomap)."""
        from mlcraft.core.analysis import embedding

        steps = getattr(pipeline, "steps", None)
        if not steps or len(steps) < 2:
            return {"model_error": None}
        prepared = pipeline[:-1].transform(X)
        prepared = prepared.toarray() if hasattr(prepared, "toarray") else prepared
        return {"model_error": embedding.reconstruction_error(prepared, steps[-1][1])}

    def diagnostics_summary(self, diagnostics: dict[str, Any]) -> list[str]:
        d = diagnostics
        v = d["variance"]
        lines = [
            f"{d['dims']} coordinate(s) from {d['width']} prepared column(s); out-of-fold trustworthiness {format_number(d['trustworthiness'])}",
            f"PCA: {v['components_kept']} component(s) keep {v['share']:.0%} of the variance; {d['dims']} keep {d['variance_at_dims']:.1%}",
        ]
        if d.get("model_error") is not None:
            lines.append(
                f"reconstruction error of this model (inverse of its coordinates): {format_number(d['model_error'])} (mean squared, standard units)"
            )
        if d.get("kernel_pca"):
            best = d["kernel_pca"][0]
            lines.append(
                f"kernel PCA by pre-image error (the book's choice): {best['kernel']} kernel, gamma {best['gamma_scale']:g} / columns, error {format_number(best['error'])}"
            )
        if d.get("known"):
            k = d["known"]
            lines.append(
                f"against the known labels: 5-NN accuracy {format_number(k['knn_embedding'])} in the embedding, {format_number(k['knn_reference'])} in the prepared columns"
            )
        return lines
