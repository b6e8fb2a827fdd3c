"""k-nearest neighbours."""

from __future__ import annotations

from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from mlcraft.core.fit.family import Choice, Family, Int
from mlcraft.models._common import ALL_TASKS


def _build(p, ctx):
    cls = KNeighborsRegressor if not ctx.kind.classification else KNeighborsClassifier
    return cls(n_neighbors=p["n_neighbors"], weights=p["weights"], n_jobs=ctx.n_jobs)


FAMILIES = [
    Family(
        name="knn",
        priority=40,
        tasks=ALL_TASKS,
        build=_build,
        space=lambda task, n: {
            "n_neighbors": Int(1, 50, 10, log=True),
            "weights": Choice(("distance", "uniform"), "distance"),
        },
        # fitting is cheap; predicting a fold costs about n_val * log(n_train) * d
        cost=lambda n, d: 0.05 + 1.2e-6 * n * d,
        needs_scaling=True,
        description="k-nearest neighbours",
        portfolio=lambda task, n: [
            {"n_neighbors": 5, "weights": "uniform"},
            {"n_neighbors": 25, "weights": "distance"},
        ],
        memory=lambda n, d, p: 50e6 + 8.0 * n * d * 3,
    ),
]
