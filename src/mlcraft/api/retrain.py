"""Retrain with a gate: new data, a challenger trained the same way, promoted only if not worse.

1. The new rows are appended to the current dataset as a new dataset version. The stable split
   keeps every old row on its side; a new row goes to the test set by a hash of its identifier (with
   an id column) or of its feature values (without one), with the project's test share.
2. A challenger is trained with the project's settings in a staging copy of the project.
3. Champion and challenger are scored on the same updated test set, each with its 95% interval,
   and compared with a paired bootstrap of the difference.
4. The challenger is promoted unless it is worse beyond the noise (the whole interval of the
   improvement is below zero); otherwise the champion stays and the reason is recorded.
The final step runs under the project lock: a rollback made while the challenger trained is seen,
and the decision is re-made against the champion of that moment.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlcraft import atomic
from mlcraft.api.evaluate import training_rows
from mlcraft.config import resolve_budget
from mlcraft.core.analysis.evaluate import paired_difference, score_with_interval
from mlcraft.core.analysis.metrics import Scorer, get_metric
from mlcraft.core.data import load as data_mod
from mlcraft.core.data.schema import refresh_schema
from mlcraft.core.data.split import hash_fraction, row_fraction
from mlcraft.exceptions import ConfigError, DataError, ProjectError
from mlcraft.tasks import get_kind
from mlcraft.workspace import STALE_AFTER_S, now_iso

if TYPE_CHECKING:
    from mlcraft.api.project import Project

__all__ = ["retrain", "RetrainResult", "GateDecision", "STAGING_DIR"]

STAGING_DIR = ".staging"  # DIR/.staging/.tmp-<token>/: a retrain's private copy of the project


@dataclass
class GateDecision:
    """Champion against challenger on the same test rows."""

    promote: bool
    reason: str
    metric: str
    champion: dict[str, Any]
    challenger: dict[str, Any]
    improvement: dict[str, Any]  # challenger minus champion, positive = better, with its interval
    test_rows: int
    dataset: str

    @property
    def summary(self) -> str:
        return ("promoted: " if self.promote else "kept the champion: ") + self.reason

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "summary": self.summary}


@dataclass
class RetrainResult:
    dataset: str
    previous_dataset: str
    added_rows: int
    added_test_rows: int
    champion_before: int
    champion_after: int
    challenger_version: int | None  # None for a dry run
    decision: GateDecision
    dry_run: bool
    run_id: str
    notes: list[str] = field(default_factory=list)


@dataclass
class _NewData:
    frame: pd.DataFrame
    is_test: np.ndarray
    digest: str
    added: int
    added_test: int
    notes: list[str]


def retrain(
    project: Project,
    data: str | os.PathLike[str] | pd.DataFrame,
    *,
    dry_run: bool = False,
    time_limit: float | None = None,
    max_trials: int | None = None,
    n_jobs: int | None = None,
    families: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    encoding: str | None = None,
    callbacks: Iterable[Any] = (),
) -> RetrainResult:
    """Add ``data``, train a challenger, and promote it only if it is not worse than the champion.

    Parameters
    ----------
    data : path or DataFrame
        New labelled rows with the project's columns.
    dry_run : bool
        Train and compare, but change nothing in the project (no data version, no model version).
    time_limit, max_trials : optional
        Override the project's training budget (default: the project's settings, as the champion had).
    """
    from mlcraft.api.train import _user

    if not project.kind.needs_target:
        raise ConfigError(
            f"retrain compares a challenger with the champion on labelled rows; a {project.kind.name} project has none yet: "
            "train a new project on the combined data"
        )

    start_dataset = project.config.dataset
    champion_before = project.registry.require_champion()
    new = _combine(project, data, encoding)
    atomic.remove_stale_temporaries(
        project.path / STAGING_DIR, older_than=STALE_AFTER_S
    )  # left by a crash
    staging = project.path / STAGING_DIR / (atomic.TMP_PREFIX + secrets.token_hex(4))
    try:
        stage = _stage(project, new, staging)
        time_limit, max_trials = resolve_budget(time_limit, max_trials, project.config)
        trained = stage.train(
            time_limit=time_limit,
            max_trials=max_trials,
            n_jobs=n_jobs,
            families=families,
            exclude=exclude,
            callbacks=callbacks,
        )
        challenger_version, threshold_note = _carry_threshold(
            project, stage, champion_before, trained.version
        )
        challenger = stage.registry.load(challenger_version)
        meta = {
            k: v
            for k, v in stage.registry.meta(challenger_version).items()
            if k not in ("version", "sha256", "derived_from")
        }
        test = _test_rows(project, new)
        decision = _gate(
            project, champion_before, challenger, test, new.digest, _history(project, new)
        )
        if dry_run:
            return RetrainResult(
                new.digest,
                start_dataset,
                new.added,
                new.added_test,
                champion_before,
                champion_before,
                None,
                decision,
                True,
                trained.run_id,
                new.notes + threshold_note,
            )
        with project.workspace.lock():
            project.reload()
            if project.config.dataset != start_dataset:
                raise ProjectError(
                    f"{project.path}: another command changed the dataset while this retrain ran (now {project.config.dataset}); run the retrain again"
                )
            current = project.registry.require_champion()
            notes = list(new.notes) + threshold_note
            if current != champion_before:
                notes.append(
                    f"the champion changed while the challenger trained (version {champion_before} -> {current}); the decision was made again against version {current}"
                )
                decision = _gate(
                    project, current, challenger, test, new.digest, _history(project, new)
                )
            _adopt_dataset(project, stage, new)
            _copy_run(stage, project, trained.run_id)
            version = project.registry.register(
                challenger,
                {
                    **meta,
                    "dataset": new.digest,
                    "gate": decision.to_dict(),
                    "challenger_of": current,
                },
            )
            _record_scores(project, decision, current, version)
            if decision.promote:
                project.registry.promote(
                    version, by=_user(), reason=f"retrain gate: {decision.reason}"
                )
            after = project.registry.require_champion()
        return RetrainResult(
            new.digest,
            start_dataset,
            new.added,
            new.added_test,
            current,
            after,
            version,
            decision,
            False,
            trained.run_id,
            notes,
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _carry_threshold(
    project: Project, stage: Project, champion: int, trained: int
) -> tuple[int, list[str]]:
    """When the champion decides with a threshold chosen for a precision or recall (``mlcraft analyse
    --min-precision``), choose the challenger's own threshold by the same rule on its out-of-fold
    predictions (a threshold value belongs to one model); returns the challenger's version in the stage."""
    rule = project.registry.meta(champion).get("threshold")
    if not rule or not get_kind(project.config.task).has_positive_class:
        return trained, []
    from mlcraft.api.analyse import rechoose_threshold

    version, choice = rechoose_threshold(stage, rule)
    return version, [
        f"the challenger's decision threshold was chosen by the champion's rule: {choice.summary}"
    ]


