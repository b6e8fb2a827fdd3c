"""Figures of "discover and visualise the data": histograms, value counts, missing values, the
association of each feature with the target, the correlation matrix, the scatter matrix and the map.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlcraft.plots.base import Plot, new_figure, short, to_plot

__all__ = [
    "histograms",
    "value_counts",
    "missing_values",
    "target_associations",
    "correlation_matrix",
    "scatter_matrix",
    "geo_map",
    "series_panels",
    "decomposition",
    "autocorrelations",
    "strengths",
    "series_figures",
    "EXTRAS_FIGURES",
]

GRID_COLUMNS = 4
PANELS_PER_FIGURE = 24
TOP_CATEGORIES = 10
ANNOTATE_UP_TO = 12


def _grid(n: int, panel_height: float = 2.1) -> tuple[Any, list[Any]]:
    cols = min(GRID_COLUMNS, n)
    rows = math.ceil(n / cols)
    fig = new_figure(3.0 * cols, panel_height * rows, grid=True)
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def histograms(hists: dict[str, dict[str, Any]], target: str) -> list[Plot]:
    """One panel per column (bin counts over all rows), in pages of at most 24 panels."""
    names = [n for n in hists if hists[n]["counts"]]
    plots = []
    for page, start in enumerate(range(0, len(names), PANELS_PER_FIGURE), 1):
        chunk = names[start : start + PANELS_PER_FIGURE]
        fig, axes = _grid(len(chunk))
        for ax, name in zip(axes, chunk):
            h = hists[name]
            ax.stairs(
                h["counts"],
                h["edges"],
                fill=True,
                color="tab:orange" if name == target else "tab:blue",
                alpha=0.8,
            )
            ax.set_title(short(name) + (" (target)" if name == target else ""), fontsize=9)
            ax.tick_params(labelsize=7)
        suffix = f"_{page}" if len(names) > PANELS_PER_FIGURE else ""
        plots.append(
            to_plot(
                fig,
                f"histograms{suffix}",
                "Histograms" + (f" ({page})" if suffix else ""),
                "50 bins over all training rows; the target in orange",
            )
        )
    return plots


def value_counts(counts: dict[str, dict[str, Any]]) -> list[Plot]:
    """The most frequent categories of each categorical column."""
    names = list(counts)
    plots = []
    for page, start in enumerate(range(0, len(names), PANELS_PER_FIGURE), 1):
        chunk = names[start : start + PANELS_PER_FIGURE]
        fig, axes = _grid(len(chunk), panel_height=2.4)
        for ax, name in zip(axes, chunk):
            rows = counts[name]["values"][:TOP_CATEGORIES][::-1]
            ax.barh(
                [short(r["value"], 16) for r in rows], [r["count"] for r in rows], color="tab:green"
            )
            ax.set_title(f"{short(name)} ({counts[name]['n_unique']:,} values)", fontsize=9)
            ax.tick_params(labelsize=7)
        suffix = f"_{page}" if len(names) > PANELS_PER_FIGURE else ""
        plots.append(
            to_plot(
                fig,
                f"value_counts{suffix}",
                "Value counts" + (f" ({page})" if suffix else ""),
                f"the {TOP_CATEGORIES} most frequent categories per column",
            )
        )
    return plots


def missing_values(rows: Sequence[dict[str, Any]]) -> Plot | None:
    """Share of missing values per column (columns without any are left out)."""
    rows = [r for r in rows if r["missing"]][:40][::-1]
    if not rows:
        return None
    fig = new_figure(7, 0.8 + 0.25 * len(rows))
    ax = fig.subplots()
    ax.barh([short(r["column"]) for r in rows], [100 * r["share"] for r in rows], color="tab:red")
    ax.set_xlabel("% missing")
    return to_plot(fig, "missing_values", "Missing values", "share of training rows with no value")


def target_associations(
    rows: Sequence[dict[str, Any]], target: str, limit: int = 30
) -> Plot | None:
    """Each feature's association with the target, strongest first."""
    rows = [r for r in rows if np.isfinite(r["value"])][:limit][::-1]
    if not rows:
        return None
    fig = new_figure(7, 0.8 + 0.25 * len(rows))
    ax = fig.subplots()
    colours = ["tab:blue" if r["measure"] == "pearson" else "tab:purple" for r in rows]
    ax.barh(
        [f"{short(r['feature'])} [{r['measure']}]" for r in rows],
        [r["value"] for r in rows],
        color=colours,
    )
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(f"association with {target}")
    return to_plot(
        fig,
        "target_associations",
        f"Association with {target}",
        "Pearson's r (blue, signed), correlation ratio eta or Cramer's V (purple, 0 to 1)",
    )


