"""The README's "Launch, monitor and maintain" walk-through, run exactly as written (port aside)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import readme_block

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def walkthrough() -> str:
    return readme_block("## Launch, monitor and maintain")


def test_readme_walkthrough_serve_predict_monitor_retrain_rollback(tmp_path, housing_csv):
    pytest.importorskip("uvicorn")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = (
        walkthrough()
        .replace("8000", str(port))
        .replace("../shared/data/housing.csv", str(housing_csv))
    )
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "MLCRAFT_N_JOBS": "1",
    }
    env.pop("MLCRAFT_DB", None)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert '"model_version":1' in out and '"predictions":[' in out  # the curl answer
    answer = json.loads((tmp_path / "answer.json").read_text())
    assert len(answer["predictions"]) == 300
    assert "300 of 300 label(s) joined" in out
    assert "report:" in out
    assert "dry run: nothing was changed" in out
    assert "gate: promote" in out and "champion: model version 2 (was 1)" in out
    assert "champion: model version 1 (was 2)" in out  # the rollback
    health = json.loads(out.strip().splitlines()[-1])
    assert health["model_version"] == 1  # the running server picked up the rollback
    assert health["log"]["written"] >= 2 and health["log"]["dropped"] == 0
