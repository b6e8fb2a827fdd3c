"""The compiled prediction path gives scikit-learn's predictions, or is not used."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline

from mlcraft.core.analysis.metrics import Scorer, get_metric
from mlcraft.core.data.schema import infer_schema
from mlcraft.core.fit.blending import fit_blend
from mlcraft.core.fit.family import BuildContext
from mlcraft.core.predict import compiled
from mlcraft.core.predict.ensemble import BaggedModel, EnsembleModel
from mlcraft.core.predict.pipeline import FittedModel, make_pipeline, predict_array
from mlcraft.models import REGISTRY, get_family, treepredict


def awkward_frame(task: str, n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Numbers with missing values and heavy tails, a frequent and a rare-heavy category, a date."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    income = rng.lognormal(3, 1, size=n)  # heavy-tailed: the log step applies
    city = rng.choice(
        ["paris", "rome", "oslo", "lima"] + [f"rare{i}" for i in range(12)],
        size=n,
        p=[0.3, 0.3, 0.2, 0.14] + [0.005] * 12,
    )
    colour = rng.choice(["red", "green", "blue"], size=n)
    when = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, size=n), unit="D")
    signal = (
        x1
        + np.log(income) / 3
        + (colour == "red")
        + (city == "oslo") * 0.5
        + rng.normal(scale=0.3, size=n)
    )
    frame = pd.DataFrame(
        {"x1": x1, "income": income, "city": city, "colour": colour, "when": when.astype(str)}
    )
    frame.loc[::7, "x1"] = np.nan
    frame.loc[::11, "colour"] = None
    frame.loc[::13, "when"] = None
    if task == "regression":
        frame["y"] = signal * 1000
    elif task == "binary":
        frame["y"] = np.where(signal > np.median(signal), "yes", "no")
    else:
        frame["y"] = pd.qcut(signal, 3, labels=["low", "mid", "high"]).astype(str)
    return frame


def fitted(family_name: str, task: str, frame: pd.DataFrame):
    schema = infer_schema(frame, "y")
    X, _ = schema.coerce(frame)
    family = get_family(family_name)
    context = BuildContext(task=task, n_rows=len(frame), n_features=X.shape[1], seed=0)
    pipeline = make_pipeline(family, schema, family.default_params(task, len(frame)), context).fit(
        X, frame["y"]
    )
    classes = None if task == "regression" else sorted(frame["y"].unique())
    return pipeline, schema, classes, X


def unseen_rows(X: pd.DataFrame) -> pd.DataFrame:
    """The first rows with a category never seen, missing values everywhere, a far-out number."""
    rows = X.head(5).copy()
    rows.loc[rows.index[0], "city"] = "atlantis"
    rows.loc[rows.index[1], ["x1", "income", "city", "colour", "when"]] = [
        np.nan,
        np.nan,
        np.nan,
        np.nan,
        pd.NaT,
    ]
    rows.loc[rows.index[2], "income"] = 1e9
    return rows


CASES = [
    (name, task)
    for name, family in REGISTRY.items()
    for task in ("regression", "binary", "multiclass")
    if task in family.tasks
]
SLOW = (
    pytest.mark.slow
)  # hist_gradient_boosting's fits take most of this file's time: `make test` runs them


@pytest.mark.parametrize(
    ("family_name", "task"),
    [pytest.param(*c, marks=SLOW) if c[0] == "hist_gradient_boosting" else c for c in CASES],
)
def test_every_family_compiles_and_matches_scikit_learn(family_name, task):
    frame = awkward_frame(task)
    pipeline, schema, classes, X = fitted(family_name, task, frame)
    predictor = compiled.verified_predictor(pipeline, schema, task, classes)
    assert predictor is not None, f"{family_name} ({task}) has no compiled path"
    for batch in (X, X.iloc[[3]], unseen_rows(X)):
        expected = predict_array(pipeline, batch, task, classes)
        assert np.allclose(predictor(batch), expected, rtol=1e-9, atol=1e-12)


def test_lightgbm_compiled_output_is_bit_identical():
    frame = awkward_frame("regression")
    pipeline, schema, classes, X = fitted("lightgbm", "regression", frame)
    predictor = compiled.verified_predictor(pipeline, schema, "regression", None)
    assert np.array_equal(predictor(X), predict_array(pipeline, X, "regression", None))


@pytest.mark.parametrize("task", ["regression", "binary"])
def test_ensembles_compile_with_shared_preparation(task):
    frame = awkward_frame(task)
    members, names = (
        [],
        [
            "lightgbm",
            "random_forest",
            "ridge" if task == "regression" else "logistic_regression",
            "lightgbm",
        ],
    )
    for name in names:
        pipeline, schema, classes, X = fitted(name, task, frame)
        members.append(pipeline)
    y = frame["y"].to_numpy()
    outputs = [predict_array(m, X, task, classes) for m in members]
    metric = "rmse" if task == "regression" else "log_loss"
    scorer = Scorer(
        get_metric(metric), classes=classes, positive_class=None if classes is None else classes[-1]
    )
    target = y.astype(float) if task == "regression" else y
    for model in (
        EnsembleModel(
            members=members,
            blend=fit_blend("stacking", outputs, target, scorer, task),
            task=task,
            classes=classes,
            names=names,
        ).share_preparation(),
        EnsembleModel(
            members=members,
            blend=fit_blend("caruana", outputs, target, scorer, task),
            task=task,
            classes=classes,
            names=names,
        ).share_preparation(),
        BaggedModel(members=members, task=task, classes=classes, names=names).share_preparation(),
    ):
        assert (
            model.prepare_keys_[0] == model.prepare_keys_[3]
        )  # the two LightGBM members share theirs
        predictor = compiled.verified_predictor(model, schema, task, classes)
        assert predictor is not None
        assert np.allclose(
            predictor(X), predict_array(model, X, task, classes), rtol=1e-9, atol=1e-12
        )


class Doubler(TransformerMixin, BaseEstimator):
    """A transformer the compiler does not know."""

    def fit(self, X, y=None):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X):
        return np.asarray(X, dtype=float) * 2


def test_an_unknown_step_keeps_the_scikit_learn_path():
    frame = awkward_frame("regression")
    schema = infer_schema(frame, "y")
    X, _ = schema.coerce(frame)
    prepare = ColumnTransformer(
        [("num", Pipeline([("impute", SimpleImputer()), ("double", Doubler())]), ["x1", "income"])]
    )
    pipeline = Pipeline([("prepare", prepare), ("model", Ridge())])
    pipeline.fit(X, frame["y"])
    with pytest.raises(compiled.NotCompilable):
        compiled.compile_predictor(pipeline, "regression", None)
    model = FittedModel(pipeline, schema, "regression", "custom", {})
    assert model.compiled() is None
    assert np.array_equal(model.predict_raw(X), predict_array(pipeline, X, "regression", None))


def test_a_compiled_path_that_disagrees_on_the_probe_rows_is_not_used(monkeypatch):
    frame = awkward_frame("regression")
    pipeline, schema, _, X = fitted("ridge", "regression", frame)
    real = compiled.compile_predictor

    def off_by_a_little(*args):
        inner = real(*args)
        return lambda features: inner(features) * (1 + 1e-6)

    monkeypatch.setattr(compiled, "compile_predictor", off_by_a_little)
    assert compiled.verified_predictor(pipeline, schema, "regression", None) is None


def test_the_compiled_path_is_used_for_small_batches_and_not_saved(tmp_path):
    frame = awkward_frame("binary")
    pipeline, schema, classes, X = fitted("lightgbm", "binary", frame)
    model = FittedModel(
        pipeline, schema, "binary", "lightgbm", {}, classes=classes, positive_class="yes"
    )
    calls = []
    fast = model.compiled()
    model.__dict__["_compiled"] = lambda f: calls.append(len(f)) or fast(f)
    assert np.array_equal(
        model.predict_raw(X.head(3)), predict_array(pipeline, X.head(3), "binary", classes)
    )
    assert calls == [3]
    plain = FittedModel(
        pipeline, schema, "binary", "lightgbm", {}, classes=classes, positive_class="yes"
    )
    assert pickle.dumps(model) == pickle.dumps(
        plain
    )  # the compiled path is rebuilt after loading, never saved
    model.save(tmp_path / "m.joblib")
    again = FittedModel.load(tmp_path / "m.joblib")
    assert "_compiled" not in again.__dict__
    assert np.array_equal(again.predict(X).frame.to_numpy(), plain.predict(X).frame.to_numpy())


def test_a_compiled_path_that_fails_at_run_time_falls_back_to_scikit_learn():
    frame = awkward_frame("regression")
    pipeline, schema, _, X = fitted("lightgbm", "regression", frame)
    model = FittedModel(pipeline, schema, "regression", "lightgbm", {})
    assert model.compiled() is not None

    def broken(features):
        raise ValueError("a case the compiled path did not foresee")

    model.__dict__["_compiled"] = broken
    assert np.array_equal(
        model.predict_raw(X.head(4)), predict_array(pipeline, X.head(4), "regression", None)
    )


def test_large_batches_give_the_same_lightgbm_predictions_on_every_core(monkeypatch):
    frame = awkward_frame("multiclass", n=600)
    pipeline, schema, classes, X = fitted("lightgbm", "multiclass", frame)
    predictor = compiled.verified_predictor(pipeline, schema, "multiclass", classes)
    one_thread = predictor(X)
    monkeypatch.setattr(treepredict, "THREADED_ROWS", 100)
    assert np.array_equal(predictor(X), one_thread)


def test_a_subsampled_lightgbm_calls_its_booster(monkeypatch):
    """A model wrapped for large data (``Subsampled``, as the memory plan does) is unwrapped first:
    LightGBM inside it still takes the booster path, not the wrapper's scikit-learn predict."""
    import lightgbm

    from mlcraft.core.fit.family import Subsampled

    frame = awkward_frame("regression")
    schema = infer_schema(frame, "y")
    X, _ = schema.coerce(frame)
    family = get_family("lightgbm")
    context = BuildContext(task="regression", n_rows=len(frame), n_features=X.shape[1], seed=0)
    pipeline = make_pipeline(
        family, schema, family.default_params("regression", len(frame)), context
    )
    pipeline.steps[-1] = (
        pipeline.steps[-1][0],
        Subsampled(pipeline.steps[-1][1], max_rows=200, random_state=0),
    )
    pipeline.fit(X, frame["y"])
    batches = [X, X.iloc[[3]], unseen_rows(X)]
    expected = [predict_array(pipeline, b, "regression", None) for b in batches]
    predictor = compiled.verified_predictor(pipeline, schema, "regression", None)

    def no_sklearn_predict(*args, **kwargs):
        raise AssertionError("LightGBM's scikit-learn predict was called")

    monkeypatch.setattr(lightgbm.LGBMRegressor, "predict", no_sklearn_predict)
    for batch, want in zip(batches, expected):
        assert np.array_equal(predictor(batch), want)