def correlation_matrix(names: Sequence[str], matrix: np.ndarray) -> Plot | None:
    """Pearson correlations between the numeric columns most associated with the target."""
    if len(names) < 2:
        return None
    size = min(10.0, 2.0 + 0.45 * len(names))
    fig = new_figure(size + 1.5, size)
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(
        range(len(names)), [short(n, 14) for n in names], rotation=60, ha="right", fontsize=8
    )
    ax.set_yticks(range(len(names)), [short(n, 14) for n in names], fontsize=8)
    if len(names) <= ANNOTATE_UP_TO:
        for i in range(len(names)):
            for j in range(len(names)):
                if np.isfinite(matrix[i, j]):
                    colour = "white" if abs(matrix[i, j]) > 0.6 else "black"
                    ax.text(
                        j,
                        i,
                        f"{matrix[i, j]:.2f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color=colour,
                    )
    fig.colorbar(image, ax=ax, shrink=0.8)
    return to_plot(
        fig,
        "correlation_matrix",
        "Correlation matrix",
        "Pearson's r over all training rows (pairwise complete)",
    )


def scatter_matrix(columns: dict[str, np.ndarray], sample_size: int) -> Plot | None:
    """Every pair of the given columns (a sample of rows), histograms on the diagonal."""
    names = list(columns)
    if len(names) < 2:
        return None
    k = len(names)
    fig = new_figure(2.0 * k + 1, 2.0 * k, grid=True)
    axes = fig.subplots(k, k, squeeze=False, sharex="col")
    for i, yi in enumerate(names):
        for j, xj in enumerate(names):
            ax = axes[i][j]
            x, y = columns[xj], columns[yi]
            if i == j:
                ax.hist(x[np.isfinite(x)], bins=30, color="tab:blue", alpha=0.8)
            else:
                ax.scatter(x, y, s=2, alpha=0.2, color="tab:blue", rasterized=True)
            ax.tick_params(labelsize=6)
            ax.locator_params(nbins=4)
            if i == k - 1:
                ax.set_xlabel(short(xj, 16), fontsize=8)
            if j == 0:
                ax.set_ylabel(short(yi, 16), fontsize=8)
    return to_plot(
        fig,
        "scatter_matrix",
        "Scatter matrix",
        f"the features most associated with the target; {sample_size:,} sampled rows",
    )


def geo_map(
    lon: np.ndarray,
    lat: np.ndarray,
    colour: np.ndarray,
    colour_name: str,
    size: np.ndarray | None,
    size_name: str | None,
    sample_size: int,
) -> Plot:
    """The book's map: districts by longitude and latitude, coloured by the target, sized by a column."""
    fig = new_figure(8, 6.5)
    ax = fig.subplots()
    marker = (
        4.0
        if size is None
        else 2.0 + 60.0 * np.sqrt(np.clip(size, 0, None) / max(np.nanmax(size), 1e-12))
    )
    marker = np.where(np.isfinite(marker), marker, 2.0) if size is not None else marker
    points = ax.scatter(
        lon, lat, s=marker, c=colour, cmap="jet", alpha=0.4, linewidths=0, rasterized=True
    )
    fig.colorbar(points, ax=ax, label=colour_name)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_aspect("equal", adjustable="datalim")
    sized = f", point size by {size_name}" if size_name else ""
    return to_plot(fig, "map", "Map", f"colour: {colour_name}{sized}; {sample_size:,} sampled rows")


