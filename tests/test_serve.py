"""The HTTP contract of `mlcraft serve`, through FastAPI's TestClient."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

import mlcraft  # noqa: E402
from mlcraft.api.serving import ServeSettings  # noqa: E402
from mlcraft.serve import create_app  # noqa: E402

SNAPSHOT = Path(__file__).parent / "snapshots" / "openapi_housing.json"


@pytest.fixture(scope="module")
def housing(tmp_path_factory, housing_csv):
    frame = pd.read_csv(housing_csv).head(3000)
    root = tmp_path_factory.mktemp("serve") / "housing"
    project = mlcraft.Project.create(
        root, data=frame, target="median_house_value", max_trials=1, time_limit=None
    )
    project.train(families=["ridge"], n_jobs=1)
    project.train(families=["lasso"], n_jobs=1)
    project.evaluate()
    return project, frame.drop(columns="median_house_value")


@pytest.fixture(scope="module")
def titanic(tmp_path_factory, titanic_csv):
    root = tmp_path_factory.mktemp("serve") / "titanic"
    project = mlcraft.Project.create(
        root, data=titanic_csv, target="Survived", max_trials=1, time_limit=None
    )
    project.train(families=["logistic_regression"], n_jobs=1)
    return project, pd.read_csv(titanic_csv).drop(columns="Survived")


def records(frame: pd.DataFrame, n: int) -> list[dict]:
    return json.loads(frame.head(n).to_json(orient="records"))


@pytest.fixture
def client(housing):
    project, _ = housing
    app = create_app(ServeSettings(str(project.path), poll_seconds=0.2))
    with TestClient(app) as c:
        yield c


def test_predict_one_record_many_records_and_csv(client, housing):
    project, X = housing
    expected = project.predict(X.head(20))["median_house_value"].tolist()
    one = client.post("/predict", json=records(X, 1)[0])
    assert one.status_code == 200
    body = one.json()
    assert body["model_version"] == 2 and body["target"] == "median_house_value"
    assert body["predictions"] == pytest.approx(expected[:1]) and body["probabilities"] is None
    assert one.headers["x-request-id"] == body["request_id"] and len(body["request_id"]) == 32
    many = client.post("/predict", json=records(X, 20)).json()
    assert many["predictions"] == pytest.approx(expected)
    wrapped = client.post("/predict", json={"records": records(X, 3)}).json()
    assert wrapped["predictions"] == pytest.approx(expected[:3])
    csv = client.post(
        "/predict",
        content=X.head(20).to_csv(index=False).encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert csv.status_code == 200 and csv.json()["predictions"] == pytest.approx(expected)
    assert many["request_id"] != csv.json()["request_id"]


def test_classification_returns_labels_and_probabilities(titanic):
    project, X = titanic
    app = create_app(ServeSettings(str(project.path), log=False))
    with TestClient(app) as c:
        body = c.post("/predict", json=records(X, 5)).json()
    expected = project.predict(X.head(5))
    assert body["predictions"] == expected["Survived"].tolist()
    assert [p["1"] for p in body["probabilities"]] == pytest.approx(expected["proba_1"].tolist())
    assert all(abs(p["0"] + p["1"] - 1) < 1e-9 for p in body["probabilities"])


BAD_INPUTS = {
    "wrong type": (
        lambda r: [{**r, "total_rooms": "lots"}],
        "application/json",
        ["column 'total_rooms' expects numbers", "record 0 holds 'lots'"],
    ),
    "missing column": (
        lambda r: [{k: v for k, v in r.items() if k != "median_income"}],
        "application/json",
        ["missing column(s) 'median_income'"],
    ),
    "nested value": (
        lambda r: [{**r, "population": [1, 2]}],
        "application/json",
        ["record 0, column 'population'", "not a single value"],
    ),
    "infinite": (
        lambda r: json.dumps([{**r, "longitude": "INF"}]).replace('"INF"', "Infinity").encode(),
        "application/json",
        ["column 'longitude' has an infinite value at record 0"],
    ),
    "not json": (lambda r: b"{nope", "application/json", ["not valid JSON"]),
    "json scalar": (lambda r: b"42", "application/json", ["JSON int"]),
    "array of scalars": (lambda r: b"[1, 2]", "application/json", ["record 0 is a JSON int"]),
    "empty array": (lambda r: b"[]", "application/json", ["no records"]),
    "ragged csv": (
        lambda r: b"longitude,latitude\n1,2\n3\n4,5,6\n",
        "text/csv",
        ["CSV body cannot be parsed"],
    ),
    "csv not utf-8": (lambda r: b"longitude\n\xff\xfe\n", "text/csv", ["not UTF-8"]),
    "csv wrong type": (
        lambda r: pd.DataFrame([{**r, "households": "many"}]).to_csv(index=False).encode(),
        "text/csv",
        ["column 'households' expects numbers, but line 2 holds 'many'"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_a_422_naming_column_and_value(client, housing, case):
    _, X = housing
    make, ctype, fragments = BAD_INPUTS[case]
    payload = make(records(X, 1)[0])
    content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    response = client.post("/predict", content=content, headers={"Content-Type": ctype})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    for fragment in fragments:
        assert fragment in detail
    assert response.json()["request_id"]


def test_unseen_categories_and_out_of_range_values_are_served_but_flagged(client, housing):
    _, X = housing
    rows = records(X, 3)
    rows[1]["ocean_proximity"] = "ON THE MOON"
    rows[2]["median_income"] = 1e4
    body = client.post("/predict", json=rows).json()
    assert len(body["predictions"]) == 3 and all(isinstance(v, float) for v in body["predictions"])
    flags = {(f["row"], f["column"], f["issue"]) for f in body["flags"]}
    assert flags == {
        (1, "ocean_proximity", "unseen_category"),
        (2, "median_income", "out_of_range"),
    }
    assert any("not seen in training" in n for n in body["notes"])


def test_api_key_protects_predict_and_admin_but_not_health(housing):
    project, X = housing
    app = create_app(ServeSettings(str(project.path), api_key="s3cret", log=False))
    with TestClient(app) as c:
        assert c.get("/health").status_code == 200 and c.get("/model").status_code == 200
        for path in ("/predict", "/admin/reload", "/feedback"):
            assert c.post(path, json=records(X, 1)).status_code == 401
            assert (
                c.post(path, json=records(X, 1), headers={"X-API-Key": "wrong"}).status_code == 401
            )
        assert (
            c.post("/predict", json=records(X, 1), headers={"X-API-Key": "s3cret"}).status_code
            == 200
        )
        assert c.post("/admin/reload", headers={"X-API-Key": "s3cret"}).status_code == 200


def test_bodies_over_the_limit_are_refused_with_413(housing):
    project, X = housing
    app = create_app(ServeSettings(str(project.path), max_body_bytes=10_000, log=False))
    with TestClient(app) as c:
        assert c.post("/predict", json=records(X, 5)).status_code == 200
        big = c.post("/predict", json=records(X, 200))
        assert big.status_code == 413 and "over the limit of 10000 bytes" in big.json()["detail"]

        def chunks():  # no Content-Length: the limit is enforced while reading
            payload = json.dumps(records(X, 200)).encode()
            for i in range(0, len(payload), 1000):
                yield payload[i : i + 1000]

        assert c.post("/predict", content=chunks()).status_code == 413


def test_health_model_and_docs(client, housing):
    project, _ = housing
    health = client.get("/health").json()
    assert (
        health["status"] == "ok" and health["model_version"] == 2 and health["log"]["dropped"] == 0
    )
    info = client.get("/model").json()
    assert info["version"] == 2 and info["family"] == "lasso" and info["metric"] == "rmse"
    assert info["test"]["ci_low"] < info["test"]["value"] < info["test"]["ci_high"]
    assert {c["name"] for c in info["schema"]} >= {"median_income", "ocean_proximity"}
    assert (
        "INLAND" in next(c for c in info["schema"] if c["name"] == "ocean_proximity")["categories"]
    )
    assert client.get("/docs").status_code == 200 and "swagger" in client.get("/docs").text.lower()


def test_openapi_schema_matches_the_snapshot(client):
    """The API contract: regenerate with MLCRAFT_UPDATE_SNAPSHOT=1 after an intended change."""
    import os

    schema = client.get("/openapi.json").json()
    text = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    if os.environ.get("MLCRAFT_UPDATE_SNAPSHOT"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(text)
    assert text == SNAPSHOT.read_text(), (
        "the OpenAPI schema changed; if intended, rerun with MLCRAFT_UPDATE_SNAPSHOT=1"
    )


def test_reload_and_rollback_swap_models_without_dropping_requests(client, housing):
    project, X = housing
    payload = records(X, 5)
    errors, versions, stop = [], set(), threading.Event()

    def load():
        while not stop.is_set():
            r = client.post("/predict", json=payload)
            if r.status_code != 200:
                errors.append(r.status_code)
            else:
                versions.add(r.json()["model_version"])

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for target in (1, 2, 1):
            assert (
                client.post("/admin/reload", params={"version": target}).json()["model_version"]
                == target
            )
            time.sleep(0.2)
        assert client.post("/admin/reload", params={"version": 99}).status_code == 409
        assert client.post("/admin/reload", params={"version": 2**63}).status_code == 422
        # a rollback in the registry reaches the running server through its poll
        project.rollback(1, reason="test")
        deadline = time.time() + 10
        while client.get("/health").json()["model_version"] != 1 and time.time() < deadline:
            time.sleep(0.05)
        assert client.get("/health").json()["model_version"] == 1
        project.registry.promote(2, by="test", reason="back")
        deadline = time.time() + 10
        while client.get("/health").json()["model_version"] != 2 and time.time() < deadline:
            time.sleep(0.05)
        assert client.get("/health").json()["model_version"] == 2
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == [] and versions == {1, 2}


def test_a_frozen_heap_lets_a_swapped_out_model_go(housing):
    """`mlcraft serve` freezes the heap after loading (``settle_heap``): a reload must not keep the
    old model in the frozen generation, and closing the service unfreezes."""
    import gc
    import weakref

    from mlcraft.api.serving import ModelService

    project, _ = housing
    service = ModelService(project, ServeSettings(str(project.path), log=False, freeze_heap=True))
    try:
        assert gc.get_freeze_count() > 0
        old = service.current.model
        old.cycle = old  # only the cyclic collector can free it: frozen, it would stay
        gone = weakref.ref(old)
        del old
        assert service.reload(1) == (2, 1)
        assert gone() is None
    finally:
        service.close()
    assert gc.get_freeze_count() == 0


def test_every_request_is_logged_with_its_id_latency_and_version(client, housing):
    project, X = housing
    ids = [client.post("/predict", json=records(X, 3)).json()["request_id"] for _ in range(5)]
    bad = client.post("/predict", json=[{"longitude": "x"}]).json()["request_id"]
    deadline = time.time() + 5
    while client.get("/health").json()["log"]["written"] < 6 and time.time() < deadline:
        time.sleep(0.05)
    rows = project.registry.db.query(
        "SELECT request_id, model_version, n_rows, latency_ms, status FROM requests"
    )
    by_id = {r[0]: r for r in rows}
    assert all(by_id[i][2] == 3 and by_id[i][3] > 0 and by_id[i][4] == 200 for i in ids)
    assert by_id[bad][4] == 422
    logged = project.registry.db.query(
        "SELECT COUNT(*) FROM predictions WHERE request_id = ?", (ids[0],)
    )
    assert logged[0][0] == 3


def test_micro_batched_answers_match_each_request(client, housing):
    """Concurrent requests predicted in one batch each get exactly their own rows back."""
    project, X = housing
    expected = project.predict(X.head(40))["median_house_value"].to_numpy()
    results, errors = {}, []

    def send(start: int, n: int):
        r = client.post("/predict", json=records(X.iloc[start:], n))
        if r.status_code != 200:
            errors.append(r.text)
        else:
            results[(start, n)] = r.json()["predictions"]

    threads = [
        threading.Thread(target=send, args=(s, n))
        for s, n in [(0, 1), (1, 7), (8, 2), (10, 30), (3, 1), (5, 5)] * 4
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for (start, n), got in results.items():
        assert got == pytest.approx(expected[start : start + n].tolist())
    service = client.app.state.service
    assert service.batcher.requests + service.loop_batcher.requests >= len(threads)
    assert service.loop_batcher.requests > 0  # the small ones were batched on the event loop


class Scaled:
    """A stand-in model: x times k."""

    def __init__(self, k):
        self.k = k
        self.calls = 0

    def predict_raw(self, features):
        self.calls += 1
        if self.k is None:
            raise ValueError("this model is broken")
        return (
            np.asarray(
                features["x"] if isinstance(features, pd.DataFrame) else features.data["x"],
                dtype=float,
            )
            * self.k
        )


def test_loop_batcher_predicts_a_turns_requests_in_one_call_per_model():
    import asyncio

    from mlcraft.core.data.schema import FeatureColumns
    from mlcraft.core.predict.batching import LoopBatcher

    a, b, broken = Scaled(1.0), Scaled(10.0), Scaled(None)

    async def main():
        batcher = LoopBatcher()
        cols = lambda *xs: FeatureColumns({"x": np.asarray(xs, dtype=float)}, len(xs))  # noqa: E731
        futures = [
            (m, i, batcher.submit(m, cols(i, i + 1))) for i, m in enumerate([a, b, a, a, b, broken])
        ]
        gone = batcher.submit(a, cols(99.0))
        gone.cancel()  # a client that went away: skipped, not an error
        done = await asyncio.gather(*(f for _, _, f in futures), return_exceptions=True)
        return batcher, done

    batcher, done = asyncio.run(main())
    assert (a.calls, b.calls, broken.calls) == (1, 1, 1)  # one call per model for the whole turn
    assert batcher.batches == 2 and batcher.requests == 5
    for (m, i, _), got in zip([(a, 0, 0), (b, 1, 0), (a, 2, 0), (a, 3, 0), (b, 4, 0)], done):
        assert got.tolist() == [i * m.k, (i + 1) * m.k]
    assert isinstance(done[5], ValueError)


def test_batcher_keeps_model_versions_apart():
    from mlcraft.core.predict.batching import MicroBatcher

    class Model:
        def __init__(self, k):
            self.k = k

        def predict_raw(self, frame):
            return frame["x"].to_numpy() * self.k

    a, b = Model(1.0), Model(10.0)
    batcher = MicroBatcher()
    futures = [
        (m, batcher.submit(m, pd.DataFrame({"x": [float(i), float(i + 1)]})))
        for i, m in enumerate([a, b, a, a, b] * 10)
    ]
    for i, (m, f) in enumerate(futures):
        assert f.result(timeout=10).tolist() == [i * m.k, (i + 1) * m.k]
    batcher.close()


def _answer(response):
    body = response.json()
    if isinstance(body, dict):
        body.pop("request_id", None)
    return response.status_code, response.headers.get("content-type"), body


def test_the_fast_path_gives_the_endpoints_answers(housing):
    """`mlcraft serve` runs the app behind `PredictFastPath`: plain JSON predictions skip FastAPI's
    routing; every answer (refusals included) is the endpoint's own."""
    from mlcraft.serve.app import served_app

    project, X = housing
    unseen = records(X, 3)
    unseen[1]["ocean_proximity"] = "ON THE MOON"
    wrong_type = records(X, 2)
    wrong_type[1]["median_income"] = "lots"
    missing = records(X, 1)
    del missing[0]["median_income"]
    cases = [
        ({"json": records(X, 1)[0]}, True),
        ({"json": records(X, 20)}, True),
        ({"json": {"records": records(X, 3)}}, True),
        ({"json": unseen}, True),  # served, flagged
        ({"json": wrong_type}, False),  # 422 from the endpoint
        ({"json": missing}, False),
        ({"content": b"{not json"}, False),
        ({"content": b"[]"}, False),
        (
            {
                "content": X.head(5).to_csv(index=False).encode(),
                "headers": {"Content-Type": "text/csv"},
            },
            False,
        ),
        ({"json": records(X, 1), "headers": {"X-API-Key": "wrong"}}, False),  # 401
        ({"json": records(X, 1), "headers": {"X-API-Key": ""}}, False),
        ({"json": records(X, 150)}, False),  # 413: over the 20,000-byte limit
    ]
    settings = ServeSettings(str(project.path), api_key="k", max_body_bytes=20_000, log=False)
    fast = served_app(settings)
    with TestClient(create_app(settings)) as plain, TestClient(fast) as wrapped:
        for case, answered_fast in cases:
            kwargs = {**case, "headers": {"X-API-Key": "k", **case.get("headers", {})}}
            before = fast.answered
            expected, got = plain.post("/predict", **kwargs), wrapped.post("/predict", **kwargs)
            assert _answer(got) == _answer(expected), case
            assert fast.answered - before == int(answered_fast), case
            if got.status_code == 200:
                assert got.headers["x-request-id"] == got.json()["request_id"]
        health = wrapped.get("/health")  # other paths: the app's
        assert (
            health.status_code == 200
            and health.json()["model_version"] == plain.get("/health").json()["model_version"]
        )
