"""`make bench-forecast`: mlcraft's forecasts against the forecasting anchors, on real series.

The series ship with statsmodels (no network): four panels of three frequencies, each with its
horizon H (see ``PANELS``). The last H values of every series are held out; every system sees only
the rest (the training part) and is scored on the held-out H:

- seasonal naive, StatsForecast's AutoETS, AutoARIMA and AutoTheta (season from the frequency),
  with 80% and 95% intervals, fitted in this process (one warm-up fit first, so that numba's
  compilation is timed apart, as ``jit_warmup_s``);
- AutoGluon-TimeSeries (``medium_quality``, 60 s; in 1.6.3 ``fast_training`` is a deprecated alias
  of it) in its own environment (``bench-out/forecast-venv``, this file run with ``--ag-worker``;
  without network its pretrained models, Chronos2 and Toto2, fail and are skipped by AutoGluon;
  ``HF_HUB_OFFLINE=1`` makes them fail at once instead of spending the budget on download retries,
  which took its fit 66-80 s past a 60 s limit; the models it did train are recorded); where it is
  not installed the column says "not run: <why>";
- mlcraft run as a user would, through its CLI in a temp dir, 60 s per panel (``MLCRAFT_CMD``).

Scores per series: MASE (scale: the in-sample seasonal-naive MAE of the training part, season m;
m = 1 when the series is shorter than 2m + H), sMAPE (%), 80% and 95% interval coverage. Per
system: mean MASE, geometric mean of MASE relative to seasonal naive, wins (strictly lower MASE)
against seasonal naive, AutoETS and AutoARIMA, wall time (of the whole process for mlcraft's train
and AutoGluon's worker) and whether it stayed inside its limit (mlcraft: the whole train command,
its contract; AutoGluon: ``fit``, where its time_limit applies).
Cold start: the wall clock of ``mlcraft train`` on one generated series of 60 monthly points,
horizon 6, ``--max-trials 1``.

Usage: python benchmarks/bench_forecast.py [--out bench-out/forecast.json]
    [--systems seasonal_naive,autoets,...] [--panels monthly,...]
Run it under ``flock /tmp/mlcraft-heavy.lock`` (the Makefile target does).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT_JSON = ROOT / "bench-out" / "forecast.json"
AG_VENV = ROOT / "bench-out" / "forecast-venv"
BENCH_PY = AG_VENV / "bin" / "python"
LIMIT_S = 60.0
LEVELS = (80, 95)
SLACK_S = 240.0  # a subprocess past its limit by this much is stopped
AG_PRESETS = {"autogluon": "medium_quality"}  # in 1.6.3 "fast_training" is an alias of it
AG_ENV = {"HF_HUB_OFFLINE": "1"}  # no network: its pretrained models fail at once, not on timeouts
SF_MODELS = {"seasonal_naive": "SeasonalNaive", "autoets": "AutoETS", "autoarima": "AutoARIMA"}
SF_MODELS["autotheta"] = "AutoTheta"
SYSTEMS = (*SF_MODELS, *AG_PRESETS, "mlcraft")
COLD_POINTS, COLD_HORIZON = 60, 6
MACRO_COLUMNS = ("realgdp", "realcons", "realinv", "cpi", "unemp", "m1", "tbilrate")
DANISH_COLUMNS = ("lrm", "lry", "lpy", "ibo", "ide")
INTERVAL_COLUMNS = [f"y_{side}_{lv}" for lv in LEVELS for side in ("lo", "hi")]


def mlcraft_cmd() -> list[str]:
    """The `mlcraft` command of this interpreter's environment (or MLCRAFT_CMD, split on spaces)."""
    if os.environ.get("MLCRAFT_CMD"):
        return os.environ["MLCRAFT_CMD"].split()
    exe = Path(sys.executable).parent / "mlcraft"
    return [str(exe)] if exe.exists() else ["mlcraft"]


@dataclass
class Panel:
    """One panel: long data (unique_id, ds, y), its frequency, season and horizon."""

    name: str
    freq: str
    season: int
    horizon: int
    data: pd.DataFrame


# ---------------------------------------------------------------- data


def _long(series: dict[str, pd.Series]) -> pd.DataFrame:
    parts = [
        pd.DataFrame({"unique_id": uid, "ds": s.index, "y": s.to_numpy(dtype=float)})
        for uid, s in series.items()
    ]
    return pd.concat(parts, ignore_index=True)


