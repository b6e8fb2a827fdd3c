"""Trees and forests: decision tree, random forest, extra trees, AdaBoost.

The forests register a fast output for the compiled prediction path
(:mod:`mlcraft.core.predict.fastoutput`): each tree's Cython predictor called directly
(:func:`mlcraft.models.treepredict.forest_output`), without joblib or input checks.
"""

from __future__ import annotations

from sklearn.ensemble import (
    AdaBoostClassifier,
    AdaBoostRegressor,
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from mlcraft.core.fit.family import Choice, Family, Float, GrowWithin, Int
from mlcraft.core.predict.fastoutput import register_fast_output
from mlcraft.models import treepredict
from mlcraft.models._common import ALL_TASKS, nlogn
from mlcraft.tasks import get_kind


def _decision_tree(p, ctx):
    cls = DecisionTreeRegressor if not ctx.kind.classification else DecisionTreeClassifier
    return cls(
        max_depth=p["max_depth"], min_samples_leaf=p["min_samples_leaf"], random_state=ctx.seed
    )


def _forest(regressor, classifier):
    def build(p, ctx):
        cls = regressor if not ctx.kind.classification else classifier
        max_features = p["max_features"]
        if (
            max_features == "auto"
        ):  # the usual defaults: a share of the features for regression, sqrt for classification
            max_features = 0.5 if not ctx.kind.classification else "sqrt"
        forest = cls(
            n_estimators=p["n_estimators"],
            max_features=max_features,
            min_samples_leaf=p["min_samples_leaf"],
            n_jobs=ctx.n_jobs,
            random_state=ctx.seed,
        )
        return GrowWithin(forest, param="n_estimators", chunks=4)  # stops at the fit's deadline

    return build


def _forest_memory(n, d, p):
    nodes = (
        2.0 * n / max(p.get("min_samples_leaf", 1), 1)
    )  # a fully grown tree has about 2n/leaf nodes
    return 50e6 + 8.0 * n * d * 3 + p.get("n_estimators", 100) * nodes * 120


def _forest_portfolio(task, n):
    if not get_kind(task).classification:
        return [
            {"n_estimators": 300, "max_features": 0.5, "min_samples_leaf": 1},
            {"n_estimators": 300, "max_features": 1.0, "min_samples_leaf": 2},
        ]
    return [
        {"n_estimators": 300, "max_features": "sqrt", "min_samples_leaf": 1},
        {"n_estimators": 300, "max_features": 0.5, "min_samples_leaf": 3},
    ]


def _forest_space(task, n):
    return {
        "n_estimators": Int(50, 500, 100, log=True),
        "max_features": Choice(("auto", "sqrt", 0.3, 0.5, 0.7, 1.0), "auto"),
        "min_samples_leaf": Int(1, 20, 1, log=True),
    }


_FORESTS = (
    RandomForestRegressor,
    RandomForestClassifier,
    ExtraTreesRegressor,
    ExtraTreesClassifier,
)


def _is_forest(est) -> bool:
    return type(est) in _FORESTS


def _forest_output(est, kind, classes, prepared):
    """Each tree's predictor called directly and averaged, as the forest does."""
    trees = treepredict.forest_output(est, not kind.classification)
    return treepredict.in_classes(trees, est, kind, classes)


register_fast_output("forest", _is_forest, _forest_output)


def _adaboost(p, ctx):
    regression = not ctx.kind.classification
    booster = AdaBoostRegressor if regression else AdaBoostClassifier
    tree = DecisionTreeRegressor if regression else DecisionTreeClassifier
    return booster(
        tree(max_depth=p["max_depth"]),
        n_estimators=p["n_estimators"],
        learning_rate=p["learning_rate"],
        random_state=ctx.seed,
    )


FAMILIES = [
    Family(
        name="decision_tree",
        tasks=ALL_TASKS,
        build=_decision_tree,
        space=lambda task, n: {
            "max_depth": Choice((None, 4, 8, 12, 16, 24), None),
            "min_samples_leaf": Int(1, 50, 5, log=True),
        },
        cost=lambda n, d: 0.05 + 6e-8 * nlogn(n) * d,
        categorical="ordinal",
        description="a single decision tree (CART)",
    ),
    Family(
        name="random_forest",
        priority=70,
        tasks=ALL_TASKS,
        build=_forest(RandomForestRegressor, RandomForestClassifier),
        space=_forest_space,
        cost=lambda n, d: 0.1 + 100 * 2.2e-8 * nlogn(n) * d,
        categorical="ordinal",
        description="random forest (bagged trees on random feature subsets)",
        portfolio=_forest_portfolio,
        memory=_forest_memory,
    ),
    Family(
        name="extra_trees",
        priority=60,
        tasks=ALL_TASKS,
        build=_forest(ExtraTreesRegressor, ExtraTreesClassifier),
        space=_forest_space,
        cost=lambda n, d: 0.1 + 100 * 1.3e-8 * nlogn(n) * d,
        categorical="ordinal",
        description="extremely randomised trees",
        portfolio=_forest_portfolio,
        memory=_forest_memory,
    ),
    Family(
        name="adaboost",
        tasks=ALL_TASKS,
        build=_adaboost,
        space=lambda task, n: {
            "n_estimators": Int(25, 400, 50, log=True),
            "learning_rate": Float(
                0.01, 2.0, 1.0 if get_kind(task).classification else 0.5, log=True
            ),
            "max_depth": Int(1, 6, 3),
        },
        cost=lambda n, d: 0.05 + 50 * 1.2e-8 * nlogn(n) * d,
        categorical="ordinal",
        description="AdaBoost over shallow trees",
    ),
]
