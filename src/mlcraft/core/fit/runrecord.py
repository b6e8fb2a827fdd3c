"""What a training run leaves in ``runs/<id>/``: leaderboard, trials, fold scores, out-of-fold
predictions, the chosen model (enough to rebuild it: ``mlcraft train --replay``), pipeline, log."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlcraft import atomic, jsonsafe
from mlcraft.core.fit.baseline import describe as describe_baseline
from mlcraft.core.fit.events import Callback
from mlcraft.core.fit.search import CVResult
from mlcraft.core.predict.pipeline import proba_column
from mlcraft.exceptions import ProjectError

__all__ = ["RunLog", "ChosenModel", "write_run", "read_chosen", "describe", "OOF_KEEP"]

OOF_KEEP = 30  # out-of-fold predictions kept: the best trials, plus every ensemble member


class RunLog(Callback):
    """Writes what happens to the run's log file."""

    def __init__(self, path: Path):
        self.fh = open(path, "a", encoding="utf-8")
        self.start = time.perf_counter()

    def line(self, text: str) -> None:
        self.fh.write(f"{time.perf_counter() - self.start:8.2f}s  {text}\n")
        self.fh.flush()

    def on_train_start(self, info):
        self.line("start " + info.text())

    def on_candidate_start(self, name, estimated_seconds):
        self.line(f"{name}: cross-validating (estimated {estimated_seconds:.1f}s per fold)")

    def on_candidate_end(self, result):
        if result.ok:
            self.line(
                f"{result.name}: {result.mean:.6g} ± {result.std:.3g} (fit {result.fit_time:.2f}s per fold) {jsonsafe.dumps(result.params)}"
            )
        else:
            self.line(f"{result.name}: {result.status}: {result.note}")
            if result.traceback:
                self.fh.write(result.traceback)

    def on_note(self, note):
        self.line(f"note: {note.text}")

    def on_progress(self, info):
        self.line("progress " + info.text())

    def on_refit_start(self, name):
        self.line(f"refitting {name} on all training rows")

    def on_train_end(self, summary):
        self.line("end " + summary.text())

    def close(self):
        self.fh.close()


def _trials_frame(results: Sequence[CVResult], metric: str) -> pd.DataFrame:
    rows = []
    for i, r in enumerate(results):
        rows.append(
            {
                "trial": i,
                "model": r.name,
                "family": r.family,
                "status": str(r.status),
                f"{metric}_mean": r.mean,
                "folds_done": len(r.scores),
                "fit_time_s": r.fit_time,
                "params": jsonsafe.dumps(r.params),
                "note": r.note or "",
            }
        )
    return pd.DataFrame(rows)


def _oof_frame(data, keep: Sequence[CVResult], target: str | None) -> pd.DataFrame:
    fold_of = np.full(len(data.y), -1, dtype=int)  # -1: in no fold (a forecast's oldest rows)
    for i, (_, va) in enumerate(data.folds):
        fold_of[va] = i
    oof: dict[str, Any] = {"row": data.rows, "fold": fold_of}
    if target is not None and isinstance(data.y, pd.DataFrame):  # the value, then what the
        oof.update({str(c): data.y[c].to_numpy() for c in data.y.columns})  # kind scores with
    elif target is not None:  # a kind without a target is judged in a space rebuilt from the rows
        oof[target] = data.y.to_numpy()
    for r in keep:
        assert r.oof is not None  # the kept results are the scored ones
        if r.oof.ndim == 1:
            oof[r.name] = r.oof
        else:
            # class probabilities, or the columns of a kind's raw output (anomaly: score, flag)
            for j, cls in enumerate(data.classes or range(r.oof.shape[1])):
                oof[f"{r.name}:{proba_column(cls)}"] = r.oof[:, j]
    return pd.DataFrame(oof)


