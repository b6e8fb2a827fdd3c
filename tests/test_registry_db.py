"""The model registry in a database: SQLite in the project and a real PostgreSQL server.

Versions, the append-only history, rollback as an undo stack, "which model answered when", the hash
check before unpickling, serialised concurrent writers, and interrupted writes that leave the
champion intact.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline

from mlcraft.core.data.preprocess import build_preprocessor
from mlcraft.core.data.schema import infer_schema
from mlcraft.core.predict.pipeline import FittedModel
from mlcraft.database import Database
from mlcraft.exceptions import NotFittedError, RegistryError
from mlcraft.registry import ModelRegistry


def tiny_model(alpha: float = 1.0) -> FittedModel:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"x": rng.normal(size=60), "c": rng.choice(["a", "b"], 60), "y": rng.normal(size=60)}
    )
    schema = infer_schema(frame, "y")
    X, _ = schema.coerce(frame)
    pipe = Pipeline(
        [
            (
                "prepare",
                build_preprocessor(
                    schema, scale=True, categorical="onehot", log_heavy_tails=False, impute=True
                ),
            ),
            ("model", Ridge(alpha=alpha)),
        ]
    )
    pipe.fit(X, frame["y"])
    return FittedModel(
        pipeline=pipe, schema=schema, task="regression", family="ridge", params={"alpha": alpha}
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def registry(request, tmp_path):
    db = None
    if request.param == "postgresql":
        db = request.getfixturevalue("pg_url")
    return ModelRegistry(tmp_path / "models", db=db)


def test_versions_promotions_and_the_append_only_history(registry):
    assert registry.versions() == [] and registry.champion() is None
    with pytest.raises(NotFittedError):
        registry.require_champion()
    v1 = registry.register(
        tiny_model(1.0), {"family": "ridge", "metric": "rmse", "cv_mean": 1.5, "dataset": "d1"}
    )
    v2 = registry.register(
        tiny_model(2.0), {"family": "ridge", "metric": "rmse", "cv_mean": 1.4, "dataset": "d1"}
    )
    assert (v1, v2) == (1, 2) and registry.versions() == [1, 2]
    assert registry.champion() is None  # registering does not promote
    registry.promote(1, by="ann", reason="first")
    registry.promote(2, by="bob", reason="better")
    assert registry.champion() == 2
    history = registry.history()
    assert [(e["action"], e["version"], e["previous"], e["by"]) for e in history] == [
        ("promote", 1, None, "ann"),
        ("promote", 2, 1, "bob"),
    ]
    meta = registry.meta(2)
    assert meta["version"] == 2 and meta["cv_mean"] == 1.4 and len(meta["sha256"]) == 64
    assert json.loads((registry.root / "2" / "meta.json").read_text())["sha256"] == meta["sha256"]
    assert registry.load().params == {"alpha": 2.0}
    with pytest.raises(RegistryError, match="does not exist"):
        registry.promote(7, by="x", reason="y")
    with pytest.raises(RegistryError, match="does not exist"):
        registry.meta(2**63)  # found by schemathesis: once an OverflowError in the driver
    # the history cannot be rewritten, even with SQL
    with pytest.raises(Exception, match="append-only"):
        with registry.db.transaction(write=True) as cur:
            cur.execute("UPDATE registry_events SET version = 1")
    with pytest.raises(Exception, match="append-only"):
        with registry.db.transaction(write=True) as cur:
            cur.execute("DELETE FROM registry_events")
    assert len(registry.history()) == 2


def test_rollback_walks_back_and_answers_which_model_served_when(registry):
    for alpha in (1.0, 2.0, 3.0):
        v = registry.register(tiny_model(alpha), {"family": "ridge"})
        registry.promote(v, by="t", reason=f"v{v}")
    with pytest.raises(RegistryError, match="already the champion"):
        registry.rollback(3, by="t")
    before_rollback = registry.history()[-1]["at"]
    time.sleep(0.01)
    assert registry.rollback(by="t") == 2
    time.sleep(0.01)  # distinct millisecond timestamps for the champion_at check below
    assert registry.rollback(by="t") == 1  # an undo stack: v3 -> v2 -> v1
    with pytest.raises(RegistryError, match="first champion"):
        registry.rollback(by="t")
    assert registry.rollback(3, by="t", reason="v3 was fine after all") == 3
    assert registry.champion() == 3
    actions = [(e["action"], e["version"], e["previous"]) for e in registry.history()]
    assert actions[3:] == [("rollback", 2, 3), ("rollback", 1, 2), ("rollback", 3, 1)]
    assert registry.champion_at(before_rollback) == 3
    assert registry.champion_at(registry.history()[3]["at"]) == 2
    assert registry.champion_at("2000-01-01") is None


def test_test_scores_are_kept_per_version_and_dataset(registry):
    v = registry.register(tiny_model(), {"family": "ridge", "dataset": "d1"})
    assert registry.test_score(v) is None
    registry.record_test_score(
        v, metric="rmse", value=2.0, ci_low=1.5, ci_high=2.5, n=100, dataset="d1"
    )
    registry.record_test_score(
        v, metric="rmse", value=2.2, ci_low=1.7, ci_high=2.7, n=120, dataset="d2"
    )
    assert registry.test_score(v)["value"] == 2.2
    assert registry.test_score(v, "d1")["n"] == 100
    assert registry.records()[0]["test"]["dataset"] == "d1"


def test_a_tampered_model_file_is_refused_before_unpickling(tmp_path):
    registry = ModelRegistry(tmp_path / "models")
    v = registry.register(tiny_model(), {})
    registry.promote(v, by="t", reason="r")
    path = tmp_path / "models" / "1" / "model.joblib"
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(RegistryError, match="does not match its recorded SHA-256"):
        registry.load()


def test_sqlite_database_is_in_wal_mode_inside_the_project(tmp_path):
    registry = ModelRegistry(tmp_path / "models")
    registry.versions()
    assert (tmp_path / "mlcraft.db").is_file()
    assert registry.db.query("PRAGMA journal_mode")[0][0] == "wal"


def test_a_failed_registration_leaves_the_champion_and_no_files(tmp_path, monkeypatch):
    registry = ModelRegistry(tmp_path / "models")
    registry.promote(registry.register(tiny_model(1.0), {}), by="t", reason="r")
    import mlcraft.database as database

    real = database.Cursor.execute

    def failing(self, sql, params=()):
        if sql.startswith("INSERT INTO model_versions"):
            raise OSError("disk full (injected)")
        return real(self, sql, params)

    monkeypatch.setattr(database.Cursor, "execute", failing)
    with pytest.raises(OSError, match="injected"):
        registry.register(tiny_model(2.0), {})
    monkeypatch.undo()
    assert registry.versions() == [1] and registry.champion() == 1
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["1"]
    assert registry.load().params == {"alpha": 1.0}
    assert registry.register(tiny_model(3.0), {}) == 2  # the next one gets the next number


KILLER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    from test_registry_db import tiny_model
    from mlcraft.registry import ModelRegistry
    registry = ModelRegistry({models!r}, db={db!r})
    models = [tiny_model(float(a)) for a in range(1, 4)]
    i = 0
    while True:
        if i == 1:
            print("ready", flush=True)
        v = registry.register(models[i % 3], {{"family": "ridge"}})
        registry.promote(v, by="writer", reason="loop")
        i += 1
    """
)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_killing_a_writer_mid_write_leaves_a_loadable_champion(tmp_path, request, backend):
    db = (
        request.getfixturevalue("pg_url")
        if backend == "postgresql"
        else str(tmp_path / "mlcraft.db")
    )
    models = tmp_path / "models"
    script = KILLER.format(tests=str(Path(__file__).parent), models=str(models), db=db)
    rng = np.random.default_rng(0)
    for delay in rng.uniform(0.05, 0.6, size=2):
        proc = subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        registry = ModelRegistry(models, db=db)
        champion = registry.champion()
        assert champion is not None
        registry.load()  # the file is whole and matches its record
        for v in registry.versions():
            assert registry.meta(v)["sha256"] == __import__(
                "mlcraft.registry", fromlist=["x"]
            ).file_sha256(models / str(v) / "model.joblib")
        history = registry.history()
        assert all(b["previous"] == a["version"] for a, b in zip(history, history[1:]))
    # orphans (a directory renamed but never committed) are not versions, and are replaced next time
    registry = ModelRegistry(models, db=db)
    assert registry.register(tiny_model(), {}) == max(registry.versions())


