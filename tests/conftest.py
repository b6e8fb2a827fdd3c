from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from _postgres import pg_server, pg_url  # noqa: F401  (fixtures: a throw-away PostgreSQL server)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
os.environ.setdefault("MLCRAFT_N_JOBS", "2")  # CI machines have 2 cores; keep tests comparable


def shared_file(name: str) -> Path:
    path = SHARED / name
    if not path.exists():
        pytest.fail(
            f"{path} is missing: the tests expect ../shared/data beside the repository (as on CI)"
        )
    return path


@pytest.fixture(scope="session")
def housing_csv() -> Path:
    return shared_file("housing.csv")


@pytest.fixture(scope="session")
def titanic_csv() -> Path:
    return shared_file("titanic.csv")


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run the real `mlcraft` command in a subprocess (exit code and stderr as a user sees them)."""
    exe = Path(sys.executable).with_name("mlcraft")
    return subprocess.run(
        [str(exe), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout
    )
