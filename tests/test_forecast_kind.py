"""The forecast kind: framing a long table, the last-horizon test set, backtest folds that never
see their own future, MASE, reproducible fixed-trial runs, forecasts from a longer history, and
bad input refused in one line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from mlcraft.api import Project
from mlcraft.core.analysis.metrics import Scorer, get_metric
from mlcraft.core.data import timeseries
from mlcraft.core.fit.trainer import training_data
from mlcraft.exceptions import ConfigError, DataError
from mlcraft.tasks import get_kind
from mlcraft.tasks.forecast import SCALE, seasonal_scale

H = 4


def panel(n_series=3, length=40, freq="MS", seed=0) -> pd.DataFrame:
    """Seasonal series with a trend and noise, one row per series and month."""
    rng = np.random.default_rng(seed)
    parts = []
    for s in range(n_series):
        t = np.arange(length)
        y = 50 + 10 * s + 0.3 * t + 5 * np.sin(2 * np.pi * t / 12 + s) + rng.normal(0, 0.5, length)
        stamps = pd.date_range("2015-01-01", periods=length, freq=freq)
        parts.append(pd.DataFrame({"shop": f"s{s}", "when": stamps.strftime("%Y-%m-%d"), "y": y}))
    return pd.concat(parts, ignore_index=True)


def create(tmp_path, frame, name="p", **extra):
    return Project.create(
        tmp_path / name,
        frame,
        "y",
        task="forecast",
        time="when",
        series_id=["shop"],
        horizon=H,
        **extra,
    )


def test_framing_sets_the_last_horizon_aside(tmp_path):
    frame = panel().sample(frac=1.0, random_state=0)  # rows in any order
    project = create(tmp_path, frame)
    cfg = project.config
    assert (cfg.frequency, cfg.season, cfg.horizon, cfg.series_id) == ("MS", 12, H, ("shop",))
    test = project.test_frame()
    assert len(test) == 3 * H
    train = project.training_frame()
    for shop, rows in test.groupby("shop"):
        assert rows["when"].min() > train[train.shop == shop]["when"].max()
    assert cfg.metric == "mase" and cfg.split_method == "last horizon"


def test_backtest_windows_never_see_their_own_future(tmp_path):
    """By construction: every training row of a fold is strictly before every held-out row of
    the same series, each window holds H consecutive rows per series, windows do not overlap."""
    frame = panel(length=30)
    frame = frame[~((frame.shop == "s2") & (frame.index % 30 < 12))]  # a shorter series
    project = create(tmp_path, frame)
    data = training_data(
        project.config,
        project.schema,
        project.dataset(),
        project.workspace.read_split(project.config.dataset),
    )
    assert len(data.folds) == 5
    seen = set()
    for train, held in data.folds:
        assert not seen & set(held)
        seen |= set(held)
        X = data.X
        for shop in X["shop"].unique():
            tr = X.iloc[train][X.iloc[train]["shop"] == shop]["when"]
            va = X.iloc[held][X.iloc[held]["shop"] == shop]["when"]
            if len(va):
                assert len(va) == H and tr.max() < va.min()
                assert (va.diff().dropna().dt.days < 32).all()
    # the scale of each held-out row comes from its series' history before the window
    train, held = data.folds[0]
    row = held[0]
    shop = data.X["shop"].iloc[row]
    before = data.y.iloc[train][data.X.iloc[train]["shop"].to_numpy() == shop]["y"].to_numpy()
    assert data.y[SCALE].iloc[row] == pytest.approx(seasonal_scale(before, 12))
    assert np.isnan(
        data.y[SCALE].to_numpy()[np.setdiff1d(np.arange(len(data.y)), list(seen))]
    ).all()


def test_mase_by_hand():
    y = np.array([[10.0, 2.0], [12.0, 2.0], [5.0, np.nan]])
    pred = np.array([11.0, 8.0, np.nan])  # the last row is in no window: not scored
    scorer = Scorer(get_metric("mase", "forecast"))
    assert scorer(y, pred) == pytest.approx((0.5 + 2.0) / 2)
    assert Scorer(get_metric("rmse", "forecast"))(y, pred) == pytest.approx(np.sqrt((1 + 16) / 2))
    assert np.isnan(scorer(y, np.array([np.nan, 8.0, 1.0])))  # a scored row left unforecast
    with pytest.raises(ConfigError):
        get_metric("roc_auc", "forecast")


@pytest.mark.slow
def test_fixed_trials_reproduce_and_history_extends(tmp_path):
    frame = panel(length=36)
    forecasts = []
    for name in ("a", "b"):
        project = create(tmp_path, frame, name=name)
        result = project.train(max_trials=4, families=["seasonal_naive", "window_linear"])
        assert result.leaderboard is not None
        forecasts.append(project.forecast())
    pd.testing.assert_frame_equal(forecasts[0], forecasts[1])
    out = forecasts[0]
    assert list(out.columns) == ["shop", "when", "y", "y_lo_80", "y_hi_80", "y_lo_95", "y_hi_95"]
    assert len(out) == 3 * H and out["when"].min() == pd.Timestamp("2018-01-01")
    assert ((out.y_lo_95 <= out.y_lo_80) & (out.y_lo_80 <= out.y) & (out.y <= out.y_hi_80)).all()
    with pytest.raises(ConfigError, match="without covariates known in the future"):
        project.forecast(future_covariates=out)
    with pytest.raises(ConfigError, match="whole percents between 1 and 99"):
        project.forecast(levels=[0])
    wide = project.forecast(levels=[50, 99])
    assert (wide.y_hi_99 >= wide.y_hi_50).all()
    evaluation = project.evaluate()
    assert evaluation.metric == "mase" and 0 < evaluation.value < 2
    newer = panel(length=38).groupby("shop").tail(2)  # two more months per series
    extended = project.forecast(history=newer)
    assert extended["when"].min() == pd.Timestamp("2018-03-01")
    assert not np.allclose(extended.y.to_numpy(), out.y.to_numpy())


def test_regularise_fills_gaps_and_reports_them():
    frame = panel(n_series=1, length=24).drop(index=[5, 6]).reset_index(drop=True)
    regular = timeseries.regularise(
        frame, time="when", series_id=["shop"], target="y", frequency=None, where="data.csv"
    )
    assert len(regular.frame) == 24 and regular.filled == 2
    assert any("2 missing time stamp(s)" in n for n in regular.notes)
    a, b = frame.y.iloc[4], frame.y.iloc[5]
    assert regular.frame.y.iloc[5] == pytest.approx(a + (b - a) / 3)


@pytest.mark.parametrize(
    "change, settings, error, fragment",
    [
        (
            lambda f: f.assign(when=f.when.where(f.index != 7, "soon")),
            {},
            DataError,
            "'soon' at row 8",
        ),
        (lambda f: pd.concat([f, f.iloc[[3]]]), {}, DataError, "more than once"),
        (lambda f: f, {"horizon": 0}, ConfigError, "--horizon 0"),
        (lambda f: f, {"horizon": 30}, DataError, "every series is shorter"),
        (lambda f: f.drop(columns="when"), {}, DataError, "'when'"),
        (lambda f: f.groupby("shop").head(2), {}, DataError, "--frequency"),
        (lambda f: f, {"country": "XX"}, ConfigError, "not a country code"),
        (lambda f: f, {"known": ("shop",)}, ConfigError, "--known names covariates"),
    ],
)
def test_bad_framing_is_refused(tmp_path, change, settings, error, fragment):
    kind = get_kind("forecast")
    base = {"time": "when", "series_id": ("shop",), "horizon": H, "frequency": None, "season": None}
    pytest.importorskip("holidays")
    with pytest.raises(error, match=None) as info:
        kind.prepare_frame(change(panel()), "y", {**base, **settings}, where="data.csv")
    assert fragment in str(info.value)


def test_short_series_are_left_out_with_a_note():
    frame = pd.concat([panel(n_series=2), panel(n_series=1, length=8).assign(shop="tiny")])
    kind = get_kind("forecast")
    base = {"time": "when", "series_id": ("shop",), "horizon": H, "frequency": None, "season": None}
    out, settled, notes = kind.prepare_frame(frame, "y", base, where="data.csv")
    assert "tiny" not in set(out.shop) and any("1 series shorter" in n for n in notes)
    assert settled["frequency"] == "MS" and settled["season"] == 12


@pytest.mark.slow
def test_cli_bad_input_is_one_line(tmp_path):
    path = tmp_path / "d.csv"
    panel().assign(when=lambda f: f.when.where(f.index != 3, "13/45/2020")).to_csv(
        path, index=False
    )
    result = run_cli(
        "train", path, "--task", "forecast", "--time", "when", "--target", "y",
        "--series-id", "shop", "--horizon", "4", "--project", tmp_path / "p", "--max-trials", "1",
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        len(result.stderr.strip().splitlines()) == 1 and "'13/45/2020' at line 5" in result.stderr
    )
    assert not (tmp_path / "p").exists()


@pytest.mark.slow
def test_known_covariates_are_given_for_the_horizon(tmp_path):
    pytest.importorskip("lightgbm")
    rng = np.random.default_rng(3)
    parts = []
    for s in range(4):
        n = 60
        promo = (rng.random(n) < 0.3).astype(float)
        y = 20 + 5 * s + 15 * promo + rng.normal(0, 0.5, n)
        stamps = pd.date_range("2020-01-06", periods=n, freq="W-MON").strftime("%Y-%m-%d")
        parts.append(pd.DataFrame({"shop": f"s{s}", "when": stamps, "promo": promo, "y": y}))
    frame = pd.concat(parts, ignore_index=True)
    project = create(tmp_path, frame, known=["promo"])
    assert project.config.known == ("promo",)
    project.train(max_trials=2, families=["lightgbm_lags"])
    with pytest.raises(ConfigError, match="--future-covariates"):
        project.forecast()
    future = pd.DataFrame(
        {
            "shop": np.repeat([f"s{s}" for s in range(4)], H),
            "when": np.tile(pd.date_range("2021-03-01", periods=H, freq="W-MON"), 4),
            "promo": np.tile([1.0, 0.0, 1.0, 0.0], 4),
        }
    )
    out = project.forecast(future_covariates=future)
    lifted = out.y.to_numpy().reshape(4, H)
    assert (lifted[:, [0, 2]].mean(axis=1) > lifted[:, [1, 3]].mean(axis=1) + 8).all()
    with pytest.raises(DataError, match="missing for 1 forecast row"):
        project.forecast(future_covariates=future.iloc[1:])


@pytest.mark.slow
def test_holidays_of_a_country_are_a_known_covariate(tmp_path):
    pytest.importorskip("holidays")
    project = create(tmp_path, panel(length=36), country="US")
    project.train(max_trials=1, families=["lightgbm_lags"])
    adapter = project.load_model().pipeline.steps[-1][1]
    assert adapter.country == "US" and adapter.model_.columns_["known"] == ["holidays"]
    out = project.forecast()  # no file needed: holidays are known from the calendar
    assert len(out) == 3 * H and np.isfinite(out.y).all()


@pytest.mark.slow
def test_served_forecasts_equal_predict_and_retrain_moves_the_test_horizon(tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from mlcraft.api.serving import ServeSettings
    from mlcraft.serve.app import create_app

    project = create(tmp_path, panel(n_series=8, length=36))
    project.train(max_trials=2, families=["seasonal_naive"])
    expected = project.forecast()
    asked = expected[["shop", "when"]].assign(when=lambda f: f.when.dt.strftime("%Y-%m-%d"))
    with TestClient(create_app(ServeSettings(str(project.path)))) as client:
        answer = client.post("/predict", json={"records": asked.to_dict("records")})
        unknown = client.post(
            "/predict", json={"records": [{"shop": "nope", "when": "2018-01-01"}]}
        )
    assert answer.status_code == 200
    assert answer.json()["predictions"] == pytest.approx(expected.y.tolist())
    assert unknown.status_code == 422 and "no history" in unknown.json()["detail"]
    # a request that brings the series' latest values is answered from them (nothing is stored)
    first = panel(n_series=8, length=37).groupby("shop").tail(1).iloc[:2]
    later = pd.DataFrame({"shop": first.shop, "when": ["2018-02-01"] * 2})
    with TestClient(create_app(ServeSettings(str(project.path), log=False))) as client:
        extended = client.post(
            "/predict", json={"records": [*first.to_dict("records"), *later.to_dict("records")]}
        )
    assert extended.status_code == 200, extended.text
    again = project.forecast(history=first)
    want = again[again.when == pd.Timestamp("2018-02-01")].set_index("shop").y.loc[first.shop]
    assert extended.json()["predictions"] == pytest.approx(want.tolist())
    # the actuals arrive: monitor scores the served forecasts by MASE against each series' scale
    newer = panel(n_series=8, length=40).groupby("shop").tail(4).reset_index(drop=True)
    labels = newer.assign(request_id=answer.json()["request_id"], row=range(len(newer)))
    assert project.feedback(labels[["request_id", "row", "y"]]).matched == 32
    window = project.monitor(since="1d").report["quality"]["windows"][-1]
    train = project.training_frame()
    scale = {
        s: seasonal_scale(train[train.shop == s].y.to_numpy(), 12) for s in newer.shop.unique()
    }
    by_hand = np.mean(np.abs(expected.y - newer.y) / newer.shop.map(scale))
    assert window["n"] == 32 and window["value"] == pytest.approx(by_hand)
    result = project.retrain(newer, max_trials=2, families=["seasonal_naive"])
    assert result.added_rows == 32 and result.added_test_rows == 32  # the new last horizon
    assert project.test_frame()["when"].min() == pd.Timestamp("2018-01-01")


@pytest.mark.slow
@pytest.mark.parametrize("family", ["ets", "window_linear"])
def test_native_intervals_of_a_single_model(tmp_path, family):
    pytest.importorskip("statsforecast" if family == "ets" else "torch")
    project = create(tmp_path, panel(length=36))
    project.train(max_trials=1, families=[family])
    out = project.forecast(intervals="native", levels=[50, 90])
    assert list(out.columns[-4:]) == ["y_lo_50", "y_hi_50", "y_lo_90", "y_hi_90"]
    assert ((out.y_lo_90 <= out.y_lo_50) & (out.y_lo_50 <= out.y_hi_50)).all()
    assert (out.y_hi_90 - out.y_lo_90 > 0).all()
    with pytest.raises(ConfigError, match="conformal or native"):
        project.forecast(intervals="bayes")
