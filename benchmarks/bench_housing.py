"""`make bench`: train on housing with the default split and budget; print the test RMSE and wall time.

Usage: python benchmarks/bench_housing.py [--time-limit 300] [--out bench-out/housing]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOUSING = ROOT.parent / "shared" / "data" / "housing.csv"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--time-limit", type=float, default=300.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out" / "housing")
    args = parser.parse_args()
    import mlcraft

    shutil.rmtree(args.out, ignore_errors=True)
    start = time.perf_counter()
    project = mlcraft.Project.create(
        args.out, data=HOUSING, target="median_house_value", time_limit=args.time_limit
    )
    result = project.train()
    train_wall = time.perf_counter() - start
    evaluation = project.evaluate()
    total_wall = time.perf_counter() - start
    summary = {
        "dataset": "housing.csv",
        "time_limit_s": args.time_limit,
        "train_wall_s": round(train_wall, 1),
        "total_wall_s": round(total_wall, 1),
        "champion": result.best,
        "cv_rmse": round(result.cv_mean),
        "test_rmse": round(evaluation.value),
        "test_rmse_ci95": [round(evaluation.ci_low), round(evaluation.ci_high)],
        "test_rows": evaluation.test_rows,
        "cores": os.cpu_count(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
    }
    print(
        result.leaderboard[
            ["rank", "model", "rmse_mean", "rmse_std", "fit_time_s", "status", "note"]
        ].to_string(index=False)
    )
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
