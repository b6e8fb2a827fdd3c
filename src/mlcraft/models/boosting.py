"""Gradient boosting: scikit-learn's histogram gradient boosting and LightGBM (native categories).

Both stop at the fit's deadline (:func:`mlcraft.core.fit.family.time_left`): LightGBM through a
callback, histogram boosting by growing its iterations in chunks. With ``early_stopping`` (a searched
choice: it trades 10% of the rows for the right number of trees) LightGBM also stops when the loss
on an inner validation split (10% of the rows it is given, never a CV validation fold) has not
improved for 50 rounds.

Both register a fast output for the compiled prediction path (:mod:`mlcraft.core.predict.fastoutput`):
LightGBM's booster called on the prepared array (one thread below
:data:`~mlcraft.models.treepredict.THREADED_ROWS` rows, every core from there), histogram boosting's
trees walked all at once (:func:`mlcraft.models.treepredict.hgb_output`).
"""

from __future__ import annotations

import lightgbm
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import train_test_split

from mlcraft.core.fit.family import Choice, Family, Float, GrowWithin, Int, time_left
from mlcraft.core.predict.fastoutput import register_fast_output
from mlcraft.models import treepredict
from mlcraft.models._common import ALL_TASKS
from mlcraft.tasks import align_proba

ES_FRACTION = 0.1  # inner validation split for LightGBM's early stopping
ES_ROUNDS = 50
ES_MIN_ROWS = 500  # below this, no inner split: all rows train


def _hgb(p, ctx):
    cls = (
        HistGradientBoostingRegressor
        if not ctx.kind.classification
        else HistGradientBoostingClassifier
    )
    model = cls(
        learning_rate=p["learning_rate"],
        max_iter=p["max_iter"],
        max_leaf_nodes=p["max_leaf_nodes"],
        min_samples_leaf=p["min_samples_leaf"],
        l2_regularization=p["l2_regularization"],
        early_stopping=p["early_stopping"],  # on its own inner 10% split, as LightGBM's
        validation_fraction=0.1,
        n_iter_no_change=20,
        random_state=ctx.seed,
    )
    return GrowWithin(model, param="max_iter", chunks=4)


class _StopAtDeadline:
    """LightGBM callback: end training when the fit's deadline is near (after at least 10 rounds)."""

    def __init__(self):
        self.last = None
        self.fired = False

    def __call__(self, env):
        import time

        now = time.perf_counter()
        step = 0.0 if self.last is None else now - self.last
        self.last = now
        if env.iteration >= 10 and time_left() < 3 * step + 0.05:
            self.fired = True
            raise lightgbm.callback.EarlyStopException(
                env.iteration, env.evaluation_result_list or []
            )


class _Within:
    """Shared ``fit`` of the LightGBM estimators below: deadline, optional early stopping."""

    inner_early_stopping = False

    def fit(self, X, y, **kwargs):
        deadline = _StopAtDeadline()
        callbacks = [deadline]
        n = len(y)
        if self.inner_early_stopping and n >= ES_MIN_ROWS and self.n_estimators > ES_ROUNDS:
            stratify = np.asarray(y) if isinstance(self, lightgbm.LGBMClassifier) else None
            try:
                tr, va = train_test_split(
                    np.arange(n),
                    test_size=ES_FRACTION,
                    random_state=self.random_state,
                    stratify=stratify,
                )
            except ValueError:
                tr, va = train_test_split(
                    np.arange(n), test_size=ES_FRACTION, random_state=self.random_state
                )
            rows = (
                (lambda a, i: a.iloc[i]) if hasattr(X, "iloc") else (lambda a, i: np.asarray(a)[i])
            )
            y_arr = np.asarray(y)
            kwargs["eval_set"] = [(rows(X, va), y_arr[va])]
            callbacks.append(
                lightgbm.early_stopping(ES_ROUNDS, first_metric_only=True, verbose=False)
            )
            X, y = rows(X, tr), y_arr[tr]
        super().fit(X, y, callbacks=callbacks, **kwargs)
        self.truncated_params_ = (
            {"n_estimators": self.booster_.current_iteration()} if deadline.fired else {}
        )
        return self


class LGBMRegressor(_Within, lightgbm.LGBMRegressor):  # type: ignore[misc]  # fit: LightGBM keywords only
    """LightGBM regressor that stops at the fit's deadline."""


class LGBMClassifier(_Within, lightgbm.LGBMClassifier):  # type: ignore[misc]  # fit: LightGBM keywords only
    """LightGBM classifier that stops at the fit's deadline."""


class LGBMRegressorES(LGBMRegressor):
    """... and stops early on an inner validation split."""

    inner_early_stopping = True


class LGBMClassifierES(LGBMClassifier):
    """... and stops early on an inner validation split."""

    inner_early_stopping = True


