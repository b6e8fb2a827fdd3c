"""Figures of "analyse the errors": the confusion matrix, precision and recall against the threshold,
the precision/recall, ROC and calibration curves, residual plots, error breakdowns, learning curves,
permutation importance and the cross-validation score distribution of each model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mlcraft.plots.base import PLOT_SAMPLE, Plot, new_figure, sample_index, short, slug, to_plot

__all__ = [
    "confusion_matrices",
    "precision_recall_threshold",
    "precision_recall_curve",
    "roc_curves",
    "calibration_curve",
    "predicted_vs_actual",
    "residuals",
    "error_breakdown",
    "learning_curve",
    "permutation_importance",
    "cv_scores",
    "multilabel_f1",
    "section_figures",
    "register_section_figures",
    "explained_variance",
    "row_maps",
    "backtest_forecasts",
    "error_by_step",
    "error_by_series",
    "residual_checks",
]

MAX_LABELS = 25
MAX_CATEGORY_PLOTS = 6  # categorical features given an error-breakdown figure

SectionFigures = Callable[..., list[Plot]]
_SECTIONS: dict[str, SectionFigures] = {}


def register_section_figures(section: str) -> Callable[[SectionFigures], SectionFigures]:
    """Register the figures of a kind's error analysis under its ``report_section`` (a decorator).

    The function is called as ``build(diag, y, pred, *, target, marks, seed)`` with the kind's
    ``diagnose`` answer, the out-of-fold targets and raw output, the decision thresholds to mark
    (current, chosen) and a seed for sampling; it returns the figures, in page order.
    """

    def register(build: SectionFigures) -> SectionFigures:
        _SECTIONS[section] = build
        return build

    return register


def section_figures(
    section: str,
    diag: dict[str, Any],
    y: np.ndarray,
    pred: np.ndarray,
    *,
    target: str,
    marks: tuple[float | None, float | None],
    seed: int,
) -> list[Plot]:
    """The figures of the error analysis registered for ``section`` (none if it has no builder)."""
    build = _SECTIONS.get(section)
    return [] if build is None else build(diag, y, pred, target=target, marks=marks, seed=seed)


def _matrix(ax: Any, values: np.ndarray, labels: Sequence[str], fmt: str, title: str) -> None:
    ax.imshow(values, cmap="Blues")
    ticks = [short(c, 12) for c in labels]
    ax.set_xticks(range(len(labels)), ticks, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), ticks, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title, fontsize=10)
    if len(labels) <= 12:
        high = values.max() if values.size else 0
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                ax.text(
                    j,
                    i,
                    format(values[i, j], fmt),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if values[i, j] > 0.6 * high else "black",
                )


def confusion_matrices(confusion: dict[str, Any]) -> Plot:
    """Counts and row-normalised shares side by side."""
    labels = confusion["labels"]
    side = min(6.0, 2.5 + 0.35 * len(labels))
    fig = new_figure(2 * side + 1, side)
    left, right = fig.subplots(1, 2)
    _matrix(left, np.asarray(confusion["counts"]), labels, "d", "counts")
    _matrix(right, np.asarray(confusion["normalised"]), labels, ".2f", "share of each actual class")
    return to_plot(
        fig, "confusion_matrix", "Confusion matrix", "out-of-fold predictions of the training rows"
    )


def precision_recall_threshold(
    curves: dict[str, Any], threshold: float | None, chosen: float | None = None
) -> Plot:
    """Precision and recall against the decision threshold (the book's figure 3-5)."""
    t = curves["threshold"]
    fig = new_figure()
    ax = fig.subplots()
    ax.plot(t["thresholds"], t["precision"], label="precision", color="tab:blue")
    ax.plot(t["thresholds"], t["recall"], label="recall", color="tab:green")
    if threshold is not None:
        ax.axvline(threshold, color="grey", linestyle=":", label=f"model threshold {threshold:.3g}")
    if chosen is not None:
        ax.axvline(chosen, color="tab:red", linestyle="--", label=f"chosen threshold {chosen:.3g}")
    ax.set_xlabel("threshold on the positive class's probability")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left")
    ax.grid(alpha=0.3)
    return to_plot(fig, "precision_recall_threshold", "Precision and recall against the threshold")


def precision_recall_curve(curves: dict[str, Any]) -> Plot:
    c = curves["pr_curve"]
    fig = new_figure(6, 5)
    ax = fig.subplots()
    ax.plot(
        c["recall"],
        c["precision"],
        color="tab:blue",
        label=f"average precision {c['average_precision']:.3f}",
    )
    ax.axhline(curves["prevalence"], color="grey", linestyle=":", label="chance")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left")
    ax.grid(alpha=0.3)
    return to_plot(fig, "precision_recall_curve", "Precision/recall curve")


def roc_curves(curves: Sequence[dict[str, Any]]) -> Plot:
    """ROC curve(s) with their AUC: one for a binary task, one per class (one-vs-rest) otherwise."""
    fig = new_figure(6, 5)
    ax = fig.subplots()
    for c in list(curves)[:10]:
        ax.plot(c["fpr"], c["tpr"], label=f"{short(c['name'], 18)}: AUC {c['auc']:.3f}")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate (recall)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return to_plot(fig, "roc_curve", "ROC curve")


def calibration_curve(cal: dict[str, Any]) -> Plot:
    fig = new_figure(6, 5)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    ax.plot(
        cal["predicted"],
        cal["observed"],
        marker="o",
        color="tab:blue",
        label=f"{cal['label']} (Brier {cal['brier']:.3f})",
    )
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed frequency")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return to_plot(
        fig, "calibration_curve", "Calibration curve", "out-of-fold probabilities in 10 bins"
    )


