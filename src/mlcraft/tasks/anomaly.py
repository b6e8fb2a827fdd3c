"""Anomaly and novelty detection: every row gets an anomaly score and a flag, with no column to
predict (the book's chapter 9, "Using Gaussian mixtures for anomaly detection").

Detectors are fitted on the training rows, which may themselves hold a few anomalies (outlier
detection); new rows are scored against them (novelty detection). A model's raw output is two
columns per row, ``[score, flag]``: the score higher for more anomalous rows, the flag 1 when the
score is above the threshold the detector learnt at the contamination rate on its training rows
(so the threshold is saved with the model).

Rows are judged in the same reference space as clusterings (:class:`mlcraft.tasks.rows.ReferenceSpace`),
with a known labelling (``--labels COL``, 1 = anomaly) appended as the last column when there is
one: it is never a feature and never fitted, it only scores (ROC AUC, average precision, precision
at the contamination rate). Without labels no held-out score ranks detectors honestly; the default
metric, ``consensus``, is the rank correlation of a detector's held-out scores with a model-free
outlyingness of the held-out rows (see :mod:`mlcraft.core.analysis.anomalies`), and the leaderboard
shows every detector's held-out flag rate beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlcraft.exceptions import ConfigError, DataError
from mlcraft.formatting import format_number
from mlcraft.tasks.base import register_kind
from mlcraft.tasks.rows import WithoutTarget

__all__ = ["Anomaly", "parse_contamination", "MAX_CONTAMINATION"]

MAX_CONTAMINATION = 0.5


def parse_contamination(value: str | float | None) -> float | None:
    """``--contamination``: None or "auto" (estimate it), else a share of rows in (0, 0.5]."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    try:
        rate = float(value)
    except ValueError:
        raise ConfigError(
            f"--contamination {value!r}: give the share of rows to flag, e.g. 0.05, or auto"
        ) from None
    check_contamination(rate)
    return rate


def check_contamination(rate: float) -> None:
    if not (0.0 < rate <= MAX_CONTAMINATION):
        raise ConfigError(
            f"--contamination {rate:g} is outside (0, {MAX_CONTAMINATION:g}]: give the share of rows to flag, e.g. 0.05, or auto"
        )


