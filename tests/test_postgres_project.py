"""A whole project on PostgreSQL: train, serve and log, feedback, rollback, list — the same code as SQLite."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest

import mlcraft
from conftest import run_cli

pytestmark = (
    pytest.mark.slow
)  # end-to-end: a whole project on a PostgreSQL server; `make test-fast` leaves it out


def test_project_registry_and_prediction_log_in_postgresql(
    pg_url, tmp_path, housing_csv, monkeypatch
):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from mlcraft.api.serving import ServeSettings
    from mlcraft.serve import create_app

    frame = pd.read_csv(housing_csv).head(2000)
    monkeypatch.setenv("MLCRAFT_DB", pg_url)  # every command of this project, train included
    project = mlcraft.Project.create(
        tmp_path / "p", data=frame, target="median_house_value", max_trials=1, time_limit=None
    )
    project.train(families=["ridge"], n_jobs=1)
    project.train(families=["lasso"], n_jobs=1)
    project.evaluate()
    assert not (tmp_path / "p" / "mlcraft.db").exists()
    monkeypatch.delenv("MLCRAFT_DB")
    listing = run_cli("models", "--project", tmp_path / "p", "--db", pg_url, "--json")
    assert listing.returncode == 0, listing.stderr
    doc = json.loads(listing.stdout)
    assert (
        doc["champion"] == 2
        and [v["version"] for v in doc["versions"]] == [1, 2]
        and doc["versions"][1]["test"]["n"] > 0
    )
    app = create_app(ServeSettings(str(tmp_path / "p"), db=pg_url, poll_seconds=0.2))
    rows = json.loads(frame.drop(columns="median_house_value").head(4).to_json(orient="records"))
    with TestClient(app) as client:
        answer = client.post("/predict", json=rows).json()
        assert answer["model_version"] == 2
        assert run_cli("rollback", "--project", tmp_path / "p", "--db", pg_url).returncode == 0
        deadline = time.time() + 10
        while client.get("/health").json()["model_version"] != 1 and time.time() < deadline:
            time.sleep(0.05)
        assert client.get("/health").json()["model_version"] == 1
        feedback = client.post(
            "/feedback",
            json={
                "records": [
                    {"request_id": answer["request_id"], "row": i, "median_house_value": 1.0}
                    for i in range(4)
                ]
            },
        )
        assert feedback.json()["matched"] == 4
    reopened = mlcraft.Project.open(tmp_path / "p", db=pg_url)
    assert reopened.registry.db.query("SELECT COUNT(*) FROM predictions")[0][0] == 4
    assert reopened.registry.db.query("SELECT COUNT(*) FROM labels")[0][0] == 4
    assert [e["action"] for e in reopened.registry.history()] == ["promote", "promote", "rollback"]
