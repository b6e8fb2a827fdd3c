"""`make bench-inference`: prediction latency of saved champions (ensembles included), on this machine.

Trains titanic with a fixed number of trials (its champion is an ensemble) and housing with a 60 s
limit, each also with ``prefer_fast``; then times ``model.predict`` (schema check included) on one row
(median of 50 calls) and on 10,000 rows (best of 3). Targets: one row < 20 ms, 10,000 rows < 1 s.

Usage: python benchmarks/bench_inference.py [--out bench-out/inference] [--housing-time-limit 60]
       [--dataset titanic|housing] [--champion-only]   (the 300 s champion: --dataset housing --housing-time-limit 300 --champion-only)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CASES = [
    ("titanic", DATA / "titanic.csv", "Survived", {"max_trials": 24, "time_limit": None}),
    ("housing", DATA / "housing.csv", "median_house_value", {"time_limit": 60.0}),
]


def timings(model, frame) -> dict:
    one = frame.iloc[[0]]
    model.predict(one)  # warm-up
    ones = []
    for _ in range(50):
        start = time.perf_counter()
        model.predict(one)
        ones.append(time.perf_counter() - start)
    batch = frame.sample(10_000, replace=True, random_state=0)
    batches = []
    for _ in range(3):
        start = time.perf_counter()
        model.predict(batch)
        batches.append(time.perf_counter() - start)
    ones.sort()
    return {
        "one_row_ms": round(ones[len(ones) // 2] * 1000, 2),
        "rows_10k_s": round(min(batches), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out" / "inference")
    parser.add_argument(
        "--housing-time-limit",
        type=float,
        default=60.0,
        help="training budget of the housing runs (seconds)",
    )
    parser.add_argument("--dataset", choices=[name for name, *_ in CASES], help="only this dataset")
    parser.add_argument("--champion-only", action="store_true", help="skip the --prefer-fast runs")
    args = parser.parse_args()
    import pandas as pd

    import mlcraft

    rows = []
    for name, path, target, budget in CASES:
        if args.dataset and name != args.dataset:
            continue
        if name == "housing":
            budget = {**budget, "time_limit": args.housing_time_limit}
        frame = pd.read_csv(path)
        features = frame.drop(columns=[target])
        for prefer_fast in (False,) if args.champion_only else (False, True):
            where = args.out / f"{name}-{'fast' if prefer_fast else 'default'}"
            shutil.rmtree(where, ignore_errors=True)
            project = mlcraft.Project.create(where, data=frame, target=target, **budget)
            result = project.train(
                prefer_fast=prefer_fast, **{k: v for k, v in budget.items() if v is not None}
            )
            model = project.load_model()
            row = {
                "dataset": name,
                "time_limit": budget.get("time_limit"),
                "prefer_fast": prefer_fast,
                "champion": result.best,
                "ensemble": result.ensemble,
                **timings(model, features),
            }
            row["meets_targets"] = row["one_row_ms"] < 20 and row["rows_10k_s"] < 1.0
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(json.dumps({"cores": os.cpu_count(), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
