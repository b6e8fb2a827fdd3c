"""Clustering and PCA at scale: 1,000,000 rows x 30 columns within 60 s and 4 GB (issue 15).

The table is generated (Gaussian blobs, 8 centres, 30 float columns) and written to Parquet once.
Two commands run as a user would type them, each a separate process:

- ``mlcraft train DATA --task cluster --family kmeans,minibatch_kmeans --time-limit 60``
- ``mlcraft train DATA --task embed --dims 5 --family pca,randomized_pca,incremental_pca --time-limit 60``

Each is timed from start to exit (reading the file, the stable split, the reference space, the
cross-validated search, the refit and writing the project) and its memory is the peak of the summed
proportional set size (PSS) of the process and its workers, sampled every 0.1 s from /proc. The hand-written
reference in the same run: scikit-learn's ``MiniBatchKMeans(8)`` and ``PCA(5)`` fitted once on the
same array in this process (no split, no folds, no search).

    python benchmarks/bench_scale_unsupervised.py [--rows 1000000] [--budget 60]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
MLCRAFT = [str(Path(sys.executable).with_name("mlcraft"))]  # the console script beside this Python


def tree_pss_bytes(pid: int) -> int:
    """Proportional set size of ``pid`` and all its descendants (Linux /proc), in bytes: resident
    memory with each page shared by forked workers counted once in all, not once per process."""
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:  # PSS: shared pages split between sharers
                total += next(int(line.split()[1]) * 1024 for line in f if line.startswith("Pss:"))
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError, StopIteration):
            continue  # a process gone, or one with no Pss line
    return total


def timed(cmd: list[str]) -> dict:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_pss_bytes(proc.pid))
        time.sleep(0.1)
    out = proc.stdout.read() if proc.stdout else ""
    return {
        "rc": proc.returncode,
        "seconds": round(time.perf_counter() - start, 1),
        "peak_gb": round(peak / 1e9, 2),
        "tail": out.strip().splitlines()[-3:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--budget", type=float, default=60.0)
    args = parser.parse_args()
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.datasets import make_blobs
    from sklearn.decomposition import PCA

    X, _ = make_blobs(args.rows, n_features=30, centers=8, random_state=0)
    X = X.astype("float32")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "big.parquet"
        pd.DataFrame(X, columns=[f"x{j}" for j in range(30)]).to_parquet(data)
        start = time.perf_counter()
        MiniBatchKMeans(8, n_init=3, random_state=0).fit(X)
        kmeans_s = time.perf_counter() - start
        start = time.perf_counter()
        PCA(5, random_state=0).fit(X)
        pca_s = time.perf_counter() - start
        budget = str(args.budget)
        runs = {
            "cluster": timed(
                [
                    *MLCRAFT,
                    "train",
                    str(data),
                    "--task",
                    "cluster",
                    "--family",
                    "kmeans,minibatch_kmeans",
                    "--time-limit",
                    budget,
                    "--project",
                    str(Path(tmp) / "c"),
                ]  # fmt: skip
            ),
            "embed": timed(
                [
                    *MLCRAFT,
                    "train",
                    str(data),
                    "--task",
                    "embed",
                    "--dims",
                    "5",
                    "--family",
                    "pca,randomized_pca,incremental_pca",
                    "--time-limit",
                    budget,
                    "--project",
                    str(Path(tmp) / "e"),
                ]  # fmt: skip
            ),
        }
    row = {
        "rows": args.rows,
        "columns": 30,
        "budget_s": args.budget,
        "sklearn_minibatch_kmeans_s": round(kmeans_s, 1),
        "sklearn_pca_s": round(pca_s, 1),
        **runs,
    }
    print(json.dumps(row, indent=2))
    out = ROOT / "bench-out"
    out.mkdir(exist_ok=True)
    (out / "scale_unsupervised.json").write_text(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