# -- a kind's own section (ProblemKind.explore_extras) -------------------------------------------
def _stamps(values: Sequence[str]) -> Any:
    import pandas as pd

    t = pd.to_datetime(pd.Series(list(values)), errors="coerce")
    return t if t.notna().all() else np.arange(len(values))


def series_panels(shown: Sequence[dict[str, Any]], target: str) -> Plot:
    """Each shown series in its own small panel (largest first)."""
    fig, axes = _grid(len(shown), panel_height=2.0)
    for ax, s in zip(axes, shown, strict=True):
        ax.plot(_stamps(s["time"]), s["y"], linewidth=1.0)
        ax.set_title(short(s["series"], 30), fontsize=9)
        ax.tick_params(labelsize=6)
        for label in ax.get_xticklabels():
            label.set_rotation(30)
    return to_plot(fig, "series", "The series", f"{target}, the {len(shown)} largest by mean")


def decomposition(parts: dict[str, Any], series: str) -> Plot:
    """STL decomposition of one series: observed, trend, seasonal, residual."""
    fig = new_figure(8, 6.5)
    axes = fig.subplots(4, 1, sharex=True)
    x = _stamps(parts["time"])
    for ax, key in zip(axes, ("observed", "trend", "seasonal", "residual"), strict=True):
        ax.plot(x, parts[key], linewidth=1.0, color="tab:red" if key == "residual" else None)
        ax.set_ylabel(key, fontsize=8)
        ax.tick_params(labelsize=7)
    return to_plot(
        fig, "decomposition", "Seasonal decomposition (STL)", f"series {short(series, 40)}"
    )


def autocorrelations(acf: dict[str, Any], pacf: Sequence[float], series: str) -> Plot:
    """ACF and PACF of one series with the white-noise 95% band."""
    fig = new_figure(10, 3.6)
    left, right = fig.subplots(1, 2)
    for ax, values, name in ((left, acf["acf"], "ACF"), (right, list(pacf), "PACF")):
        lags = list(range(1, len(values) + 1))
        ax.bar(lags, values, width=0.4)
        ax.axhspan(-acf["band"], acf["band"], color="grey", alpha=0.2)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xlabel("lag")
        ax.set_title(name, fontsize=10)
    return to_plot(
        fig, "autocorrelation", "Autocorrelation", f"series {short(series, 40)}; band: 95% (noise)"
    )


def strengths(per_series: Sequence[dict[str, Any]]) -> Plot | None:
    """Trend strength against seasonality strength, one point a series."""
    rows = [r for r in per_series if r["trend"] is not None]
    if not rows:
        return None
    fig = new_figure(5.5, 5)
    ax = fig.subplots()
    ax.scatter([r["trend"] for r in rows], [r["seasonal"] for r in rows], s=18)
    for r in rows[:ANNOTATE_UP_TO]:
        ax.annotate(short(r["series"], 16), (r["trend"], r["seasonal"]), fontsize=7)
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("trend strength F_T")
    ax.set_ylabel("seasonality strength F_S")
    return to_plot(fig, "strength", "Trend and seasonality strength", "Hyndman's, from STL")


def series_figures(extras: dict[str, Any], target: str) -> list[Plot]:
    """The figures of a forecast project's ``series`` section, in page order."""
    plots = [series_panels(extras["shown"], target)] if extras["shown"] else []
    if extras["decomposition"]:
        plots.append(decomposition(extras["decomposition"], extras["largest"]))
    if extras["acf"]["acf"]:
        plots.append(autocorrelations(extras["acf"], extras["pacf"], extras["largest"]))
    p = strengths(extras["per_series"])
    return plots + ([p] if p is not None else [])


EXTRAS_FIGURES = {"series": series_figures}  # a kind's explore section -> its figures
