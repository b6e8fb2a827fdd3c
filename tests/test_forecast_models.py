"""StatsForecast local models and the global LightGBM forecaster on the panel protocol."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pandas as pd
import pytest

from mlcraft.core.fit.family import fit_deadline
from mlcraft.exceptions import DataError
from mlcraft.models.forecast import PanelBaseline, PanelInputs
from mlcraft.models.forecast_gbm import GlobalBoosting
from mlcraft.models.forecast_stats import METHODS, SEARCH_SPACES, StatsModel, seconds

pytest.importorskip("statsforecast")
pytest.importorskip("lightgbm")

H, M, T = 12, 12, 72  # horizon, season, training length


def panel(n: int = 3, length: int = T + H, seed: int = 0) -> list[np.ndarray]:
    """Seasonal series with a trend and noise (different levels)."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    return [
        (20 + 10 * k) * (1 + 0.01 * t + 0.25 * np.sin(2 * np.pi * t / M)) + rng.normal(0, 1, length)
        for k in range(n)
    ]


def mase(forecasts: np.ndarray, train: list[np.ndarray], test: list[np.ndarray]) -> float:
    """Mean absolute scaled error (scale: the one-step naive error in sample)."""
    scores = [
        np.mean(np.abs(f - y)) / np.mean(np.abs(np.diff(x)))
        for f, x, y in zip(forecasts, train, test)
    ]
    return float(np.mean(scores))


def split(series):
    return [s[:-H] for s in series], [s[-H:] for s in series]


def naive_mase(train, test) -> float:
    return mase(
        PanelBaseline("naive").fit(train, horizon=H, season=M).forecast(train, H), train, test
    )


@pytest.mark.parametrize("method", METHODS)
def test_stats_methods_beat_naive_and_survive_short_histories(method):
    train, test = split(panel(2))
    model = StatsModel(method).fit(train, horizon=H, season=M)
    f = model.forecast(train, H)
    assert f.shape == (2, H) and np.isfinite(f).all()
    assert mase(f, train, test) < naive_mase(train, test)
    short = model.forecast([train[0][:1], train[0][:3], train[0][:10]], H)
    assert short.shape == (3, H) and np.isfinite(short).all()
    assert set(SEARCH_SPACES[method]) <= set(model.get_params())


def test_stats_forecast_refits_a_new_longer_history():
    series = panel(1)[0]
    model = StatsModel("theta").fit([series[:60]], horizon=H, season=M)
    longer = model.forecast([series[:72]], H)
    fresh = StatsModel("theta").fit([series[:72]], horizon=H, season=M).forecast([series[:72]], H)
    np.testing.assert_allclose(longer, fresh)
    assert not np.allclose(longer, model.forecast([series[:60]], H))


def test_stats_quantiles_bracket_the_forecast():
    train, _ = split(panel(2))
    model = StatsModel("auto_ets").fit(train, horizon=H, season=M)
    bands = model.predict_quantiles(train + [train[0][:2]], H, levels=(80, 95))
    mean = model.forecast(train + [train[0][:2]], H)
    (lo80, hi80), (lo95, hi95) = bands[80.0], bands[95.0]
    assert lo80.shape == hi95.shape == (3, H)
    assert (lo95 <= lo80 + 1e-9).all() and (lo80 <= mean + 1e-9).all()
    assert (mean <= hi80 + 1e-9).all() and (hi80 <= hi95 + 1e-9).all()
    assert (hi95[:2] - lo95[:2] > 0).all()


def test_stats_cost_grows_with_the_panel():
    assert seconds(10_000, 200, "auto_ets") > seconds(100, 200, "auto_ets") > 0


@pytest.mark.parametrize("strategy", ["recursive", "direct"])
def test_boosting_beats_naive_is_deterministic_and_takes_short_histories(strategy):
    train, test = split(panel(6))
    params = {"strategy": strategy, "n_estimators": 60, "min_child_samples": 5}
    model = GlobalBoosting(**params).fit(train, horizon=H, season=M)
    f = model.forecast(train, H)
    assert f.shape == (6, H) and np.isfinite(f).all()
    assert mase(f, train, test) < naive_mase(train, test)
    again = GlobalBoosting(**params).fit(train, horizon=H, season=M).forecast(train, H)
    np.testing.assert_array_equal(f, again)
    short = model.forecast([train[0][:1], train[0][:2], train[0][:7]], H + 5)
    assert short.shape == (3, H + 5) and np.isfinite(short).all()
    longer = model.forecast([s[: T + 6] for s in panel(6)], H)
    assert np.isfinite(longer).all() and not np.allclose(longer, f)