def _hammer(args):
    models, db, worker, rounds = args
    registry = ModelRegistry(models, db=db)
    for i in range(rounds):
        if (worker + i) % 3 == 0:
            try:
                registry.rollback(by=f"w{worker}")
            except RegistryError:
                pass
        else:
            registry.promote(1 + (worker + i) % 3, by=f"w{worker}", reason="race")
    return True


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_promotions_and_rollbacks_are_serialised(tmp_path, request, backend):
    db = (
        request.getfixturevalue("pg_url")
        if backend == "postgresql"
        else str(tmp_path / "mlcraft.db")
    )
    registry = ModelRegistry(tmp_path / "models", db=db)
    for alpha in (1.0, 2.0, 3.0):
        registry.promote(registry.register(tiny_model(alpha), {}), by="setup", reason="setup")
    with ProcessPoolExecutor(4) as pool:
        assert all(pool.map(_hammer, [(tmp_path / "models", db, w, 25) for w in range(4)]))
    history = registry.history()
    assert len(history) > 3 + 4 * 25 * 2 // 3
    # every event saw the champion its predecessor made: no two writers interleaved
    assert all(b["previous"] == a["version"] for a, b in zip(history, history[1:]))
    assert registry.champion() == history[-1]["version"]


def test_a_project_made_before_the_database_is_imported(tmp_path):
    registry = ModelRegistry(tmp_path / "old" / "models")
    model = tiny_model()
    for v in (1, 2):
        (tmp_path / "old" / "models" / str(v)).mkdir(parents=True)
        model.save(tmp_path / "old" / "models" / str(v) / "model.joblib")
        from mlcraft.registry import file_sha256

        meta = {
            "version": v,
            "family": "ridge",
            "sha256": file_sha256(tmp_path / "old" / "models" / str(v) / "model.joblib"),
            "created": f"2026-01-0{v}T00:00:00+00:00",
        }
        (tmp_path / "old" / "models" / str(v) / "meta.json").write_text(json.dumps(meta))
    lines = [
        {
            "version": 1,
            "action": "promote",
            "by": "a",
            "reason": "r1",
            "at": "2026-01-01T00:00:00+00:00",
        },
        {
            "version": 2,
            "action": "promote",
            "by": "a",
            "reason": "r2",
            "at": "2026-01-02T00:00:00+00:00",
        },
    ]
    (tmp_path / "old" / "models" / "history.jsonl").write_text(
        "\n".join(map(json.dumps, lines)) + "\n"
    )
    assert registry.versions() == [1, 2] and registry.champion() == 2
    assert registry.champion_at("2026-01-01T12:00") == 1
    registry.load()


def test_database_url_forms(tmp_path):
    assert Database(tmp_path / "a.db").dialect == "sqlite"
    assert Database(f"sqlite:///{tmp_path}/b.db").path == tmp_path / "b.db"
    assert Database("postgresql://u:secret@h/db").dialect == "postgresql"
    assert "secret" not in repr(Database("postgresql://u:secret@h/db"))
    from mlcraft.exceptions import ConfigError

    with pytest.raises(ConfigError, match="use a PostgreSQL URL"):
        Database("mysql://x/y")


def test_unreachable_postgresql_is_one_clear_error(tmp_path):
    pytest.importorskip("psycopg")
    registry = ModelRegistry(tmp_path / "models", db="postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(
        RegistryError, match="cannot connect to postgresql://nobody@127.0.0.1:1/none"
    ):
        registry.champion()
