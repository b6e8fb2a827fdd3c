"""The neural forecasters (mlcraft.nn.forecast): every arch, accuracy against naive, determinism,
MC dropout, the fit's deadline, pickling and bad input. Tiny series and few epochs: fast."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pytest

pytest.importorskip("torch")

from mlcraft.core.fit.family import fit_deadline  # noqa: E402
from mlcraft.exceptions import ConfigError, DataError  # noqa: E402
from mlcraft.nn.forecast import ARCHS, NeuralForecaster, loss, make_windows  # noqa: E402

H = 6


def seasonal(n: int = 72, period: int = 12, k: int = 3) -> list[np.ndarray]:
    t = np.arange(n)
    return [10 * (i + 1) + (2 + i) * np.sin(2 * np.pi * t / period + i) for i in range(k)]


def small(**kw) -> NeuralForecaster:
    return NeuralForecaster(**{"window": 12, "hidden": 8, "epochs": 2, **kw})


@pytest.mark.parametrize("arch", ARCHS)
def test_each_arch_fits_and_forecasts_the_right_shape(arch):
    series = seasonal(40) + [np.array([1.0, 2.0, 3.0])]  # a short one: padded, still forecast
    model = small(arch=arch).fit(series, horizon=H)
    out = model.forecast(series, H)
    assert out.shape == (4, H) and np.isfinite(out).all()
    assert model.forecast(series, 2 * H + 1).shape == (4, 2 * H + 1)  # recursive beyond H
    assert model.config_["training_windows"] > 0


@pytest.mark.parametrize("arch", ["gru", "nbeats"])
def test_beats_the_naive_forecast_on_a_noiseless_seasonal_series(arch):
    series = seasonal(96)
    hist, truth = [s[:-12] for s in series], np.stack([s[-12:] for s in series])
    naive = np.stack([np.repeat(h[-1], 12) for h in hist])
    model = NeuralForecaster(arch=arch, window=24, hidden=16, epochs=60, seed=0)
    model.fit(hist, horizon=12, season=12)
    mae = np.abs(model.forecast(hist, 12) - truth).mean()
    naive_mae = np.abs(naive - truth).mean()
    assert mae < 0.5 * naive_mae, (mae, naive_mae)


def test_seq2seq_trains_every_step_and_pads_short_windows_out_of_the_loss():
    train, valid = make_windows([np.arange(10.0)], window=4, horizon=2, holdout=False)
    assert valid is None and train.shape == (8, 2, 6)
    assert train[0, 1].tolist() == [0, 0, 0, 1, 1, 1]  # first window: 1 value, 3 padded steps
    import torch

    y = torch.from_numpy(train)
    target_steps = y[:, 0, 1:].unfold(1, 2, 1)[:, :4]
    exact = target_steps.clone().requires_grad_(False)
    assert float(loss(exact, y)) == 0.0  # every-step forecasts that are the truth: no loss
    wrong = exact.clone()
    wrong[0, :3] += 100.0  # errors only on padded steps of the first window: still no loss
    assert float(loss(wrong, y)) == 0.0
    wrong[0, 3] += 1.0
    assert float(loss(wrong, y)) > 0.0
    assert float(loss(y[:, 0, -2:], y)) == 0.0  # last-step forecasts (seq2seq=False)


def test_validation_holds_out_the_last_window_without_overlap():
    s = np.arange(30.0)
    train, valid = make_windows([s], window=5, horizon=3, holdout=True)
    assert valid is not None and len(valid) == 1
    # windows 1..27 end their input; the held-out one ends at 27, trained ones end by 24
    assert len(train) == (30 - 3) - 3 - 1 + 1


def test_same_seed_same_forecasts_bit_identical():
    series = seasonal(48)
    a = small(arch="gru", seed=3).fit(series, horizon=H)
    b = small(arch="gru", seed=3).fit(series, horizon=H)
    assert np.array_equal(a.forecast(series, H), b.forecast(series, H))
    assert np.array_equal(a.forecast_samples(series, H, 5), b.forecast_samples(series, H, 5))
    c = small(arch="gru", seed=4).fit(series, horizon=H)
    assert not np.array_equal(a.forecast(series, H), c.forecast(series, H))


def test_mc_dropout_samples_vary_and_centre_on_the_forecast():
    series = seasonal(72)
    model = NeuralForecaster(arch="gru", window=12, hidden=16, dropout=0.2, epochs=15)
    model.fit(series, horizon=H, season=12)
    samples = model.forecast_samples(series, H, n_samples=200)
    point = model.forecast(series, H)
    assert samples.shape == (200, 3, H)
    assert samples.std(axis=0).min() > 0  # every point has spread
    spread = np.abs(point - np.stack([s[-H:] for s in series])).mean() + samples.std(axis=0).mean()
    assert np.abs(samples.mean(axis=0) - point).mean() < 0.5 * spread


def test_a_deadline_in_the_past_stops_after_one_epoch():
    series = seasonal(48)
    with fit_deadline(time.time() - 1):
        model = small(arch="nbeats", epochs=50).fit(series, horizon=H)
    assert model.epochs_ == 1 and model.truncated_params_ == {"epochs": 1}
    assert len(model.history_["loss"]) == 1
    full = small(arch="nbeats", epochs=2).fit(series, horizon=H)
    assert full.truncated_params_ == {} and full.epochs_ == 2


def test_pickles_after_fit_and_forecasts_the_same():
    series = seasonal(40)
    model = small(arch="lstm").fit(series, horizon=H)
    blob = pickle.dumps(model)
    assert len(blob) < 200_000
    assert np.array_equal(pickle.loads(blob).forecast(series, H), model.forecast(series, H))


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and text
    return text


@pytest.mark.parametrize(
    ("series", "kwargs", "error", "words"),
    [
        ([], {"horizon": 3}, DataError, "empty"),
        ([np.array([1.0, np.nan, 3.0, 4.0, 5.0])], {"horizon": 2}, DataError, "position 1"),
        ([np.ones(10)], {"horizon": 0}, ConfigError, "horizon"),
        ([np.ones(10)], {"horizon": -2}, ConfigError, "horizon"),
        ([np.ones(3)], {"horizon": 5}, DataError, "training window"),
        ([np.ones((3, 2))], {"horizon": 1}, DataError, "1-D"),
    ],
)
def test_bad_input_is_one_clear_line(series, kwargs, error, words):
    with pytest.raises(error) as exc:
        small().fit(series, **kwargs)
    assert words in _one_line(exc)


def test_bad_settings_and_forecast_input_are_one_clear_line():
    with pytest.raises(ConfigError) as exc:
        small(arch="transformer").fit(seasonal(20), horizon=2)
    assert "arch" in _one_line(exc)
    model = small(arch="linear").fit(seasonal(20), horizon=2)
    with pytest.raises(ConfigError):
        model.forecast(seasonal(20), 0)
    with pytest.raises(DataError) as exc:
        model.forecast([np.array([1.0, np.inf])], 2)
    assert "histories[0]" in _one_line(exc)
