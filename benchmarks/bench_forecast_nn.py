"""`make bench-forecast-nn`: NeuralForecaster against a hand-written PyTorch loop doing the same work.

Same network (``build_network``), same training windows (``make_windows``: the same held-out last
window per series), same epochs, batch size, optimiser (Adam, constant rate) and seed; the
hand-written loop shuffles, steps and scores the validation windows each epoch, nothing else.
``epochs`` stays under the early-stopping patience so both run every epoch (checked).
mlcraft is timed from the raw series (its window-making included), the loop from the ready
windows. Rounds alternate the order; reported: the median time and the median over rounds of the
speed ratio (loop time / mlcraft time: 1.0 is as fast, above 0.9 meets the issue's target).
Results: bench-out/bench_forecast_nn.json. Run it under `flock /tmp/mlcraft-heavy.lock`.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

from mlcraft.nn.forecast import PATIENCE, SEQUENTIAL, NeuralForecaster, build_network, make_windows

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
N_SERIES, LENGTH, WINDOW, HORIZON = 200, 200, 24, 12
EPOCHS, BATCH, HIDDEN, LR, SEED = 5, 64, 32, 1e-3, 0
ARCHS = os.environ.get("BENCH_ARCHS", "gru,nbeats").split(",")
assert EPOCHS < PATIENCE


def make_series() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.arange(LENGTH)
    return [
        50
        + 10 * rng.random()
        + 5 * np.sin(2 * np.pi * t / 12 + rng.random() * 6)
        + np.cumsum(rng.normal(0, 0.5, LENGTH))
        for _ in range(N_SERIES)
    ]


def run_mlcraft(arch: str, series: list[np.ndarray]) -> float:
    model = NeuralForecaster(
        arch=arch,
        window=WINDOW,
        hidden=HIDDEN,
        epochs=EPOCHS,
        batch_size=BATCH,
        lr=LR,
        seed=SEED,
        device="cpu",
    )
    started = time.perf_counter()
    model.fit(series, horizon=HORIZON)
    elapsed = time.perf_counter() - started
    assert model.epochs_ == EPOCHS, model.stop_reason_
    return elapsed


def run_loop(arch: str, series: list[np.ndarray]) -> float:
    train_np, valid_np = make_windows(series, WINDOW, HORIZON, holdout=True)
    assert valid_np is not None
    train, valid = torch.from_numpy(train_np), torch.from_numpy(valid_np)
    started = time.perf_counter()
    torch.manual_seed(SEED)
    net = build_network(
        arch,
        window=WINDOW,
        horizon=HORIZON,
        hidden=HIDDEN,
        layers=1,
        dropout=0.1,
        seq2seq=arch in SEQUENTIAL,
    )
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(SEED)
    seq = arch in SEQUENTIAL
    for _ in range(EPOCHS):
        net.train()
        perm = torch.randperm(len(train), generator=gen)
        for start in range(0, len(train), BATCH):
            xb = train[perm[start : start + BATCH]]
            out = net(xb)
            if seq:  # every step t forecasts values t+1 .. t+H; padded steps left out
                target = xb[:, 0, 1:].unfold(1, HORIZON, 1)[:, :WINDOW]
                mask = xb[:, 1, :WINDOW].unsqueeze(2)
                loss = ((out - target) ** 2 * mask).sum() / (mask.sum() * HORIZON)
            else:
                loss = torch.nn.functional.mse_loss(out, xb[:, 0, -HORIZON:])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            val = torch.nn.functional.mse_loss(net(valid), valid[:, 0, -HORIZON:])
        float(val)
    return time.perf_counter() - started


def main() -> None:
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    series = make_series()
    n_windows = len(make_windows(series, WINDOW, HORIZON, holdout=True)[0])
    results = {}
    for arch in ARCHS:
        times: dict[str, list[float]] = {"mlcraft": [], "loop": []}
        ratios = []
        for r in range(ROUNDS):
            order = ("mlcraft", "loop") if r % 2 == 0 else ("loop", "mlcraft")
            got = {}
            for which in order:
                got[which] = (run_mlcraft if which == "mlcraft" else run_loop)(arch, series)
                times[which].append(got[which])
            ratios.append(got["loop"] / got["mlcraft"])
            print(f"{arch} round {r + 1}: mlcraft {got['mlcraft']:.2f}s loop {got['loop']:.2f}s")
        results[arch] = {
            "mlcraft_s": statistics.median(times["mlcraft"]),
            "loop_s": statistics.median(times["loop"]),
            "speed_ratio": statistics.median(ratios),
            "ratios": ratios,
        }
        print(
            f"{arch}: mlcraft {results[arch]['mlcraft_s']:.2f}s, loop {results[arch]['loop_s']:.2f}s, "
            f"speed ratio {results[arch]['speed_ratio']:.3f} (target >= 0.9)"
        )
    out = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)",
        "setup": {
            "series": N_SERIES,
            "length": LENGTH,
            "window": WINDOW,
            "horizon": HORIZON,
            "epochs": EPOCHS,
            "batch_size": BATCH,
            "hidden": HIDDEN,
            "training_windows": n_windows,
            "rounds": ROUNDS,
        },
        "results": results,
    }
    (ROOT / "bench-out").mkdir(exist_ok=True)
    (ROOT / "bench-out" / "bench_forecast_nn.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