def _quarterly(frame: pd.DataFrame, columns: tuple[str, ...], prefix: str) -> dict[str, pd.Series]:
    stamps = pd.PeriodIndex.from_fields(
        year=frame["year"].astype(int), quarter=frame["quarter"].astype(int), freq="Q"
    ).to_timestamp(how="start")
    return {f"{prefix}{c}": pd.Series(frame[c].to_numpy(), index=stamps) for c in columns}


def monthly_series() -> dict[str, pd.Series]:
    """co2 (weekly -> monthly means, from the end of its last gap), elec_equip, elnino."""
    from statsmodels.datasets import co2, elec_equip, elnino

    c = co2.load_pandas().data["co2"].resample("MS").mean()
    c = c[c.index > c[c.isna()].index.max()]  # the NaN months are 1958-1964: keep what follows
    e = elec_equip.load().data.iloc[:, 0].asfreq("MS")
    n = elnino.load_pandas().data.set_index("YEAR").stack()
    n.index = pd.to_datetime(
        [f"{int(y)}-{m}-01" for y, m in n.index], format="%Y-%b-%d"
    )  # YEAR x JAN..DEC -> one monthly series
    return {"co2": c, "elec_equip": e, "elnino": n.sort_index()}


def build_panels() -> list[Panel]:
    """The suite: monthly (H 12), two quarterly (H 8), yearly (H 10)."""
    from statsmodels.datasets import danish_data, interest_inflation, macrodata, nile, sunspots

    dk = danish_data.load_pandas().data
    dk.index = pd.DatetimeIndex(dk.index).to_period("Q").to_timestamp(how="start")
    rates = {f"dk_{c}": dk[c] for c in DANISH_COLUMNS}
    rates |= _quarterly(interest_inflation.load_pandas().data, ("Dp", "R"), "de_")
    ny = nile.load_pandas().data
    ss = sunspots.load_pandas().data

    def yearly(years: pd.Series) -> pd.DatetimeIndex:
        return pd.to_datetime(years.astype(int).astype(str), format="%Y")

    annual = {
        "nile": pd.Series(ny["volume"].to_numpy(), index=yearly(ny["year"])),
        "sunspots": pd.Series(ss["SUNACTIVITY"].to_numpy(), index=yearly(ss["YEAR"])),
    }
    macro = _quarterly(macrodata.load_pandas().data, MACRO_COLUMNS, "us_")
    return [
        Panel("monthly", "MS", 12, 12, _long(monthly_series())),
        Panel("quarterly_us_macro", "QS", 4, 8, _long(macro)),
        Panel("quarterly_rates", "QS", 4, 8, _long(rates)),
        Panel("yearly", "YS", 1, 10, _long(annual)),
    ]


def split(panel: Panel) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training part and the held-out last H of every series."""
    data = panel.data.sort_values(["unique_id", "ds"])
    rank = data.groupby("unique_id").cumcount(ascending=False)
    return data[rank >= panel.horizon].reset_index(drop=True), data[rank < panel.horizon]


# ---------------------------------------------------------------- systems


def _sf_columns(out: pd.DataFrame, alias: str) -> pd.DataFrame:
    fc = pd.DataFrame({"unique_id": out["unique_id"], "ds": out["ds"], "y": out[alias]})
    for lv in LEVELS:
        fc[f"y_lo_{lv}"] = out[f"{alias}-lo-{lv}"]
        fc[f"y_hi_{lv}"] = out[f"{alias}-hi-{lv}"]
    return fc


def run_statsforecast(system: str, panel: Panel, train: pd.DataFrame) -> dict:
    """One StatsForecast model on the panel's training part: forecast and wall time."""
    import statsforecast.models as sfm
    from statsforecast import StatsForecast

    model = getattr(sfm, SF_MODELS[system])(season_length=panel.season)
    started = time.perf_counter()
    sf = StatsForecast(models=[model], freq=panel.freq, n_jobs=1)
    out = sf.forecast(df=train, h=panel.horizon, level=list(LEVELS)).reset_index()
    wall = time.perf_counter() - started
    return {"forecast": _sf_columns(out, SF_MODELS[system]), "wall_s": wall, "limit_s": None}