def predicted_vs_actual(
    actual: np.ndarray, predicted: np.ndarray, target: str, sample_size: int
) -> Plot:
    fig = new_figure(6, 5.5)
    ax = fig.subplots()
    ax.scatter(actual, predicted, s=3, alpha=0.25, rasterized=True)
    low, high = float(np.nanmin(actual)), float(np.nanmax(actual))
    ax.plot([low, high], [low, high], color="tab:red", linewidth=1, label="perfect")
    ax.set_xlabel(f"actual {target}")
    ax.set_ylabel(f"predicted {target}")
    ax.legend(loc="upper left")
    return to_plot(
        fig,
        "predicted_vs_actual",
        "Predicted against actual",
        f"out-of-fold predictions; {sample_size:,} sampled rows",
    )


def residuals(predicted: np.ndarray, residual: np.ndarray, sample_size: int) -> Plot:
    fig = new_figure(7, 4.5)
    ax = fig.subplots()
    ax.scatter(predicted, residual, s=3, alpha=0.25, rasterized=True)
    ax.axhline(0, color="tab:red", linewidth=1)
    ax.set_xlabel("predicted")
    ax.set_ylabel("residual (predicted - actual)")
    return to_plot(fig, "residuals", "Residuals against predicted", f"{sample_size:,} sampled rows")


def error_breakdown(
    groups: Sequence[dict[str, Any]], name: str, title: str, caption: str = ""
) -> Plot:
    """RMSE per group (bars) with the mean error (bias) marked."""
    groups = list(groups)
    fig = new_figure(7, 0.9 + 0.28 * len(groups))
    ax = fig.subplots()
    labels = [short(g["group"], 28) for g in groups][::-1]
    ax.barh(labels, [g["rmse"] for g in groups][::-1], color="tab:blue", alpha=0.8, label="RMSE")
    ax.scatter(
        [g["bias"] for g in groups][::-1],
        labels,
        color="tab:red",
        zorder=3,
        label="mean error (bias)",
    )
    ax.axvline(0, color="black", linewidth=0.8)
    ax.legend(loc="best", fontsize=8)
    ax.tick_params(labelsize=8)
    return to_plot(fig, name, title, caption)


