"""Error analysis from predictions: what a model gets wrong, as tables and curves (arrays).

Classification: the confusion matrix (counts and row-normalised, with the largest confusions
named), precision, recall and F1 per class and averaged, the precision/recall and ROC curves with
their areas, and the calibration curve. Regression: residuals, and the error by decile of the target
and by category of a feature. Multilabel: F1 per label and averaged, over indicator matrices.

These functions take arrays (out-of-fold predictions, in practice) and return plain data; plots
and documents are drawn elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from mlcraft.core.data.targets import decide_labels

__all__ = [
    "MAX_CURVE_POINTS",
    "class_positions",
    "confusion",
    "per_class_scores",
    "binary_curves",
    "one_vs_rest_auc",
    "calibration",
    "classification_diagnostics",
    "regression_diagnostics",
    "error_by_group",
    "multilabel_scores",
    "multilabel_diagnostics",
]

MAX_CURVE_POINTS = 400  # curves are thinned to this many points for documents and plots
CALIBRATION_BINS = 10
MAX_GROUPS = 20  # categories shown per feature in the error breakdown; the rest are "other"
TOP_CONFUSIONS = 5


def class_positions(y: np.ndarray, classes: Sequence[Any]) -> np.ndarray:
    """Each label's position in ``classes`` (labels compared as strings, so 1 and "1" agree)."""
    lookup = {str(c): i for i, c in enumerate(classes)}
    codes = pd.Series(np.asarray(y, dtype=object)).astype(str).map(lookup)
    return codes.fillna(-1).to_numpy(dtype=int)


def _thin(*arrays: np.ndarray) -> list[list[float]]:
    n = len(arrays[0])
    keep = (
        np.unique(np.linspace(0, n - 1, min(n, MAX_CURVE_POINTS)).round().astype(int))
        if n
        else np.array([], dtype=int)
    )
    return [np.asarray(a, dtype=float)[keep].tolist() for a in arrays]


def confusion(y: np.ndarray, pred: np.ndarray, classes: Sequence[Any]) -> dict[str, Any]:
    """Counts, row-normalised shares and the largest confusions, named (``y`` and ``pred`` are positions)."""
    k = len(classes)
    counts = skm.confusion_matrix(y, pred, labels=list(range(k)))
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape, dtype=float), where=totals > 0)
    off = [(counts[i, j], i, j) for i in range(k) for j in range(k) if i != j and counts[i, j] > 0]
    largest = [
        {
            "actual": str(classes[i]),
            "predicted": str(classes[j]),
            "count": int(c),
            "share_of_actual": float(shares[i, j]),
            "text": f"{shares[i, j]:.1%} of {classes[i]!s} ({int(c)} rows) predicted as {classes[j]!s}",
        }
        for c, i, j in sorted(off, key=lambda t: (-t[0], t[1], t[2]))[:TOP_CONFUSIONS]
    ]
    return {
        "labels": [str(c) for c in classes],
        "counts": counts.tolist(),
        "normalised": shares.tolist(),
        "largest": largest,
    }


def per_class_scores(y: np.ndarray, pred: np.ndarray, classes: Sequence[Any]) -> dict[str, Any]:
    """Precision, recall, F1 and support per class, with macro and weighted averages and accuracy."""
    labels = list(range(len(classes)))
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    rows = [
        {
            "class": str(c),
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(s[i]),
        }
        for i, c in enumerate(classes)
    ]
    averages = {}
    for average in ("macro", "weighted"):
        ap, ar, af, _ = skm.precision_recall_fscore_support(
            y, pred, labels=labels, average=average, zero_division=0
        )
        averages[average] = {"precision": float(ap), "recall": float(ar), "f1": float(af)}
    return {"per_class": rows, "averages": averages, "accuracy": float(skm.accuracy_score(y, pred))}


