"""A real `mlcraft serve` (uvicorn) on 127.0.0.1: the contract over TCP, several workers, and
stopping the server under load loses no acknowledged prediction from the log."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("uvicorn")

import mlcraft  # noqa: E402

pytestmark = (
    pytest.mark.slow
)  # end-to-end: real server processes over TCP; `make test-fast` leaves it out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url: str, payload=None, timeout: float = 10.0) -> tuple[int, dict]:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def start_server(project: Path, *args: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    exe = Path(sys.executable).with_name("mlcraft")
    proc = subprocess.Popen(
        [str(exe), "serve", "--project", str(project), "--port", str(port), "--poll", "0.2", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stdout.read()}")
        try:
            if call(base + "/health", timeout=1)[0] == 200:
                return proc, base
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("server did not start in 60 s")


@pytest.fixture(scope="module")
def project(tmp_path_factory, housing_csv):
    frame = pd.read_csv(housing_csv).head(3000)
    proj = mlcraft.Project.create(
        tmp_path_factory.mktemp("proc") / "housing",
        data=frame,
        target="median_house_value",
        max_trials=1,
        time_limit=None,
    )
    proj.train(families=["ridge"], n_jobs=1)
    return proj, json.loads(
        frame.drop(columns="median_house_value").head(10).to_json(orient="records")
    )


def test_real_server_with_two_workers_and_an_api_key(project):
    proj, rows = project
    proc, base = start_server(proj.path, "--workers", "2", "--api-key", "k")
    try:
        status, body = call(base + "/health")
        assert status == 200 and body["model_version"] == 1
        assert call(base + "/predict", rows)[0] == 401
        request = urllib.request.Request(
            base + "/predict",
            data=json.dumps(rows).encode(),
            headers={"Content-Type": "application/json", "X-API-Key": "k"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.loads(response.read())
            assert response.headers["X-Request-ID"] == body["request_id"]
        assert len(body["predictions"]) == 10 and body["model_version"] == 1
        request = urllib.request.Request(
            base + "/predict",
            data=b'[{"longitude": "west"}]',
            headers={"Content-Type": "application/json", "X-API-Key": "k"},
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=10)
        assert (
            err.value.code == 422 and "missing column(s)" in json.loads(err.value.read())["detail"]
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_server_under_load_loses_no_acknowledged_prediction(project, stop):
    proj, rows = project
    proc, base = start_server(proj.path)
    acknowledged: list[str] = []
    lock = threading.Lock()
    halt = threading.Event()

    def client():
        for _ in range(2000):  # bounded
            if halt.is_set():
                return
            try:
                status, body = call(base + "/predict", rows[:3], timeout=5)
            except (urllib.error.URLError, ConnectionError, OSError):
                return  # the server went away: that request was never acknowledged
            if status == 200:
                with lock:
                    acknowledged.append(body["request_id"])

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    proc.send_signal(stop)  # mid-load
    proc.wait(timeout=60)
    halt.set()
    for t in threads:
        t.join(timeout=30)
    assert len(acknowledged) > 20
    logged = proj.registry.db.query("SELECT request_id FROM requests")
    missing = set(acknowledged) - {r[0] for r in logged}
    assert not missing, f"{len(missing)} acknowledged request(s) missing from the log"
    rows_logged = proj.registry.db.query("SELECT COUNT(*) FROM predictions")[0][0]
    assert rows_logged >= 3 * len(acknowledged)


def test_sigkill_leaves_the_log_database_consistent(project):
    proj, rows = project
    proc, base = start_server(proj.path)
    for _ in range(20):
        assert call(base + "/predict", rows[:2])[0] == 200
    proc.kill()
    proc.wait()
    assert proj.registry.db.query("PRAGMA integrity_check")[0][0] == "ok"
    # every request that reached the database did so whole: its rows came with it
    counts = proj.registry.db.query(
        "SELECT r.request_id, r.n_rows, COUNT(p.row_index) FROM requests r LEFT JOIN predictions p ON p.request_id = r.request_id WHERE r.status = 200 GROUP BY r.request_id, r.n_rows"
    )
    assert all(n == c for _, n, c in counts)
