"""Atomic writes: write to a temporary sibling, flush, then rename.

A crash or Ctrl-C at any point leaves either the old file or the new one, never half of one.
Directories are built the same way: fill a hidden temporary directory, then rename it into place.
A folder that refuses the write (or a full disk) is a :class:`~mlcraft.exceptions.WriteError` naming
the path, raised before anything is half-written.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlcraft import jsonsafe
from mlcraft.exceptions import WriteError

__all__ = [
    "TMP_PREFIX",
    "atomic_path",
    "atomic_dir",
    "write_bytes",
    "write_text",
    "write_json",
    "read_json",
    "append_jsonl",
    "read_jsonl",
    "remove_stale_temporaries",
]

TMP_PREFIX = ".tmp-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _cannot_write(target: Path, exc: OSError) -> WriteError:
    """One line for an OS refusal: what could not be written, why, and what to do."""
    reason = exc.strerror or type(exc).__name__
    failed = Path(exc.filename) if exc.filename is not None else None
    if exc.errno in _NO_SPACE:
        return WriteError(
            f"cannot write {target}: {reason}; free some space or choose another folder"
        )
    if isinstance(exc, IsADirectoryError):
        return WriteError(f"cannot write {target}: it is a directory; give a file name")
    if failed is not None and failed != target and failed in target.parents:
        why = f"the folder {failed} cannot be created ({reason})"
    elif (
        target.parent.is_dir()
        and (failed is None or failed.parent == target.parent)
        and failed != target
    ):
        why = f"the folder {target.parent} does not accept new files ({reason})"
    else:
        why = reason
    return WriteError(f"cannot write {target}: {why}; choose a folder you can write to")


def _prepare(target: Path, make: Any) -> Path:
    """Create ``target``'s folder and a temporary beside it with ``make(dir)``, as a WriteError on refusal."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return Path(make(target.parent))
    except OSError as exc:
        raise _cannot_write(target, exc) from None


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it is renamed onto ``target``.

    The caller writes the whole file to the yielded path (with any library). If the block raises,
    the temporary file is removed and ``target`` is untouched.
    """
    target = Path(target)

    def make(folder: Path) -> str:
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX + target.name + ".", dir=folder)
        os.fchmod(
            fd, 0o666 & ~_umask()
        )  # mkstemp makes 0600; a saved file gets the usual permissions
        os.close(fd)
        return tmp

    tmp_path = _prepare(target, make)
    try:
        try:
            yield tmp_path
        except OSError as exc:
            if (
                exc.errno in _NO_SPACE
            ):  # the body's own errors (a bad input file, say) pass unchanged
                raise _cannot_write(target, exc) from None
            raise
        try:
            with open(tmp_path, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp_path, target)
        except OSError as exc:
            raise _cannot_write(target, exc) from None
        _fsync_dir(target.parent)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str], *, replace: bool = False) -> Iterator[Path]:
    """Yield a hidden temporary directory; on success it is renamed to ``target``.

    Parameters
    ----------
    target : path
        The directory to create. It must not exist unless ``replace`` is true.
    replace : bool
        Swap an existing ``target`` for the new directory (the old one is removed after the swap).
    """
    target = Path(target)
    tmp = _prepare(
        target, lambda folder: tempfile.mkdtemp(prefix=TMP_PREFIX + target.name + ".", dir=folder)
    )
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
    try:
        try:
            yield tmp
        except OSError as exc:
            if exc.errno in _NO_SPACE:
                raise _cannot_write(target, exc) from None
            raise
        if replace and target.exists():
            old = target.with_name(TMP_PREFIX + target.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)  # fails if target exists: never overwrite silently
        _fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically (numpy scalars and arrays are converted)."""
    write_text(path, json.dumps(obj, indent=2, default=jsonsafe.default, allow_nan=True) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def append_jsonl(path: str | os.PathLike[str], record: Any) -> None:
    """Append one JSON line and flush it to disk (a line cut by a crash is skipped by :func:`read_jsonl`)."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, default=jsonsafe.default) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl(path: str | os.PathLike[str]) -> list[Any]:
    """Every complete JSON line of an append-only file (none if it does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut by a crash
    return out


def _last_modified(path: Path) -> float:
    """The newest modification time in ``path`` (itself, or anything inside it)."""
    newest = path.lstat().st_mtime
    if path.is_dir():
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                try:
                    newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
                except OSError:
                    continue
    return newest


def remove_stale_temporaries(directory: str | os.PathLike[str], *, older_than: float = 0.0) -> None:
    """Remove temporaries left by an interrupted write (they are never read).

    ``older_than`` (seconds) spares temporaries touched more recently: they may belong to a command
    still running in another process (a training run, a retrain, a registry write).
    """
    import time

    directory = Path(directory)
    if not directory.is_dir():
        return
    now = time.time()
    for entry in directory.iterdir():
        if not entry.name.startswith(TMP_PREFIX):
            continue
        try:
            if older_than and now - _last_modified(entry) < older_than:
                continue
        except OSError:
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
