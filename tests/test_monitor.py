"""Monitoring: drift statistics with effect sizes, the report, thresholds from mlcraft.toml, exit codes."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

import mlcraft
from conftest import run_cli
from mlcraft.monitoring import PredictionLog, RequestRecord
from mlcraft.monitoring.drift import MonitorSettings, categorical_drift, numeric_drift

S = MonitorSettings()


def flagged(checks) -> set[str]:
    return {c.name for c in checks if c.flagged}


def test_large_samples_do_not_flag_a_negligible_shift():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=200_000)
    tiny = rng.normal(loc=0.03, size=200_000)  # significant at this size, but negligible
    checks = {c.name: c for c in numeric_drift(ref, tiny, S)}
    assert "p=" in checks["ks"].detail and checks["ks"].value < 0.05
    assert flagged(numeric_drift(ref, tiny, S)) == set()
    assert flagged(numeric_drift(ref, rng.normal(size=50_000), S)) == set()


def test_real_shifts_are_flagged_by_the_right_checks():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=5000)
    assert {"mean_shift", "psi", "ks"} <= flagged(
        numeric_drift(ref, rng.normal(loc=1.0, size=2000), S)
    )
    assert "std_ratio" in flagged(numeric_drift(ref, rng.normal(scale=3.0, size=2000), S))
    with_missing = rng.normal(size=2000)
    with_missing[:400] = np.nan
    assert flagged(numeric_drift(ref, with_missing, S)) == {"missing_rate"}


def test_categorical_drift_new_categories_and_cramers_v():
    rng = np.random.default_rng(2)
    ref = rng.choice(["a", "b", "c"], 5000, p=[0.5, 0.3, 0.2]).astype(object)
    same = rng.choice(["a", "b", "c"], 100_000, p=[0.5, 0.3, 0.2]).astype(object)
    assert flagged(categorical_drift(ref, same, S, known={"a", "b", "c"})) == set()
    shifted = rng.choice(["a", "b", "c"], 3000, p=[0.1, 0.3, 0.6]).astype(object)
    assert {"chi2", "psi"} <= flagged(categorical_drift(ref, shifted, S, known={"a", "b", "c"}))
    novel = same[:1000].copy()
    novel[:50] = "zz"
    checks = {c.name: c for c in categorical_drift(ref, novel, S, known={"a", "b", "c"})}
    assert checks["new_categories"].flagged and "'zz'" in checks["new_categories"].detail


def test_settings_come_from_the_monitor_section():
    assert MonitorSettings.from_config({"psi": 0.3, "min_rows": 5}).psi == 0.3
    from mlcraft.exceptions import ConfigError

    with pytest.raises(ConfigError, match="unknown setting"):
        MonitorSettings.from_config({"psy": 1})
    with pytest.raises(ConfigError, match="must be a number"):
        MonitorSettings.from_config({"psi": "high"})


@pytest.fixture(scope="module")
def housing(tmp_path_factory, housing_csv):
    frame = pd.read_csv(housing_csv)
    initial = frame.sample(3000, random_state=0)
    project = mlcraft.Project.create(
        tmp_path_factory.mktemp("mon") / "housing",
        data=initial,
        target="median_house_value",
        max_trials=1,
        time_limit=None,
    )
    project.train(families=["ridge"], n_jobs=1)
    project.evaluate()
    fresh = frame.drop(initial.index).sample(2000, random_state=1)
    return project, fresh


def log_requests(
    project, frame: pd.DataFrame, *, labels=None, errors: int = 0, ts: float | None = None
) -> None:
    model = project.load_model()
    X = frame.drop(columns="median_house_value")
    pred = model.predict(X)
    inputs = json.loads(X.to_json(orient="records"))
    ts = time.time() if ts is None else ts
    records = [
        RequestRecord(
            f"q{ts}-{i}",
            ts,
            "/predict",
            1,
            3.0,
            200,
            inputs=inputs[i : i + 100],
            predictions=pred.frame.iloc[i : i + 100, 0].tolist(),
        )
        for i in range(0, len(frame), 100)
    ]
    records += [
        RequestRecord(f"e{ts}-{i}", ts, "/predict", 1, 1.0, 422, error="bad") for i in range(errors)
    ]
    log = PredictionLog(project.registry.db)
    log.write(records)
    if labels is not None:
        log.add_labels(
            [
                (r.request_id, i, float(labels[k * 100 + i]))
                for k, r in enumerate(records)
                if r.status == 200
                for i in range(len(r.inputs))
            ]
        )


@pytest.mark.slow  # end-to-end: serves, logs, labels and monitors a trained project
def test_monitor_flags_drift_live_quality_and_errors_then_honours_thresholds(housing, tmp_path):
    project, fresh = housing
    drifted = fresh.copy()
    drifted["median_income"] = drifted["median_income"] * 2.5
    wrong = (
        drifted["median_house_value"].to_numpy() * 3
    )  # the world changed: the model is now far off
    log_requests(project, drifted, labels=wrong, errors=300)
    result = run_cli(
        "monitor", "--project", project.path, "--since", "1h", "--out", tmp_path / "report"
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "alert" in result.stdout and "median_income" in result.stdout
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    income = next(f for f in report["features"] if f["name"] == "median_income")
    assert income["drift"] and {"psi", "ks", "mean_shift"} <= {
        c["name"] for c in income["checks"] if c["flagged"]
    }
    assert report["service"]["error_rate"] == pytest.approx(300 / 320) and any(
        "error rate" in a for a in report["alerts"]
    )
    assert report["quality"]["windows"][-1]["worse"] and any(
        a.startswith("live rmse") for a in report["alerts"]
    )
    assert report["service"]["latency_ms"]["p99"] == pytest.approx(3.0)
    html = (tmp_path / "report" / "report.html").read_text()
    assert "<html" in html and "median_income" in html and "Live quality" in html
    # thresholds live in mlcraft.toml: loosen them all and the same log passes
    cfg = project.path / "mlcraft.toml"
    original = cfg.read_text()
    cfg.write_text(
        original
        + "\n[monitor]\npsi = 100\nprediction_psi = 100\nks_statistic = 1.01\ncramers_v = 1.01\nmean_shift = 100\nstd_ratio = 100\nerror_rate = 1.0\nmin_labels = 100000\n"
    )
    try:
        relaxed = run_cli(
            "monitor", "--project", project.path, "--since", "1h", "--out", tmp_path / "relaxed"
        )
        assert relaxed.returncode == 0, relaxed.stdout
        assert "no threshold crossed" in relaxed.stdout
        cfg.write_text(original + "\n[monitor]\npsy = 1\n")
        bad = run_cli("monitor", "--project", project.path)
        assert bad.returncode == 2 and "unknown setting(s) psy" in bad.stderr
    finally:
        cfg.write_text(original)


def test_monitor_on_an_undrifted_log_passes(tmp_path_factory, housing_csv):
    frame = pd.read_csv(housing_csv)
    initial = frame.sample(4000, random_state=3)
    project = mlcraft.Project.create(
        tmp_path_factory.mktemp("mon2") / "h",
        data=initial,
        target="median_house_value",
        max_trials=1,
        time_limit=None,
    )
    project.train(families=["ridge"], n_jobs=1)
    project.evaluate()
    same = frame.drop(initial.index).sample(3000, random_state=4)
    log_requests(project, same, labels=same["median_house_value"].to_numpy())
    result = project.monitor(since="1d", out=tmp_path_factory.mktemp("out"))
    assert result.alerts == [], result.alerts
    window = result.report["quality"]["windows"][-1]
    assert window["n"] == 3000 and not window["worse"]
    few = project.monitor(since="1s", now=time.time() + 3600, out=tmp_path_factory.mktemp("out2"))
    assert few.report["rows"] == 0 and any("drift is not judged" in n for n in few.report["notes"])
