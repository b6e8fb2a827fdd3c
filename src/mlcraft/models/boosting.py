"""Gradient boosting: scikit-learn's histogram gradient boosting and LightGBM (native categories)."""

from __future__ import annotations

from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from mlcraft.core.estimator import Family, Float, Int
from mlcraft.models._common import ALL_TASKS


def _hgb(p, ctx):
    cls = HistGradientBoostingRegressor if ctx.task == "regression" else HistGradientBoostingClassifier
    return cls(
        learning_rate=p["learning_rate"],
        max_iter=p["max_iter"],
        max_leaf_nodes=p["max_leaf_nodes"],
        min_samples_leaf=p["min_samples_leaf"],
        l2_regularization=p["l2_regularization"],
        early_stopping=False,
        random_state=ctx.seed,
    )


def _lightgbm(p, ctx):
    import lightgbm

    cls = lightgbm.LGBMRegressor if ctx.task == "regression" else lightgbm.LGBMClassifier
    return cls(
        n_estimators=p["n_estimators"],
        learning_rate=p["learning_rate"],
        num_leaves=p["num_leaves"],
        min_child_samples=p["min_child_samples"],
        subsample=p["subsample"],
        subsample_freq=1,
        colsample_bytree=p["colsample_bytree"],
        reg_lambda=p["reg_lambda"],
        random_state=ctx.seed,
        n_jobs=ctx.n_jobs,
        deterministic=True,
        force_col_wise=True,
        verbose=-1,
    )


FAMILIES = [
    Family(
        name="hist_gradient_boosting",
        tasks=ALL_TASKS,
        build=_hgb,
        space=lambda task, n: {
            "learning_rate": Float(0.01, 0.3, 0.1, log=True),
            "max_iter": Int(50, 1000, 300, log=True),
            "max_leaf_nodes": Int(7, 127, 31, log=True),
            "min_samples_leaf": Int(2, 100, 20, log=True),
            "l2_regularization": Float(1e-6, 10.0, 1e-6, log=True),
        },
        cost=lambda n, d: 0.3 + 300 * 6e-9 * n * d,
        categorical="native",
        handles_missing=True,
        description="scikit-learn's histogram gradient boosting",
    ),
    Family(
        name="lightgbm",
        tasks=ALL_TASKS,
        build=_lightgbm,
        space=lambda task, n: {
            "n_estimators": Int(100, 3000, 1000, log=True),
            "learning_rate": Float(0.005, 0.3, 0.03, log=True),
            "num_leaves": Int(7, 255, 31, log=True),
            "min_child_samples": Int(2, 100, 20, log=True),
            "subsample": Float(0.5, 1.0, 0.8),
            "colsample_bytree": Float(0.3, 1.0, 0.8),
            "reg_lambda": Float(1e-6, 10.0, 1e-6, log=True),
        },
        cost=lambda n, d: 0.3 + 1000 * 6e-9 * n * d,
        categorical="native",
        handles_missing=True,
        description="LightGBM gradient-boosted trees",
    ),
]