def _lightgbm(p, ctx):
    if not ctx.kind.classification:
        cls = LGBMRegressorES if p["early_stopping"] else LGBMRegressor
    else:
        cls = LGBMClassifierES if p["early_stopping"] else LGBMClassifier
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


# -- fast outputs (the compiled prediction path) ---------------------------------------------------
def _is_fitted_lightgbm(est) -> bool:
    return isinstance(est, lightgbm.LGBMModel) and getattr(est, "_Booster", None) is not None


def _lightgbm_output(est, kind, classes, prepared):
    """The booster on the prepared array (the wrapper's checks and frames skipped)."""
    booster = est.booster_
    order = est.classes_ if kind.classification and classes is None else classes

    def lightgbm_output(X):
        out = booster.predict(
            X, num_threads=1 if len(X) < treepredict.THREADED_ROWS else 0
        )  # 0: every core
        if not kind.classification:
            return np.asarray(out, dtype=float).ravel()
        if out.ndim == 1:
            out = np.column_stack([1.0 - out, out])
        return align_proba(out, est.classes_, order)

    vars(lightgbm_output)["single_threaded"] = (
        True  # threads set by its own argument: no pool limit needed
    )
    return lightgbm_output


def _is_hgb(est) -> bool:
    return type(est) in (HistGradientBoostingRegressor, HistGradientBoostingClassifier)


def _hgb_output(est, kind, classes, prepared):
    """All trees walked at once for small batches, scikit-learn's predictor for larger ones."""

    def sklearn_output(X):  # (in the model's own class order)
        return kind.predict_raw(est, prepared.estimator_input(X), None)

    trees = treepredict.hgb_output(
        est,
        not kind.classification,
        sklearn_output,
        native_counts=prepared.native_counts,
        as_frame=prepared.as_frame,
    )
    return treepredict.in_classes(trees, est, kind, classes)


register_fast_output("lightgbm", _is_fitted_lightgbm, _lightgbm_output)
register_fast_output("hist_gradient_boosting", _is_hgb, _hgb_output)


def _booster_memory(n, d, p):
    return (
        60e6
        + 8.0 * n * d * 4
        + 2e3
        * p.get("n_estimators", p.get("max_iter", 100))
        * p.get("num_leaves", p.get("max_leaf_nodes", 31))
    )


FAMILIES = [
    Family(
        name="hist_gradient_boosting",
        priority=90,
        tasks=ALL_TASKS,
        build=_hgb,
        space=lambda task, n: {
            "learning_rate": Float(0.01, 0.3, 0.1, log=True),
            "max_iter": Int(50, 1000, 300, log=True),
            "max_leaf_nodes": Int(7, 127, 31, log=True),
            "min_samples_leaf": Int(2, 100, 20, log=True),
            "l2_regularization": Float(1e-6, 10.0, 1e-6, log=True),
            "early_stopping": Choice((False, True), False),
        },
        cost=lambda n, d: 0.3 + 300 * 6e-9 * n * d,
        categorical="native",
        handles_missing=True,
        description="scikit-learn's histogram gradient boosting",
        portfolio=lambda task, n: [
            {"learning_rate": 0.05, "max_iter": 600, "max_leaf_nodes": 63, "min_samples_leaf": 10},
            {
                "learning_rate": 0.03,
                "max_iter": 1000,
                "max_leaf_nodes": 15,
                "min_samples_leaf": 20,
                "l2_regularization": 1.0,
                "early_stopping": True,
            },
        ],
        memory=_booster_memory,
    ),
    Family(
        name="lightgbm",
        priority=100,
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
            "early_stopping": Choice((False, True), False),
        },
        cost=lambda n, d: 0.3 + 1000 * 6e-9 * n * d,
        categorical="native",
        handles_missing=True,
        description="LightGBM gradient-boosted trees (early stopping on an inner split)",
        # known-good settings (AutoGluon's and FLAML's zero-shot starting points, adapted)
        portfolio=lambda task, n: [
            {
                "n_estimators": 2000,
                "learning_rate": 0.02,
                "num_leaves": 63,
                "min_child_samples": 10,
                "colsample_bytree": 0.6,
            },
            {
                "n_estimators": 3000,
                "learning_rate": 0.05,
                "num_leaves": 128,
                "min_child_samples": 3,
                "colsample_bytree": 0.9,
                "subsample": 0.9,
                "early_stopping": True,
            },
            {
                "n_estimators": 3000,
                "learning_rate": 0.01,
                "num_leaves": 15,
                "min_child_samples": 20,
                "colsample_bytree": 0.5,
                "reg_lambda": 1.0,
            },
            {
                "n_estimators": 1000,
                "learning_rate": 0.03,
                "num_leaves": 255,
                "min_child_samples": 30,
                "subsample": 0.7,
                "colsample_bytree": 0.7,
            },
        ],
        memory=_booster_memory,
    ),
]