def learning_curve(curve: dict[str, Any]) -> Plot:
    fig = new_figure(7, 4.5)
    ax = fig.subplots()
    sizes = np.asarray(curve["sizes"])
    for key, label, colour in (
        ("train", "training", "tab:red"),
        ("valid", "validation", "tab:blue"),
    ):
        mean, std = np.asarray(curve[f"{key}_mean"]), np.asarray(curve[f"{key}_std"])
        ax.plot(sizes, mean, marker="o", color=colour, label=label)
        ax.fill_between(sizes, mean - std, mean + std, color=colour, alpha=0.15)
    ax.set_xlabel("training rows")
    ax.set_ylabel(curve["metric"])
    ax.legend()
    ax.grid(alpha=0.3)
    return to_plot(
        fig,
        "learning_curve",
        "Learning curves",
        f"mean and spread over {curve['folds']} cross-validation folds",
    )


def permutation_importance(importance: dict[str, Any], limit: int = 20) -> Plot:
    rows = importance["features"][:limit][::-1]
    fig = new_figure(7, 0.9 + 0.3 * len(rows))
    ax = fig.subplots()
    ax.boxplot(
        [r["values"] for r in rows],
        orientation="horizontal",
        tick_labels=[short(r["feature"]) for r in rows],
    )
    ax.axvline(0, color="grey", linestyle=":")
    ax.set_xlabel(f"worsening of {importance['metric']} when the feature is shuffled")
    ax.tick_params(labelsize=8)
    return to_plot(
        fig,
        "permutation_importance",
        "Permutation feature importance",
        f"{importance['repeats']} shuffles of {importance['rows']:,} held-out rows",
    )


def cv_scores(scores: dict[str, Sequence[float]], metric: str) -> Plot:
    """The per-fold score of every leaderboard model (box plot), best first."""
    names = list(scores)[:MAX_LABELS][::-1]
    fig = new_figure(7, 0.9 + 0.35 * len(names))
    ax = fig.subplots()
    ax.boxplot(
        [list(scores[n]) for n in names],
        orientation="horizontal",
        tick_labels=[short(n) for n in names],
    )
    ax.set_xlabel(f"{metric} per fold")
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3, axis="x")
    return to_plot(
        fig,
        "cv_scores",
        "Cross-validation scores of the leaderboard",
        "one box per model, one point per fold",
    )


def multilabel_f1(
    per_label: Sequence[dict[str, Any]], averages: dict[str, dict[str, float]]
) -> Plot:
    rows = list(per_label)[:MAX_LABELS][::-1]
    fig = new_figure(7, 0.9 + 0.3 * len(rows))
    ax = fig.subplots()
    ax.barh([short(r["label"]) for r in rows], [r["f1"] for r in rows], color="tab:blue")
    for name, style in (("micro", "--"), ("macro", ":")):
        ax.axvline(
            averages[name]["f1"],
            color="tab:red",
            linestyle=style,
            label=f"{name} F1 {averages[name]['f1']:.3f}",
        )
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1")
    ax.legend(loc="lower right", fontsize=8)
    return to_plot(fig, "multilabel_f1", "F1 per label")


@register_section_figures("regression")
def _regression_figures(diag, y, pred, *, target, marks, seed) -> list[Plot]:
    idx = sample_index(len(y), PLOT_SAMPLE, seed)
    plots = [
        predicted_vs_actual(y[idx], pred[idx], target, len(idx)),
        residuals(pred[idx], pred[idx] - y[idx], len(idx)),
        error_breakdown(
            diag["by_decile"],
            "error_by_decile",
            f"Error by decile of {target}",
            "RMSE and mean error (bias) per tenth of the rows, ordered by the actual value",
        ),
    ]
    for name, groups in list(diag["by_category"].items())[:MAX_CATEGORY_PLOTS]:
        plots.append(error_breakdown(groups, f"error_by_{slug(name)}", f"Error by {name}"))
    return plots


