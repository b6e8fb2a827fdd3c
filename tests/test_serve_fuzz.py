"""Schemathesis against the server's own OpenAPI schema: generated requests, valid and invalid,
never get a 5xx (and every response matches the documented status codes and shapes)."""

from __future__ import annotations

import pandas as pd
import pytest

schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("fastapi")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

import mlcraft  # noqa: E402
from mlcraft.api.serving import ServeSettings  # noqa: E402
from mlcraft.serve.app import served_app  # noqa: E402

pytestmark = (
    pytest.mark.slow
)  # end-to-end: generated requests against a served model; `make test-fast` leaves it out


@schemathesis.serializer("text/csv")
def _csv(ctx, value):
    import json

    return (
        value.encode("utf-8") if isinstance(value, str) else json.dumps(value, default=str).encode()
    )  # garbage is welcome


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory, housing_csv):
    frame = pd.read_csv(housing_csv).head(2000)
    project = mlcraft.Project.create(
        tmp_path_factory.mktemp("fuzz") / "housing",
        data=frame,
        target="median_house_value",
        max_trials=1,
        time_limit=None,
    )
    project.train(families=["ridge"], n_jobs=1)
    app = served_app(
        ServeSettings(str(project.path), poll_seconds=3600)
    )  # what `mlcraft serve` runs: the fast path, then the app
    from fastapi.testclient import TestClient

    with TestClient(app):  # runs the lifespan: the model is loaded
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


def test_no_server_error_for_any_generated_request(api_schema):
    from hypothesis import given

    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.label for op in operations} >= {
        "POST /predict",
        "POST /feedback",
        "POST /admin/reload",
        "GET /health",
        "GET /model",
    }
    seen: dict[str, set[int]] = {}
    from schemathesis import GenerationMode

    for operation, mode in [
        (op, mode)
        for op in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    ]:
        if mode is GenerationMode.NEGATIVE and operation.method.upper() == "GET":
            continue  # nothing to get wrong in a GET without parameters

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def check(case):  # called below, in this iteration: the loop variables are current
            response = case.call()
            assert response.status_code < 500, (
                f"{operation.label}: {response.status_code} {response.text}"  # noqa: B023
            )
            case.validate_response(response, checks=(not_a_server_error,))
            seen.setdefault(operation.label, set()).add(response.status_code)  # noqa: B023

        check()
    assert 200 in seen["POST /predict"]  # generated records did reach the model
    assert 422 in seen["POST /predict"]  # and invalid ones were refused cleanly
    print(seen)