def promo_panel(n: int = 12, seed: int = 1):
    """Monthly series whose value jumps by half its level on promotion months."""
    rng = np.random.default_rng(seed)
    stamps = [pd.date_range("2015-01-01", periods=T + H, freq="MS") for _ in range(n)]
    flags = [pd.DataFrame({"promo": rng.integers(0, 2, T + H)}) for _ in range(n)]
    t = np.arange(T + H)
    series = [
        (10 + 5 * k) * (1 + 0.1 * np.sin(2 * np.pi * t / M) + 0.5 * f["promo"].to_numpy())
        + rng.normal(0, 0.2, T + H)
        for k, f in enumerate(flags)
    ]
    return series, stamps, flags


def test_known_covariates_drive_the_boosting_forecast():
    series, stamps, flags = promo_panel()
    train, test = split(series)
    fit_inputs = PanelInputs([s[:T] for s in stamps], "MS", known=[f.iloc[:T] for f in flags])
    model = GlobalBoosting(n_estimators=80, min_child_samples=5).fit(
        train, horizon=H, season=M, inputs=fit_inputs
    )
    assert "known_promo" in model.feature_names_ and "cal_month" in model.feature_names_
    history = [s[:T] for s in stamps]
    on = PanelInputs(history, "MS", known=[f.assign(promo=1) for f in flags])
    off = PanelInputs(history, "MS", known=[f.assign(promo=0) for f in flags])
    gap = model.forecast(train, H, inputs=on) - model.forecast(train, H, inputs=off)
    level = np.array([np.mean(x) for x in train])[:, None]
    assert (gap > 0.2 * level).mean() > 0.9  # the promotion lifts almost every forecast
    actual = PanelInputs(history, "MS", known=flags)
    blind = GlobalBoosting(n_estimators=80, min_child_samples=5).fit(train, horizon=H, season=M)
    with_flag = mase(model.forecast(train, H, inputs=actual), train, test)
    assert with_flag < 0.5 * mase(blind.forecast(train, H), train, test)


def test_boosting_stops_at_the_deadline_and_records_what_it_fitted():
    train, _ = split(panel(4))
    with fit_deadline(time.time() - 1.0):
        model = GlobalBoosting(strategy="direct", n_estimators=200).fit(train, horizon=4, season=M)
    trees = model.truncated_params_["n_estimators"]
    assert trees < 200 and model.truncated_params_["steps"] == model.steps_ < 4
    rebuilt = GlobalBoosting(strategy="direct", **model.truncated_params_)
    np.testing.assert_array_equal(
        rebuilt.fit(train, horizon=4, season=M).forecast(train, 6), model.forecast(train, 6)
    )


def test_models_survive_pickling():
    train, _ = split(panel(3))
    for model in (
        StatsModel("auto_theta").fit(train, horizon=H, season=M),
        GlobalBoosting(n_estimators=20, min_child_samples=5).fit(train, horizon=H, season=M),
    ):
        copy = pickle.loads(pickle.dumps(model))
        np.testing.assert_array_equal(copy.forecast(train, H), model.forecast(train, H))


def test_boosting_reads_static_and_past_covariates_and_asks_for_them_later():
    series, stamps, flags = promo_panel(n=6)
    train = [s[:T] for s in series]
    static = pd.DataFrame({"shop": pd.Categorical(list("abcabc")), "size": np.arange(6.0)})
    past = [pd.DataFrame({"visits": s[:T] * 2.0}) for s in series]
    inputs = PanelInputs([s[:T] for s in stamps], "MS", static=static, past=past)
    model = GlobalBoosting(strategy="direct", steps=3, n_estimators=20, min_child_samples=5)
    model.fit(train, horizon=H, season=M, inputs=inputs)
    assert {"static_shop", "static_size", "past_visits"} <= set(model.feature_names_)
    assert model.steps_ == 3  # later steps roll forward
    f = model.forecast(train, H, inputs=inputs)  # future stamps from the stamps and freq
    assert f.shape == (6, H) and np.isfinite(f).all()
    with pytest.raises(DataError, match="calendar"):
        model.forecast(train, H)
    with pytest.raises(DataError, match="static"):
        model.forecast(train, H, inputs=PanelInputs(inputs.stamps, "MS"))