@register_section_figures("classification")
def _classification_figures(diag, y, pred, *, target, marks, seed) -> list[Plot]:
    plots = [confusion_matrices(diag["confusion"])]
    if "curves" in diag:
        plots.append(precision_recall_threshold(diag["curves"], *marks))
        plots.append(precision_recall_curve(diag["curves"]))
        plots.append(roc_curves([{"name": diag["positive_class"], **diag["curves"]["roc"]}]))
    else:
        plots.append(roc_curves([{"name": r["class"], **r} for r in diag["one_vs_rest"]]))
    plots.append(calibration_curve(diag["calibration"]))
    return plots


def silhouette_diagram(sizes: Sequence[dict[str, Any]], mean: float) -> Plot:
    """The book's knife plot: each cluster's silhouettes, sorted, as one filled band per cluster."""
    fig = new_figure(6, 5)
    ax = fig.subplots()
    _knife(ax, sizes, mean)
    ax.set_ylabel("cluster (band height: share of rows)")
    ax.legend(loc="lower right", fontsize=8)
    return to_plot(
        fig,
        "silhouette_diagram",
        "Silhouette diagram",
        "out-of-fold silhouettes per cluster, sorted; noise rows count 0",
    )


def knife_plots(curves: Sequence[dict[str, Any]], chosen: int) -> Plot:
    """Silhouette diagrams of k-means for a few k around the chosen number of clusters."""
    fig = new_figure(3.2 * len(curves), 4.2)
    axes = np.atleast_1d(fig.subplots(1, len(curves), sharex=True))
    for ax, curve in zip(axes, curves):
        _knife(ax, curve["sizes"], curve["silhouette"])
        mark = " (chosen)" if curve["k"] == chosen else ""
        ax.set_title(f"k = {curve['k']}{mark}: {curve['silhouette']:.3f}", fontsize=9)
        ax.set_xlabel("silhouette", fontsize=8)
    return to_plot(
        fig,
        "knife_plots",
        "Silhouette diagrams against k",
        "k-means on the reference space for a few k around the chosen number of clusters; dashed: the mean silhouette",
    )


def tsne_cluster_map(m: dict[str, Any]) -> Plot:
    """The rows on a 2-D t-SNE map of the reference space, by cluster."""
    fig = new_figure(6, 5)
    ax = fig.subplots()
    ax.scatter(m["x"], m["y"], c=m["cluster"], s=4, alpha=0.6, cmap="tab10", rasterized=True)
    ax.set_xticks([])
    ax.set_yticks([])
    return to_plot(
        fig,
        "tsne_map",
        "The rows by cluster on a t-SNE map",
        f"{len(m['x']):,} rows of the reference space (a seeded sample), PCA to 30 columns then t-SNE; distances between far groups mean little",
    )


def _knife(ax, sizes: Sequence[dict[str, Any]], mean: float) -> None:
    low, ticks, names = 0, [], []
    for i, c in enumerate(list(sizes)[:MAX_LABELS]):
        values = np.asarray(c["profile"], dtype=float)
        if not len(values):
            continue
        height = max(1, round(100 * c["share"]))
        ys = low + np.linspace(0, height, len(values))
        ax.fill_betweenx(ys, 0, values, alpha=0.7, color=f"C{i % 10}")
        ticks.append(low + height / 2)
        names.append(str(c["cluster"]))
        low += height + 3
    ax.axvline(mean, color="tab:red", linestyle="--", label=f"mean {mean:.3f}")
    ax.set_xlabel("silhouette coefficient")
    ax.set_yticks(ticks, names, fontsize=8)


def cluster_sizes(sizes: Sequence[dict[str, Any]], noise: int) -> Plot:
    fig = new_figure(6, 4)
    ax = fig.subplots()
    names = [str(c["cluster"]) for c in sizes] + (["noise"] if noise else [])
    rows = [c["rows"] for c in sizes] + ([noise] if noise else [])
    ax.bar(range(len(rows)), rows, color="tab:blue")
    ax.set_xticks(range(len(rows)), [short(n, 10) for n in names], fontsize=8)
    ax.set_xlabel("cluster")
    ax.set_ylabel("rows")
    return to_plot(fig, "cluster_sizes", "Cluster sizes", "out-of-fold assignments")


