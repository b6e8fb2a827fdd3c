"""Linear and regularised models: linear regression, ridge, lasso, elastic net, logistic, SGD."""

from __future__ import annotations

from sklearn.linear_model import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LogisticRegression,
    Ridge,
    SGDClassifier,
    SGDRegressor,
)

from mlcraft.core.fit.family import Choice, Family, Float
from mlcraft.models._common import ALL_TASKS, CLASSIFICATION, REGRESSION, scaled_target


def _linear_cost(per_cell: float, base: float = 0.05):
    return lambda n, d: base + per_cell * n * d * max(d, 8)


FAMILIES = [
    Family(
        name="linear_regression",
        tasks=REGRESSION,
        build=lambda p, ctx: LinearRegression(),
        space=lambda task, n: {},
        cost=_linear_cost(2e-9),
        needs_scaling=True,
        description="ordinary least squares",
    ),
    Family(
        name="ridge",
        priority=80,
        tasks=REGRESSION,
        build=lambda p, ctx: Ridge(alpha=p["alpha"]),
        space=lambda task, n: {"alpha": Float(1e-3, 1e3, 1.0, log=True)},
        cost=_linear_cost(2e-9),
        needs_scaling=True,
        description="least squares with an L2 penalty",
        portfolio=lambda task, n: [{"alpha": 10.0}, {"alpha": 0.1}],
    ),
    Family(
        name="lasso",
        tasks=REGRESSION,
        build=lambda p, ctx: Lasso(alpha=p["alpha"], max_iter=5000, random_state=ctx.seed),
        space=lambda task, n: {"alpha": Float(1e-3, 1e3, 1.0, log=True)},
        cost=_linear_cost(3e-8),
        needs_scaling=True,
        description="least squares with an L1 penalty (sparse weights)",
    ),
    Family(
        name="elastic_net",
        tasks=REGRESSION,
        build=lambda p, ctx: ElasticNet(
            alpha=p["alpha"], l1_ratio=p["l1_ratio"], max_iter=5000, random_state=ctx.seed
        ),
        space=lambda task, n: {
            "alpha": Float(1e-4, 10.0, 0.01, log=True),
            "l1_ratio": Float(0.05, 0.95, 0.5),
        },
        cost=_linear_cost(1e-8),
        needs_scaling=True,
        description="least squares with L1 and L2 penalties",
    ),
    Family(
        name="logistic_regression",
        priority=80,
        tasks=CLASSIFICATION,
        build=lambda p, ctx: LogisticRegression(C=p["C"], max_iter=2000),
        space=lambda task, n: {"C": Float(1e-3, 1e3, 1.0, log=True)},
        cost=_linear_cost(3e-8, 0.02),
        needs_scaling=True,
        description="logistic (binary) or softmax (multiclass) regression",
        portfolio=lambda task, n: [{"C": 0.1}, {"C": 10.0}],
    ),
    Family(
        name="sgd",
        tasks=ALL_TASKS,
        build=lambda p, ctx: (
            scaled_target(
                SGDRegressor(alpha=p["alpha"], penalty=p["penalty"], random_state=ctx.seed)
            )
            if not ctx.kind.classification
            else SGDClassifier(
                loss="log_loss", alpha=p["alpha"], penalty=p["penalty"], random_state=ctx.seed
            )
        ),
        space=lambda task, n: {
            "alpha": Float(1e-6, 1e-1, 1e-4, log=True),
            "penalty": Choice(("l2", "l1", "elasticnet"), "l2"),
        },
        cost=_linear_cost(3e-8, 0.02),
        needs_scaling=True,
        description="linear model trained by stochastic gradient descent",
    ),
]
