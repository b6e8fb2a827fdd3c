"""Model versions and the champion.

``models/<version>/`` holds ``model.joblib`` and ``meta.json`` (input schema, metrics, data hash,
library versions, seed, the file's SHA-256). ``models/champion.json`` names the champion and
``models/history.jsonl`` records every promotion, append-only.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from mlcraft import atomic
from mlcraft.core.pipeline import FittedModel
from mlcraft.exceptions import NotFittedError, RegistryError
from mlcraft.workspace import now_iso

__all__ = ["ModelRegistry", "library_versions", "file_sha256"]


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


class ModelRegistry:
    """Numbered model versions in ``models/``; one of them is the champion."""

    def __init__(self, models_dir: str | os.PathLike[str]):
        self.root = Path(models_dir)

    def versions(self) -> list[int]:
        if not self.root.is_dir():
            return []
        return sorted(int(p.name) for p in self.root.iterdir() if p.is_dir() and p.name.isdigit())

    def register(self, model: FittedModel, meta: dict[str, Any]) -> int:
        """Save ``model`` as the next version (atomically) and return its number."""
        version = (self.versions() or [0])[-1] + 1
        with atomic.atomic_dir(self.root / str(version)) as tmp:
            model.save(tmp / "model.joblib")
            record = {**meta, "version": version, "sha256": file_sha256(tmp / "model.joblib")}
            atomic.write_json(tmp / "meta.json", record)
        return version

    def meta(self, version: int) -> dict[str, Any]:
        path = self.root / str(version) / "meta.json"
        if not path.exists():
            known = ", ".join(map(str, self.versions())) or "none"
            raise RegistryError(f"model version {version} does not exist (versions: {known})")
        return atomic.read_json(path)

    def champion(self) -> int | None:
        path = self.root / "champion.json"
        return atomic.read_json(path)["version"] if path.exists() else None

    def require_champion(self) -> int:
        version = self.champion()
        if version is None:
            raise NotFittedError(f"{self.root.parent}: no trained model yet; run `mlcraft train --project {self.root.parent}` first")
        return version

    def promote(self, version: int, *, by: str, reason: str, action: str = "promote") -> None:
        self.meta(version)  # must exist
        record = {"version": version, "action": action, "by": by, "reason": reason, "at": now_iso()}
        atomic.write_json(self.root / "champion.json", record)
        atomic.append_jsonl(self.root / "history.jsonl", record)

    def history(self) -> list[dict[str, Any]]:
        return atomic.read_jsonl(self.root / "history.jsonl")

    def load(self, version: int | None = None) -> FittedModel:
        """Load a version (the champion by default), checking its file against the recorded hash."""
        version = self.require_champion() if version is None else version
        meta = self.meta(version)
        path = self.root / str(version) / "model.joblib"
        if file_sha256(path) != meta.get("sha256"):
            raise RegistryError(f"model version {version}: model.joblib does not match its recorded SHA-256; refusing to load it")
        return FittedModel.load(path)
