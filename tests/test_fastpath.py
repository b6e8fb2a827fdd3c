"""Families register their own fast outputs for the compiled prediction path; core knows none.

A saved model loaded the way a user's predict path loads it (``Project.load_model``, the registry)
finds the families' fast outputs registered; an estimator nobody registered takes the generic path
(its own ``predict`` / ``predict_proba`` on the compiled preparation) and gives the same values.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin

from mlcraft.core.data.schema import infer_schema
from mlcraft.core.fit.family import BuildContext
from mlcraft.core.predict import compiled, fastoutput
from mlcraft.core.predict.ensemble import BaggedModel
from mlcraft.core.predict.pipeline import FittedModel, make_pipeline, predict_array
from mlcraft.models import get_family

SRC = Path(__file__).resolve().parents[1] / "src"


def small_frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.lognormal(1, 1, size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    signal = x1 + np.log(x2) / 2 + (colour == "red") + rng.normal(scale=0.5, size=n)
    frame = pd.DataFrame({"x1": x1, "x2": x2, "colour": colour})
    frame.loc[::9, "x1"] = np.nan
    frame.loc[::7, "colour"] = None
    frame["y"] = np.where(signal > np.median(signal), "yes", "no")
    return frame


SMALL_PARAMS = {"lightgbm": {"n_estimators": 40}, "random_forest": {"n_estimators": 25}}


def fitted(family_name: str, task: str, frame: pd.DataFrame, schema=None, **params):
    schema = schema if schema is not None else infer_schema(frame, "y")
    X, _ = schema.coerce(frame)
    family = get_family(family_name)
    context = BuildContext(task=task, n_rows=len(frame), n_features=X.shape[1], seed=0)
    chosen = {**family.default_params(task, len(frame)), **params}
    pipeline = make_pipeline(family, schema, chosen, context).fit(X, frame["y"])
    return pipeline, schema, X


def run_fresh(code: str) -> dict:
    """``code`` in a new interpreter (nothing imported yet); it prints one JSON object."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- (a) a saved model, loaded as a user's predict path loads it -----------------------------------
def test_a_loaded_model_takes_its_familys_registered_fast_output(tmp_path):
    import mlcraft

    frame = small_frame()
    project = mlcraft.Project.create(tmp_path / "project", frame, "y", task="binary")
    train = project.training_frame()
    for family_name in ("random_forest", "lightgbm"):  # versions 1 and 2
        pipeline, _, _ = fitted(
            family_name, "binary", train, project.schema, **SMALL_PARAMS[family_name]
        )
        model = FittedModel(
            pipeline, project.schema, "binary", family_name, {}, classes=["no", "yes"]
        )
        version = project.registry.register(
            model, {"family": family_name, "metric": "roc_auc", "cv_mean": 0.5}
        )
        project.registry.promote(version, by="test", reason="a test's model")
    frame.to_pickle(tmp_path / "rows.pkl")
    out = run_fresh(
        f"""
        import json, sys
        import numpy as np, pandas as pd
        import mlcraft

        project = mlcraft.Project({str(tmp_path / "project")!r})
        rows = pd.read_pickle({str(tmp_path / "rows.pkl")!r}).drop(columns="y")
        out = {{"families imported before loading": "mlcraft.models" in sys.modules}}
        for version in (1, 2):  # the forest first: its pickle does not import the families
            model = project.load_model(version)
            served = model.predict(rows.head(5)).frame  # small batch: the compiled path
            fast = model.compiled()
            features, _ = model.schema.coerce(rows)
            want = model.pipeline.predict_proba(features)
            out[model.family] = {{
                "path": getattr(fast, "path", None),
                "fast": float(np.max(np.abs(fast(features) - want))),
                "served": float(np.max(np.abs(served[["proba_no", "proba_yes"]].to_numpy()
                                               - want[:5]))),
            }}
        print(json.dumps(out))
        """
    )
    assert out["families imported before loading"] is False
    assert out["random_forest"]["path"] == "forest"
    assert out["lightgbm"]["path"] == "lightgbm"
    for family_name in ("random_forest", "lightgbm"):
        assert out[family_name]["fast"] <= 1e-9
        assert out[family_name]["served"] <= 1e-9


def test_without_the_families_imported_the_generic_path_gives_the_same_answers(tmp_path):
    import lightgbm

    frame = small_frame()
    classes = ["no", "yes"]
    forest, schema, X = fitted("random_forest", "binary", frame, n_estimators=25)
    booster, _, _ = fitted("lightgbm", "binary", frame, n_estimators=40)
    booster.steps[-1] = (
        "model",
        lightgbm.LGBMClassifier(n_estimators=40, verbose=-1, random_state=0),
    )  # LightGBM's own class: unpickling it does not import mlcraft's families
    booster.fit(X, frame["y"])
    for name, pipeline in (("forest", forest), ("plain_lightgbm", booster)):
        FittedModel(pipeline, schema, "binary", name, {}, classes=classes).save(
            tmp_path / f"{name}.joblib"
        )
    X.to_pickle(tmp_path / "features.pkl")
    out = run_fresh(
        f"""
        import json, sys
        import numpy as np, pandas as pd
        from mlcraft.core.predict.pipeline import FittedModel

        features = pd.read_pickle({str(tmp_path / "features.pkl")!r})
        out = {{}}
        for name in ("forest", "plain_lightgbm"):
            model = FittedModel.load({str(tmp_path)!r} + f"/{{name}}.joblib")
            fast = model.compiled()
            want = model.pipeline.predict_proba(features)
            out[name] = {{"path": fast.path, "diff": float(np.max(np.abs(fast(features) - want)))}}
        out["families imported"] = "mlcraft.models" in sys.modules
        print(json.dumps(out))
        """
    )
    assert out["families imported"] is False
    for name in ("forest", "plain_lightgbm"):
        assert out[name]["path"] == "generic"
        assert out[name]["diff"] <= 1e-9