def cluster_map(coordinates: np.ndarray, labels: np.ndarray) -> Plot:
    """The rows on their first two principal components (of the reference space), by cluster."""
    from sklearn.decomposition import PCA

    X = np.asarray(coordinates, dtype=float)
    xy = PCA(n_components=2, random_state=0).fit_transform(X) if X.shape[1] > 2 else X
    if xy.shape[1] == 1:
        xy = np.c_[xy, np.zeros(len(xy))]
    fig = new_figure(6, 5)
    ax = fig.subplots()
    ax.scatter(xy[:, 0], xy[:, 1], c=labels, s=4, alpha=0.5, cmap="tab10", rasterized=True)
    ax.set_xlabel("first principal component")
    ax.set_ylabel("second principal component")
    return to_plot(
        fig, "cluster_map", "The rows by cluster", "reference space, first two principal components"
    )


def k_curve(curve: Sequence[dict[str, Any]], chosen: int) -> Plot:
    """Inertia (the elbow) and silhouette of k-means against k, the chosen number of clusters marked."""
    fig = new_figure(9, 3.8)
    left, right = fig.subplots(1, 2)
    ks = [c["k"] for c in curve]
    left.plot(ks, [c["inertia"] for c in curve], marker="o")
    left.set_xlabel("k")
    left.set_ylabel("inertia")
    right.plot(ks, [c["silhouette"] for c in curve], marker="o", color="tab:green")
    right.set_xlabel("k")
    right.set_ylabel("silhouette")
    for ax in (left, right):
        ax.axvline(chosen, color="tab:red", linestyle="--", linewidth=1)
        ax.grid(alpha=0.3)
    return to_plot(
        fig,
        "k_curve",
        "Choosing k",
        "k-means on the reference space: the elbow of the inertia, the highest silhouette; the dashed line is the chosen model's number of clusters",
    )


def mixture_curve(curve: Sequence[dict[str, Any]]) -> Plot:
    """BIC and AIC of Gaussian mixtures against k, one line per covariance type."""
    fig = new_figure(9, 3.8)
    axes = fig.subplots(1, 2)
    for ax, key in zip(axes, ("bic", "aic")):
        for cov in dict.fromkeys(c["covariance"] for c in curve):
            points = [c for c in curve if c["covariance"] == cov]
            ax.plot([c["k"] for c in points], [c[key] for c in points], marker=".", label=cov)
        ax.set_xlabel("k (components)")
        ax.set_ylabel(key.upper())
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return to_plot(
        fig,
        "mixture_curve",
        "Gaussian mixtures: BIC and AIC against k",
        "lower is better; one line per covariance type, on the reference space",
    )


def k_distance(curve: dict[str, Any]) -> Plot:
    """The sorted distance of each row to its k-th nearest neighbour (DBSCAN's eps at the knee)."""
    fig = new_figure(6, 4)
    ax = fig.subplots()
    ax.plot(curve["rank"], curve["distance"])
    ax.set_xlabel("rows, sorted")
    ax.set_ylabel(f"distance to the {curve['k']}th nearest row (itself counted)")
    ax.grid(alpha=0.3)
    return to_plot(
        fig, "k_distance", "k-distance curve", "DBSCAN's eps is read at the knee of this curve"
    )


@register_section_figures("cluster")
def _cluster_figures(diag, y, pred, *, target, marks, seed) -> list[Plot]:
    idx = sample_index(len(pred), PLOT_SAMPLE, seed)
    labels = np.where(np.isfinite(pred), pred, -1).astype(int)
    plots = [
        silhouette_diagram(diag["sizes"], diag["silhouette"]),
        cluster_sizes(diag["sizes"], diag["noise"]),
        cluster_map(np.asarray(y, dtype=float)[idx], labels[idx]),
    ]
    if diag.get("tsne_map") and diag["tsne_map"]["x"]:
        plots.append(tsne_cluster_map(diag["tsne_map"]))
    if diag.get("k_curve"):
        plots.append(k_curve(diag["k_curve"], diag["n_clusters"]))
    if diag.get("knife"):
        plots.append(knife_plots(diag["knife"], diag["n_clusters"]))
    if diag.get("mixture_curve"):
        plots.append(mixture_curve(diag["mixture_curve"]))
    if diag.get("k_distance"):
        plots.append(k_distance(diag["k_distance"]))
    return plots


