"""How a trial ended and where it came from: typed values instead of strings parsed from names.

Both are string-valued (:class:`enum.StrEnum`): a saved leaderboard, ``trials.csv`` and the run
log keep the strings they had ("ok", "skipped", ...), a status read back from an old run file
compares equal to its member, and ``TrialStatus("ok")`` turns such a string into the member.

>>> TrialStatus.OK == "ok", f"{TrialStatus.PRUNED}", TrialStatus("timeout") is TrialStatus.TIMEOUT
(True, 'pruned', True)
>>> Stage.SHORTLIST.value
'shortlist'
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["TrialStatus", "Stage", "BASELINE"]


class TrialStatus(StrEnum):
    """How a cross-validation trial ended."""

    OK = "ok"  # every fold scored
    SKIPPED = "skipped"  # never started: no time or memory for it, or the trial limit was reached
    FAILED = "failed"  # a fit raised, or a fold's score was not finite
    PRUNED = "pruned"  # stopped after some folds: worse than the median of earlier trials
    TIMEOUT = "timeout"  # started, but the time limit ended it before its last fold

    @property
    def ran(self) -> bool:
        """True when the trial used some of the budget (everything but a skip)."""
        return self is not TrialStatus.SKIPPED


class Stage(StrEnum):
    """Which part of the search proposed a trial."""

    SHORTLIST = "shortlist"  # a family's defaults, tried once per family before any tuning
    PORTFOLIO = (
        "portfolio"  # one of the family's known-good configurations, tried after its defaults
    )
    TUNING = "tuning"  # proposed by the sampler (or a grid point of an explicit search)
    ENSEMBLE = "ensemble"  # a blend of trials, built after the search


BASELINE = "baseline"  # the model and family name of the baseline row on a leaderboard
