"""`make bench-serve`: load on `mlcraft serve` (127.0.0.1) against the in-process pipeline predict.

1, 16 and 64 concurrent keep-alive clients send single-row and 1,000-row JSON requests to the
housing model; each run is bounded in time (--seconds) and in count (--max-requests). Reported:
throughput, p50/p99 latency as the client sees it, errors, and two in-process limits: the direct
`FittedModel.predict` on a frame, and the lean path the server takes for the same JSON records
(checked without a frame, compiled predictor); the overhead is counted over the quicker of the two. Repeated --repeats times; medians are reported.

Usage: python benchmarks/bench_serve.py [--seconds 5] [--max-requests 5000] [--repeats 3] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
HOUSING = ROOT.parent / "shared" / "data" / "housing.csv"


async def _client(host, port, body, deadline, budget, latencies, errors):
    reader, writer = await asyncio.open_connection(host, port)
    head = f"POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    try:
        while time.perf_counter() < deadline and budget[0] > 0:
            budget[0] -= 1
            start = time.perf_counter()
            writer.write(head + body)
            await writer.drain()
            head_block = await reader.readuntil(
                b"\r\n\r\n"
            )  # one await for the status line and headers
            status = int(head_block[9:12])
            at = head_block.lower().find(b"content-length:")
            length = int(head_block[at + 15 : head_block.find(b"\r\n", at)]) if at >= 0 else 0
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if status != 200:
                errors[0] += 1
    finally:
        writer.close()


async def load(host, port, body, clients, seconds, max_requests):
    latencies, errors, budget = [], [0], [max_requests]
    start = time.perf_counter()
    await asyncio.gather(
        *[
            _client(host, port, body, start + seconds, budget, latencies, errors)
            for _ in range(clients)
        ]
    )
    wall = time.perf_counter() - start
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    return {
        "requests": len(latencies),
        "rps": len(latencies) / wall,
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "errors": errors[0],
    }


def cpu_ticks() -> list[int] | None:
    """The machine's CPU time counters (Linux ``/proc/stat``: user ... steal), or None elsewhere."""
    try:
        with open("/proc/stat") as f:
            return [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None


def steal_share(before: list[int] | None, after: list[int] | None) -> float | None:
    """The share of busy CPU time the hypervisor took for other guests between two readings."""
    if before is None or after is None:
        return None
    d = [b - a for a, b in zip(before, after)]
    busy = sum(d) - d[3] - d[4]  # all but idle and iowait
    return d[7] / busy if busy > 0 else 0.0


def direct_ms(model, frame, repeats=200):
    """``FittedModel.predict`` on a frame: the schema check and the pipeline, in-process."""
    return _median_ms(lambda: model.predict(frame), repeats)


def lean_ms(model, records, repeats=200):
    """The quickest in-process path the server itself takes for JSON records (checked without a
    frame, compiled predictor), or the frame path when the records need it."""

    def run():
        checked = model.schema.coerce_records(records)
        features = (
            checked[0]
            if checked is not None
            else model.schema.coerce(pd.DataFrame.from_records(records))[0]
        )
        model.predict_raw(features)

    return _median_ms(run, repeats)


def _median_ms(call, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def submit_latency(tmp: Path, n: int = 20000) -> dict:
    """LogWriter.submit while another connection holds the database's write lock (the worst case)."""
    import sqlite3

    from mlcraft.database import Database
    from mlcraft.monitoring import LogWriter, PredictionLog, RequestRecord

    db = Database(tmp / "submit.db")
    db.ensure_schema()
    blocker = sqlite3.connect(tmp / "submit.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    writer = LogWriter(PredictionLog(db), max_queue=1000).start()
    times = []
    for i in range(n):
        rec = RequestRecord(
            f"r{i}", time.time(), "/predict", 1, 1.0, 200, inputs=[{"x": 1.0}], predictions=[1.0]
        )
        start = time.perf_counter()
        writer.submit(rec)
        times.append(time.perf_counter() - start)
    blocker.execute("ROLLBACK")
    writer.close()
    times.sort()
    return {
        "n": n,
        "p50_us": times[n // 2] * 1e6,
        "p99_us": times[int(n * 0.99)] * 1e6,
        "max_us": times[-1] * 1e6,
        "dropped": writer.dropped,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--max-requests", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out" / "serve")
    args = parser.parse_args()
    import mlcraft

    try:  # the load generator shares the server's two cores: uvloop makes it cost less of them
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    shutil.rmtree(args.out, ignore_errors=True)
    frame = pd.read_csv(HOUSING)
    project = mlcraft.Project.create(
        args.out / "housing", data=frame, target="median_house_value", max_trials=1, time_limit=None
    )
    project.train(families=["lightgbm"], n_jobs=1)
    X = frame.drop(columns="median_house_value")
    model = project.load_model()
    one, thousand = X.head(1), X.head(1000)
    bodies = {
        "1 row": json.dumps(json.loads(one.to_json(orient="records"))).encode(),
        "1000 rows": json.dumps(json.loads(thousand.to_json(orient="records"))).encode(),
    }
    direct = {
        "1 row": [direct_ms(model, one) for _ in range(args.repeats)],
        "1000 rows": [direct_ms(model, thousand, 50) for _ in range(args.repeats)],
    }
    lean = {
        name: [
            lean_ms(model, json.loads(body), 200 if name == "1 row" else 50)
            for _ in range(args.repeats)
        ]
        for name, body in bodies.items()
    }
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("mlcraft")
    server = subprocess.Popen(
        [
            str(exe),
            "serve",
            "--project",
            str(args.out / "housing"),
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        rows = []
        gc.collect()
        gc.freeze()  # the load generator's own full collections (tens of ms with this process's heap) would count as server latency
        for name, body in bodies.items():
            for clients in (1, 16, 64):
                asyncio.run(load("127.0.0.1", port, body, clients, 1.0, 200))  # warm-up
                before = cpu_ticks()
                runs = [
                    asyncio.run(
                        load("127.0.0.1", port, body, clients, args.seconds, args.max_requests)
                    )
                    for _ in range(args.repeats)
                ]
                steal = steal_share(before, cpu_ticks())
                row = {
                    k: statistics.median(r[k] for r in runs) for k in ("rps", "p50_ms", "p99_ms")
                }
                row.update(
                    payload=name,
                    clients=clients,
                    requests=sum(r["requests"] for r in runs),
                    errors=sum(r["errors"] for r in runs),
                    direct_ms=statistics.median(direct[name]),
                    lean_ms=statistics.median(lean[name]),
                    steal=steal,
                )
                rows.append(row)
                print(json.dumps(row), flush=True)
        health = json.loads(
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).read()
        )
    finally:
        server.terminate()
        server.wait(timeout=60)
    print("log submit with the database locked:", json.dumps(submit_latency(args.out)))
    print(
        f"\nmachine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; server workers: {args.workers}; log: {health['log']}"
    )
    print(
        "CPU steal: the share of busy CPU time the hypervisor gave to other guests during the cell (a shared virtual machine's noise; n/a off Linux)"
    )
    print(
        "| payload | clients | req/s | p50 ms | p99 ms | direct predict ms | lean in-process ms | p50 overhead ms (over the quicker) | errors | CPU steal |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        quicker = min(r["direct_ms"], r["lean_ms"])
        steal = "n/a" if r["steal"] is None else f"{r['steal']:.0%}"
        print(
            f"| {r['payload']} | {r['clients']} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['direct_ms']:.2f} | {r['lean_ms']:.2f} | {r['p50_ms'] - quicker:.2f} | {r['errors']} | {steal} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