def _combine(project: Project, data, encoding: str | None) -> _NewData:
    cfg = project.config
    table = data_mod.load_table(data, encoding=encoding)
    frame, notes = table.frame, list(table.notes)
    old = project.dataset()
    data_mod.require_columns(frame, list(old.columns), table.source)
    extra = [c for c in frame.columns if c not in old.columns]
    if extra:
        notes.append(
            f"ignored {len(extra)} column(s) the project does not have: {', '.join(extra[:5])}"
        )
    frame = frame[list(old.columns)]
    data_mod.check_finite(frame, table.source, table.line_of)
    project.schema.coerce(
        frame, where=table.source, line_of=table.line_of
    )  # same types as the project's data
    project.schema.coerce_target(
        frame[cfg.target], get_kind(cfg.task).numeric_target, where=table.source
    )
    known = set(pd.util.hash_pandas_object(old, index=False).to_numpy())
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    fresh = ~pd.Series(hashes).isin(known).to_numpy() & ~pd.Series(hashes).duplicated().to_numpy()
    if (~fresh).any():
        notes.append(
            f"{int((~fresh).sum())} row(s) already in the project's data (or repeated) were skipped"
        )
    frame = frame[fresh].reset_index(drop=True)
    if frame.empty:
        raise DataError(
            f"{table.source}: no new rows (every row is already in the project's data); nothing to retrain on"
        )
    kind = get_kind(cfg.task)
    regrown = kind.regrow(
        pd.concat([old, frame], ignore_index=True),
        str(cfg.target),  # retrain has refused a kind without one
        kind.family_options(cfg),
        where=table.source,
    )  # a kind whose test rows move with the data (a forecast's last horizon)
    if regrown is not None:
        combined, is_test, more = regrown
        return _NewData(
            combined,
            is_test,
            data_mod.frame_hash(combined),
            len(frame),
            int(is_test.sum()),
            notes + more,
        )
    is_test_new = _assign_new_rows(project, frame)
    combined = pd.concat([old, frame], ignore_index=True)
    is_test = np.concatenate([project.workspace.read_split(cfg.dataset), is_test_new])
    return _NewData(
        combined, is_test, data_mod.frame_hash(combined), len(frame), int(is_test_new.sum()), notes
    )


