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


def readme_block(heading: str) -> str:
    """The first ```bash block under a README heading (the walk-through tests run it as written)."""
    import re

    text = (ROOT / "README.md").read_text()
    return re.search(r"```bash\n(.*?)```", text[text.index(heading) :], re.S).group(1)


def run_script(script: str, cwd: Path, env: dict[str, str], timeout: float = 600):
    """``script`` in bash with ``-euo pipefail`` (a README block), the venv's commands first on PATH."""
    env = {**env, "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}"}
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run the real `mlcraft` command in a subprocess (exit code and stderr as a user sees them)."""
    exe = Path(sys.executable).with_name("mlcraft")
    return subprocess.run(
        [str(exe), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout
    )
