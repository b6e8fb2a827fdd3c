"""Discover and visualise the data: statistics, flags and figures of the training rows only.

The test rows are never explored, with one narrow exception stated in the document: the drift
check reduces the test side's feature columns (never its target) to summary statistics (row count,
missing share, mean, standard deviation, shares per training decile or category) and drops the rows;
no test row, no test value and no test target reaches the exploration.
Statistics use every training row; only scatter-type figures are drawn from a sample, whose size
the document states.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlcraft import __version__
from mlcraft.core.analysis import drift, flags, profile
from mlcraft.core.data.framing import objective
from mlcraft.exceptions import ConfigError, DataError
from mlcraft.plots.base import PLOT_SAMPLE
from mlcraft.tasks import get_kind
from mlcraft.workspace import now_iso

if TYPE_CHECKING:
    from mlcraft.api.project import Project
    from mlcraft.plots import Plot

__all__ = [
    "ExploreResult",
    "run_explore",
    "split_sides",
    "explore_dir",
    "SCATTER_FEATURES",
    "MATRIX_FEATURES",
]

SCATTER_FEATURES = 4  # the scatter matrix shows the features most associated with the target
MATRIX_FEATURES = 20  # the correlation matrix shows at most this many numeric columns
_LAT = re.compile(r"^(lat|latitude)$", re.IGNORECASE)
_LON = re.compile(r"^(lon|lng|long|longitude)$", re.IGNORECASE)
_SIZE_DEFAULT = re.compile(r"^population$", re.IGNORECASE)


@dataclass
class ExploreResult:
    """Where the exploration was written and what it found."""

    html: Path
    document: dict[str, Any]
    plots: list[str] = field(default_factory=list)

    @property
    def flags(self) -> list[dict[str, Any]]:
        return self.document["flags"]


def explore_dir(project: Project) -> Path:
    return project.path / "reports" / "explore"


def split_sides(project: Project) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The training rows, and the test side's feature columns only (no target), loading the data once.

    The test side goes to :func:`mlcraft.core.analysis.drift.side_summary` and nowhere else.
    """
    cfg, schema = project.config, project.schema
    if cfg.test_dataset is not None:
        return project.training_frame(), project.test_frame()[schema.features]
    full = project.dataset()
    labelled = (
        full[cfg.target].notna().to_numpy()
        if cfg.target is not None
        else np.ones(len(full), dtype=bool)
    )
    is_test = project.workspace.read_split(cfg.dataset)
    train = full[labelled & ~is_test].reset_index(drop=True)
    test = (
        full.loc[labelled & is_test, schema.features].reset_index(drop=True)
        if (labelled & is_test).any()
        else None
    )
    return train, test


def _location(frame: pd.DataFrame, numeric: list[str]) -> tuple[str, str] | None:
    lat = next((c for c in numeric if _LAT.match(c)), None)
    lon = next((c for c in numeric if _LON.match(c)), None)
    if lat is None or lon is None:
        return None
    la, lo = (
        frame[lat].to_numpy(dtype=float, na_value=np.nan),
        frame[lon].to_numpy(dtype=float, na_value=np.nan),
    )
    if np.nanmin(la) < -90 or np.nanmax(la) > 90 or np.nanmin(lo) < -180 or np.nanmax(lo) > 180:
        return None
    return lon, lat


def _size_column(frame: pd.DataFrame, numeric: list[str], size_by: str | None) -> str | None:
    if size_by is None:
        return next((c for c in numeric if _SIZE_DEFAULT.match(c)), None)
    if size_by not in frame.columns:
        raise DataError(
            f"--size-by {size_by!r}: no such column in the training data; choose one of: {', '.join(numeric[:10])}"
        )
    if size_by not in numeric:
        raise DataError(
            f"--size-by {size_by!r} is not a numeric column; point sizes need numbers (e.g. {numeric[0] if numeric else 'a count'})"
        )
    return size_by


def _statistics(frame: pd.DataFrame, project: Project) -> dict[str, Any]:
    cfg, schema = project.config, project.schema
    numeric, categorical = schema.numeric, schema.categorical
    codes = {c: profile.category_codes(frame[c])[0] for c in categorical}
    if cfg.target is not None:
        y = frame[cfg.target]
        y_numbers = project.kind.target_numbers(y, cfg.positive_class)
        assoc = profile.associations(frame, numeric, categorical, y_numbers, y, codes)
        ranked_numeric = [r["feature"] for r in assoc if r["kind"] == "numeric"]
    else:  # a kind without a target: no associations, the columns in their order
        y_numbers, assoc, ranked_numeric = None, [], list(numeric)
    target = cfg.target or ""  # "" names no column: a kind without a target
    matrix_cols = ranked_numeric[:MATRIX_FEATURES] + ([target] if y_numbers is not None else [])
    matrix = (
        profile.correlation_matrix(
            frame.assign(**{target: y_numbers}) if y_numbers is not None else frame, matrix_cols
        )
        if len(matrix_cols) > 1
        else None
    )
    numeric_target = [target] if target and project.kind.numeric_target else []
    target_classes = [target] if target and not numeric_target else []
    hist_cols = numeric_target + ranked_numeric
    return {
        "numeric": numeric,
        "categorical": categorical,
        "codes": codes,
        "y_numbers": y_numbers,
        "associations": assoc,
        "describe": profile.describe_numeric(frame, numeric + numeric_target),
        "missing": profile.missing_table(frame),
        "value_counts": {c: profile.value_counts(frame[c]) for c in categorical + target_classes},
        "histograms": {
            c: profile.histogram(
                pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            )
            for c in hist_cols
        },
        "matrix": matrix,
        "scatter": ranked_numeric[:SCATTER_FEATURES],
    }