def _assign_new_rows(project: Project, frame: pd.DataFrame) -> np.ndarray:
    """The stable split for new rows: by identifier hash, else by content hash; never for unlabelled rows."""
    cfg = project.config
    if cfg.split_method in ("external", "none") or cfg.test_size == 0:
        return np.zeros(len(frame), dtype=bool)
    if cfg.id_column is not None and cfg.id_column in frame.columns:
        share = hash_fraction(frame[cfg.id_column])
    else:
        share = row_fraction(
            frame.drop(columns=[cfg.target])
        )  # a row's side never depends on its label
    return (share < cfg.test_size) & frame[cfg.target].notna().to_numpy()


def _stage(project: Project, new: _NewData, root: Path) -> Project:
    """A private copy of the project on the new dataset version (its own SQLite registry)."""
    from mlcraft.api.project import Project

    ws = project.workspace
    root.mkdir(parents=True)
    cfg = project.config.replace(dataset=new.digest)
    train_rows = new.frame[~new.is_test & new.frame[cfg.target].notna().to_numpy()]
    ws.store_dataset(
        new.frame, new.digest, {"source": "retrain", "parent": project.config.dataset}, root=root
    )
    ws.write_split(new.digest, new.is_test, root=root)
    ws.write_schema(refresh_schema(project.schema, train_rows), root=root)
    if cfg.test_dataset is not None:
        shutil.copy2(
            ws.data_dir / f"{cfg.test_dataset}.parquet",
            root / "data" / f"{cfg.test_dataset}.parquet",
        )
    ws.write_config(cfg, root=root)
    return Project.open(root, db=str(root / "mlcraft.db"))


def _test_rows(project: Project, new: _NewData) -> pd.DataFrame:
    cfg = project.config
    if cfg.test_dataset is not None:
        frame = project.workspace.load_dataset(cfg.test_dataset)
    else:
        frame = new.frame[new.is_test]
    frame = frame[frame[cfg.target].notna()].reset_index(drop=True)
    if frame.empty:
        raise ConfigError(
            f"{project.path}: this project has no test set, so a challenger cannot be compared; create it with --test-size 0.2"
        )
    return frame


def _history(project: Project, new: _NewData) -> pd.DataFrame:
    """The new dataset version's training rows (what a forecaster forecasts the test rows from)."""
    cfg = project.config
    return new.frame[~new.is_test & new.frame[cfg.target].notna().to_numpy()].reset_index(drop=True)


