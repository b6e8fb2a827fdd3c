"""The report's automatic list of limitations and assumptions, from what the earlier steps found.

Each item is a dict ``{"kind": ..., "text": ...}``: small data, class imbalance, leakage suspects,
drift between the split sides, capped values, the features the model leans on most, a model that
over- or underfits, a wide confidence interval, a missing test evaluation, columns left unused, a champion no better than the naive baseline, and
the assumptions every such solution rests on.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from mlcraft.core.analysis.metrics import get_metric
from mlcraft.core.data.schema import Role
from mlcraft.core.fit.baseline import BASELINE
from mlcraft.core.fit.status import TrialStatus
from mlcraft.formatting import format_number
from mlcraft.tasks import get_kind

if TYPE_CHECKING:
    from mlcraft.api.project import Project

__all__ = [
    "limitations",
    "SMALL_DATA_ROWS",
    "ROWS_PER_FEATURE",
    "DOMINANT_SHARE",
]

SMALL_DATA_ROWS = 1000
ROWS_PER_FEATURE = 20
DOMINANT_SHARE = 0.5  # one feature carrying more than half of the total importance
WIDE_CI = 0.2  # a 95% interval wider than 20% of the score


def _data_items(project: Project, explore: dict[str, Any]) -> list[dict[str, str]]:
    cfg, schema = project.config, project.schema
    items = []
    rows, features = explore["shape"]["rows"], max(len(schema.features), 1)
    if rows < SMALL_DATA_ROWS:
        items.append(
            {
                "kind": "small data",
                "text": f"only {rows:,} training rows: scores vary from fold to fold and the test interval is wide; more data would make every estimate firmer",
            }
        )
    elif rows / features < ROWS_PER_FEATURE:
        items.append(
            {
                "kind": "small data",
                "text": f"{rows:,} training rows for {features} features: risk of overfitting",
            }
        )
    counts = explore.get("value_counts", {}).get(cfg.target, {}).get("values", [])
    items += get_kind(cfg.task).target_limitations(counts)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for flag in explore["flags"]:
        by_kind.setdefault(flag["kind"], []).append(flag)
    if "leakage" in by_kind:
        names = ", ".join(f["column"] for f in by_kind["leakage"])
        items.append(
            {
                "kind": "leakage suspects",
                "text": f"{names} may leak the target: make sure each is known at prediction time, or drop it",
            }
        )
    if "drift" in by_kind:
        names = ", ".join(f["column"] for f in by_kind["drift"][:5])
        items.append(
            {
                "kind": "drift between split sides",
                "text": f"{names} differ between the training and test sides: the test score may not hold for the training distribution, or the reverse",
            }
        )
    for flag in by_kind.get("capped", []):
        if flag["column"] == cfg.target:
            items.append(
                {
                    "kind": "capped target",
                    "text": f"{cfg.target} is capped at {flag['detail']['value']:,.10g}: the model learns the cap and cannot predict beyond it",
                }
            )
    unused = [c.name for c in schema.columns if c.role in (Role.TEXT, Role.CONSTANT, Role.EMPTY)]
    if unused:
        items.append(
            {
                "kind": "unused columns",
                "text": f"not used by the model: {', '.join(unused[:8])} (free text, constant or empty)",
            }
        )
    return items


def _model_items(
    analysis: dict[str, Any], evaluation: dict[str, Any] | None
) -> list[dict[str, str]]:
    items = []
    importance = (analysis.get("importance") or {}).get("features") or []
    positive = [f for f in importance if f["mean"] > 0]
    if positive:
        total = sum(f["mean"] for f in positive)
        top = ", ".join(f["feature"] for f in positive[:3])
        text = f"the model leans most on {top} (permutation importance)"
        if positive[0]["mean"] > DOMINANT_SHARE * total:
            text += f"; {positive[0]['feature']} alone carries {positive[0]['mean'] / total:.0%} of it, so errors in that column matter most"
        items.append({"kind": "features leaned on", "text": text})
    reading = analysis.get("learning_curve_reading") or {}
    if reading.get("verdict") in ("overfitting", "converged or underfitting", "more data helps"):
        items.append({"kind": "learning curves", "text": reading["text"]})
    if evaluation is None:
        items.append(
            {
                "kind": "no test result",
                "text": "the champion has not been evaluated on the test set: its generalisation error is only estimated by cross-validation",
            }
        )
    else:
        width = evaluation["ci_high"] - evaluation["ci_low"]
        if abs(evaluation["value"]) > 0 and width > WIDE_CI * abs(evaluation["value"]):
            items.append(
                {
                    "kind": "wide interval",
                    "text": f"the 95% interval of the test {evaluation['metric']} is wide ({format_number(evaluation['ci_low'])} to {format_number(evaluation['ci_high'])}): the test set is small for this metric",
                }
            )
        if evaluation.get("warning"):
            items.append({"kind": "test set looked at before", "text": evaluation["warning"]})
    return items


def _assumptions(project: Project) -> list[dict[str, str]]:
    cfg = project.config
    split = (
        "drawn at random"
        if cfg.split_method in ("stratified", "random")
        else "decided by a hash of the identifier"
        if cfg.split_method == "hash" and cfg.id_column is not None
        else "decided by a hash of each row's values"
        if cfg.split_method == "hash"
        else "given"
    )
    items = [
        {
            "kind": "assumption",
            "text": f"future rows come from the same distribution as these (the test set was {split}); a change in the world (drift) needs monitoring and retraining",
        },
        {
            "kind": "assumption",
            "text": "rows are independent: no grouping or time order was taken into account when splitting or cross-validating",
        },
        {
            "kind": "assumption",
            "text": f"the error analysis uses out-of-fold predictions of the training rows ({cfg.n_folds} folds); the test set was used once, by evaluate",
        },
    ]
    return items


def _baseline_item(
    project: Project, board: list[dict[str, Any]], cv_mean: float | None
) -> list[dict[str, str]]:
    """A champion that does not beat the naive baseline (on the same folds) has learnt nothing usable."""
    cfg = project.config
    row = next(
        (
            r
            for r in board
            if r.get("family") == BASELINE and r.get("status", TrialStatus.OK) == TrialStatus.OK
        ),
        None,
    )
    naive = None if row is None else row.get(f"{cfg.metric}_mean")
    if cv_mean is None or naive is None or not (math.isfinite(cv_mean) and math.isfinite(naive)):
        return []
    if get_metric(cfg.metric, cfg.task).sign * (cv_mean - naive) > 0:
        return []
    return [
        {
            "kind": "no better than naive",
            "text": f"the champion's cross-validated {cfg.metric} ({format_number(cv_mean)}) is no better than the naive baseline's ({format_number(naive)}), "
            "which ignores the features: the features may not carry the signal, or the target may need another framing",
        }
    ]


def limitations(
    project: Project,
    explore: dict[str, Any],
    analysis: dict[str, Any],
    evaluation: dict[str, Any] | None,
    board: list[dict[str, Any]],
    cv_mean: float | None = None,
) -> list[dict[str, str]]:
    """Limitations first, then assumptions (``cv_mean``: the champion's, compared with the naive baseline's)."""
    items = (
        _data_items(project, explore)
        + _model_items(analysis, evaluation)
        + _baseline_item(project, board, cv_mean)
    )
    ok = [
        r
        for r in board
        if r.get("status", TrialStatus.OK) == TrialStatus.OK and r.get("family") != BASELINE
    ]  # the naive reference is not a candidate
    if len(ok) < 3:
        items.append(
            {
                "kind": "short leaderboard",
                "text": f"only {len(ok)} model(s) were compared; a longer shortlist might find a better one",
            }
        )
    return items + _assumptions(project)