def _flags(frame: pd.DataFrame, project: Project, stats: dict[str, Any]) -> list[flags.Flag]:
    cfg, schema = project.config, project.schema
    numeric, categorical = stats["numeric"], stats["categorical"]
    numbers = numeric + ([cfg.target] if project.kind.numeric_target else [])
    found = flags.unused_columns(schema)
    found += flags.heavy_tails(frame, numbers)
    found += flags.capped_values(frame, numbers)
    found += flags.high_cardinality(frame, categorical)
    found += flags.duplicate_rows(frame, schema.features, cfg.target)
    if cfg.target is None:
        return found
    kinds = {**{c: "numeric" for c in numeric}, **{c: "categorical" for c in categorical}}
    r = {a["feature"]: a["value"] for a in stats["associations"] if a["measure"] == "pearson"}
    if stats["y_numbers"] is not None and project.kind.numeric_target:
        target, classification = stats["y_numbers"], False
    else:
        target, classification = profile.category_codes(frame[cfg.target])[0].astype(float), True
    found += flags.leakage(
        frame,
        kinds,
        target,
        classification=classification,
        correlations=r,
        seed=cfg.seed,
        codes=stats["codes"],
    )
    return found


def _drift(
    frame: pd.DataFrame, test: pd.DataFrame | None, numeric: list[str], categorical: list[str]
) -> tuple[dict[str, Any], list[flags.Flag]]:
    method = "population stability index over training deciles / categories, from summary statistics of the test side's features only"
    if test is None:
        return {"method": method, "skipped": "this project has no test set"}, []
    bins = drift.reference_bins(frame, numeric, categorical)
    rows = drift.compare_sides(drift.side_summary(frame, bins), drift.side_summary(test, bins))
    found = []
    for row in rows:
        if row["level"] != "stable" or row["missing_shift"]:
            what = f"PSI {row['psi']:.3f} ({row['level']})" + (
                ", missing share {:.1%} vs {:.1%}".format(row["missing_train"], row["missing_test"])
                if row["missing_shift"]
                else ""
            )
            found.append(
                flags.Flag(
                    "drift",
                    row["feature"],
                    f"{row['feature']} differs between the training and test sides: {what}",
                    {"psi": row["psi"]},
                )
            )
    return {"method": method, "test_rows": len(test), "features": rows}, found


def _roles(project: Project) -> list[dict[str, Any]]:
    cfg, schema = project.config, project.schema
    rows: list[dict[str, Any]] = [
        {
            "column": cfg.target if cfg.target is not None else "(none)",
            "role": "target",
            "dtype": schema.target_dtype,
            "n_unique": None,
            "n_missing": None,
            "note": f"{cfg.task}, metric {cfg.metric}",
        }
    ]
    rows += [
        {
            "column": c.name,
            "role": c.role.value,
            "dtype": c.dtype,
            "n_unique": c.n_unique,
            "n_missing": c.n_missing,
            "note": c.note or "",
        }
        for c in schema.columns
    ]
    return rows