def sf_warmup() -> float:
    """Fit every StatsForecast model once on a short series (numba compiles on first use)."""
    y = 10 + np.sin(np.arange(48) * 2 * np.pi / 12)
    df = pd.DataFrame(
        {"unique_id": "w", "ds": pd.date_range("2000-01-01", periods=48, freq="MS"), "y": y}
    )
    started = time.perf_counter()
    for system in SF_MODELS:
        run_statsforecast(system, Panel("warmup", "MS", 12, 6, df), df)
    return time.perf_counter() - started


def _run(cmd: list[str], cwd: Path, limit: float, env: dict | None = None) -> tuple:
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=limit + SLACK_S
        )
        rc, tail = proc.returncode, (proc.stdout + proc.stderr)[-2000:]
    except subprocess.TimeoutExpired:
        rc, tail = -9, f"stopped after {limit + SLACK_S:.0f} s"
    return rc, time.perf_counter() - started, tail


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "(no output)"


def run_mlcraft(panel: Panel, train: pd.DataFrame, work: Path) -> dict:
    """`mlcraft train` then `mlcraft predict`, as a user would, in a fresh directory."""
    work.mkdir(parents=True)
    train.to_csv(work / "train.csv", index=False)
    base = mlcraft_cmd()
    train_cmd = [*base, "train", "train.csv", "--task", "forecast", "--time", "ds"]
    train_cmd += ["--target", "y", "--series-id", "unique_id", "--horizon", str(panel.horizon)]
    train_cmd += ["--project", "P", "--time-limit", str(int(LIMIT_S))]
    rc, wall, tail = _run(train_cmd, work, LIMIT_S)
    if rc != 0:
        return {"error": f"train exit {rc}: {_last_line(tail)}", "wall_s": wall, "limit_s": LIMIT_S}
    predict_cmd = [*base, "predict", "--project", "P", "--out", "fc.csv"]  # brief: --output
    prc, pwall, ptail = _run(predict_cmd, work, LIMIT_S)
    if prc != 0:
        error = f"predict exit {prc}: {_last_line(ptail)}"
        return {"error": error, "wall_s": wall, "limit_s": LIMIT_S}
    fc = pd.read_csv(work / "fc.csv")
    missing = [c for c in ("unique_id", "ds", "y", *INTERVAL_COLUMNS) if c not in fc]
    if {"unique_id", "ds", "y"} & set(missing):
        error = f"fc.csv lacks {', '.join(missing)} (has {', '.join(fc.columns)})"
        return {"error": error, "wall_s": wall, "limit_s": LIMIT_S}
    champion = [ln.strip() for ln in tail.splitlines() if ln.startswith("champion:")]
    record = {"wall_s": wall, "predict_s": pwall, "limit_s": LIMIT_S, "missing_columns": missing}
    record["champion"] = champion[-1][:300] if champion else None
    return {"forecast": fc, **record}