def _inner(pipeline):
    est = pipeline.steps[1][1]
    return getattr(est, "estimator_", est)


@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
def test_histogram_boosting_walks_all_trees_at_once_with_categorical_splits(task, monkeypatch):
    frame = awkward_frame(task)
    pipeline, schema, classes, X = fitted("hist_gradient_boosting", task, frame)
    inner = _inner(pipeline)
    stacked = treepredict._Stacked(inner)
    assert stacked.has_categories  # native categories: the bitset rule is exercised
    batches = [X, X.iloc[[3]], unseen_rows(X)]
    expected = [predict_array(pipeline, b, task, classes) for b in batches]
    predictor = compiled.verified_predictor(pipeline, schema, task, classes)

    def no_per_iteration_calls(*args, **kwargs):
        raise AssertionError("scikit-learn's per-iteration predictor was called")

    monkeypatch.setattr(type(inner), "_raw_predict", no_per_iteration_calls)
    for batch, want in zip(batches, expected):
        assert np.allclose(predictor(batch), want, rtol=1e-9, atol=1e-12)


@SLOW
def test_histogram_boosting_keeps_scikit_learn_for_large_batches(monkeypatch):
    frame = awkward_frame("regression")
    pipeline, schema, classes, X = fitted("hist_gradient_boosting", "regression", frame)
    monkeypatch.setattr(
        treepredict, "STACKED_CELLS", 10
    )  # every batch of 2 rows or more is "large"
    predictor = compiled.compile_predictor(pipeline, "regression", None)
    calls = []
    original = type(_inner(pipeline))._raw_predict
    monkeypatch.setattr(
        type(_inner(pipeline)),
        "_raw_predict",
        lambda self, *a, **k: calls.append(1) or original(self, *a, **k),
    )
    assert np.allclose(predictor(X), predict_array(pipeline, X, "regression", None), rtol=1e-9)
    assert calls  # scikit-learn's predictor served the large batch