def _score(
    project: Project, model, test: pd.DataFrame, history: pd.DataFrame | None = None
) -> tuple[Scorer, np.ndarray, np.ndarray]:
    cfg = project.config
    if history is not None:  # both models read the same history (a forecaster's latest rows)
        known, _ = model.schema.coerce(history, where="training rows")
        values = pd.to_numeric(history[cfg.target], errors="coerce").to_numpy(dtype=float)
        model.kind.before_scoring(model.pipeline, known, values)
    features, _ = model.schema.coerce(test, where="test set")
    y = model.schema.coerce_target(test[cfg.target], model.kind.numeric_target)
    y = model.kind.test_target(
        pd.Series(y, name=cfg.target),
        features,
        lambda: training_rows(project, model.schema),
        model.kind.family_options(cfg),
    )
    y = y.to_numpy() if hasattr(y, "to_numpy") else np.asarray(y)
    threshold = model.threshold if model.threshold is not None else 0.5
    scorer = Scorer(
        get_metric(cfg.metric, cfg.task),
        classes=model.classes,
        positive_class=model.positive_class,
        threshold=threshold,
    )
    return scorer, y, model.predict_raw(features)


def _gate(
    project: Project,
    champion_version: int,
    challenger,
    test: pd.DataFrame,
    dataset: str,
    history: pd.DataFrame | None = None,
) -> GateDecision:
    seed = project.config.seed
    champion = project.registry.load(champion_version)
    s_a, y, p_a = _score(project, champion, test, history)
    s_b, _, p_b = _score(project, challenger, test, history)
    a = score_with_interval(s_a, y, p_a, seed=seed)
    b = score_with_interval(s_b, y, p_b, seed=seed)
    diff = paired_difference(s_a, s_b, y, p_a, p_b, seed=seed)
    better = "lower" if not s_a.metric.greater_is_better else "higher"
    detail = (
        f"test {a.metric} {b.value:.6g} (95% CI {b.low:.6g} to {b.high:.6g}) vs champion version {champion_version} "
        f"{a.value:.6g} ({a.low:.6g} to {a.high:.6g}); improvement {diff.value:+.6g} (95% CI {diff.low:+.6g} to {diff.high:+.6g}, {better} is better) on {len(y)} test rows"
    )
    promote = diff.high >= 0.0
    reason = (
        "challenger is not worse beyond the noise: "
        if promote
        else "challenger is worse beyond the noise: "
    ) + detail
    return GateDecision(
        promote=promote,
        reason=reason,
        metric=a.metric,
        champion={"version": champion_version, **a.to_dict()},
        challenger=b.to_dict(),
        improvement=diff.to_dict(),
        test_rows=len(y),
        dataset=dataset,
    )


def _adopt_dataset(project: Project, stage: Project, new: _NewData) -> None:
    """Make the new dataset version the project's (the config is written last: the commit point)."""
    ws = project.workspace
    ws.store_dataset(
        new.frame,
        new.digest,
        {
            "source": "retrain",
            "parent": project.config.dataset,
            "added_rows": new.added,
            "at": now_iso(),
        },
    )
    ws.write_split(new.digest, new.is_test)
    ws.write_schema(stage.schema)
    ws.write_config(project.config.replace(dataset=new.digest))
    project.reload()


def _copy_run(stage: Project, project: Project, run_id: str) -> None:
    source = stage.workspace.run_dir(run_id)
    with atomic.atomic_dir(project.workspace.run_dir(run_id)) as tmp:
        shutil.copytree(source, tmp, dirs_exist_ok=True)


def _record_scores(
    project: Project, decision: GateDecision, champion: int, challenger: int
) -> None:
    for version, score in ((champion, decision.champion), (challenger, decision.challenger)):
        project.registry.record_test_score(
            version,
            metric=score["metric"],
            value=score["value"],
            ci_low=score["ci_low"],
            ci_high=score["ci_high"],
            n=score["n"],
            dataset=decision.dataset,
        )