@dataclass
class ChosenModel:
    """The model a run saved, with what rebuilds it exactly (its ``chosen.json``).

    ``members`` holds one record per member: ``name``, ``form`` ("refit" on all rows, or "bag": the
    CV's fold models), ``family``, ``params``, ``max_rows``, and what each fit's deadline cut
    (``truncated``, or ``fold_truncations`` per fold for a bagged member).
    """

    model: str
    family: str
    params: dict[str, Any]
    cv_mean: float
    cv_std: float
    members: list[dict[str, Any]] = field(default_factory=list)
    refit_seconds: float | None = None
    replay_of: str | None = None

    def to_dict(self) -> dict[str, Any]:
        doc = {
            "model": self.model,
            "family": self.family,
            "params": self.params,
            "cv_mean": self.cv_mean,
            "cv_std": self.cv_std,
            "members": self.members,
            "refit_seconds": self.refit_seconds,
        }
        if self.replay_of is not None:
            doc["replay_of"] = self.replay_of
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ChosenModel:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in names})


def write_run(
    run_dir: Path,
    data,
    results: Sequence[CVResult],
    ensembles: Sequence[CVResult],
    board: pd.DataFrame,
    chosen: ChosenModel,
    pipeline: Any,
    target: str | None,
    blend: Any = None,
    *,
    baseline: CVResult | None = None,
) -> None:
    """Write the run's records (the directory itself is atomic: it appears whole or not at all).

    ``baseline`` (the naive reference row, :mod:`mlcraft.core.fit.baseline`) gets its fold scores and
    out-of-fold predictions saved like a trial's, but it is not a trial (not in ``trials.csv``).
    """
    scorer = data.scorer
    board.to_csv(run_dir / "leaderboard.csv", index=False)
    doc: dict[str, Any] = {
        "metric": scorer.name,
        "greater_is_better": scorer.metric.greater_is_better,
        "rows": board.to_dict(orient="records"),
    }
    if baseline is not None:
        doc["baseline"] = describe_baseline(baseline)
    atomic.write_json(run_dir / "leaderboard.json", doc)
    _trials_frame(results, scorer.name).to_csv(run_dir / "trials.csv", index=False)
    reference = [baseline] if baseline is not None and baseline.ok else []
    everything = [*results, *ensembles, *reference]
    rows = [
        {"model": r.name, "fold": i, scorer.name: s}
        for r in everything
        if r.ok
        for i, s in enumerate(r.scores)
    ]
    pd.DataFrame(rows).to_csv(run_dir / "cv_scores.csv", index=False)
    ranked = sorted(
        (r for r in results if r.ok and r.oof is not None), key=lambda r: -scorer.sign * r.mean
    )
    members = {m["name"] for m in chosen.members}
    keep = (
        ranked[:OOF_KEEP]
        + [r for r in ranked[OOF_KEEP:] if r.name in members]
        + [e for e in ensembles if e.ok]
        + reference
    )
    _oof_frame(data, keep, target).to_parquet(run_dir / "oof.parquet", index=False)
    atomic.write_json(run_dir / "chosen.json", chosen.to_dict())
    if blend is not None:
        import joblib

        joblib.dump(blend, run_dir / "blend.joblib")
    (run_dir / "pipeline.txt").write_text(describe(pipeline) + "\n", encoding="utf-8")


def describe(estimator: Any) -> str:
    """The fitted model as text: the pipeline, or an ensemble's summary and each member's pipeline."""
    members = getattr(estimator, "members", None)
    if not members:
        return str(estimator)
    lines = [repr(estimator)]
    for name, member in zip(estimator.names or [], members):
        inner = getattr(member, "members", None)
        lines.append(
            f"\n# {name}"
            + (f" (k-fold bagging: {len(inner)} fold models, the first shown)" if inner else "")
        )
        lines.append(str(inner[0] if inner else member))
    return "\n".join(lines)


def read_chosen(run_dir: Path) -> tuple[ChosenModel, Any]:
    """The chosen model of a past run (and its blend, for an ensemble), to rebuild it."""
    path = run_dir / "chosen.json"
    if not path.exists():
        raise ProjectError(
            f"{run_dir}: no such training run (or it has no chosen.json); see the runs/ directory for run ids"
        )
    chosen = atomic.read_json(path)
    if "members" not in chosen:
        raise ProjectError(
            f"{run_dir}: this run was recorded by an older mlcraft and cannot be replayed"
        )
    blend = None
    if (run_dir / "blend.joblib").exists():
        import joblib

        blend = joblib.load(run_dir / "blend.joblib")
    return ChosenModel.from_dict(chosen), blend
