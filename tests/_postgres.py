"""A throw-away PostgreSQL server for the tests: initdb in a temporary directory, 127.0.0.1, a free port.

Debian's ``postgresql`` package is installed by ``make test`` (target ``postgres``). initdb refuses to
run as root, so as root the cluster belongs to the ``postgres`` system user. Tests that need it are
skipped, with the reason, only when the server or the driver cannot be had.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as(user: str | None, args: list[str]) -> subprocess.CompletedProcess:
    kwargs = {}
    if user is not None:
        entry = pwd.getpwnam(user)
        kwargs = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)


@pytest.fixture(scope="session")
def pg_server():
    """``postgresql://postgres@127.0.0.1:PORT`` of a server started for this test session."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip(
            "PostgreSQL tests skipped: the psycopg driver is not installed (pip install 'mlcraft[postgres]')"
        )
    bindir = _bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL tests skipped: initdb not found (Debian's postgresql package could not be installed: `make postgres` needs root and apt)"
        )
    user = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip(
                "PostgreSQL tests skipped: running as root and there is no 'postgres' user to own the cluster"
            )
        user = "postgres"
    root = Path(tempfile.mkdtemp(prefix="mlcraft-pg-"))
    data = root / "data"
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    init = _run_as(
        user,
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
    )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"PostgreSQL tests skipped: initdb failed: {init.stderr.strip()[-300:]}")
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100"
    )
    start = _run_as(
        user,
        [
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(root / "log.txt"),
            "-w",
            "-t",
            "60",
            "start",
        ],
    )
    if start.returncode != 0:
        log = (root / "log.txt").read_text() if (root / "log.txt").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(
            f"PostgreSQL tests skipped: the server did not start: {start.stderr.strip()[-200:]} {log[-300:]}"
        )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        _run_as(user, [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server):
    """A fresh, empty database on the session's server."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield f"{pg_server}/{name}"
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