@register_kind
class Anomaly(WithoutTarget):
    name = "anomaly"
    description = "score and flag unusual rows (no target)"
    ensembles = False  # flags decided at each detector's own threshold do not blend
    estimator_type = "outlier_detector"
    default_metric = "consensus"
    report_section = "anomaly"
    settings = ("contamination",)
    goal = "score and flag unusual rows"

    # -- framing ---------------------------------------------------------------------------------
    def frame_settings(
        self,
        schema: Any,
        X_train: pd.DataFrame,
        settings: dict[str, Any],
        *,
        metric: str,
        known: pd.Series | None,
    ) -> tuple[dict[str, Any], list[str]]:
        """Check ``contamination`` (in (0, 0.5], or None: estimated) and the known labels (0/1,
        both present); a metric that reads labels needs them."""
        if settings.get("contamination") is not None:
            check_contamination(float(settings["contamination"]))
        from mlcraft.core.analysis.anomalies import LABEL_METRICS

        if known is None:
            if metric in LABEL_METRICS:
                raise ConfigError(
                    f"--metric {metric} scores detectors against known anomalies: give the 0/1 column with --labels COL, or leave --metric out"
                )
            return settings, []
        present = known.dropna()
        values = set(pd.unique(present))
        if len(present) < len(known) or not values <= {0, 1}:
            odd = sorted(map(str, values - {0, 1}))[:3]
            raise DataError(
                f"--labels {known.name!r} must hold 0 (normal) or 1 (anomaly) on every row"
                + (f"; it holds {', '.join(odd)}" if odd else "; some rows are missing")
            )
        if len(values) < 2:
            raise DataError(
                f"--labels {known.name!r} holds only {int(next(iter(values)))}: it needs both normal (0) and anomalous (1) rows to score the detectors"
            )
        return settings, []

    def judged_on(self, coordinates: np.ndarray, known: pd.Series | None) -> np.ndarray:
        """The reference coordinates, then the known labels (NaN without them) as the last column."""
        last = (
            np.full(len(coordinates), np.nan)
            if known is None
            else pd.to_numeric(known, errors="coerce").to_numpy(dtype=float)
        )
        return np.column_stack([coordinates, last])

    # -- outputs ---------------------------------------------------------------------------------
    def empty_output(self, n_rows: int, classes: Sequence[Any] | None) -> np.ndarray:
        return np.full((n_rows, 2), np.nan)

    def predict_raw(self, estimator: Any, X: Any, classes: Sequence[Any] | None) -> np.ndarray:
        out = np.asarray(estimator.predict(X), dtype=float)
        return out.reshape(-1, 2)

    def labels(
        self,
        raw: np.ndarray,
        classes: Sequence[Any] | None,
        positive_class: Any = None,
        threshold: float | None = None,
    ) -> np.ndarray:
        flag = np.asarray(raw, dtype=float).reshape(-1, 2)[:, 1]
        return np.where(np.isfinite(flag), flag, 0).astype(int)

    def outputs(
        self, raw: np.ndarray, labels: np.ndarray, classes: Sequence[Any] | None
    ) -> tuple[list[Any], list[dict[str, float]] | None]:
        scores = np.asarray(raw, dtype=float).reshape(-1, 2)[:, 0]
        return [int(v) for v in labels], [{"score": float(s)} for s in scores]

    def prediction_columns(
        self, raw: np.ndarray, labels: np.ndarray, target: str, classes: Sequence[Any] | None
    ) -> dict[str, np.ndarray]:
        scores = np.asarray(raw, dtype=float).reshape(-1, 2)[:, 0]
        return {target: labels, f"{target}_score": scores}

    def prediction_groups(self, labels: np.ndarray) -> list[str] | None:
        """Flagged or normal: monitor shows the share of rows flagged over time."""
        return ["flagged" if int(v) == 1 else "normal" for v in np.asarray(labels)]

    def logged_raw(
        self, values: Sequence[Any], probabilities: Sequence[dict[str, float] | None], classes
    ) -> np.ndarray:
        scores = [np.nan if p is None else float(p.get("score", np.nan)) for p in probabilities]
        return np.column_stack([np.array(scores, dtype=float), np.array(values, dtype=float)])

    def label_values(self, values: pd.Series, where: Callable[[int], str]) -> list[Any]:
        raise DataError(
            "an anomaly-detection project learns no labels to feed back; score against known anomalies with --labels at training"
        )

    # -- analysis --------------------------------------------------------------------------------
    def known_scores(self, raw: np.ndarray, known: pd.Series) -> dict[str, float]:
        """ROC AUC, average precision and precision at the contamination rate (1 = anomaly)."""
        from mlcraft.core.analysis import anomalies

        return anomalies.label_scores(known, raw)

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
        from mlcraft.core.analysis import anomalies

        Y = np.asarray(y, dtype=float)
        return anomalies.anomaly_diagnostics(
            Y[:, :-1],
            np.asarray(raw, dtype=float).reshape(-1, 2),
            known=None if known is None else pd.to_numeric(known).to_numpy(dtype=float),
            features=features,
        )

    def align_out_of_fold(
        self, raw: np.ndarray, fold_of_row: np.ndarray, reference: Callable[[], np.ndarray]
    ) -> np.ndarray:
        """Each fold model scores in its own units: each fold's scores become their rank among the
        saved model's scores of the same rows (so that one threshold and one ROC curve apply)."""
        raw = np.asarray(raw, dtype=float).reshape(-1, 2).copy()
        ref = np.asarray(reference(), dtype=float).reshape(-1, 2)[:, 0]
        out = raw.copy()
        for fold in np.unique(fold_of_row):
            rows = fold_of_row == fold
            order = np.sort(ref[rows])
            mine = np.sort(raw[rows, 0])
            # quantile mapping: the fold's k-th smallest score takes the saved model's k-th smallest
            ranks = np.searchsorted(mine, raw[rows, 0], side="left")
            out[rows, 0] = order[np.clip(ranks, 0, len(order) - 1)]
        return out

    def diagnostics_summary(self, diagnostics: dict[str, Any]) -> list[str]:
        d = diagnostics
        lines = [
            f"{d['flagged']:,} of {d['rows']:,} row(s) flagged out of fold ({d['flag_rate']:.1%})"
        ]
        if not d.get("known"):
            lines.append(
                "no --labels: detectors are ranked by consensus (agreement with a model-free outlyingness), a heuristic, not a measure of accuracy"
            )
        if d.get("known"):
            k = d["known"]
            lines.append(
                f"against the known labels ({k['anomalies']:,} anomalies): ROC AUC {format_number(k['roc_auc'])}, average precision {format_number(k['average_precision'])}, precision at the flag rate {format_number(k['precision_at_rate'])}"
            )
        return lines