@pytest.mark.parametrize("family_name", ["random_forest", "extra_trees"])
@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_forests_call_their_trees_directly(family_name, task, monkeypatch):
    frame = awkward_frame(task)
    pipeline, schema, classes, X = fitted(family_name, task, frame)
    batches = [X, X.iloc[[3]], unseen_rows(X)]
    expected = [predict_array(pipeline, b, task, classes) for b in batches]
    predictor = compiled.verified_predictor(pipeline, schema, task, classes)
    inner = _inner(pipeline)

    def no_forest_call(*args, **kwargs):
        raise AssertionError("the forest's own predict was called")

    monkeypatch.setattr(
        type(inner), "predict" if task == "regression" else "predict_proba", no_forest_call
    )
    for batch, want in zip(batches, expected):
        assert np.allclose(predictor(batch), want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "family_name", ["random_forest", pytest.param("hist_gradient_boosting", marks=SLOW)]
)
def test_tree_ensembles_share_large_batches_among_cores(family_name, monkeypatch):
    frame = awkward_frame("multiclass", n=600)
    pipeline, schema, classes, X = fitted(family_name, "multiclass", frame)
    predictor = compiled.verified_predictor(pipeline, schema, "multiclass", classes)
    assert getattr(
        predictor, "single_threaded", False
    )  # it chooses its threads: no pool limit around it
    expected = predict_array(pipeline, X, "multiclass", classes)
    monkeypatch.setattr(treepredict, "THREADED_ROWS", 100)
    assert np.allclose(predictor(X), expected, rtol=1e-9, atol=1e-12)
