"""`make bench-inference`: prediction latency of saved champions (ensembles included), on this machine.

Trains titanic with a fixed number of trials (its champion is an ensemble) and housing with a 60 s
limit, each also with ``prefer_fast``; then times ``model.predict`` (schema check included) on one row
(median of 50 calls) and on 10,000 rows (best of 3). Targets: one row < 20 ms, 10,000 rows < 1 s.

Usage: python benchmarks/bench_inference.py [--out bench-out/inference]
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
    return {"one_row_ms": round(ones[len(ones) // 2] * 1000, 2), "rows_10k_s": round(min(batches), 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out" / "inference")
    args = parser.parse_args()
    import pandas as pd

    import mlcraft

    rows = []
    for name, path, target, budget in CASES:
        frame = pd.read_csv(path)
        features = frame.drop(columns=[target])
        for prefer_fast in (False, True):
            where = args.out / f"{name}-{'fast' if prefer_fast else 'default'}"
            shutil.rmtree(where, ignore_errors=True)
            project = mlcraft.Project.create(where, data=frame, target=target, **budget)
            result = project.train(prefer_fast=prefer_fast, **{k: v for k, v in budget.items() if v is not None})
            model = project.load_model()
            row = {"dataset": name, "prefer_fast": prefer_fast, "champion": result.best, "ensemble": result.ensemble, **timings(model, features)}
            row["meets_targets"] = row["one_row_ms"] < 20 and row["rows_10k_s"] < 1.0
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(json.dumps({"cores": os.cpu_count(), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
