"""Model versions, the champion, and the append-only history of promotions and rollbacks.

The records live in the project's database (:mod:`mlcraft.database`: SQLite ``DIR/mlcraft.db`` by
default, or PostgreSQL); the model files stay files, ``models/<version>/model.joblib`` (with a copy of
the record in ``meta.json``), and are loaded only through the registry, after their SHA-256 is checked
against the database record. The champion is the version named by the latest history event, so the
history is the single source of truth: "which model answered at time T" is the last event before T.

A registration writes the model into a hidden temporary directory, then, inside one serialised
transaction, renames it to ``models/<version>/`` and inserts the record; a crash at any point leaves
the previous versions and the champion as they were (a directory left without a record is an orphan
that the next registration removes).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from mlcraft import atomic, jsonsafe
from mlcraft.core.predict.pipeline import FittedModel
from mlcraft.database import DEFAULT_DB_NAME, Database
from mlcraft.exceptions import NotFittedError, RegistryError

__all__ = ["ModelRegistry", "library_versions", "file_sha256", "timestamp", "parse_time"]

CHAMPION_ACTIONS = ("promote", "rollback")


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    import importlib.metadata as md
    import platform

    out = {"python": platform.python_version()}
    for name in ("mlcraft", "scikit-learn", "lightgbm", "pandas", "numpy", "scipy", "torch"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return out


def timestamp() -> str:
    """Now, UTC, ISO 8601 with milliseconds (sorts as text)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def parse_time(value: str | dt.datetime) -> dt.datetime:
    """An ISO date or date-time (naive values are UTC)."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise RegistryError(
                f"{value!r} is not a date; use e.g. 2026-11-20 or 2026-11-20T14:30"
            ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class ModelRegistry:
    """Numbered model versions of one project; one of them is the champion.

    Parameters
    ----------
    models_dir : path
        ``DIR/models``: where the model files live.
    db : Database, str or None
        The project's database (default: SQLite ``DIR/mlcraft.db``).

    Examples
    --------
    >>> registry = ModelRegistry("runs/housing/models")  # doctest: +SKIP
    >>> registry.champion(), [e["action"] for e in registry.history()]  # doctest: +SKIP
    (2, ['promote', 'promote'])
    """

    def __init__(self, models_dir: str | os.PathLike[str], db: Database | str | None = None):
        self.root = Path(models_dir)
        if db is None:
            db = Database(self.root.parent / DEFAULT_DB_NAME)
        self.db = db if isinstance(db, Database) else Database(db)
        self._imported = False

    # -- reading ---------------------------------------------------------------------------------
    def _rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        self._import_files()
        return self.db.query(sql, params)

    def versions(self) -> list[int]:
        return [
            int(r[0]) for r in self._rows("SELECT version FROM model_versions ORDER BY version")
        ]

    def meta(self, version: int) -> dict[str, Any]:
        rows = (
            self._rows("SELECT meta FROM model_versions WHERE version = ?", (int(version),))
            if 0 < int(version) < 2**31
            else []
        )
        if not rows:
            known = ", ".join(map(str, self.versions())) or "none"
            raise RegistryError(f"model version {version} does not exist (versions: {known})")
        return json.loads(rows[0][0])

    def champion(self) -> int | None:
        return self.champion_state()[0]

    def champion_state(self) -> tuple[int | None, int]:
        """``(champion version, id of the latest history event)``: cheap enough to poll."""
        rows = self._rows("SELECT version, id FROM registry_events ORDER BY id DESC LIMIT 1")
        return (int(rows[0][0]), int(rows[0][1])) if rows else (None, 0)

    def require_champion(self) -> int:
        version = self.champion()
        if version is None:
            raise NotFittedError(
                f"{self.root.parent}: no trained model yet; run `mlcraft train --project {self.root.parent}` first"
            )
        return version

    def history(self) -> list[dict[str, Any]]:
        """Every promotion and rollback, oldest first (append-only)."""
        rows = self._rows(
            "SELECT id, at, action, version, previous, by_user, reason FROM registry_events ORDER BY id"
        )
        keys = ("id", "at", "action", "version", "previous", "by", "reason")
        return [dict(zip(keys, row)) for row in rows]

    def champion_at(self, when: str | dt.datetime) -> int | None:
        """The version that was champion at ``when`` (None before the first promotion)."""
        moment = parse_time(when)
        answer = None
        for event in self.history():
            if parse_time(event["at"]) > moment:
                break
            answer = event["version"]
        return answer

    def records(self) -> list[dict[str, Any]]:
        """Every version's record, with its latest test score, for listings."""
        out = []
        for version in self.versions():
            meta = self.meta(version)
            out.append({**meta, "test": self.test_score(version, meta.get("dataset"))})
        return out

    def load(self, version: int | None = None) -> FittedModel:
        """Load a version (the champion by default), checking its file against the recorded hash.

        The model families are imported first: they register the fast outputs of the compiled
        prediction path (:mod:`mlcraft.core.predict.fastoutput`), which a loaded model builds on
        its first small batch."""
        import mlcraft.models  # noqa: F401  (registration happens on import)

        version = self.require_champion() if version is None else version
        meta = self.meta(version)
        path = self.root / str(version) / "model.joblib"
        if not path.is_file():
            raise RegistryError(
                f"model version {version}: {path} is missing; the project is damaged (roll back with `mlcraft rollback --to N`)"
            )
        if file_sha256(path) != meta.get("sha256"):
            raise RegistryError(
                f"model version {version}: model.joblib does not match its recorded SHA-256; refusing to load it"
            )
        return FittedModel.load(path)

    # -- writing ---------------------------------------------------------------------------------
    def register(self, model: FittedModel, meta: dict[str, Any]) -> int:
        """Save ``model`` as the next version and return its number (not promoted)."""
        self._import_files()
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=atomic.TMP_PREFIX + "register.", dir=self.root))
        placed: Path | None = None
        try:
            model.save(tmp / "model.joblib")
            sha = file_sha256(tmp / "model.joblib")
            with self.db.transaction(write=True) as cur:
                version = (
                    int(
                        (
                            cur.execute(
                                "SELECT COALESCE(MAX(version), 0) FROM model_versions"
                            ).fetchone()
                            or (0,)
                        )[0]
                    )
                    + 1
                )
                record = {**meta, "version": version, "sha256": sha}
                record.setdefault("created", timestamp())
                atomic.write_json(tmp / "meta.json", record)
                target = self.root / str(version)
                if target.exists():  # an orphan left by a crash between rename and commit
                    shutil.rmtree(target)
                os.rename(tmp, target)
                placed = target
                cur.execute(
                    "INSERT INTO model_versions (version, created, sha256, family, metric, cv_mean, dataset, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        version,
                        record["created"],
                        sha,
                        record.get("family"),
                        record.get("metric"),
                        _float(record.get("cv_mean")),
                        record.get("dataset"),
                        _dumps(record),
                    ),
                )
            return version
        except BaseException:
            shutil.rmtree(placed or tmp, ignore_errors=True)
            raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def promote(self, version: int, *, by: str, reason: str, action: str = "promote") -> None:
        """Make ``version`` the champion, recorded in the history."""
        with self.db.transaction(write=True) as cur:
            self._append_event(cur, version, action=action, by=by, reason=reason)

    def rollback(self, to: int | None = None, *, by: str, reason: str | None = None) -> int:
        """Make an earlier version champion again (default: the one before the current champion).

        Successive rollbacks walk back through the promotions (v3 -> v2 -> v1), like an undo stack.
        """
        with self.db.transaction(write=True) as cur:
            events = cur.execute(
                "SELECT action, version FROM registry_events ORDER BY id"
            ).fetchall()
            stack = _champion_stack(events)
            if not stack:
                raise NotFittedError(f"{self.root.parent}: no champion yet, nothing to roll back")
            current = stack[-1]
            if to is None:
                if len(stack) < 2:
                    raise RegistryError(
                        f"model version {current} is the first champion; there is no earlier one to roll back to (use --to VERSION)"
                    )
                to = stack[-2]
            if int(to) == current:
                raise RegistryError(f"model version {to} is already the champion")
            self._append_event(
                cur,
                int(to),
                action="rollback",
                by=by,
                reason=reason or f"rollback from version {current}",
            )
        return int(to)

    def _append_event(self, cur, version: int, *, action: str, by: str, reason: str) -> None:
        if action not in CHAMPION_ACTIONS:
            raise RegistryError(
                f"unknown registry action {action!r}; use one of {', '.join(CHAMPION_ACTIONS)}"
            )
        if (
            not 0 < int(version) < 2**31
            or cur.execute(
                "SELECT 1 FROM model_versions WHERE version = ?", (int(version),)
            ).fetchone()
            is None
        ):
            known = (
                ", ".join(
                    str(r[0])
                    for r in cur.execute(
                        "SELECT version FROM model_versions ORDER BY version"
                    ).fetchall()
                )
                or "none"
            )
            raise RegistryError(f"model version {version} does not exist (versions: {known})")
        row = cur.execute("SELECT version FROM registry_events ORDER BY id DESC LIMIT 1").fetchone()
        cur.execute(
            "INSERT INTO registry_events (at, action, version, previous, by_user, reason) VALUES (?, ?, ?, ?, ?, ?)",
            (timestamp(), action, int(version), None if row is None else int(row[0]), by, reason),
        )

    def record_test_score(
        self,
        version: int,
        *,
        metric: str,
        value: float,
        ci_low: float | None,
        ci_high: float | None,
        n: int,
        dataset: str | None,
    ) -> None:
        """Remember a test-set score of ``version`` on dataset version ``dataset``."""
        with self.db.transaction(write=True) as cur:
            cur.execute(
                "INSERT INTO test_scores (version, dataset, metric, value, ci_low, ci_high, n, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    int(version),
                    dataset,
                    metric,
                    float(value),
                    _float(ci_low),
                    _float(ci_high),
                    int(n),
                    timestamp(),
                ),
            )

    def test_score(self, version: int, dataset: str | None = None) -> dict[str, Any] | None:
        """The latest recorded test score of ``version`` (on ``dataset`` when given)."""
        sql = "SELECT metric, value, ci_low, ci_high, n, dataset, at FROM test_scores WHERE version = ?"
        params: tuple = (int(version),)
        if dataset is not None:
            sql, params = sql + " AND dataset = ?", (*params, dataset)
        rows = self._rows(sql + " ORDER BY id DESC LIMIT 1", params)
        if not rows:
            return None
        return dict(zip(("metric", "value", "ci_low", "ci_high", "n", "dataset", "at"), rows[0]))

    # -- projects made before the database ---------------------------------------------------------
    def _import_files(self) -> None:
        """Import ``models/<v>/meta.json``, ``champion.json`` and ``history.jsonl`` once (older projects)."""
        if self._imported:
            return
        self._imported = True
        metas = (
            sorted(self.root.glob("[0-9]*/meta.json"), key=lambda p: int(p.parent.name))
            if self.root.is_dir()
            else []
        )
        if not metas or self.db.query("SELECT COUNT(*) FROM model_versions")[0][0]:
            return
        with self.db.transaction(write=True) as cur:
            if (cur.execute("SELECT COUNT(*) FROM model_versions").fetchone() or (0,))[0]:
                return
            for path in metas:
                record = atomic.read_json(path)
                record.setdefault("created", timestamp())
                cur.execute(
                    "INSERT INTO model_versions (version, created, sha256, family, metric, cv_mean, dataset, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        int(path.parent.name),
                        record["created"],
                        record.get("sha256", ""),
                        record.get("family"),
                        record.get("metric"),
                        _float(record.get("cv_mean")),
                        record.get("dataset"),
                        _dumps(record),
                    ),
                )
            previous = None
            for event in _legacy_history(self.root):
                cur.execute(
                    "INSERT INTO registry_events (at, action, version, previous, by_user, reason) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        event.get("at") or timestamp(),
                        event.get("action", "promote"),
                        int(event["version"]),
                        previous,
                        event.get("by", "unknown"),
                        event.get("reason", "imported"),
                    ),
                )
                previous = int(event["version"])


def _legacy_history(root: Path) -> list[dict[str, Any]]:
    events = []
    path = root / "history.jsonl"
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    champion = root / "champion.json"
    if not events and champion.exists():
        events.append(atomic.read_json(champion))
    return [e for e in events if (root / str(e.get("version")) / "meta.json").exists()]


def _champion_stack(events: list[tuple]) -> list[int]:
    """The chain of champions an undo walks back through."""
    stack: list[int] = []
    for action, version in events:
        version = int(version)
        if action == "rollback" and version in stack:
            del stack[stack.index(version) + 1 :]
        elif action == "rollback":
            stack = stack[:-1] + [version]
        else:
            stack.append(version)
    return stack


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, default=jsonsafe.default, allow_nan=True)