def _plots(
    frame: pd.DataFrame, project: Project, stats: dict[str, Any], size_by: str | None, sample: int
) -> tuple[list[Plot], dict[str, Any] | None]:
    from mlcraft.plots import explore as fig
    from mlcraft.plots.base import sample_index

    cfg = project.config
    plots: list[Plot] = list(fig.histograms(stats["histograms"], cfg.target or ""))
    if stats["value_counts"]:
        plots += fig.value_counts(stats["value_counts"])
    for p in (
        fig.missing_values(stats["missing"]),
        fig.target_associations(stats["associations"], cfg.target or ""),
    ):
        if p is not None:
            plots.append(p)
    if (
        stats["matrix"] is not None
        and (p := fig.correlation_matrix(list(stats["matrix"].columns), stats["matrix"].to_numpy()))
        is not None
    ):
        plots.append(p)
    idx = sample_index(len(frame), sample, cfg.seed)
    rows = frame.iloc[idx]
    shade = cfg.target or cfg.labels  # a kind without a target: its known labels, if any
    colour = (
        stats["y_numbers"][idx]
        if stats["y_numbers"] is not None
        else profile.category_codes(rows[shade])[0]
        if shade is not None
        else np.zeros(len(idx))
    )
    cols = {
        c: pd.to_numeric(rows[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        for c in stats["scatter"]
    }
    if stats["y_numbers"] is not None and cols:
        cols[cfg.target] = colour
    p = fig.scatter_matrix(cols, len(idx))
    if p is not None:
        plots.append(p)
    where = _location(frame, stats["numeric"])
    size_col = _size_column(frame, stats["numeric"], size_by)
    geo = None
    if where is not None:
        lon, lat = where
        size = None if size_col is None else rows[size_col].to_numpy(dtype=float, na_value=np.nan)
        plots.insert(
            0,
            fig.geo_map(
                rows[lon].to_numpy(dtype=float),
                rows[lat].to_numpy(dtype=float),
                colour,
                shade or "",
                size,
                size_col,
                len(idx),
            ),
        )
        geo = {"longitude": lon, "latitude": lat, "colour": shade, "size_by": size_col}
    return plots, geo


def _document(
    project: Project,
    frame: pd.DataFrame,
    stats: dict[str, Any],
    found: list[flags.Flag],
    drift_doc: dict[str, Any],
    geo: dict[str, Any] | None,
    sample: int,
) -> dict[str, Any]:
    cfg, schema = project.config, project.schema
    notes = (
        []
        if stats["numeric"]
        else [
            "no numeric feature: no histogram of features, correlation matrix or scatter matrix (value counts and associations are shown)"
        ]
    )
    return {
        "kind": "explore",
        "mlcraft": __version__,
        "created": now_iso(),
        "project": str(project.path),
        "dataset": cfg.dataset,
        "source": cfg.source,
        "target": cfg.target,
        "task": cfg.task,
        "objective": objective(
            cfg.objective, cfg.target, cfg.task, len(schema.features), get_kind(cfg.task).goal
        ),
        "scope": (
            f"training rows only ({len(frame):,} rows); the test rows were not read. The drift check compares "
            "summary statistics of the test side's features (counts, missing share, mean, standard deviation, "
            "shares per training decile or category), never its rows or its target."
        ),
        "shape": {"rows": len(frame), "columns": frame.shape[1], "features": len(schema.features)},
        "roles": _roles(project),
        "missing": stats["missing"],
        "describe": stats["describe"],
        "value_counts": stats["value_counts"],
        "associations": stats["associations"],
        "correlation": None
        if stats["matrix"] is None
        else {
            "columns": list(stats["matrix"].columns),
            "matrix": stats["matrix"].to_numpy().tolist(),
        },
        "scatter_columns": stats["scatter"],
        "map": geo,
        "flags": [f.to_dict() for f in found],
        "drift": drift_doc,
        "plot_sample": {"rows": min(sample, len(frame)), "of": len(frame)},
        "notes": notes,
    }


def _extras(project: Project, frame: pd.DataFrame) -> dict[str, Any] | None:
    """The kind's own section (a forecast's series), with the notes of loading the dataset."""
    from mlcraft import atomic

    path = project.workspace.data_dir / f"{project.config.dataset}.json"
    notes = (atomic.read_json(path).get("notes") or []) if path.exists() else []
    return project.kind.explore_extras(frame, project.config, list(notes))


def _extras_figures(extras: dict[str, Any], target: str) -> list[Plot]:
    from mlcraft.plots import explore as fig

    draw = fig.EXTRAS_FIGURES.get(str(extras.get("section")))
    return [] if draw is None else draw(extras, target)


def run_explore(
    project: Project, *, size_by: str | None = None, plot_sample: int | None = None
) -> ExploreResult:
    """Explore the training rows; write ``reports/explore/`` (HTML, JSON and every figure as PNG).

    Everything is computed and drawn before anything is written.
    """
    from mlcraft.reports import write_bundle

    sample = PLOT_SAMPLE if plot_sample is None else plot_sample
    if sample < 100:
        raise ConfigError(f"--plot-sample {sample}: draw at least 100 rows for the scatter plots")
    frame, test = split_sides(project)
    drift_doc, drift_flags = _drift(frame, test, project.schema.numeric, project.schema.categorical)
    del test  # only its summary statistics were kept
    stats = _statistics(frame, project)
    found = _flags(frame, project, stats)
    plots, geo = _plots(frame, project, stats, size_by, sample)
    extras = _extras(project, frame)
    if extras is not None:
        plots += _extras_figures(extras, project.config.target or "")
    doc = _document(project, frame, stats, found + drift_flags, drift_doc, geo, sample)
    doc["extras"] = extras
    html, written = write_bundle(explore_dir(project), "explore", "explore.html.j2", doc, plots)
    return ExploreResult(html, written, [p.file for p in plots])
