"""Evaluate once on the test set, with a 95% confidence interval; every look is recorded."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlcraft import atomic
from mlcraft.core.analysis.evaluate import score_with_interval
from mlcraft.core.analysis.metrics import Scorer, get_metric
from mlcraft.workspace import now_iso

if TYPE_CHECKING:
    from mlcraft.api.project import Project

__all__ = ["Evaluation", "evaluate", "test_looks"]


@dataclass(frozen=True)
class Evaluation:
    """One look at the test set: a model's score there, with its 95% confidence interval.

    :meth:`to_dict` is the record written to ``evaluations/<at>-v<version>.json`` (the one
    ``mlcraft report`` reads back); ``evaluations/looks.jsonl`` keeps ``version``, ``at``, ``metric``
    and ``value`` of each look.

    Attributes
    ----------
    metric : the project's metric (e.g. ``"rmse"``, ``"roc_auc"``).
    value : the score on the test rows.
    ci_low, ci_high : the ends of the confidence interval (also :attr:`interval`).
    confidence : the level of the interval (0.95).
    ci_method : how the interval was computed (``"t-interval"`` or ``"bootstrap (N resamples)"``).
    n : the rows scored.
    version : the model version evaluated.
    family : its model family (e.g. ``"ridge"``).
    cv_mean : its cross-validated score, to compare with the test score.
    test_rows : the rows in the test set.
    at : when the look happened (ISO date-time, UTC).
    warning : set when the test set had been looked at before (data snooping), else None.
    looks_before : earlier looks at the test set, of any version.
    against_labels : a kind without a target trained with ``--labels``: the test rows' answers
        scored against those labels (e.g. ``{"adjusted_rand": ...}``), else None.
    details : what the kind adds (``ProblemKind.test_details``): a forecast's error per series,
        and its prediction intervals' coverage and weighted quantile loss; else None.
    """

    metric: str
    value: float
    ci_low: float
    ci_high: float
    confidence: float
    ci_method: str
    n: int
    version: int
    family: str | None
    cv_mean: float | None
    test_rows: int
    at: str
    warning: str | None
    looks_before: int
    against_labels: dict[str, float] | None = None
    details: dict[str, Any] | None = None

    @property
    def interval(self) -> tuple[float, float]:
        """``(ci_low, ci_high)``."""
        return self.ci_low, self.ci_high

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able record, keys in the order above (as stored on disk)."""
        return asdict(self)


def test_looks(project: Project) -> list[dict[str, Any]]:
    """Every earlier look at the test set (append-only record)."""
    return atomic.read_jsonl(project.workspace.evaluations_dir / "looks.jsonl")


def training_rows(project: Project, schema) -> tuple[pd.Series, pd.DataFrame]:
    """The training rows' target and features (what a kind's test target may be measured from)."""
    train = project.training_frame()
    features, _ = schema.coerce(train, where="training data")
    target = project.config.target
    return pd.Series(schema.coerce_target(train[target], True), name=target), features


def evaluate(project: Project, *, version: int | None = None) -> Evaluation:
    """Score ``version`` (the champion by default) on the test set; record the look and the score."""
    cfg = project.config
    version = project.registry.require_champion() if version is None else version
    model = project.load_model(version)
    test = project.test_frame()
    features, _ = model.schema.coerce(test, where="test set")
    if model.kind.needs_target:
        y = model.schema.coerce_target(test[cfg.target], model.kind.numeric_target)
        y = model.kind.test_target(
            pd.Series(y, name=cfg.target),
            features,
            lambda: training_rows(project, model.schema),
            model.kind.family_options(cfg),
        )
    else:  # judged in the reference space of the training rows, as in the search
        train, _ = model.schema.coerce(project.training_frame(), where="training data")
        known = None if cfg.labels is None else test[cfg.labels].reset_index(drop=True)
        y = model.kind.judged_on(
            model.kind.reference(model.schema, train).coordinates(features), known
        )
    pred = model.predict_raw(features)
    against = None
    if not model.kind.needs_target and cfg.labels is not None:
        against = model.kind.known_scores(pred, test[cfg.labels].reset_index(drop=True)) or None
    scorer = Scorer(
        get_metric(cfg.metric, cfg.task),
        classes=model.classes,
        positive_class=model.positive_class,
        threshold=model.threshold if model.threshold is not None else 0.5,
    )
    options = model.kind.family_options(cfg)
    interval = score_with_interval(
        scorer,
        y.to_numpy() if hasattr(y, "to_numpy") else y,
        pred,
        seed=cfg.seed,
        groups=model.kind.resampling_groups(features, options),
    )
    details = model.kind.test_details(y, pred, features, options, model.metadata)
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
    result = Evaluation(
        metric=interval.metric,
        value=interval.value,
        ci_low=interval.low,
        ci_high=interval.high,
        confidence=interval.confidence,
        ci_method=interval.method,
        n=interval.n,
        version=version,
        family=meta.get("family"),
        cv_mean=meta.get("cv_mean"),
        test_rows=len(test),
        at=now_iso(),
        warning=warning,
        looks_before=len(earlier),
        against_labels=against,
        details=details,
    )
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
    atomic.write_json(
        evaluations / f"{result.at.replace(':', '')}-v{version}.json", result.to_dict()
    )
    with project.workspace.lock():
        atomic.append_jsonl(
            evaluations / "looks.jsonl",
            {"version": version, "at": result.at, "metric": cfg.metric, "value": interval.value},
        )
    return result
