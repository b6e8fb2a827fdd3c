"""Stability across resamples as a second criterion of the choice (kinds with a
``stability_measure``: clusterings).

A clustering that scores well on held-out rows may still move with the rows it saw: fitted on two
random halves of the training rows, it groups the rows differently. The book compares clusterings by
internal scores; scikit-learn's user guide and the clustering literature add their stability. Here,
after the search, the best trial of each of the :data:`FINALISTS` best families is fitted on random
halves (``AGREEMENT_REPEATS`` times) and the two fits' answers on every row compared by the kind's
:meth:`~mlcraft.tasks.base.ProblemKind.agreement` (adjusted Rand index). Among the finalists whose
held-out score is within one standard error of the best (the usual one-standard-error rule: the
folds cannot tell them apart), the most stable is chosen; the others keep their rank. The check is
skipped, and said so, when the time left would not cover it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlcraft.core.analysis.learning import AGREEMENT_REPEATS, resample_agreement
from mlcraft.core.analysis.metrics import Scorer
from mlcraft.core.fit.search import CVResult

__all__ = [
    "FINALISTS",
    "StableChoice",
    "finalists",
    "choose_stable",
    "halves_agreement",
    "stability_seconds",
]

FINALISTS = 3  # the best trial of each of this many best families is checked


@dataclass
class StableChoice:
    """What the stability step found: the trial to prefer (None: keep the best score) and notes."""

    prefer: str | None = None
    notes: list[str] = field(default_factory=list)


def finalists(results: Sequence[CVResult], scorer: Scorer, n: int = FINALISTS) -> list[CVResult]:
    """The best successful trial of each of the ``n`` best families, best first."""
    ranked = sorted(
        (r for r in results if r.ok and math.isfinite(r.mean)),
        key=lambda r: (-scorer.sign * r.mean, r.name),
    )
    out: list[CVResult] = []
    for r in ranked:
        if r.family not in {f.family for f in out}:
            out.append(r)
        if len(out) == n:
            break
    return out


def _cost(chosen: Sequence[CVResult]) -> float:
    """Seconds to measure their stability: each repeat fits two halves, about one fold fit's
    time (``fit_time`` is per fold, on most of the rows)."""
    return sum(AGREEMENT_REPEATS * 2 * 0.6 * max(r.fit_time, 0.01) for r in chosen)


def stability_seconds(results: Sequence[CVResult], scorer: Scorer, task: str) -> float:
    """What the search keeps back for the stability step (kinds with a stability measure)."""
    from mlcraft.tasks import get_kind

    if get_kind(task).stability_measure is None:
        return 0.0
    return 1.3 * _cost(finalists(results, scorer))


def _standard_error(result: CVResult) -> float:
    std = result.std
    return 0.0 if not math.isfinite(std) else std / math.sqrt(len(result.scores))


def choose_stable(
    results: Sequence[CVResult],
    scorer: Scorer,
    stability: Callable[[CVResult], float],
    *,
    seconds_left: float | None,
    measure: str,
) -> StableChoice:
    """Measure the finalists' stability (``stability(result)``, e.g. :func:`halves_agreement`;
    stored in each one's ``stability``) and pick among those the folds cannot tell apart from the
    best. ``seconds_left``: the time this step may take (None: no limit)."""
    chosen = finalists(results, scorer)
    if len(chosen) < 2:
        return StableChoice()
    cost = _cost(chosen)
    if seconds_left is not None and cost > seconds_left:
        return StableChoice(
            notes=[
                f"stability across resamples not measured: ~{cost:.0f}s needed, {max(seconds_left, 0):.0f}s left; chosen by the held-out score alone"
            ]
        )
    failed = []
    for r in chosen:
        try:
            r.stability = float(stability(r))
        except Exception as exc:  # a fit on half the rows failed: that model is not preferred
            r.stability = math.nan
            failed.append(f"{r.name}: {type(exc).__name__}")
    best = chosen[0]
    floor = scorer.sign * best.mean - _standard_error(best)
    close = [r for r in chosen if scorer.sign * r.mean >= floor]

    def key(r: CVResult) -> tuple[float, float]:
        value = -math.inf if r.stability is None or math.isnan(r.stability) else r.stability
        return value, scorer.sign * r.mean

    stable = max(close, key=key)
    listed = ", ".join(f"{r.name} {r.stability:.3f}" for r in chosen)
    notes = [f"stability ({measure} between fits on random halves): {listed}"]
    if failed:
        notes.append("stability not measured for " + ", ".join(failed))
    if stable is best or key(stable)[0] <= key(best)[0]:
        return StableChoice(None, notes)
    notes.append(
        f"{stable.name} chosen over {best.name}: its held-out {scorer.name} is within one standard error of the best ({stable.mean:.4g} against {best.mean:.4g}) and it is more stable ({stable.stability:.3f} against {best.stability:.3f})"
    )
    return StableChoice(stable.name, notes)


def halves_agreement(
    build: Callable[[], Any],
    X: Any,
    y: Any,
    agree: Callable[[np.ndarray, np.ndarray], float],
    *,
    task: str,
    classes: Sequence[Any] | None,
    seed: int,
) -> float:
    """The mean agreement between fits of ``build()`` on random halves of the rows (what analyse
    shows too: :func:`~mlcraft.core.analysis.learning.resample_agreement`)."""
    return float(
        resample_agreement(build, X, y, agree, task=task, classes=classes, seed=seed)["mean"]
    )
