"""The facade's records are frozen dataclasses whose ``to_dict()`` is what is stored and answered."""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import pandas as pd
import pytest

import mlcraft
from conftest import run_cli
from mlcraft import atomic, jsonsafe
from mlcraft.api.evaluate import Evaluation
from mlcraft.api.feedback import FeedbackSummary
from mlcraft.api.versions import ModelList, Rollback
from mlcraft.monitoring import PredictionLog, RequestRecord


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A tiny regression project with two versions (ridge, then lasso: the champion)."""
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({"key": np.arange(n), "x": rng.normal(size=n)})
    frame["y"] = 2 * frame["x"] + rng.normal(scale=0.1, size=n)
    project = mlcraft.Project.create(
        tmp_path_factory.mktemp("facade") / "p",
        data=frame,
        target="y",
        id_column="key",
        max_trials=1,
        time_limit=None,
    )
    project.train(families=["ridge"], n_jobs=1)
    project.train(families=["lasso"], n_jobs=1)
    return project


def test_evaluate_returns_an_evaluation_stored_as_is(project):
    ev = project.evaluate()
    assert isinstance(ev, Evaluation)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.value = 0.0  # type: ignore[misc]
    assert ev.version == project.registry.champion() and ev.metric == "rmse"
    assert ev.interval == (ev.ci_low, ev.ci_high) and ev.ci_low <= ev.value <= ev.ci_high
    assert ev.test_rows == ev.n > 0 and ev.looks_before == 0 and ev.warning is None
    assert ev.against_labels is None  # a kind with a target: nothing to score against
    record = ev.to_dict()
    assert list(record) == [
        "metric",
        "value",
        "ci_low",
        "ci_high",
        "confidence",
        "ci_method",
        "n",
        "version",
        "family",
        "cv_mean",
        "test_rows",
        "at",
        "warning",
        "looks_before",
        "against_labels",
        "details",
    ]
    evaluations = project.workspace.evaluations_dir
    path = evaluations / f"{ev.at.replace(':', '')}-v{ev.version}.json"
    assert atomic.read_json(path) == record
    assert path.read_text() == (
        json.dumps(record, indent=2, default=jsonsafe.default, allow_nan=True) + "\n"
    )
    last = atomic.read_jsonl(evaluations / "looks.jsonl")[-1]
    assert last == {key: record[key] for key in ("version", "at", "metric", "value")}


def test_models_returns_a_model_list_as_printed_by_the_cli(project):
    listing = project.models()
    assert isinstance(listing, ModelList)
    registry = project.registry
    assert listing.champion == registry.champion() == 2
    assert [r["version"] for r in listing.versions] == [1, 2]
    assert listing.version(1)["family"] == "ridge" and listing.version(2)["family"] == "lasso"
    with pytest.raises(KeyError):
        listing.version(3)
    assert listing.to_dict() == {
        "champion": registry.champion(),
        "versions": registry.records(),
        "history": registry.history(),
    }
    assert list(listing.to_dict()) == ["champion", "versions", "history"]
    out = run_cli("models", "--project", project.path, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == json.loads(jsonsafe.dumps(listing.to_dict()))


def test_rollback_returns_the_recorded_event(project):
    result = project.rollback(1, reason="facade test")
    try:
        assert isinstance(result, Rollback)
        assert (result.previous, result.champion) == (2, 1)
        event = project.registry.history()[-1]
        assert result.history == event and event["reason"] == "facade test"
        assert result.to_dict() == {"previous": 2, "champion": 1, "history": event}
        assert list(result.to_dict()) == ["previous", "champion", "history"]
    finally:
        project.rollback(2, reason="restore")


def test_feedback_returns_a_summary_that_the_server_answers(project):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from mlcraft.api.serving import ServeSettings
    from mlcraft.serve import create_app

    PredictionLog(project.registry.db).write(
        [
            RequestRecord(
                "req-facade",
                time.time(),
                "/predict",
                2,
                1.0,
                200,
                inputs=[{"key": 1, "x": 0.1}, {"key": 2, "x": 0.2}],
                predictions=[0.2, 0.4],
            )
        ]
    )
    labels = [
        {"request_id": "req-facade", "row": 0, "y": 0.3},
        {"request_id": "req-facade", "row": 1, "y": None},  # no label: skipped, with a note
        {"request_id": "nope", "row": 0, "y": 1.0},  # matches nothing
    ]
    summary = project.feedback(pd.DataFrame(labels))
    assert isinstance(summary, FeedbackSummary)
    assert (summary.received, summary.matched, summary.unmatched) == (3, 1, 1)
    assert len(summary.notes) == 2
    assert list(summary.to_dict()) == ["received", "matched", "unmatched", "notes"]
    app = create_app(ServeSettings(str(project.path), log=False))
    with TestClient(app) as client:
        answer = client.post("/feedback", json={"records": labels})
    assert answer.status_code == 200, answer.text
    assert answer.json() == summary.to_dict()  # a label again for the same row replaces it