# -- (b) an estimator no family registered ---------------------------------------------------------
@pytest.mark.parametrize(("family_name", "task"), [("ridge", "regression"), ("knn", "binary")])
def test_an_unregistered_estimator_takes_the_generic_path(family_name, task):
    frame = small_frame()
    if task == "regression":
        frame["y"] = frame["x1"].fillna(0) * 3 + np.log(frame["x2"])
    classes = None if task == "regression" else ["no", "yes"]
    pipeline, schema, X = fitted(family_name, task, frame)
    assert fastoutput.fast_output_for(pipeline.steps[-1][1]) is None
    predictor = compiled.verified_predictor(pipeline, schema, task, classes)
    assert predictor is not None and predictor.path == "generic"
    for batch in (X, X.iloc[[4]]):
        expected = predict_array(pipeline, batch, task, classes)
        assert np.allclose(predictor(batch), expected, rtol=1e-9, atol=1e-12)


def test_the_families_register_their_fast_outputs():
    assert {"lightgbm", "hist_gradient_boosting", "forest"} <= set(fastoutput.fast_outputs())
    frame = small_frame()
    pipeline, schema, X = fitted("random_forest", "binary", frame, n_estimators=10)
    predictor = compiled.compile_predictor(pipeline, "binary", ["no", "yes"])
    assert predictor.path == "forest"
    assert np.allclose(
        predictor(X), pipeline.predict_proba(X), rtol=1e-9, atol=1e-12
    )  # (the GrowWithin wrapper is looked through)


# -- (c) a fast output registered for a toy estimator ---------------------------------------------
class Toy(RegressorMixin, BaseEstimator):
    """Least squares, predicting through a Python loop (slow on purpose)."""

    def fit(self, X, y):
        A = np.column_stack([np.asarray(X, dtype=float), np.ones(len(X))])
        self.coef_ = np.linalg.lstsq(A, np.asarray(y, dtype=float), rcond=None)[0]
        return self

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        return np.array([row @ self.coef_[:-1] + self.coef_[-1] for row in X])


@pytest.fixture
def registry(monkeypatch):
    """The fast-output registry, restored after the test."""
    monkeypatch.setattr(fastoutput, "_REGISTRY", dict(fastoutput._REGISTRY))
    return fastoutput


def toy_pipeline():
    frame = small_frame()
    frame["y"] = frame["x1"].fillna(0) * 3 + np.log(frame["x2"]) + (frame["colour"] == "red")
    pipeline, schema, X = fitted("ridge", "regression", frame)
    pipeline.steps[-1] = ("model", Toy())
    return pipeline.fit(X, frame["y"]), schema, X


def test_a_registered_fast_output_is_used_for_its_estimator(registry):
    pipeline, schema, X = toy_pipeline()
    built = []

    def toy_output(est, kind, classes, prepared):
        built.append((type(est).__name__, kind.name, classes))
        coef, intercept = est.coef_[:-1], est.coef_[-1]
        return lambda A: A @ coef + intercept

    registry.register_fast_output("toy", lambda est: isinstance(est, Toy), toy_output)
    assert registry.fast_output_for(pipeline.steps[-1][1]).name == "toy"
    predictor = compiled.verified_predictor(pipeline, schema, "regression", None)
    assert predictor is not None and predictor.path == "toy"
    assert built == [("Toy", "regression", None)]
    assert np.allclose(
        predictor(X), predict_array(pipeline, X, "regression", None), rtol=1e-9, atol=1e-12
    )
    model = FittedModel(pipeline, schema, "regression", "toy", {})
    assert model.compiled().path == "toy"
    registry.unregister_fast_output("toy")
    assert compiled.compile_predictor(pipeline, "regression", None).path == "generic"


def test_a_builder_may_decline_or_refuse(registry):
    pipeline, schema, X = toy_pipeline()
    registry.register_fast_output("declines", lambda est: isinstance(est, Toy), lambda *a: None)
    assert compiled.compile_predictor(pipeline, "regression", None).path == "generic"

    def refuses(*args):
        raise fastoutput.NotCompilable("a toy this builder does not know")

    registry.register_fast_output("declines", lambda est: isinstance(est, Toy), refuses)
    with pytest.raises(compiled.NotCompilable):
        compiled.compile_predictor(pipeline, "regression", None)
    assert compiled.verified_predictor(pipeline, schema, "regression", None) is None
    model = FittedModel(pipeline, schema, "regression", "toy", {})
    assert np.array_equal(
        model.predict_raw(X.head(3)), predict_array(pipeline, X.head(3), "regression", None)
    )  # scikit-learn's path


def test_an_ensemble_compiles_itself_through_its_own_method(registry):
    pipeline, schema, X = toy_pipeline()
    registry.register_fast_output(
        "toy",
        lambda est: isinstance(est, Toy),
        lambda est, kind, classes, prepared: lambda A: A @ est.coef_[:-1] + est.coef_[-1],
    )
    frame = small_frame()
    frame["y"] = frame["x1"].fillna(0) * 3 + np.log(frame["x2"]) + (frame["colour"] == "red")
    ridge, _, _ = fitted("ridge", "regression", frame, schema)
    model = BaggedModel(members=[pipeline, ridge], task="regression").share_preparation()
    assert model.prepare_keys_[0] == model.prepare_keys_[1]  # one preparation, run once
    predictor = compiled.verified_predictor(model, schema, "regression", None)
    assert predictor is not None and predictor.path == "BaggedModel[toy, generic]"
    assert np.allclose(
        predictor(X), predict_array(model, X, "regression", None), rtol=1e-9, atol=1e-12
    )
