"""Explore, analyse and report pages of a forecasting project, and the computations behind them
checked on series whose answers are known by construction."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from browser import PAGE_FACTS, Browser, chromium_path
from mlcraft.api import Project
from mlcraft.core.analysis import forecasting as fc
from mlcraft.core.data import timeseries
from mlcraft.tasks import get_kind

H = 4
FIVE_MB = 5_000_000


def panel(n_series=3, length=36, seed=0) -> pd.DataFrame:
    """Monthly seasonal series with a trend and noise, one row per series and month."""
    rng = np.random.default_rng(seed)
    parts = []
    for s in range(n_series):
        t = np.arange(length)
        y = 50 + 10 * s + 0.3 * t + 5 * np.sin(2 * np.pi * t / 12 + s) + rng.normal(0, 0.5, length)
        stamps = pd.date_range("2015-01-01", periods=length, freq="MS")
        parts.append(pd.DataFrame({"shop": f"s{s}", "when": stamps, "y": y}))
    return pd.concat(parts, ignore_index=True)


# -- the computations ----------------------------------------------------------------------------
def test_strength_of_a_sine_a_trend_and_noise():
    t = np.arange(60)
    rng = np.random.default_rng(0)
    sine = fc.strength(fc.stl_parts(np.sin(2 * np.pi * t / 12), 12))
    trend = fc.strength(fc.stl_parts(0.5 * t + rng.normal(0, 0.3, 60), 12))
    noise = fc.strength(fc.stl_parts(rng.normal(size=240), 12))  # 20 seasons: little to overfit
    assert sine["seasonal"] > 0.99
    assert trend["trend"] > 0.95 and trend["seasonal"] < 0.5
    assert noise["trend"] < 0.5 and noise["seasonal"] < 0.5
    assert fc.stl_parts(np.ones(20), 12) is None  # under two seasons: no decomposition


def test_acf_band_and_ljung_box_tell_noise_from_structure():
    rng = np.random.default_rng(3)
    noise = rng.normal(size=500)
    ar = np.zeros(500)
    for i in range(1, 500):
        ar[i] = 0.8 * ar[i - 1] + rng.normal()
    white = fc.acf_band(noise, 20)
    assert white["band"] == pytest.approx(1.96 / np.sqrt(500))
    outside = np.abs(np.asarray(white["acf"])) > white["band"]
    assert outside.sum() <= 2  # ~5% of 20 lags expected by chance
    assert fc.acf_band(ar, 20)["acf"][0] == pytest.approx(0.8, abs=0.08)
    assert fc.ljung_box(noise)["p_value"] > 0.05
    assert fc.ljung_box(ar)["p_value"] < 1e-6


def test_steps_windows_and_the_error_tables():
    """Two series, two windows of H: forecasts off by step * scale, series b twice as far off."""
    keys = np.repeat(["a", "b"], 2 * H)
    times = np.tile(np.arange(2 * H), 2)
    step = np.tile(np.arange(2 * H) % H + 1, 2)
    scale = np.r_[np.repeat([2.0, 3.0], H), np.repeat([1.0, 5.0], H)]  # one scale a window
    values = np.arange(4 * H, dtype=float)
    factor = np.where(keys == "b", 2.0, 1.0)
    pred = values + step * scale * factor
    shuffled = np.random.default_rng(0).permutation(len(keys))  # order must not matter
    d = fc.forecast_diagnostics(
        values[shuffled], pred[shuffled], scale[shuffled], keys[shuffled], times[shuffled]
    )
    assert d["horizon"] == H and d["windows"] == 2 and d["series_count"] == 2
    assert [r["mase"] for r in d["by_step"]] == pytest.approx([1.5 * s for s in range(1, H + 1)])
    assert [r["series"] for r in d["by_series"]] == ["b", "a"]
    assert d["by_series"][0]["mase"] == pytest.approx(2 * d["by_series"][1]["mase"])
    path = d["paths"][0]  # the largest series first, in time order, window 1 the latest
    assert path["series"] == "b" and path["window"] == [2] * H + [1] * H
    assert path["actual"] == sorted(path["actual"])


def test_the_kind_reads_series_and_time_from_the_features():
    frame = panel(2, 12)
    kept = frame.groupby("shop").tail(2 * H).reset_index(drop=True)
    scale = np.tile(np.repeat([1.0, 2.0], H), 2)
    y = np.c_[kept["y"].to_numpy(), scale]
    kept["promo"] = np.where(np.arange(len(kept)) % 3 == 0, "on", "off")  # varies in a series
    d = get_kind("forecast").diagnose(
        y,
        kept["y"].to_numpy() + scale,
        classes=None,
        categories={"shop": kept["shop"], "promo": kept["promo"]},
        features=kept[["shop", "when", "promo"]],
    )
    assert d["mase"] == pytest.approx(1.0) and d["horizon"] == H
    assert {r["series"] for r in d["by_series"]} == {"s0", "s1"}
    assert get_kind("forecast").diagnostics_summary(d)[0].startswith("backtest MASE 1")


def test_exploration_flags_a_spike_and_ranks_series():
    frame = panel(3, 48)
    spike = frame.index[(frame.shop == "s1") & (frame.when == "2016-06-01")]
    frame.loc[spike, "y"] += 40
    keys = timeseries.series_keys(frame, ("shop",))
    x = fc.series_exploration(frame, time="when", keys=keys, target="y", season=12)
    rows = {r["series"]: r for r in x["per_series"]}
    assert "2016-06-01" in rows["s1"]["outlier_times"]
    assert rows["s0"]["outliers"] == 0 and rows["s2"]["outliers"] == 0
    assert x["largest"] == "s2" and [s["series"] for s in x["shown"]] == ["s2", "s1", "s0"]
    assert rows["s2"]["seasonal"] > 0.8 and x["decomposition"] is not None
    assert len(x["acf"]["acf"]) == len(x["pacf"]) > 0


# -- the pages -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_explore_analyse_report_pages(tmp_path):
    frame = panel(3, 36)
    frame = frame.drop(index=[7]).assign(when=lambda f: f["when"].dt.strftime("%Y-%m-%d"))
    project = Project.create(
        tmp_path / "p", frame, "y", task="forecast", time="when", series_id=["shop"], horizon=H
    )
    project.train(max_trials=2, families=["seasonal_naive"])
    explored = project.explore()
    analysed = project.analyse()
    reported = project.report()
    x = explored.document["extras"]
    assert x["section"] == "series" and any("missing time stamp" in n for n in x["notes"])
    d = analysed.document["diagnostics"]
    assert analysed.document["section"] == "forecast" and d["horizon"] == H
    assert analysed.document["learning_curve"] is None and analysed.document["importance"] is None
    assert any("left out for --task forecast" in n for n in analysed.notes)
    assert {"backtest_forecasts.png", "error_by_step.png", "residual_checks.png"} <= set(
        analysed.plots
    )
    assert {"series.png", "decomposition.png", "autocorrelation.png"} <= set(explored.plots)
    pages = [explored.html, analysed.html, reported.html]
    texts = [p.read_text() for p in pages]
    assert 'id="series"' in texts[0] and "Loading: 1 missing time stamp" in texts[0]
    assert "Error by horizon step" in texts[1] and 'id="ljung-box"' in texts[1]
    assert "Backtest MASE" in texts[2] and 'id="fig-backtest_forecasts"' in texts[2]
    assert all(p.stat().st_size < FIVE_MB for p in pages)
    assert json.loads((tmp_path / "p/reports/report.json").read_text())
    executable = chromium_path()
    if executable is None:
        pytest.skip("chromium is not installed")
    with Browser(executable) as browser:
        for page, text in zip(pages, texts, strict=True):
            browser.load(page.resolve().as_uri())
            facts = browser.evaluate(PAGE_FACTS)
            assert browser.console_errors() == [], page
            assert len(facts["images"]) == text.count("data:image/png;base64,") >= 4, page
            assert all(i["complete"] and i["width"] > 0 for i in facts["images"]), page
