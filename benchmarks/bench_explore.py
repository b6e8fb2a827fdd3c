"""`make bench-explore`: `mlcraft explore` on a generated table of 1,000,000 rows x 30 columns.

The table mixes numeric columns (normal, heavy-tailed, capped, integer, latitude/longitude) and
categorical ones (3 to 5,000 categories), with missing values, plus a numeric target. The project is
created first (not timed); then `mlcraft explore` runs in a child process whose wall time and peak
memory (maximum resident set size) are measured. Limits: 60 s and 4 GB.

Usage: python benchmarks/bench_explore.py [--rows 1000000] [--out bench-out/explore]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
LIMIT_S = 60.0
LIMIT_BYTES = 4 * 1024**3
N_NUMERIC = 20
CARDINALITIES = (2, 3, 5, 8, 12, 20, 50, 300, 5000)  # 9 categorical columns


def generate(rows: int, seed: int = 0) -> pd.DataFrame:
    """1 target + 20 numeric + 9 categorical columns = 30 columns, about 5% missing in a third of them."""
    rng = np.random.default_rng(seed)
    data: dict[str, np.ndarray] = {
        "longitude": rng.uniform(-124.3, -114.3, rows).round(2),
        "latitude": rng.uniform(32.5, 42.0, rows).round(2),
        "income": np.minimum(
            rng.lognormal(1.2, 0.5, rows), 15.0001
        ),  # capped at 15.0001, like housing
        "age": np.minimum(rng.integers(1, 70, rows), 52).astype(float),  # capped at 52
    }
    for j in range(N_NUMERIC - len(data)):
        data[f"num_{j:02d}"] = (
            rng.lognormal(0, 1.0, rows) if j % 3 == 0 else rng.normal(j, 1 + j, rows)
        )
    for j, k in enumerate(CARDINALITIES):
        labels = np.asarray([f"c{j}_{i}" for i in range(k)], dtype=object)
        data[f"cat_{j}"] = labels[rng.zipf(1.5, rows) % k]
    frame = pd.DataFrame(data)
    for j, name in enumerate(frame.columns):
        if j % 3 == 1:
            frame.loc[rng.random(rows) < 0.05, name] = np.nan
    noise = rng.normal(0, 1, rows)
    frame["target"] = (
        3 * np.log1p(frame["income"].fillna(3)) + 0.02 * frame["age"].fillna(30) + noise
    )
    return frame


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out" / "explore")
    args = parser.parse_args()
    import mlcraft

    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    frame = generate(args.rows)
    data = args.out / "data.parquet"
    frame.to_parquet(data, index=False)
    assert frame.shape == (args.rows, 30), frame.shape
    del frame
    start = time.perf_counter()
    mlcraft.Project.create(
        args.out / "project", data=data, target="target", max_trials=1, time_limit=None
    )
    create_s = time.perf_counter() - start
    exe = Path(sys.executable).with_name("mlcraft")
    start = time.perf_counter()
    run = subprocess.run(
        [str(exe), "explore", "--project", str(args.out / "project")],
        capture_output=True,
        text=True,
    )
    explore_s = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # kB on Linux
    if run.returncode != 0:
        print(run.stdout, run.stderr, file=sys.stderr)
        return 1
    html = args.out / "project" / "reports" / "explore" / "explore.html"
    summary = {
        "rows": args.rows,
        "columns": 30,
        "create_s (not timed against the limit)": round(create_s, 1),
        "explore_wall_s": round(explore_s, 1),
        "explore_peak_rss_gb": round(peak / 1024**3, 2),
        "wall_ratio_to_limit": round(explore_s / LIMIT_S, 3),
        "memory_ratio_to_limit": round(peak / LIMIT_BYTES, 3),
        "html_mb": round(html.stat().st_size / 1e6, 2),
        "load_average_1min_after": round(os.getloadavg()[0], 2),  # the machine is shared: noise
        "cores": os.cpu_count(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }
    print(run.stdout)
    print(json.dumps(summary, indent=2))
    ok = explore_s < LIMIT_S and peak < LIMIT_BYTES
    print("PASS" if ok else "FAIL: over the limit")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
