"""The model-family registry: every family is declared once, in its module, and listed here.

Adding a family is one module (a ``FAMILIES`` list of :class:`~mlcraft.core.fit.family.Family`) plus
one line below.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlcraft.core.fit.family import Family
from mlcraft.exceptions import ConfigError
from mlcraft.models import (
    anomaly,
    boosting,
    cluster,
    embed,
    forecasting,
    linear,
    neighbors,
    neural,
    semisupervised,
    svm,
    trees,
)

__all__ = ["REGISTRY", "get_family", "families_for", "family_names"]

_MODULES = [
    linear,
    svm,
    neighbors,
    trees,
    boosting,
    neural,
    cluster,
    embed,
    anomaly,
    semisupervised,
    forecasting,
]

REGISTRY: dict[str, Family] = {f.name: f for module in _MODULES for f in module.FAMILIES}


def family_names() -> list[str]:
    return list(REGISTRY)


def get_family(name: str) -> Family:
    if name in embed.NOT_FAMILIES:  # t-SNE, MDS, UMAP (no new rows), LDA (fits on labels)
        raise ConfigError(embed.NOT_FAMILIES[name])
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown model family {name!r}; choose one of: {', '.join(REGISTRY)}"
        ) from None


def families_for(
    task: str,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    *,
    semi_supervised: bool = False,
    options: Mapping[str, Any] | None = None,
) -> list[Family]:
    """Families that support ``task`` and whose optional dependency is installed; the
    semi-supervised ones only for a project with unlabelled rows (``semi_supervised``); each as
    the kind's settings ``options`` leave it (:meth:`Family.given`: those that cannot honour them
    are left out)."""
    names = include if include is not None else list(REGISTRY)
    chosen = [get_family(n) for n in names]
    excluded = set(exclude or ())
    out = []
    for f in chosen:
        if (
            f.supports(task)
            and f.available()
            and f.name not in excluded
            and (semi_supervised or not f.semi_supervised)
        ):
            given = f.given(options or {})
            if given is not None:
                out.append(given)
    return out
