"""Each training technique of the book's part II is a constructor argument that does what it says."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from torch import nn  # noqa: E402

from mlcraft.nn import (  # noqa: E402
    Callback,
    MLPClassifier,
    MLPRegressor,
    find_learning_rate,
    schedules,  # noqa: E402
)
from nn_data import FAST, classification, regression  # noqa: E402


def kinds(model, cls):
    return [m for m in model.module_.modules() if isinstance(m, cls)]


def linear_weights(model):
    return [m.weight.detach() for m in model.module_.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize(
    "name, std_of_fan_in",
    [
        ("he_normal", lambda f: np.sqrt(2 / f)),
        ("lecun_normal", lambda f: np.sqrt(1 / f)),
        ("he_uniform", lambda f: np.sqrt(2 / f)),
        ("lecun_uniform", lambda f: np.sqrt(1 / f)),
        ("glorot_normal", lambda f: np.sqrt(2 / (f + f))),
        ("glorot_uniform", lambda f: np.sqrt(2 / (f + f))),
    ],
)
def test_initializers_give_the_book_variance(name, std_of_fan_in):
    X, y = regression(n=64)
    model = MLPRegressor(
        **{**FAST, "hidden_layer_sizes": (256, 256), "max_epochs": 1},
        initializer=name,
        learning_rate=1e-9,
        schedule=None,
    )
    model.fit(X, y)
    hidden = linear_weights(model)[1]  # 256 -> 256: fan_in = fan_out = 256
    assert hidden.std().item() == pytest.approx(std_of_fan_in(256), rel=0.05)
    assert all(
        m.bias is None or torch.all(m.bias.abs() < 1e-6)
        for m in model.module_.modules()
        if isinstance(m, nn.Linear)
    )


@pytest.mark.parametrize(
    "activation, cls",
    [
        ("relu", nn.ReLU),
        ("leaky_relu", nn.LeakyReLU),
        ("prelu", nn.PReLU),
        ("rrelu", nn.RReLU),
        ("elu", nn.ELU),
        ("selu", nn.SELU),
        ("gelu", nn.GELU),
        ("swish", nn.SiLU),
    ],
)
def test_every_activation_trains(activation, cls):
    X, y = regression()
    model = MLPRegressor(**FAST, activation=activation).fit(X, y)
    assert len(kinds(model, cls)) == 2
    assert model.history_["loss"][-1] < model.history_["loss"][0]


def test_batch_norm_when_deep_layer_norm_and_dropout():
    X, y = regression()
    shallow = MLPRegressor(**FAST).fit(X, y)
    deep = MLPRegressor(**{**FAST, "hidden_layer_sizes": (16,) * 4}).fit(X, y)
    assert not kinds(shallow, nn.BatchNorm1d) and len(kinds(deep, nn.BatchNorm1d)) == 4
    assert deep.config_["batch_norm"] is True and shallow.config_["batch_norm"] is False
    ln = MLPRegressor(**FAST, layer_norm=True, dropout=0.2).fit(X, y)
    assert len(kinds(ln, nn.LayerNorm)) == 2 and len(kinds(ln, nn.Dropout)) == 2


def test_self_normalizing_is_one_argument_away():
    X, y = regression()
    model = MLPRegressor(
        **{**FAST, "hidden_layer_sizes": (16,) * 4}, self_normalizing=True, dropout=0.1
    ).fit(X, y)
    cfg = model.config_
    assert (
        cfg["activation"],
        cfg["initializer"],
        cfg["dropout_kind"],
        cfg["batch_norm"],
        cfg["scale_inputs"],
    ) == ("selu", "lecun_normal", "alpha", False, True)
    assert (
        len(kinds(model, nn.AlphaDropout)) == 4
        and len(kinds(model, nn.SELU)) == 4
        and not kinds(model, nn.BatchNorm1d)
    )
    # SELU alone also switches dropout to alpha dropout
    assert kinds(MLPRegressor(**FAST, activation="selu", dropout=0.1).fit(X, y), nn.AlphaDropout)


def test_max_norm_keeps_every_row_norm_under_the_bound():
    X, y = regression()
    free = MLPRegressor(**FAST, learning_rate=0.05).fit(X, y)
    assert (
        max(w.norm(dim=1).max().item() for w in linear_weights(free)) > 1.0
    )  # the bound below binds
    bounded = MLPRegressor(**FAST, learning_rate=0.05, max_norm=1.0).fit(X, y)
    for w in linear_weights(bounded):
        assert torch.all(w.norm(dim=1) <= 1.0 + 1e-5)


def test_l1_and_l2_penalties_shrink_the_weights():
    X, y = regression()
    settings = {**FAST, "max_epochs": 20, "learning_rate": 1e-2, "weight_decay": 0.0}
    base = MLPRegressor(**settings).fit(X, y)
    l1 = MLPRegressor(**settings, l1=5e-2).fit(X, y)
    l2 = MLPRegressor(**settings, l2=5e-2).fit(X, y)
    size = lambda m, p: sum(w.abs().pow(p).sum().item() for w in linear_weights(m))  # noqa: E731
    assert size(l1, 1) < 0.7 * size(base, 1)
    assert size(l2, 2) < 0.7 * size(base, 2)


class GradientSpy(Callback):
    """Records the largest gradient entry and the global gradient norm seen after each step."""

    def on_train_begin(self, logs):
        self.max_abs, self.max_norm = 0.0, 0.0

    def on_batch_end(self, batch, logs):
        grads = [p.grad for p in self.trainer.net.parameters() if p.grad is not None]
        self.max_abs = max(self.max_abs, max(g.abs().max().item() for g in grads))
        self.max_norm = max(
            self.max_norm, torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item()
        )


def test_gradient_clipping_by_value_and_by_norm():
    X, y = regression()
    spies = [GradientSpy() for _ in range(3)]
    MLPRegressor(**FAST, learning_rate=0.1, callbacks=[spies[0]]).fit(X, y * 100)
    MLPRegressor(**FAST, learning_rate=0.1, clip_value=0.01, callbacks=[spies[1]]).fit(X, y * 100)
    MLPRegressor(**FAST, learning_rate=0.1, clip_norm=0.05, callbacks=[spies[2]]).fit(X, y * 100)
    assert (
        spies[0].max_abs > 0.01 and spies[0].max_norm > 0.05
    )  # unclipped gradients exceed both bounds
    assert spies[1].max_abs <= 0.01 + 1e-7
    assert spies[2].max_norm <= 0.05 * (1 + 1e-4)


@pytest.mark.parametrize(
    "optimizer", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "nadam", "adamw"]
)
def test_every_optimizer_trains(optimizer):
    X, y = regression()
    rate = 0.01 if optimizer in ("sgd", "momentum", "nesterov", "adagrad") else 1e-3
    model = MLPRegressor(**FAST, optimizer=optimizer, learning_rate=rate).fit(X, y)
    expected = {
        "sgd": torch.optim.SGD,
        "momentum": torch.optim.SGD,
        "nesterov": torch.optim.SGD,
        "adagrad": torch.optim.Adagrad,
        "rmsprop": torch.optim.RMSprop,
        "adam": torch.optim.Adam,
        "nadam": torch.optim.NAdam,
        "adamw": torch.optim.AdamW,
    }[optimizer]
    assert type(model._optimizer) is expected
    if optimizer == "nesterov":
        assert (
            model._optimizer.defaults["nesterov"] and model._optimizer.defaults["momentum"] == 0.9
        )
    assert model.history_["loss"][-1] < 0.7 * model.history_["loss"][0]


def test_one_cycle_rate_peaks_mid_run():
    X, y = regression()
    model = MLPRegressor(
        **{**FAST, "max_epochs": 20}, early_stopping=False, learning_rate=0.01
    ).fit(X, y)
    rates = np.asarray(model.history_["lr"])
    peak = int(np.argmax(rates))
    assert 7 <= peak <= 10  # 45% of 20 epochs up, 45% down
    assert rates.max() == pytest.approx(0.01, rel=0.1)
    assert rates[0] < 0.25 * rates.max() and 0 < rates[-1] < 1e-4


@pytest.mark.parametrize(
    "schedule, expected",
    [
        ("power", lambda e: 0.01 / (1 + e / 20)),
        ("exponential", lambda e: 0.01 * 0.1 ** (e / 20)),
        ("piecewise", lambda e: 0.01 * (1.0 if e < 5 else 0.5 if e < 15 else 0.1)),
        ("constant", lambda e: 0.01),
    ],
)
def test_epoch_schedules_follow_their_formula(schedule, expected):
    X, y = regression()
    model = MLPRegressor(
        **{**FAST, "max_epochs": 16}, early_stopping=False, learning_rate=0.01, schedule=schedule
    ).fit(X, y)
    # history "lr" is the rate used during each epoch (epoch e of the formula is the (e + 1)-th)
    assert np.allclose(model.history_["lr"], [expected(e) for e in range(16)], rtol=1e-6)


def test_performance_schedule_cuts_the_rate_when_validation_stalls():
    X, y = regression(n=200)
    sched = schedules.PerformanceSchedule(factor=0.5, patience=1)
    model = MLPRegressor(
        **{**FAST, "max_epochs": 30},
        early_stopping=True,
        patience=30,
        learning_rate=0.05,
        schedule=sched,
    ).fit(X, y)
    rates = model.history_["lr"]
    assert rates[0] == pytest.approx(0.05) and min(rates) <= 0.0125  # halved at least twice
    halvings = np.log2(0.05 / np.asarray(rates))
    assert np.allclose(halvings, np.round(halvings)) and np.all(
        np.diff(halvings) >= 0
    )  # only ever halved


def test_lr_finder_suggests_ten_times_below_the_turning_point():
    X, y = regression(n=1000)
    model = MLPRegressor(**FAST)
    result = find_learning_rate(model, X, y, steps=150)
    assert result.suggestion == pytest.approx(result.turning_point / 10)
    assert result.losses.min() < 0.6 * result.losses[0]  # the loss falls first...
    assert result.losses[-1] > 2 * result.losses.min()  # ...then shoots up past the turning point
    assert not hasattr(model, "module_")  # the estimator given is untouched
    tuned = MLPRegressor(**FAST, learning_rate=result.suggestion, schedule=None).fit(X, y)
    assert (
        np.isfinite(tuned.history_["loss"]).all()
        and tuned.history_["loss"][-1] < tuned.history_["loss"][0]
    )


def test_classifier_techniques_work_too():
    X, y = classification()
    settings = {**FAST, "max_epochs": 20, "learning_rate": 1e-2}
    model = MLPClassifier(
        **settings, dropout=0.2, max_norm=2.0, clip_norm=1.0, l2=1e-4, optimizer="nadam"
    ).fit(X, y)
    assert model.score(X, y) > 0.7