def autogluon_missing() -> str | None:
    """Why AutoGluon-TimeSeries cannot run here, or None when it can."""
    if not BENCH_PY.exists():
        return f"{BENCH_PY.relative_to(ROOT)} does not exist (make bench-forecast makes it)"
    probe = [str(BENCH_PY), "-c", "import autogluon.timeseries"]
    proc = subprocess.run(probe, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        why = _last_line(proc.stderr)
        return f"autogluon.timeseries does not import in {AG_VENV.relative_to(ROOT)}: {why}"
    return None


def run_autogluon(system: str, panel: Panel, train: pd.DataFrame, work: Path) -> dict:
    """AutoGluon-TimeSeries in its environment (this file with --ag-worker), process wall time."""
    work.mkdir(parents=True)
    train.to_csv(work / "train.csv", index=False)
    cmd = [str(BENCH_PY), str(Path(__file__).resolve()), "--ag-worker", "train.csv", "fc.csv"]
    cmd += [str(panel.horizon), panel.freq, AG_PRESETS[system], str(LIMIT_S)]
    rc, wall, tail = _run(cmd, work, LIMIT_S, env=os.environ | AG_ENV)
    if rc != 0:
        return {"error": f"exit {rc}: {_last_line(tail)}", "wall_s": wall, "limit_s": LIMIT_S}
    info = json.loads((work / "fit.json").read_text())
    fc = pd.read_csv(work / "fc.csv", parse_dates=["ds"])
    return {"forecast": fc, "wall_s": wall, "limit_s": LIMIT_S, **info}


def ag_worker(train_csv: str, out_csv: str, horizon: int, freq: str, preset: str, limit: float):
    """Inside AG_VENV: fit a TimeSeriesPredictor, write the forecast in the contract's columns."""
    from autogluon.timeseries import TimeSeriesDataFrame, TimeSeriesPredictor

    df = pd.read_csv(train_csv, parse_dates=["ds"])
    data = TimeSeriesDataFrame.from_data_frame(df, id_column="unique_id", timestamp_column="ds")
    quantiles = sorted({q for lv in LEVELS for q in ((100 - lv) / 200, (100 + lv) / 200)})
    predictor = TimeSeriesPredictor(
        prediction_length=horizon, freq=freq, target="y", quantile_levels=quantiles,
        eval_metric="MASE", path="ag", verbosity=0,
    )  # fmt: skip
    started = time.perf_counter()
    predictor.fit(data, presets=preset, time_limit=limit, random_seed=0)
    fit_s = time.perf_counter() - started
    pred = predictor.predict(data).reset_index()
    fc = pd.DataFrame({"unique_id": pred["item_id"], "ds": pred["timestamp"], "y": pred["mean"]})
    for lv in LEVELS:
        fc[f"y_lo_{lv}"] = pred[str((100 - lv) / 200)]
        fc[f"y_hi_{lv}"] = pred[str((100 + lv) / 200)]
    fc.to_csv(out_csv, index=False)
    info = {"fit_s": fit_s, "best_model": predictor.model_best, "trained": predictor.model_names()}
    Path("fit.json").write_text(json.dumps(info))


# ---------------------------------------------------------------- scores


def mase_scale(y: np.ndarray, season: int, horizon: int) -> float:
    """In-sample seasonal-naive MAE of the training part (m = 1 when too short for 2m + H)."""
    m = season if len(y) + horizon >= 2 * season + horizon else 1  # the series: training + H
    return float(np.mean(np.abs(y[m:] - y[:-m])))


def score_series(y_train: np.ndarray, actual: pd.DataFrame, fc: pd.DataFrame, panel: Panel):
    """MASE, sMAPE and interval coverage of one series' forecast (aligned rows)."""
    y, f = actual["y"].to_numpy(float), fc["y"].to_numpy(float)
    scale = mase_scale(y_train, panel.season, panel.horizon)
    denom = np.abs(y) + np.abs(f)
    ratio = np.divide(2 * np.abs(y - f), denom, out=np.zeros_like(y), where=denom > 0)
    row = {"mase": float(np.mean(np.abs(y - f)) / scale), "smape": float(100 * np.mean(ratio))}
    for lv in LEVELS:
        lo, hi = f"y_lo_{lv}", f"y_hi_{lv}"
        if lo in fc and hi in fc:
            inside = (y >= fc[lo].to_numpy(float)) & (y <= fc[hi].to_numpy(float))
            row[f"cover_{lv}"] = float(inside.mean())
    return row


def align(test: pd.DataFrame, fc: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """The forecast rows for the held-out stamps; by position per series if the stamps differ."""
    fc = fc.assign(ds=pd.to_datetime(fc["ds"]))
    merged = test[["unique_id", "ds"]].merge(fc, on=["unique_id", "ds"], how="left")
    if len(merged) == len(test) and not merged["y"].isna().any():
        return merged, True
    fc = fc.sort_values(["unique_id", "ds"])
    fc = fc[fc.groupby("unique_id").cumcount() < test.groupby("unique_id").size().max()]
    by_pos = test[["unique_id"]].assign(step=test.groupby("unique_id").cumcount())
    fc = fc.assign(step=fc.groupby("unique_id").cumcount()).drop(columns="ds")
    return by_pos.merge(fc, on=["unique_id", "step"], how="left"), False


def score_panel(panel: Panel, train: pd.DataFrame, test: pd.DataFrame, result: dict) -> dict:
    """Per-series scores of one system on one panel (or its error)."""
    if "forecast" not in result:
        return {}
    fc, stamps_match = align(test.reset_index(drop=True), result["forecast"])
    result["stamps_match"] = stamps_match
    scores = {}
    for uid, actual in test.groupby("unique_id"):
        f = fc[fc["unique_id"] == uid]
        if f["y"].isna().any() or len(f) != len(actual):
            continue
        y_train = train.loc[train["unique_id"] == uid, "y"].to_numpy(float)
        scores[str(uid)] = score_series(y_train, actual, f, panel)
    return scores


def _wins(scores: dict, system: str, ref: str) -> str:
    mine, theirs = scores.get(system, {}), scores.get(ref, {})
    common = [k for k in mine if k in theirs]
    if system == ref or not common:
        return "-"
    return f"{sum(mine[k]['mase'] < theirs[k]['mase'] for k in common)}/{len(common)}"


def summarise(system: str, scores: dict, runs: list[dict]) -> dict:
    """The per-system row: means over every scored series, wins, wall time and limit kept."""
    mine = scores.get(system, {})
    naive = scores.get("seasonal_naive", {})
    rel = [mine[k]["mase"] / naive[k]["mase"] for k in mine if k in naive and naive[k]["mase"] > 0]
    kept = [r for r in runs if r.get("limit_s") and "error" not in r]
    limits = [r.get("fit_s", r["wall_s"]) <= r["limit_s"] for r in kept]
    row = {
        "series": len(mine),
        "mean_mase": float(np.mean([s["mase"] for s in mine.values()])) if mine else None,
        "gmean_rel_mase": float(np.exp(np.mean(np.log(rel)))) if rel else None,
        "mean_smape": float(np.mean([s["smape"] for s in mine.values()])) if mine else None,
        "wall_s": float(sum(r["wall_s"] for r in runs)),
        "inside_limit": all(limits) if limits else None,
        "errors": [f"{r['panel']}: {r['error']}" for r in runs if "error" in r],
    }
    for lv in LEVELS:
        got = [s[f"cover_{lv}"] for s in mine.values() if f"cover_{lv}" in s]
        row[f"cover_{lv}"] = float(np.mean(got)) if got else None
    for ref in ("seasonal_naive", "autoets", "autoarima"):
        row[f"wins_vs_{ref}"] = _wins(scores, system, ref)
    return row


# ---------------------------------------------------------------- driver


def cold_start(work: Path) -> dict:
    """Wall clock of the whole `mlcraft train` on one generated series of 60 monthly points."""
    work.mkdir(parents=True)
    t = np.arange(COLD_POINTS)
    y = (
        100
        + 0.5 * t
        + 10 * np.sin(2 * np.pi * t / 12)
        + np.random.default_rng(0).normal(0, 1, t.size)
    )
    stamps = pd.date_range("2015-01-01", periods=COLD_POINTS, freq="MS")
    pd.DataFrame({"unique_id": "s0", "ds": stamps, "y": y}).to_csv(work / "tiny.csv", index=False)
    cmd = [*mlcraft_cmd(), "train", "tiny.csv", "--task", "forecast", "--time", "ds", "--target"]
    cmd += ["y", "--series-id", "unique_id", "--horizon", str(COLD_HORIZON), "--project", "P"]
    rc, wall, tail = _run([*cmd, "--max-trials", "1"], work, LIMIT_S)
    return {"wall_s": wall, **({"error": f"exit {rc}: {_last_line(tail)}"} if rc else {})}


def run_system(system: str, panel: Panel, train: pd.DataFrame, work: Path) -> dict:
    if system in SF_MODELS:
        return run_statsforecast(system, panel, train)
    if system in AG_PRESETS:
        return run_autogluon(system, panel, train, work / f"{system}-{panel.name}")
    return run_mlcraft(panel, train, work / f"mlcraft-{panel.name}")


def run_all(panels: list[Panel], systems: list[str], work: Path, not_run: dict) -> tuple:
    """Every system on every panel: per-system per-series scores and the runs' records."""
    scores: dict[str, dict] = {s: {} for s in systems}
    runs: dict[str, list[dict]] = {s: [] for s in systems}
    for panel in panels:
        train, test = split(panel)
        for system in systems:
            if system in not_run:
                continue
            result = run_system(system, panel, train, work)
            got = score_panel(panel, train, test, result)
            scores[system] |= {f"{panel.name}/{k}": v for k, v in got.items()}
            record = {k: v for k, v in result.items() if k != "forecast"}
            runs[system].append({"panel": panel.name, "scored": len(got), **record})
            print(f"{panel.name:20s} {system:17s} {result['wall_s']:7.1f}s "
                  f"{result.get('error', f'{len(got)} series scored')}", flush=True)  # fmt: skip
    return scores, runs


def _fmt(value, spec: str = ".3f") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return format(value, spec)


def markdown(rows: dict, not_run: dict, per_panel: dict, panels: list[Panel]) -> str:
    head = "| system | series | mean MASE | gmean rel. MASE | sMAPE % | cover 80 | cover 95 |"
    head += " wins vs SN | vs ETS | vs ARIMA | wall s | inside limit |"
    lines = [head, "|" + "---|" * 12]
    for system, r in rows.items():
        if system in not_run:
            lines.append(f"| {system} | not run: {not_run[system]} |" + " |" * 10)
            continue
        cells = [r["series"], _fmt(r["mean_mase"]), _fmt(r["gmean_rel_mase"])]
        cells += [_fmt(r["mean_smape"], ".1f"), _fmt(r["cover_80"], ".2f")]
        cells += [_fmt(r["cover_95"], ".2f"), r["wins_vs_seasonal_naive"], r["wins_vs_autoets"]]
        cells += [r["wins_vs_autoarima"], _fmt(r["wall_s"], ".1f"), _fmt(r["inside_limit"])]
        lines.append(f"| {system} | " + " | ".join(str(c) for c in cells) + " |")
    errors = [f"- {system} failed on {e}" for system, r in rows.items() for e in r["errors"]]
    lines += [""] + errors if errors else []
    names = [f"{p.name} ({p.freq}, H={p.horizon}, {p.data['unique_id'].nunique()})" for p in panels]
    lines += ["", "| mean MASE per panel | " + " | ".join(names) + " |"]
    lines.append("|" + "---|" * (len(panels) + 1))
    for system, by_panel in per_panel.items():
        if system not in not_run:
            cells = [_fmt(by_panel.get(p.name)) for p in panels]
            lines.append(f"| {system} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_panel_mase(scores: dict, panels: list[Panel]) -> dict:
    out: dict[str, dict] = {}
    for system, by_series in scores.items():
        for p in panels:
            got = [v["mase"] for k, v in by_series.items() if k.split("/")[0] == p.name]
            if got:
                out.setdefault(system, {})[p.name] = float(np.mean(got))
    return out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_JSON)
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--panels", default=None, help="comma-separated panel names (default all)")
    parser.add_argument("--no-cold-start", action="store_true")
    parser.add_argument("--ag-worker", nargs=6, metavar="ARG", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.ag_worker:
        train_csv, out_csv, horizon, freq, preset, limit = args.ag_worker
        ag_worker(train_csv, out_csv, int(horizon), freq, preset, float(limit))
        return
    systems = args.systems.split(",")
    panels = build_panels()
    if args.panels:
        panels = [p for p in panels if p.name in args.panels.split(",")]
    why = autogluon_missing() if any(s in AG_PRESETS for s in systems) else None
    not_run = {s: why for s in systems if s in AG_PRESETS and why}
    warmup = sf_warmup() if any(s in SF_MODELS for s in systems) else 0.0
    work = Path(tempfile.mkdtemp(prefix="mlcraft-bench-forecast-"))
    try:
        started = time.perf_counter()
        scores, runs = run_all(panels, systems, work, not_run)
        cold = None if args.no_cold_start else cold_start(work / "cold")
        total = time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = {s: summarise(s, scores, runs[s]) for s in systems}
    per_panel = per_panel_mase(scores, panels)
    print("\n" + markdown(rows, not_run, per_panel, panels))
    if cold:
        print(f"\ncold start (mlcraft train, 1 series x {COLD_POINTS} monthly, H={COLD_HORIZON}, "
              f"--max-trials 1): {cold['wall_s']:.1f} s {cold.get('error', '')}")  # fmt: skip
    out = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}",
        "limit_s": LIMIT_S,
        "levels": list(LEVELS),
        "panels": [
            {
                "name": p.name,
                "freq": p.freq,
                "season": p.season,
                "horizon": p.horizon,
                "series": {str(k): int(v) for k, v in p.data.groupby("unique_id").size().items()},
            }
            for p in panels
        ],  # fmt: skip
        "jit_warmup_s": warmup,
        "total_s": total,
        "not_run": not_run,
        "summary": rows,
        "per_panel_mean_mase": per_panel,
        "runs": runs,
        "scores": scores,
        "cold_start": cold,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, default=str))
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