def binary_curves(is_positive: np.ndarray, score: np.ndarray) -> dict[str, Any]:
    """Precision and recall against the threshold, the precision/recall curve and the ROC curve."""
    precision, recall, thresholds = skm.precision_recall_curve(is_positive, score)
    fpr, tpr, _ = skm.roc_curve(is_positive, score)
    t_p, t_r, t_t = _thin(precision[:-1], recall[:-1], thresholds)
    c_p, c_r = _thin(precision, recall)
    f, t = _thin(fpr, tpr)
    return {
        "threshold": {"thresholds": t_t, "precision": t_p, "recall": t_r},
        "pr_curve": {
            "precision": c_p,
            "recall": c_r,
            "average_precision": float(skm.average_precision_score(is_positive, score)),
        },
        "roc": {"fpr": f, "tpr": t, "auc": float(skm.roc_auc_score(is_positive, score))},
        "prevalence": float(np.mean(is_positive)),
    }


def one_vs_rest_auc(
    y: np.ndarray, proba: np.ndarray, classes: Sequence[Any]
) -> list[dict[str, Any]]:
    """ROC AUC and average precision of each class against the others, with its ROC curve."""
    rows = []
    for j, cls in enumerate(classes):
        positive = y == j
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = skm.roc_curve(positive, proba[:, j])
        f, t = _thin(fpr, tpr)
        rows.append(
            {
                "class": str(cls),
                "auc": float(skm.roc_auc_score(positive, proba[:, j])),
                "average_precision": float(skm.average_precision_score(positive, proba[:, j])),
                "fpr": f,
                "tpr": t,
            }
        )
    return rows


def calibration(
    is_positive: np.ndarray, score: np.ndarray, label: str, n_bins: int = CALIBRATION_BINS
) -> dict[str, Any]:
    """Observed frequency against predicted probability, per probability bin (with bin counts)."""
    from sklearn.calibration import calibration_curve

    observed, predicted = calibration_curve(
        is_positive, np.clip(score, 0, 1), n_bins=n_bins, strategy="uniform"
    )
    counts = np.histogram(np.clip(score, 0, 1), bins=n_bins, range=(0, 1))[0]
    return {
        "label": label,
        "predicted": predicted.tolist(),
        "observed": observed.tolist(),
        "bin_counts": counts.tolist(),
        "brier": float(np.mean((np.clip(score, 0, 1) - is_positive) ** 2)),
    }