# -- embeddings -----------------------------------------------------------------------------------


def explained_variance(curve: dict[str, Any], dims: int) -> Plot:
    """PCA's cumulative explained variance against the components, the 95% line and the chosen
    number of dimensions marked (the book's figure 8-8)."""
    fig = new_figure(6, 4)
    ax = fig.subplots()
    cumulative = np.asarray(curve["cumulative"], dtype=float)
    ks = np.arange(1, len(cumulative) + 1)
    ax.plot(ks, cumulative, marker="." if len(ks) <= 60 else None, linewidth=2)
    ax.axhline(curve["share"], color="tab:gray", linestyle=":", linewidth=1)
    ax.axvline(dims, color="tab:red", linestyle="--", linewidth=1, label=f"--dims {dims}")
    ax.axvline(
        curve["components_kept"],
        color="tab:green",
        linestyle=":",
        linewidth=1,
        label=f"{curve['share']:.0%} of the variance: {curve['components_kept']}",
    )
    ax.set_xlabel("dimensions (principal components)")
    ax.set_ylabel("explained variance (cumulative)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return to_plot(
        fig,
        "explained_variance",
        "Explained variance",
        "PCA of the prepared columns: the share of the variance the first components keep",
    )


def row_maps(maps: dict[str, Any], own: np.ndarray, codes: Sequence[int] | None) -> Plot:
    """2-D maps of the rows, side by side: the model's own first two coordinates (out-of-fold),
    PCA, t-SNE and MDS (and UMAP) of the prepared columns, coloured by the known labels if any."""
    panels = [("this model (out-of-fold, first two coordinates)", np.arange(len(own)), own)]
    titles = {"pca": "PCA", "tsne": "t-SNE (a sample)", "mds": "MDS (a sample)", "umap": "UMAP"}
    for key, title in titles.items():
        if key in maps:
            panels.append((title, np.asarray(maps[key]["rows"]), np.asarray(maps[key]["xy"])))
    fig = new_figure(4.0 * min(len(panels), 3), 3.8 * ((len(panels) + 2) // 3))
    axes = np.atleast_1d(fig.subplots((len(panels) + 2) // 3, min(len(panels), 3))).ravel()
    colours = None if codes is None else np.asarray(codes)
    for ax, (title, rows, xy) in zip(axes, panels):
        xy = xy if xy.shape[1] >= 2 else np.c_[xy, np.zeros(len(xy))]
        c = None if colours is None else colours[rows]
        ax.scatter(xy[:, 0], xy[:, 1], c=c, s=4, alpha=0.6, cmap="tab10", rasterized=True)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    return to_plot(
        fig,
        "row_map",
        "A 2-D map of the rows",
        "each point is a training row"
        + ("; colours: the known labels (never fitted)" if codes is not None else ""),
    )


@register_section_figures("embed")
def _embed_figures(diag, y, pred, *, target, marks, seed) -> list[Plot]:
    from mlcraft.core.analysis.embedding import maps

    Y = np.asarray(y, dtype=float)
    E = np.asarray(pred, dtype=float).reshape(len(Y), -1)
    idx = sample_index(len(Y), PLOT_SAMPLE, seed)
    known = diag.get("known") or {}
    codes = known.get("codes")
    drawn = maps(Y[idx], seed=seed)
    own = E[idx, :2] if E.shape[1] >= 2 else np.c_[E[idx], np.zeros(len(idx))]
    return [
        explained_variance(diag["variance"], diag["dims"]),
        row_maps(drawn["maps"], own, None if codes is None else np.asarray(codes)[idx]),
    ]


# -- anomaly detection -----------------------------------------------------------------------------


def anomaly_scores(histogram: dict[str, Any], threshold: float | None) -> Plot:
    """The distribution of the out-of-fold anomaly scores, the flagging threshold marked."""
    edges = np.asarray(histogram["edges"], dtype=float)
    counts = np.asarray(histogram["counts"], dtype=float)
    fig = new_figure(6, 4)
    ax = fig.subplots()
    if len(counts):
        ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="tab:blue", alpha=0.7)
    if threshold is not None:
        ax.axvline(threshold, color="tab:red", linestyle="--", linewidth=1, label="threshold")
        ax.legend(fontsize=8)
    ax.set_xlabel("anomaly score (higher: more anomalous)")
    ax.set_ylabel("rows")
    ax.grid(alpha=0.3)
    return to_plot(
        fig,
        "anomaly_scores",
        "Anomaly scores and the threshold",
        "out-of-fold scores; rows right of the dashed line are flagged",
    )


def anomaly_map(coordinates: np.ndarray, scores: np.ndarray) -> Plot:
    """The rows on their first two principal components (of the reference space), by score."""
    from sklearn.decomposition import PCA

    X = np.asarray(coordinates, dtype=float)
    xy = PCA(n_components=2, random_state=0).fit_transform(X) if X.shape[1] > 2 else X
    if xy.shape[1] == 1:
        xy = np.c_[xy, np.zeros(len(xy))]
    order = np.argsort(scores)  # the most anomalous drawn last, on top
    fig = new_figure(6, 5)
    ax = fig.subplots()
    points = ax.scatter(
        xy[order, 0], xy[order, 1], c=scores[order], s=5, cmap="viridis", rasterized=True
    )
    fig.colorbar(points, ax=ax, label="anomaly score")
    ax.set_xlabel("first principal component")
    ax.set_ylabel("second principal component")
    return to_plot(
        fig,
        "anomaly_map",
        "The rows by anomaly score",
        "reference space, first two principal components",
    )


def anomaly_curves(curves: dict[str, Any]) -> Plot:
    """ROC and precision-recall curves of the scores against the known anomalies."""
    fig = new_figure(9, 3.8)
    left, right = fig.subplots(1, 2)
    left.plot(curves["fpr"], curves["tpr"])
    left.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    left.set_xlabel("false positive rate")
    left.set_ylabel("true positive rate")
    right.plot(curves["recall"], curves["precision"], color="tab:green")
    right.set_xlabel("recall")
    right.set_ylabel("precision")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    return to_plot(
        fig,
        "anomaly_curves",
        "Against the known anomalies",
        "ROC and precision-recall curves of the out-of-fold scores (the labels were never fitted)",
    )


@register_section_figures("anomaly")
def _anomaly_figures(diag, y, pred, *, target, marks, seed) -> list[Plot]:
    raw = np.asarray(pred, dtype=float).reshape(-1, 2)
    idx = sample_index(len(raw), PLOT_SAMPLE, seed)
    coords = np.asarray(y, dtype=float)[:, :-1]  # the last column: the known labels
    plots = [
        anomaly_scores(diag["histogram"], diag["threshold"]),
        anomaly_map(coords[idx], raw[idx, 0]),
    ]
    if diag.get("known") and diag["known"].get("curves"):
        plots.append(anomaly_curves(diag["known"]["curves"]))
    return plots


# -- forecast ------------------------------------------------------------------------------------
MAX_SERIES_BARS = 20  # series in the error-by-series figure (worst first)


def backtest_forecasts(paths: Sequence[dict[str, Any]], target: str) -> Plot:
    """The backtest forecasts of a few series against their actuals, one panel per series, each
    window's forecast drawn apart (window 1 = the latest)."""
    import pandas as pd

    n = max(1, len(paths))
    fig = new_figure(8, 2.3 * n + 0.6)
    axes = np.atleast_1d(fig.subplots(n, 1, squeeze=False).ravel())
    for ax, path in zip(axes, paths, strict=False):
        t = pd.to_datetime(pd.Series(path["time"]), errors="coerce")
        x = t if t.notna().all() else np.arange(len(path["time"]))
        window = np.asarray(path["window"])
        ax.plot(x, path["actual"], color="black", linewidth=1.2, label="actual")
        for i, w in enumerate(sorted(set(window.tolist()), reverse=True)):
            at = window == w
            ax.plot(
                np.asarray(x)[at],
                np.asarray(path["forecast"])[at],
                color="tab:orange",
                marker=".",
                linewidth=1.2,
                label="backtest forecast" if i == 0 else None,
            )
        ax.set_title(f"series {short(path['series'], 40)}", fontsize=9)
        ax.set_ylabel(short(target, 16), fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].legend(loc="upper left", fontsize=8)
    return to_plot(
        fig,
        "backtest_forecasts",
        "Backtest forecasts against actuals",
        f"the {len(paths)} largest series; each window's forecast from the rows before it only",
    )


def error_by_step(by_step: Sequence[dict[str, Any]]) -> Plot:
    """MASE at each horizon step (1: the next value)."""
    fig = new_figure(6, 3.5)
    ax = fig.subplots()
    ax.bar([r["step"] for r in by_step], [r["mase"] for r in by_step], color="tab:blue")
    ax.axhline(1.0, color="grey", linestyle=":", label="MASE 1 (the in-sample seasonal naive)")
    ax.set_xlabel("horizon step")
    ax.set_ylabel("MASE")
    ax.legend(loc="best", fontsize=8)
    return to_plot(fig, "error_by_step", "Error by horizon step", "MASE over the backtest windows")


def error_by_series(by_series: Sequence[dict[str, Any]]) -> Plot:
    """MASE of each series, worst first (at most ``MAX_SERIES_BARS``)."""
    rows = list(by_series)[:MAX_SERIES_BARS]
    fig = new_figure(7, 0.9 + 0.28 * len(rows))
    ax = fig.subplots()
    ax.barh([short(r["series"], 28) for r in rows][::-1], [r["mase"] for r in rows][::-1])
    ax.axvline(1.0, color="grey", linestyle=":")
    ax.set_xlabel("MASE")
    ax.tick_params(labelsize=8)
    more = f"; {len(by_series) - len(rows)} more in the table" if len(by_series) > len(rows) else ""
    return to_plot(fig, "error_by_series", "Error by series", f"worst first{more}")


def residual_checks(residuals: dict[str, Any]) -> Plot:
    """The scaled residuals' histogram and their ACF with the white-noise 95% band."""
    fig = new_figure(10, 3.8)
    left, right = fig.subplots(1, 2)
    h = residuals["histogram"]
    edges = np.asarray(h["edges"])
    left.bar(edges[:-1], h["counts"], width=np.diff(edges), align="edge", color="tab:blue")
    left.set_xlabel("(actual - forecast) / MASE scale")
    left.set_ylabel("rows")
    a = residuals["acf"]
    right.bar(a["lags"], a["acf"], width=0.4, color="tab:blue")
    if a["lags"]:
        right.axhspan(-a["band"], a["band"], color="grey", alpha=0.2, label="95% band (noise)")
        right.legend(loc="best", fontsize=8)
    right.axhline(0, color="black", linewidth=0.8)
    right.set_xlabel("lag")
    right.set_ylabel("autocorrelation")
    return to_plot(
        fig,
        "residual_checks",
        "Residual diagnostics",
        "histogram, and the ACF of each series' residuals in time order (averaged)",
    )


@register_section_figures("forecast")
def _forecast_figures(diag, y, pred, *, target, marks, seed) -> list[Plot]:
    plots = [backtest_forecasts(diag["paths"], target)] if diag["paths"] else []
    if diag["by_step"]:
        plots.append(error_by_step(diag["by_step"]))
    if diag["by_series"]:
        plots.append(error_by_series(diag["by_series"]))
    if diag["rows"]:
        plots.append(residual_checks(diag["residuals"]))
    return plots
