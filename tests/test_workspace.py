"""Atomic writes and the project directory: a crash never leaves a half-written project."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mlcraft
from mlcraft import atomic
from mlcraft.exceptions import DataError, ProjectError


def test_atomic_path_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "f.txt"
    atomic.write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_atomic_writes_get_the_usual_permissions(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        atomic.write_text(tmp_path / "f.txt", "x")
        with atomic.atomic_dir(tmp_path / "d"):
            pass
    finally:
        os.umask(old)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755


def test_atomic_dir_appears_whole_or_not_at_all(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic.atomic_dir(tmp_path / "d") as tmp:
            (tmp / "a").write_text("1")
            raise KeyboardInterrupt
    assert not (tmp_path / "d").exists() and list(tmp_path.iterdir()) == []
    with atomic.atomic_dir(tmp_path / "d") as tmp:
        (tmp / "a").write_text("1")
    assert (tmp_path / "d" / "a").read_text() == "1"


def small(n=80, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"x": rng.normal(size=n), "c": rng.choice(["u", "v"], n), "y": rng.normal(size=n)}
    )


def test_create_writes_the_layout(tmp_path):
    project = mlcraft.Project.create(tmp_path / "p", data=small(), target="y", time_limit=30)
    root = project.path
    cfg = project.config
    assert (root / "mlcraft.toml").is_file() and (root / "schema.json").is_file()
    assert (root / "data" / f"{cfg.dataset}.parquet").is_file()
    assert (root / "split" / f"{cfg.dataset}.parquet").is_file()
    assert cfg.task == "regression" and cfg.metric == "rmse" and cfg.time_limit == 30
    text = (root / "mlcraft.toml").read_text()
    for key in ("target", "task", "metric", "test_size", "seed", "time_limit", "split_method"):
        assert key in text
    reopened = mlcraft.Project.open(root)
    assert reopened.config == cfg
    assert len(reopened.training_frame()) + len(reopened.test_frame()) == 80


def test_failed_create_leaves_nothing(tmp_path):
    with pytest.raises(DataError):
        mlcraft.Project.create(tmp_path / "p", data=small(), target="nope")
    assert not (tmp_path / "p").exists()
    assert list(tmp_path.iterdir()) == []


def test_create_refuses_an_existing_project(tmp_path):
    mlcraft.Project.create(tmp_path / "p", data=small(), target="y")
    with pytest.raises(ProjectError, match="already an mlcraft project"):
        mlcraft.Project.create(tmp_path / "p", data=small(), target="y")


def test_stale_temporaries_are_cleaned_on_open(tmp_path):
    project = mlcraft.Project.create(tmp_path / "p", data=small(), target="y")
    (project.path / "runs").mkdir()
    (project.path / "runs" / ".tmp-crashed").mkdir()
    (project.path / "runs" / ".tmp-running").mkdir()  # another command's, being written now
    old = __import__("time").time() - 2 * 3600
    __import__("os").utime(project.path / "runs" / ".tmp-crashed", (old, old))
    mlcraft.Project.open(project.path)
    assert not (project.path / "runs" / ".tmp-crashed").exists()
    assert (project.path / "runs" / ".tmp-running").exists()


def test_a_refused_or_full_write_is_one_clear_error_and_leaves_nothing(tmp_path):
    import errno

    from mlcraft.exceptions import WriteError

    with pytest.raises(
        WriteError, match=r"cannot write /proc/x\.txt: the folder /proc does not accept new files"
    ):
        atomic.write_text("/proc/x.txt", "x")
    with pytest.raises(WriteError, match=r"the folder /proc/nope cannot be created"):
        with atomic.atomic_dir("/proc/nope/d"):
            pass
    with pytest.raises(WriteError, match="free some space"):
        with atomic.atomic_path(tmp_path / "f.txt"):
            raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(
        FileNotFoundError
    ):  # the body's own errors (reading an input, say) pass unchanged
        with atomic.atomic_dir(tmp_path / "d"):
            open(tmp_path / "missing")
    assert list(tmp_path.iterdir()) == []
