"""Incremental PCA on a Parquet file larger than 4 GB with peak memory under 2 GB (issue 15, scale;
issue 17, part 4).

A table is generated and written in chunks under /tmp (default 18,000,000 rows x 30 float64
columns: rank 5 plus noise, about 4.3 GB in memory and on disk; free disk is checked first), then
one command runs as a user types it, in a child process:

    mlcraft train big.parquet --task embed --dims 5 --family incremental_pca --max-trials 1 --project P

With the default in-memory limit (1/8 of the machine's memory) the file is streamed: framed on a
50,000-row sample, the incremental PCA refitted on every training row batch by batch. The child is
timed from start to exit; its memory is the peak of the summed proportional set size (PSS) of the
process and its workers, sampled every 0.2 s from /proc, and also ``ru_maxrss`` of the largest
child process. The reference in the same run: a hand-written loop over the same batches
(pyarrow ``iter_batches``, the same hash split, ``StandardScaler.partial_fit`` then
``IncrementalPCA.partial_fit``), whose explained variance the saved model's is compared with.
The file and the project are deleted at the end.

    python benchmarks/bench_stream.py [--rows 18000000] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_scale_unsupervised import (
    tree_pss_bytes,  # the same PSS walk of the child and its workers
)

ROOT = Path(__file__).resolve().parents[1]
MLCRAFT = [str(Path(sys.executable).with_name("mlcraft"))]  # the console script beside this Python
COLUMNS, RANK, CHUNK = 30, 5, 500_000


def generate(path: Path, rows: int, seed: int = 0) -> float:
    """Write ``rows`` x 30 float64 (rank 5 + noise) in chunks; returns the seconds taken."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(RANK, COLUMNS))
    scales = np.array([5.0, 4.0, 3.0, 2.0, 1.5])
    names = [f"x{j}" for j in range(COLUMNS)]
    writer = None
    for first in range(0, rows, CHUNK):
        n = min(CHUNK, rows - first)
        X = (rng.normal(size=(n, RANK)) * scales) @ mixing + 0.5 * rng.normal(size=(n, COLUMNS))
        table = pa.table({name: X[:, j] for j, name in enumerate(names)})
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema, compression="snappy")
        writer.write_table(table, row_group_size=CHUNK)
    assert writer is not None
    writer.close()
    return time.perf_counter() - start


def run_child(cmd: list[str], log: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True, env=env)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, tree_pss_bytes(proc.pid))
            time.sleep(0.2)
    return {
        "rc": proc.returncode,
        "seconds": round(time.perf_counter() - start, 1),
        "peak_pss_gb": round(peak / 1e9, 3),
        "max_rss_gb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9, 3),
        "tail": [
            line for line in log.read_text().splitlines() if line.startswith(("champion", "note"))
        ],
    }


def hand_loop(path: Path, dims: int, batch_rows: int, test_size: float) -> tuple[np.ndarray, float]:
    """The reference: the same batches and training rows, scikit-learn's partial_fit by hand."""
    import pyarrow.parquet as pq
    from sklearn.decomposition import IncrementalPCA
    from sklearn.preprocessing import StandardScaler

    from mlcraft.core.data.split import row_fraction

    start = time.perf_counter()

    def batches():
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
            frame = batch.to_pandas()
            yield frame[row_fraction(frame) >= test_size].to_numpy(dtype=float)

    scaler = StandardScaler()
    for X in batches():
        scaler.partial_fit(X)
    ipca, pending = IncrementalPCA(n_components=dims), None
    for X in batches():
        X = scaler.transform(X)
        if pending is not None and len(X) < dims:
            pending = np.vstack([pending, X])
            continue
        if pending is not None:
            ipca.partial_fit(pending)
        pending = X
    ipca.partial_fit(pending)
    return ipca.explained_variance_ratio_, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=18_000_000)
    parser.add_argument("--dims", type=int, default=RANK)
    parser.add_argument("--keep", action="store_true", help="keep the generated file")
    parser.add_argument(
        "--limit", help="MLCRAFT_IN_MEMORY_LIMIT for the child (default: unset, the machine's rule)"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    if args.limit:
        os.environ["MLCRAFT_IN_MEMORY_LIMIT"] = args.limit
    import mlcraft
    from mlcraft.core.data import stream

    work = Path(tempfile.mkdtemp(prefix="mlcraft-bench-stream-", dir="/tmp"))
    need = args.rows * COLUMNS * 8 * 1.1
    free = shutil.disk_usage(work).free
    if free < 2 * need:
        sys.exit(f"need {2 * need / 1e9:.1f} GB free under /tmp, have {free / 1e9:.1f} GB")
    data, project = work / "big.parquet", work / "project"
    try:
        gen_s = generate(data, args.rows)
        size = data.stat().st_size
        print(
            f"generated {args.rows:,} rows x {COLUMNS}: {size / 1e9:.2f} GB in {gen_s:.0f}s",
            flush=True,
        )
        cmd = [
            *MLCRAFT,
            "train",
            str(data),
            "--task",
            "embed",
            "--dims",
            str(args.dims),
            "--family",
            "incremental_pca",
            "--max-trials",
            "1",
            "--project",
            str(project),
        ]
        child = run_child(cmd, work / "train.log")
        print(json.dumps(child, indent=1), flush=True)
        if child["rc"] != 0:
            sys.exit("the train command failed")
        model = mlcraft.Project.open(project).load_model()
        saved = model.pipeline[-1].explained_variance_ratio_
        cfg = mlcraft.Project.open(project).config
        hand, hand_s = hand_loop(data, args.dims, stream.BATCH_ROWS, cfg.test_size)
        streamed = mlcraft.Project.open(project).workspace.dataset_reference(cfg.dataset)
        if streamed is None:
            sys.exit("the file was loaded whole, not streamed: give more --rows or a lower --limit")
        result = {
            "rows": args.rows,
            "file_gb": round(size / 1e9, 2),
            "in_memory_limit_gb": round(stream.in_memory_limit() / 1e9, 2),
            "train": {k: v for k, v in child.items() if k != "tail"},
            "explained_variance_mlcraft": [round(float(v), 6) for v in saved],
            "explained_variance_hand": [round(float(v), 6) for v in hand],
            "ratio_total": round(float(saved.sum() / hand.sum()), 6),
            "hand_loop_s": round(hand_s, 1),
            "machine": f"{os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB",
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        }
        print(json.dumps(result, indent=1))
        (ROOT / "bench-out").mkdir(exist_ok=True)
        (ROOT / "bench-out" / "bench_stream.json").write_text(json.dumps(result, indent=1))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
