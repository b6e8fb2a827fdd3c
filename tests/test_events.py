"""Typed records of a run: trial status, a trial's stage, notes and the hooks' payloads."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge

from mlcraft.core.analysis.metrics import Scorer, get_metric
from mlcraft.core.data.split import cv_folds
from mlcraft.core.fit.events import (
    Callback,
    Note,
    NoteKind,
    Progress,
    ReplayEnd,
    ReplayStart,
    SearchEnd,
    SearchStart,
    TuneEnd,
    TuneStart,
)
from mlcraft.core.fit.family import Float
from mlcraft.core.fit.runrecord import RunLog
from mlcraft.core.fit.scheduler import FoldPool
from mlcraft.core.fit.search import Budget, Candidate, CVResult, leaderboard_frame
from mlcraft.core.fit.status import Stage, TrialStatus
from mlcraft.core.fit.tuning import FamilySpec, Search


class Recorder(Callback):
    def __init__(self):
        self.notes, self.ended, self.progress = [], [], []

    def on_note(self, note):
        self.notes.append(note)

    def on_candidate_end(self, result):
        self.ended.append(result)

    def on_progress(self, info):
        self.progress.append(info)


def ridge_spec(name="ridge", portfolio=({"alpha": 10.0}, {"alpha": 100.0}), cost=0.01):
    def make(trial_name, params):
        return Candidate(trial_name, name, dict(params), lambda: Ridge(alpha=params["alpha"]), cost)

    return FamilySpec(
        name, {"alpha": Float(1e-3, 1e3, 1.0, log=True)}, [{"alpha": 1.0}, *portfolio], make, cost
    )


def problem(n=120):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=list("abc"))
    y = pd.Series(X.to_numpy() @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=0.5, size=n))
    return X, y, cv_folds(y, classification=False, n_folds=3, seed=0)


def test_a_status_is_an_enum_that_keeps_its_string():
    assert (
        TrialStatus.OK == "ok"
        and f"{TrialStatus.TIMEOUT}" == "timeout"
        and json.dumps(TrialStatus.PRUNED) == '"pruned"'
    )
    old = CVResult(
        "a", "a", {}, status="skipped", note="read back from a run file"
    )  # a string becomes the member
    assert old.status is TrialStatus.SKIPPED and not old.ok and not old.status.ran
    scorer = Scorer(get_metric("rmse"))
    board = leaderboard_frame([CVResult("b", "b", {}, [1.0]), old], scorer)
    assert board["status"].tolist() == ["ok", "skipped"] and all(
        type(s) is str for s in board["status"]
    )


def test_each_trial_says_which_stage_proposed_it():
    X, y, folds = problem()
    with FoldPool(X, y, folds, Scorer(get_metric("rmse")), task="regression", n_jobs=1) as pool:
        results = Search([ridge_spec()], pool, Budget(max_trials=7), seed=0).run()
    stages = [(r.name, r.stage) for r in results]
    assert stages[:3] == [
        ("ridge", Stage.SHORTLIST),
        ("ridge#2", Stage.PORTFOLIO),
        ("ridge#3", Stage.PORTFOLIO),
    ]
    assert [s for _, s in stages[3:]] == [Stage.TUNING] * 4
    assert results[1].params == {"alpha": 10.0} and results[2].params == {"alpha": 100.0}


def test_a_skipped_family_is_a_skipped_result_and_a_skipped_note():
    X, y, folds = problem()
    events = Recorder()
    specs = [ridge_spec(), ridge_spec("huge", (), cost=10_000.0)]
    with FoldPool(X, y, folds, Scorer(get_metric("rmse")), task="regression", n_jobs=1) as pool:
        results = Search(
            specs, pool, Budget(time_limit=30, max_trials=4), seed=0, callback=events
        ).run()
    huge = next(r for r in results if r.name == "huge")
    assert (
        huge.status is TrialStatus.SKIPPED
        and huge.stage is Stage.SHORTLIST
        and "left in the time limit" in huge.note
    )
    assert events.notes == [Note(f"huge: {huge.note}", NoteKind.SKIPPED)]
    assert all(isinstance(p, Progress) for p in events.progress) and events.progress[
        -1
    ].trials == sum(r.status.ran for r in results)


def test_the_run_log_writes_the_records_as_it_wrote_the_dicts(tmp_path):
    log = RunLog(tmp_path / "log.txt")
    log.on_train_start(
        SearchStart(
            run="r1", rows=734, folds=5, metric="roc_auc", time_limit=None, max_trials=20, n_jobs=2
        )
    )
    log.on_train_start(ReplayStart(run="r2", replay_of="r1", rows=734, n_jobs=1))
    log.on_train_start(TuneStart(run="r3", tune="ridge", strategy="grid", trials=3, n_jobs=1))
    log.on_progress(
        Progress(
            trials=4, best=0.8433646616541355, best_model="ridge", family="ridge", time_left=12.5
        )
    )
    log.on_note(Note("ridge: skipped: would take ~9s, 2s left in the time limit", NoteKind.SKIPPED))
    log.on_train_end(
        SearchEnd(best="ensemble:caruana", cv=57128.123456, elapsed_s=15.46, peak_memory_mb=303.7)
    )
    log.on_train_end(ReplayEnd(replayed="ensemble:caruana", elapsed_s=0.25))
    log.on_train_end(TuneEnd(best="ridge#3", cv=0.86615914))
    log.close()
    lines = [line.split("s  ", 1)[1] for line in (tmp_path / "log.txt").read_text().splitlines()]
    assert lines == [
        "start run=r1 rows=734 folds=5 metric=roc_auc time_limit=None max_trials=20 n_jobs=2",
        "start run=r2 replay_of=r1 rows=734 n_jobs=1",
        "start run=r3 tune=ridge strategy=grid trials=3 n_jobs=1",
        "progress trials=4 best=0.8433646616541355 best_model=ridge family=ridge time_left=12.5",
        "note: ridge: skipped: would take ~9s, 2s left in the time limit",
        "end best=ensemble:caruana cv=57128.1 elapsed_s=15.5 peak_memory_mb=304",
        "end replayed=ensemble:caruana elapsed_s=0.2",
        "end best=ridge#3 cv=0.866159",
    ]


def test_the_cli_shows_trials_and_notes_by_their_kind_not_their_words():
    from mlcraft.cli.app import console
    from mlcraft.cli.train import RichReport

    report = RichReport(3, "rmse", greater_is_better=False)
    with console.capture() as captured:
        report.on_note(
            Note("ridge: trial limit reached", NoteKind.SKIPPED)
        )  # shown with its result instead
        report.on_note(
            Note("3 row(s) were skipped by the loader", NoteKind.INFO)
        )  # the word alone hides nothing
        report.on_candidate_end(
            CVResult("ridge", "ridge", {}, status=TrialStatus.SKIPPED, note="trial limit reached")
        )
        report.on_candidate_end(
            CVResult(
                "ridge#2",
                "ridge",
                {},
                status=TrialStatus.FAILED,
                note="boom",
                stage=Stage.PORTFOLIO,
            )
        )
        report.on_candidate_end(
            CVResult("lasso#9", "lasso", {}, [3.0, 3.0], stage=Stage.TUNING)
        )  # a new best: shown
        report.on_candidate_end(
            CVResult("lasso#10", "lasso", {}, [4.0, 4.0], stage=Stage.TUNING)
        )  # no gain: not shown
    report.progress.stop()
    out = captured.get()
    assert "trial limit reached" in out.splitlines()[1] and out.count("trial limit reached") == 1
    assert "note: 3 row(s) were skipped by the loader" in out
    assert "ridge#2" not in out and "lasso#9" in out and "new best" in out and "lasso#10" not in out
