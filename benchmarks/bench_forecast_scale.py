"""Forecasting at scale: 10,000 series of 200 monthly points, trained and forecast on 2 cores.

Issue 16's speed target: the statistical and LightGBM families trained and forecast within 120 s.
The series are generated (level, trend, a yearly cycle of random phase and amplitude, noise);
``mlcraft train`` runs as a user would (the CLI, ``--time-limit 120`` for the whole command), then
``mlcraft predict`` writes the next 12 months of every series. Printed: the wall time of each
command, the champion, the families that were tried or skipped, and the CV MASE.

    python benchmarks/bench_forecast_scale.py [--series 10000] [--length 200] [--time-limit 120]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def panel(n: int, length: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    level = rng.uniform(50, 500, n)[:, None]
    trend = rng.normal(0, 0.002, n)[:, None]
    amp = rng.uniform(0, 0.3, n)[:, None]
    phase = rng.uniform(0, 2 * np.pi, n)[:, None]
    y = level * (1 + trend * t) * (1 + amp * np.sin(2 * np.pi * t / 12 + phase))
    y = y + rng.normal(0, 1, (n, length)) * level * 0.03
    stamps = pd.date_range("2000-01-01", periods=length, freq="MS")
    return pd.DataFrame(
        {
            "item": np.repeat([f"i{i}" for i in range(n)], length),
            "month": np.tile(stamps, n),
            "sales": y.ravel(),
        }
    )


def run(*args: str) -> tuple[float, str]:
    exe = Path(sys.executable).with_name("mlcraft")
    start = time.perf_counter()
    done = subprocess.run([str(exe), *args], capture_output=True, text=True)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"mlcraft {args[0]} failed: {done.stderr[-2000:]}")
    return took, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--family", default="seasonal_naive,theta,ets,ces,lightgbm_lags")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "panel.parquet"
        panel(args.series, args.length).to_parquet(data, index=False)
        project = Path(tmp) / "p"
        train_s, out = run(
            "train", str(data), "--task", "forecast", "--time", "month", "--target", "sales",
            "--series-id", "item", "--horizon", "12", "--project", str(project),
            "--time-limit", str(args.time_limit), "--folds", str(args.folds),
            "--family", args.family,
        )  # fmt: skip
        predict_s, _ = run("predict", "--project", str(project), "--out", str(Path(tmp) / "f.csv"))
        rows = len(pd.read_csv(Path(tmp) / "f.csv"))
        board = json.loads(next(project.glob("runs/*/leaderboard.json")).read_text())["rows"]
        log = next(project.glob("runs/*/log.txt")).read_text()
    champion = [line for line in out.splitlines() if line.startswith("champion:")]
    skipped = sorted(
        {
            line.split(": skipped:")[0].split()[-1]
            for line in log.splitlines()
            if ": skipped:" in line
        }
    )
    result = {
        "series": args.series,
        "length": args.length,
        "rows": args.series * args.length,
        "time_limit_s": args.time_limit,
        "folds": args.folds,
        "train_s": round(train_s, 1),
        "predict_s": round(predict_s, 1),
        "total_s": round(train_s + predict_s, 1),
        "forecast_rows": rows,
        "champion": champion[0] if champion else None,
        "skipped": skipped,
        "tried": sorted({r["family"] for r in board if r.get("status") == "ok"}),
        "best": [{k: r.get(k) for k in ("model", "mase_mean", "status")} for r in board[:5]],
    }
    print(out)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
