"""The network estimators as scikit-learn users rely on them: tasks, weights, online learning,
pickling, embeddings, wide & deep, Monte Carlo dropout, reproducibility and the CPU path."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from sklearn.base import clone  # noqa: E402
from sklearn.metrics import recall_score  # noqa: E402

from mlcraft.nn import MLPClassifier, MLPRegressor, WideAndDeepClassifier, WideAndDeepRegressor  # noqa: E402
from nn_data import FAST, classification, regression, with_category  # noqa: E402

TRAINED = {**FAST, "max_epochs": 20, "learning_rate": 1e-2}


def test_regression_on_a_housing_scale_target_works_with_defaults():
    X, y = regression(n=500, scale=1e5)
    model = MLPRegressor(**{**TRAINED, "max_epochs": 30}).fit(X, y)
    assert model.score(X, y) > 0.9
    assert model.y_scale_[0] > 1e4  # standardised inside
    assert model.history_["val_rmse"][-1] < 0.3 * y.std()


def test_multioutput_regression_and_multiclass_binary_multilabel_classification():
    X, y = regression()
    Y = np.column_stack([y, -2 * y])
    assert MLPRegressor(**TRAINED).fit(X, Y).predict(X).shape == (300, 2)
    X, y = classification()
    multi = MLPClassifier(**TRAINED).fit(X, y)
    assert list(multi.classes_) == ["a", "b", "c"] and multi.predict_proba(X).shape == (300, 3)
    assert multi.score(X, y) > 0.8
    binary = MLPClassifier(**TRAINED).fit(X, y == "a")
    assert binary.module_.output.out_features == 1 and binary.predict_proba(X).shape == (300, 2)
    labels = np.column_stack([y == "a", y == "b", X[:, 0] > 0]).astype(int)
    multilabel = MLPClassifier(**TRAINED).fit(X, labels)
    assert multilabel.predict(X).shape == (300, 3) and set(np.unique(multilabel.predict(X))) <= {
        0,
        1,
    }
    assert multilabel.predict_proba(X).shape == (300, 3)
    assert (multilabel.predict(X) == labels).mean() > 0.8


def test_sample_weight_zero_rows_are_ignored_and_class_weight_balances():
    X, y = regression()
    flipped = np.concatenate([y, -y])
    weights = np.concatenate([np.ones_like(y), np.zeros_like(y)])
    model = MLPRegressor(**TRAINED).fit(np.vstack([X, X]), flipped, sample_weight=weights)
    assert (
        np.corrcoef(model.predict(X), y)[0, 1] > 0.9
    )  # the zero-weight copies (with -y) had no say
    rng = np.random.default_rng(0)
    Xi = rng.normal(size=(600, 4))
    yi = (Xi[:, 0] + 0.8 * rng.normal(size=600) > 1.6).astype(int)  # about 7% positives
    plain = MLPClassifier(**TRAINED).fit(Xi, yi)
    balanced = MLPClassifier(**TRAINED, class_weight="balanced").fit(Xi, yi)
    assert recall_score(yi, balanced.predict(Xi)) > recall_score(yi, plain.predict(Xi)) + 0.2


def test_partial_fit_learns_online_and_needs_classes_first():
    X, y = regression(n=600)
    model = MLPRegressor(**{**FAST, "learning_rate": 1e-2})
    scores = []
    for _ in range(4):
        for chunk in np.array_split(np.arange(600), 6):
            model.partial_fit(X[chunk], y[chunk])
        scores.append(model.score(X, y))
    assert scores[-1] > scores[0] and scores[-1] > 0.8
    assert model.n_iter_ == 24 and len(model.history_["loss"]) == 24
    Xc, yc = classification()
    with pytest.raises(ValueError, match="classes must be passed"):
        MLPClassifier(**FAST).partial_fit(Xc, yc)
    clf = MLPClassifier(**FAST).partial_fit(Xc[:50], yc[:50], classes=["a", "b", "c"])
    assert list(clf.classes_) == ["a", "b", "c"]
    clf.partial_fit(Xc[50:], yc[50:])
    fitted = MLPRegressor(**FAST).fit(X, y)  # 1cycle ends far below learning_rate...
    assert fitted.history_["lr"][-1] < 1e-5
    fitted.partial_fit(X, y)  # ...partial_fit goes on at learning_rate
    assert fitted.history_["lr"][-1] == pytest.approx(FAST.get("learning_rate", 1e-3))


def test_clone_get_set_params_and_pickle_round_trip():
    X, y = classification()
    model = WideAndDeepClassifier(**TRAINED, dropout=0.1)
    assert clone(model).get_params() == model.get_params()
    assert model.set_params(dropout=0.2).dropout == 0.2
    model.fit(X, y)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(
        again.predict_proba(X, mc_samples=5), model.predict_proba(X, mc_samples=5)
    )
    again.partial_fit(X, y)  # the optimiser is rebuilt after unpickling
    assert again.n_iter_ == model.n_iter_ + 1


def test_seeded_runs_give_identical_weights_on_cpu():
    X, y = regression()
    fits = [
        MLPRegressor(**{**FAST, "random_state": seed}, dropout=0.1).fit(X, y) for seed in (7, 7, 8)
    ]
    same = [
        torch.equal(a, b)
        for a, b in zip(
            fits[0].module_.state_dict().values(), fits[1].module_.state_dict().values()
        )
    ]
    assert all(same)
    assert not torch.equal(fits[0].module_.output.weight, fits[2].module_.output.weight)
    assert torch.get_rng_state().numel() > 0  # the global generator is restored, not consumed


def test_device_auto_is_the_cpu_here_and_cuda_without_a_gpu_is_refused():
    X, y = regression(n=100)
    model = MLPRegressor(**FAST).fit(X, y)
    assert model.device == "auto"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert next(model.module_.parameters()).device.type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            MLPRegressor(**FAST, device="cuda").fit(X, y)


def test_categories_get_embeddings_by_the_rule_of_thumb_and_few_get_one_hot():
    frame, y = with_category(n_categories=30)
    model = MLPRegressor(**TRAINED).fit(frame, y)
    (record,) = model.config_["categorical"]
    assert record == {
        "column": "city",
        "categories": 30,
        "encoding": "embedding",
        "width": round(1.6 * 31**0.56),
    }
    assert (
        model.module_.encoder.embeddings[0].num_embeddings == 31
    )  # + the slot for missing/unknown
    assert model.score(frame, y) > 0.8
    small, y_small = with_category(n_categories=4)
    assert (
        MLPRegressor(**FAST).fit(small, y_small).config_["categorical"][0]["encoding"] == "one-hot"
    )
    unseen = frame.head(3).copy()
    unseen["city"] = pd.Categorical(["nowhere", None, "c1"])
    assert np.isfinite(model.predict(unseen)).all()
    codes = np.column_stack([frame["city"].cat.codes, frame["x"]])  # integer codes by position
    by_index = MLPRegressor(**FAST, categorical_features=[0]).fit(codes, y)
    assert by_index.config_["categorical"][0]["encoding"] == "embedding"


def test_wide_and_deep_has_a_wide_path_and_an_auxiliary_output_with_loss_weights():
    X, y = regression()
    model = WideAndDeepRegressor(
        **{**TRAINED, "optimizer": "adam"},
        wide_features=[0, 1],
        deep_features=[1, 2, 3, 4],
        auxiliary_output=True,
    ).fit(X, y)
    net = model.module_
    assert net.output.in_features == 2 + 16  # wide inputs beside the last hidden layer
    assert net.deep_encoder.n_numeric == 4
    assert model.score(X, y) > 0.8
    assert np.corrcoef(model.predict_auxiliary(X), y)[0, 1] > 0.7  # the auxiliary head was trained
    frozen = WideAndDeepRegressor(
        **{**TRAINED, "optimizer": "adam", "max_epochs": 2},
        auxiliary_output=True,
        loss_weights=(1.0, 0.0),
    )
    frozen.fit(X, y)
    initial = WideAndDeepRegressor(
        **{**TRAINED, "optimizer": "adam", "max_epochs": 2, "learning_rate": 0.0},
        auxiliary_output=True,
    ).fit(X, y)
    assert torch.equal(
        frozen.module_.aux_output.weight, initial.module_.aux_output.weight
    )  # weight 0: no gradient
    by_name = WideAndDeepRegressor(**FAST, wide_features=["a"]).fit(
        pd.DataFrame(X, columns=list("abcde")), y
    )
    assert by_name.config_["wide_features"] == [0]


def test_mc_dropout_gives_spread_and_intervals_cover_held_out_rows():
    X, y = regression(n=800)
    model = MLPRegressor(**{**TRAINED, "max_epochs": 30}, dropout=0.2).fit(X[:600], y[:600])
    mean, std = model.predict(X[600:], mc_samples=50, return_std=True)
    assert std.shape == mean.shape and np.all(std > 0)
    assert np.corrcoef(mean, model.predict(X[600:]))[0, 1] > 0.99
    interval = model.predict_interval(X[600:], coverage=0.95)
    assert (
        interval.shape == (200, 2)
        and np.all(interval[:, 0] < mean)
        and np.all(mean < interval[:, 1])
    )
    coverage = np.mean((interval[:, 0] <= y[600:]) & (y[600:] <= interval[:, 1]))
    assert 0.85 <= coverage <= 1.0
    proba, spread = (
        MLPClassifier(**TRAINED, dropout=0.3)
        .fit(*classification())
        .predict_proba(X[:10, :5], mc_samples=20, return_std=True)
    )
    assert np.allclose(proba.sum(axis=1), 1) and np.all(spread.max(axis=1) > 0)
    with pytest.warns(UserWarning, match="without dropout"):
        MLPRegressor(**FAST).fit(X, y).predict(X, mc_samples=3)


def test_pipeline_routes_mc_samples_to_the_network():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = regression()
    pipe = make_pipeline(StandardScaler(), MLPRegressor(**FAST, dropout=0.2)).fit(X, y)
    mean, std = pipe.predict(X, mc_samples=10, return_std=True)
    assert np.all(std > 0)
