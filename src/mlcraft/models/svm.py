"""Support vector machines: linear and kernel (RBF); the kernel SVM trains on at most 20,000 rows."""

from __future__ import annotations

from sklearn.calibration import CalibratedClassifierCV
from sklearn.svm import SVC, SVR, LinearSVC, LinearSVR

from mlcraft.core.fit.family import Choice, Family, Float, Subsampled
from mlcraft.models._common import ALL_TASKS, scaled_target

KERNEL_MAX_ROWS = 20_000


def _linear_svm(p, ctx):
    if not ctx.kind.classification:
        return scaled_target(
            LinearSVR(
                C=p["C"],
                epsilon=0.0,
                loss="squared_epsilon_insensitive",
                dual="auto",
                max_iter=5000,
                random_state=ctx.seed,
            )
        )
    # LinearSVC has no probabilities: Platt scaling on 3 internal folds gives them
    return CalibratedClassifierCV(
        LinearSVC(C=p["C"], dual="auto", max_iter=5000, random_state=ctx.seed), cv=3
    )


def _kernel_svm(p, ctx):
    if not ctx.kind.classification:
        inner = scaled_target(SVR(C=p["C"], gamma=p["gamma"], epsilon=0.1))
    else:
        # Platt scaling on internal folds (scikit-learn's replacement for SVC(probability=True))
        inner = CalibratedClassifierCV(
            SVC(C=p["C"], gamma=p["gamma"], random_state=ctx.seed), cv=3, ensemble=False
        )
    return Subsampled(inner, max_rows=KERNEL_MAX_ROWS, random_state=ctx.seed)


def _kernel_cost(n: int, d: int) -> float:
    m = min(n, KERNEL_MAX_ROWS)
    return 0.05 + 2.6e-8 * m * m * (1 + d / 20)


FAMILIES = [
    Family(
        name="linear_svm",
        tasks=ALL_TASKS,
        build=_linear_svm,
        space=lambda task, n: {"C": Float(1e-3, 1e2, 1.0, log=True)},
        cost=lambda n, d: 0.02 + 2e-7 * n * d,
        needs_scaling=True,
        description="linear support vector machine",
    ),
    Family(
        name="kernel_svm",
        priority=30,
        tasks=ALL_TASKS,
        build=_kernel_svm,
        space=lambda task, n: {
            "C": Float(1e-2, 1e3, 1.0, log=True),
            "gamma": Choice(("scale", 0.01, 0.03, 0.1, 0.3, 1.0), "scale"),
        },
        cost=_kernel_cost,
        needs_scaling=True,
        portfolio=lambda task, n: [{"C": 10.0, "gamma": "scale"}, {"C": 100.0, "gamma": 0.1}],
        # the kernel cache and the support vectors grow with the (subsampled) rows
        memory=lambda n, d, p: 250e6 + 8.0 * min(n, KERNEL_MAX_ROWS) * (d + 64),
        description="support vector machine with an RBF kernel (subsampled above 20,000 rows)",
    ),
]
