"""The README's "Forecasting time series" section, run exactly as written (a shorter time limit)."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from conftest import readme_block, run_script

pytestmark = pytest.mark.slow


def test_readme_forecasting_section(tmp_path):
    pytest.importorskip("statsforecast")
    script = readme_block("## Forecasting time series").replace(
        "--time-limit 30", "--time-limit 20"
    )
    result = run_script(script, tmp_path, {**os.environ, "MLCRAFT_N_JOBS": "2"}, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "test set: the last 8 stamp(s) of every series" in out
    assert "test mase of model version 1" in out and "bootstrap over 4 series" in out
    assert (tmp_path / "macro" / "reports" / "explore" / "explore.html").exists()
    assert "report:" in out or any((tmp_path / "macro" / "reports").rglob("report.html"))
    forecast = pd.read_csv(tmp_path / "forecast.csv", parse_dates=["date"])
    assert len(forecast) == 4 * 8 and forecast["date"].min() == pd.Timestamp("2009-10-01")
    assert {"value_lo_80", "value_hi_95"} <= set(forecast.columns)
    again = pd.read_csv(tmp_path / "again.csv", parse_dates=["date"])
    assert again["date"].min() == pd.Timestamp("2010-01-01")  # one more quarter known
