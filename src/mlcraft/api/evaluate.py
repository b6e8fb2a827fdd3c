"""Evaluate once on the test set, with a 95% confidence interval; every look is recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlcraft import atomic
from mlcraft.core.analysis.evaluate import score_with_interval
from mlcraft.core.analysis.metrics import Scorer, get_metric
from mlcraft.workspace import now_iso

if TYPE_CHECKING:
    from mlcraft.api.project import Project

__all__ = ["evaluate", "test_looks"]


def test_looks(project: Project) -> list[dict[str, Any]]:
    """Every earlier look at the test set (append-only record)."""
    return atomic.read_jsonl(project.workspace.evaluations_dir / "looks.jsonl")


def evaluate(project: Project, *, version: int | None = None) -> dict[str, Any]:
    cfg = project.config
    version = project.registry.require_champion() if version is None else version
    model = project.load_model(version)
    test = project.test_frame()
    features, _ = model.schema.coerce(test, where="test set")
    y = model.schema.coerce_target(test[cfg.target], model.kind.numeric_target)
    pred = model.predict_raw(features)
    scorer = Scorer(
        get_metric(cfg.metric, cfg.task),
        classes=model.classes,
        positive_class=model.positive_class,
        threshold=model.threshold if model.threshold is not None else 0.5,
    )
    interval = score_with_interval(
        scorer, y.to_numpy() if hasattr(y, "to_numpy") else y, pred, seed=cfg.seed
    )
    earlier = test_looks(project)
    warning = None
    other = [look for look in earlier if look["version"] != version]
    if other:
        first = other[0]
        warning = (
            f"the test set was already looked at ({first['at']}, model version {first['version']}); "
            "choosing a model after looking at its test score makes that score optimistic (data snooping)"
        )
    elif earlier:
        warning = f"model version {version} was already evaluated on this test set ({earlier[0]['at']}); the score is unchanged"
    meta = project.registry.meta(version)
    record = {
        **interval.to_dict(),
        "version": version,
        "family": meta.get("family"),
        "cv_mean": meta.get("cv_mean"),
        "test_rows": len(test),
        "at": now_iso(),
        "warning": warning,
        "looks_before": len(earlier),
    }
    project.registry.record_test_score(
        version,
        metric=interval.metric,
        value=interval.value,
        ci_low=interval.low,
        ci_high=interval.high,
        n=interval.n,
        dataset=cfg.test_dataset or cfg.dataset,
    )
    evaluations = project.workspace.evaluations_dir
    atomic.write_json(evaluations / f"{record['at'].replace(':', '')}-v{version}.json", record)
    with project.workspace.lock():
        atomic.append_jsonl(
            evaluations / "looks.jsonl",
            {"version": version, "at": record["at"], "metric": cfg.metric, "value": interval.value},
        )
    return record
