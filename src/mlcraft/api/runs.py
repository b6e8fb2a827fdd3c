"""Reading a training run's files (``runs/<id>/``) tolerantly: the leaderboard, the per-fold scores,
the out-of-fold predictions and the chosen model.

Later runs may add models (tuned trials, ensembles) and columns; this reader relies only on
``oof.parquet`` holding ``row``, ``fold``, the target and, per model, either a column named like
the model (regression) or ``<model>:proba_<class>`` columns (classification).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlcraft import atomic
from mlcraft.exceptions import ConfigError, NotFittedError, ProjectError

if TYPE_CHECKING:
    from mlcraft.api.project import Project

__all__ = ["RunFiles", "open_run", "champion_run"]

PROBA = ":proba_"
_RESERVED = ("row", "fold")


@dataclass
class RunFiles:
    """The files of one training run."""

    run_id: str
    path: Path
    target: str | None

    def _read(self, name: str) -> Path:
        path = self.path / name
        if not path.exists():
            raise ProjectError(
                f"run {self.run_id}: {name} is missing; re-train with `mlcraft train --project {self.path.parent.parent}`"
            )
        return path

    def chosen(self) -> dict[str, Any]:
        return atomic.read_json(self._read("chosen.json"))

    def leaderboard(self) -> pd.DataFrame:
        return pd.read_csv(self._read("leaderboard.csv"))

    def board_rows(self) -> list[dict[str, Any]]:
        """Leaderboard rows as dicts (``params`` decoded when a later run stores them)."""
        path = self.path / "leaderboard.json"
        rows = (
            atomic.read_json(path)["rows"]
            if path.exists()
            else self.leaderboard().to_dict(orient="records")
        )
        for row in rows:
            if isinstance(row.get("params"), str):
                try:
                    row["params"] = json.loads(row["params"])
                except json.JSONDecodeError:
                    row.pop("params")
        return rows

    def cv_scores(self, order: list[str] | None = None) -> tuple[str, dict[str, list[float]]]:
        """The metric's name and each model's per-fold scores (in ``order`` when given)."""
        frame = pd.read_csv(self._read("cv_scores.csv"))
        metric = next(c for c in frame.columns if c not in ("model", "fold"))
        scores = {
            str(m): g.sort_values("fold")[metric].astype(float).tolist()
            for m, g in frame.groupby("model", sort=False)
        }
        if order:
            scores = {m: scores[m] for m in order if m in scores} | {
                m: s for m, s in scores.items() if m not in order
            }
        return metric, scores

    def streamed_notes(self) -> list[str]:
        """What a run on data larger than memory said about what it streamed (else nothing)."""
        path = self.path / "streamed.json"
        return list(atomic.read_json(path).get("notes", [])) if path.exists() else []

    def oof(self) -> pd.DataFrame:
        return pd.read_parquet(self._read("oof.parquet"))

    def models(self, oof: pd.DataFrame) -> list[str]:
        """Model names that have out-of-fold predictions, in column order."""
        names: list[str] = []
        for col in map(str, oof.columns):
            if col in _RESERVED or col == self.target or col.startswith("__"):
                # the run's own columns, and what a kind scores with (a forecast's __scale__)
                continue
            name = col.split(PROBA, 1)[0] if PROBA in col else col
            if name not in names:
                names.append(name)
        return names

    def predictions(self, oof: pd.DataFrame, model: str) -> tuple[np.ndarray, list[str] | None]:
        """A model's out-of-fold values (regression) or class probabilities and the class labels."""
        if model in oof.columns:
            return oof[model].to_numpy(dtype=float), None
        prefix = model + PROBA
        cols = [c for c in map(str, oof.columns) if c.startswith(prefix)]
        if not cols:
            known = ", ".join(self.models(oof)) or "none"
            raise ConfigError(
                f"run {self.run_id} has no out-of-fold predictions for model {model!r}; choose one of: {known}"
            )
        return oof[cols].to_numpy(dtype=float), [c[len(prefix) :] for c in cols]


def open_run(project: Project, run_id: str) -> RunFiles:
    path = project.workspace.run_dir(run_id)
    if not path.is_dir():
        known = ", ".join(project.workspace.run_ids()) or "none"
        raise ProjectError(f"{project.path}: no run {run_id!r} (runs: {known})")
    return RunFiles(run_id, path, project.config.target)


def champion_run(
    project: Project, version: int | None = None
) -> tuple[int, dict[str, Any], RunFiles]:
    """The model version (the champion by default), its metadata, and the run that trained it."""
    registry = project.registry
    if version is None:
        version = registry.champion()
        if version is None:
            raise NotFittedError(
                f"{project.path}: no trained model yet; run `mlcraft train --project {project.path}` first"
            )
    meta = registry.meta(version)
    run_id = meta.get("run_id")
    if run_id is None:
        raise ProjectError(
            f"model version {version} does not name the run that trained it; re-train with `mlcraft train --project {project.path}`"
        )
    return version, meta, open_run(project, run_id)
