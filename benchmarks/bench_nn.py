"""`make bench-nn`: the same MLP on housing, four ways; samples per second and the ratio to the limit.

mlcraft's MLPRegressor, a minimal hand-written PyTorch loop (the limit), and, when the benchmark's
own environment (bench-out/nn-venv, made by `make bench-nn`) has them, skorch and Keras 3 on the
PyTorch backend. Each run is a fresh process; rounds rotate the order. Reported: the median time, and
the median over rounds of the ratio to the hand-written loop of the same round (the machine is shared
and its load drifts, so ratios within a round are steadier than times across rounds).
Results: bench-out/bench_nn.json. Run it under `flock /tmp/mlcraft-bench.lock` (the Makefile does).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
HOUSING = ROOT.parent / "shared" / "data" / "housing.csv"
OTHER_VENV = ROOT / "bench-out" / "nn-venv" / "bin" / "python"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))


def prepare(directory: Path) -> int:
    """Housing features as a float32 matrix (median-imputed, one-hot, standardised), target standardised."""
    frame = pd.read_csv(HOUSING)
    y = frame.pop("median_house_value").to_numpy(dtype=np.float64)
    frame = pd.get_dummies(frame, columns=["ocean_proximity"], dtype=float)
    frame = frame.fillna(frame.median())
    X = ((frame - frame.mean()) / frame.std()).to_numpy(dtype=np.float32)
    np.save(directory / "X.npy", X)
    np.save(directory / "y.npy", ((y - y.mean()) / y.std()).astype(np.float32))
    return len(X)


def has(python: Path, module: str) -> bool:
    if not python.exists():
        return False
    env = {
        **os.environ,
        "KERAS_BACKEND": "torch",
    }  # Keras 3 imports TensorFlow unless told otherwise
    return (
        subprocess.run(
            [str(python), "-c", f"import {module}"], capture_output=True, env=env
        ).returncode
        == 0
    )


def run(python: Path, which: str, data: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [str(python), str(ROOT / "benchmarks" / "nn_contenders.py"), which, str(data)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{which} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    contenders = {"torch": Path(sys.executable), "mlcraft": Path(sys.executable)}
    for name, module in (("skorch", "skorch"), ("keras", "keras")):
        if has(OTHER_VENV, module):
            contenders[name] = OTHER_VENV
        else:
            print(f"{name}: not installed in {OTHER_VENV} (make bench-nn installs it); left out")
    results: dict[str, list[dict]] = {name: [] for name in contenders}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        rows = prepare(data)
        names = list(contenders)
        for r in range(ROUNDS):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                result = run(contenders[name], name, data)
                results[name].append(result)
                print(
                    f"round {r + 1}: {name:8} {result['seconds']:7.2f}s  train RMSE {result['train_rmse']:.3f}",
                    flush=True,
                )
    summary = {
        "date": date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "rows": rows,
        "epochs": 20,
        "rounds": ROUNDS,
        "threads": results["torch"][0]["threads"],
        "contenders": {},
    }
    print(
        f"\n{'contender':10} {'median s':>9} {'samples/s':>10} {'vs limit':>9}   (housing, {rows} rows x 20 epochs, {ROUNDS} rounds; ratio: median of per-round ratios)"
    )
    for name, runs in results.items():
        seconds = statistics.median(x["seconds"] for x in runs)
        rate = rows * 20 / seconds
        ratio = statistics.median(
            t["seconds"] / x["seconds"] for t, x in zip(results["torch"], runs)
        )
        summary["contenders"][name] = {
            "median_seconds": seconds,
            "samples_per_second": rate,
            "ratio_to_limit": ratio,
            "all_seconds": [x["seconds"] for x in runs],
            "train_rmse": [x["train_rmse"] for x in runs],
        }
        print(f"{name:10} {seconds:9.2f} {rate:10,.0f} {ratio:8.2f}x")
    out = ROOT / "bench-out" / "bench_nn.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