def classification_diagnostics(
    y_true: np.ndarray,
    proba: np.ndarray,
    classes: Sequence[Any],
    positive_class: Any = None,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Everything the error analysis of a classifier shows, from its class probabilities.

    Binary decisions use ``threshold`` on the positive class (the model's own); multiclass the argmax.
    """
    proba = np.asarray(proba, dtype=float)
    y = class_positions(y_true, classes)
    if (y < 0).any():
        raise ValueError("labels outside the model's classes")
    binary = len(classes) == 2 and positive_class is not None
    pos = [str(c) for c in classes].index(str(positive_class)) if binary else None
    decided = decide_labels(
        proba, list(range(len(classes))), pos, threshold if binary else None
    ).astype(int)
    out: dict[str, Any] = {
        "classes": [str(c) for c in classes],
        "rows": int(len(y)),
        "threshold": threshold if binary else None,
        "confusion": confusion(y, decided, classes),
        "scores": per_class_scores(y, decided, classes),
        "log_loss": float(
            skm.log_loss(y, np.clip(proba, 1e-15, 1), labels=list(range(len(classes))))
        ),
    }
    if pos is not None:  # binary
        is_pos = y == pos
        out["positive_class"] = str(classes[pos])
        out["curves"] = binary_curves(is_pos, proba[:, pos])
        out["calibration"] = calibration(is_pos, proba[:, pos], f"P({classes[pos]})")
    else:
        out["one_vs_rest"] = one_vs_rest_auc(y, proba, classes)
        top = proba.argmax(axis=1)
        out["calibration"] = calibration(
            (top == y).astype(float), proba.max(axis=1), "top-label confidence"
        )
    return out


def error_by_group(
    errors: np.ndarray, groups: pd.Series, max_groups: int = MAX_GROUPS
) -> list[dict[str, Any]]:
    """Count, RMSE, MAE and mean error (bias) per group; small groups beyond ``max_groups`` are "other"."""
    labels = groups.astype("string").fillna("<missing>").astype(object)
    top = labels.value_counts().index[:max_groups]
    labels = labels.where(labels.isin(top), "<other>")
    frame = pd.DataFrame({"g": labels.to_numpy(), "e": errors, "a": np.abs(errors), "s": errors**2})
    stats = frame.groupby("g", sort=False).agg(
        count=("e", "size"), bias=("e", "mean"), mae=("a", "mean"), mse=("s", "mean")
    )
    stats = stats.sort_values("count", ascending=False)
    return [
        {
            "group": str(g),
            "count": int(r["count"]),
            "rmse": float(np.sqrt(r["mse"])),
            "mae": float(r["mae"]),
            "bias": float(r["bias"]),
        }
        for g, r in stats.iterrows()
    ]


def _edge(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def regression_diagnostics(
    y_true: np.ndarray, pred: np.ndarray, categories: dict[str, pd.Series] | None = None
) -> dict[str, Any]:
    """Residual summary, the error by decile of the target, and by category of each given feature."""
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(pred, dtype=float)
    errors = p - y
    deciles = pd.qcut(pd.Series(y), 10, duplicates="drop")
    names = [f"{_edge(iv.left)} to {_edge(iv.right)}" for iv in deciles.cat.categories]
    by_decile = error_by_group(
        errors, deciles.cat.rename_categories(names).astype(str), max_groups=10
    )
    order = {name: i for i, name in enumerate(names)}
    by_decile.sort(key=lambda r: order.get(r["group"], len(order)))
    return {
        "rows": int(len(y)),
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "mae": float(np.mean(np.abs(errors))),
        "r2": float(skm.r2_score(y, p)),
        "bias": float(np.mean(errors)),
        "residual_quantiles": {
            str(q): float(v)
            for q, v in zip(
                (0.05, 0.25, 0.5, 0.75, 0.95), np.quantile(errors, [0.05, 0.25, 0.5, 0.75, 0.95])
            )
        },
        "by_decile": by_decile,
        "by_category": {
            name: error_by_group(errors, values.reset_index(drop=True))
            for name, values in (categories or {}).items()
        },
    }


def multilabel_scores(
    y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[Any]
) -> dict[str, Any]:
    """F1 (and precision, recall, support) per label and averaged, from 0/1 indicator matrices.

    Examples
    --------
    >>> import numpy as np
    >>> s = multilabel_scores(np.array([[1, 0], [1, 1]]), np.array([[1, 0], [0, 1]]), ["a", "b"])
    >>> [round(r["f1"], 3) for r in s["per_label"]], round(s["averages"]["micro"]["f1"], 3)
    ([0.667, 1.0], 0.8)
    """
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    if y_true.ndim != 2 or y_true.shape != y_pred.shape or y_true.shape[1] != len(labels):
        raise ValueError("multilabel scores need two indicator matrices of shape (rows, labels)")
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    rows = [
        {
            "label": str(lab),
            "precision": float(p[j]),
            "recall": float(r[j]),
            "f1": float(f[j]),
            "support": int(s[j]),
        }
        for j, lab in enumerate(labels)
    ]
    averages = {}
    for average in ("micro", "macro", "weighted", "samples"):
        ap, ar, af, _ = skm.precision_recall_fscore_support(
            y_true, y_pred, average=average, zero_division=0
        )
        averages[average] = {"precision": float(ap), "recall": float(ar), "f1": float(af)}
    return {
        "per_label": rows,
        "averages": averages,
        "hamming_loss": float(skm.hamming_loss(y_true, y_pred)),
        "subset_accuracy": float(skm.accuracy_score(y_true, y_pred)),
    }


def multilabel_diagnostics(
    y_true: np.ndarray, scores: np.ndarray, labels: Sequence[Any], threshold: float = 0.5
) -> dict[str, Any]:
    """Multilabel error analysis from per-label probabilities: decisions at ``threshold``, scores."""
    decided = (np.asarray(scores, dtype=float) >= threshold).astype(int)
    out = multilabel_scores(y_true, decided, labels)
    out.update(
        {"labels": [str(lab) for lab in labels], "rows": int(len(decided)), "threshold": threshold}
    )
    return out
