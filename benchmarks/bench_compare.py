"""`make bench-compare`: mlcraft beside FLAML and AutoGluon-Tabular, same data, same split, same budget.

Each cell (system x dataset x budget) runs in its own process (`compare_cell.py`), its result is
appended to ``bench-out/compare/results.jsonl`` as soon as it ends, and a cell already there is
skipped, so the run can be stopped and resumed, and left unattended::

    nohup make bench-compare > bench-out/compare.log 2>&1 &

Each cell takes the machine's benchmark lock (``/tmp/mlcraft-bench.lock``, as ``flock`` does) for
its own duration only, so other benchmarks can run between cells but never during one.

mlcraft cells run the last commit of ``src/`` (exported to ``bench-out/compare/src-<commit>``, so that
editing the working tree meanwhile changes nothing) and are keyed by it: a new commit re-runs them
(the anchors' cells are kept). ``--report`` only rewrites the table in docs/benchmarks.md.

Usage: python benchmarks/bench_compare.py [--systems mlcraft,flaml,ag_medium,ag_best]
       [--datasets housing,titanic,...] [--budgets 60,300] [--report]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench-out" / "compare"
RESULTS = OUT / "results.jsonl"
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench-compare:begin -->", "<!-- bench-compare:end -->"
SYSTEMS = ("mlcraft", "flaml", "ag_medium", "ag_best")
DATASETS = ("housing", "titanic", "breast_cancer", "wine", "diabetes")
NAMES = {
    "mlcraft": "mlcraft",
    "flaml": "FLAML",
    "ag_medium": "AutoGluon medium",
    "ag_best": "AutoGluon best",
}
PYTHON = {"mlcraft": ROOT / ".venv" / "bin" / "python"}
ANCHOR_PYTHON = ROOT / ".bench-venv" / "bin" / "python"
LOCK = "/tmp/mlcraft-bench.lock"


def src_version() -> str:
    """The commit that last changed src/ (what an mlcraft cell runs)."""
    return subprocess.run(
        ["git", "log", "-1", "--format=%h", "--", "src"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()


def src_snapshot(version: str) -> Path:
    """``src/`` at ``version``, exported once, so a cell never runs half-edited code."""
    where = OUT / f"src-{version}"
    if not where.exists():
        tmp = OUT / f".tmp-src-{version}"
        subprocess.run(["rm", "-rf", str(tmp)], check=True)
        tmp.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", version, "src"], cwd=ROOT, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
        tmp.rename(where)
    return where / "src"


def load_results() -> list[dict]:
    if not RESULTS.exists():
        return []
    return [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]


def done(results: list[dict], system: str, dataset: str, budget: float, version: str) -> bool:
    for r in results:
        if (r["system"], r["dataset"], r["budget_s"]) == (system, dataset, budget):
            if system != "mlcraft" or r.get("version") == version:
                return True
    return False


def run_cell(system: str, dataset: str, budget: float, version: str) -> dict:
    import fcntl

    with open(LOCK, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        return _run_cell(system, dataset, budget, version)


def _run_cell(system: str, dataset: str, budget: float, version: str) -> dict:
    workdir = OUT / "work" / f"{system}-{dataset}-{int(budget)}"
    subprocess.run(["rm", "-rf", str(workdir)], check=True)
    python = PYTHON.get(system, ANCHOR_PYTHON)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if system == "mlcraft":
        env["PYTHONPATH"] = str(src_snapshot(version))
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [
                str(python),
                str(ROOT / "benchmarks" / "compare_cell.py"),
                system,
                dataset,
                str(budget),
                str(workdir),
            ],
            capture_output=True,
            text=True,
            timeout=budget * 4 + 300,
            env=env,
        )
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            record = {
                "system": system,
                "dataset": dataset,
                "budget_s": budget,
                "error": " | ".join(tail)[-400:],
            }
        else:
            record = json.loads(line[len("RESULT ") :])
    except subprocess.TimeoutExpired:
        record = {"system": system, "dataset": dataset, "budget_s": budget, "error": "timed out"}
    record["process_wall_s"] = round(time.perf_counter() - start, 1)
    record["date"] = dt.date.today().isoformat()
    record["cpu"] = cpu_model()
    if system == "mlcraft":
        record["version"] = version
    subprocess.run(["rm", "-rf", str(workdir)], check=False)
    return record


def cpu_model() -> str:
    """The processor's model name (machines differ several-fold in trials per second)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{os.cpu_count()} x {line.split(':', 1)[1].strip()}"
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({platform.machine()})"


def latest(results: list[dict]) -> dict[tuple, dict]:
    out = {}
    for r in results:  # later lines win
        out[(r["system"], r["dataset"], r["budget_s"])] = r
    return out


def fmt(r: dict | None) -> str:
    if r is None:
        return "not run"
    if "error" in r:
        return f"failed ({r['error'][:60]})"
    value = r["test"]
    text = (
        f"{value:,.0f}"
        if abs(value) >= 1000
        else f"{value:.4f}"
        if abs(value) < 1
        else f"{value:.2f}"
    )
    return f"{text} ({r['fit_wall_s']:.0f} s)"


def report() -> str:
    best = latest(load_results())
    budgets = sorted({k[2] for k in best})
    lines = [
        BEGIN,
        "",
        "Test metric on the 20% test rows (wall time of the fit in brackets). Lower is better for RMSE",
        "and log loss, higher for ROC AUC. Systems: mlcraft (`Project.train(time_limit=B)`), FLAML",
        "(`AutoML.fit(time_budget=B)`), AutoGluon-Tabular (`fit(time_limit=B, presets=...)`).",
        "",
        "| budget | dataset | metric | mlcraft | FLAML | AutoGluon medium | AutoGluon best |",
        "|---|---|---|---|---|---|---|",
    ]
    for budget in budgets:
        for dataset in DATASETS:
            cells = [best.get((s, dataset, budget)) for s in SYSTEMS]
            if not any(cells):
                continue
            metric = next((c["metric"] for c in cells if c and "metric" in c), "")
            lines.append(
                f"| {budget:.0f} s | {dataset} | {metric} | "
                + " | ".join(fmt(c) for c in cells)
                + " |"
            )
    versions = sorted({r.get("version", "") for r in best.values() if r.get("version")})
    runs: dict[tuple, dict] = {}  # (date, machine) -> system -> budget -> datasets measured then
    for (system, dataset, budget), r in best.items():
        where = r.get("cpu") or "machine not recorded" + (
            f" ({r['source']})" if "source" in r else ""
        )
        runs.setdefault((r.get("date", ""), where), {}).setdefault(system, {}).setdefault(
            budget, []
        ).append(dataset)

    def cells(by_budget: dict) -> str:
        return "; ".join(
            f"{b:.0f} s: "
            + (
                "all datasets"
                if set(ds) == set(DATASETS)
                else ", ".join(d for d in DATASETS if d in ds)
            )
            for b, ds in sorted(by_budget.items())
        )

    lines += [
        "",
        f"Python {platform.python_version()}, mlcraft at commit(s) {', '.join(versions) or '-'}. Where and when each cell was measured:",
        "",
    ]
    for (date, where), systems in sorted(runs.items()):
        parts = [f"{NAMES[s]} ({cells(systems[s])})" for s in SYSTEMS if s in systems]
        lines.append(f"- {date}, {where}: {'; '.join(parts)}")
    lines += ["", END]
    return "\n".join(lines)


def write_report() -> None:
    text = DOC.read_text()
    table = report()
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        text = head + table + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + table + "\n"
    DOC.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--budgets", default="60,300")
    parser.add_argument(
        "--report", action="store_true", help="only rewrite the table in docs/benchmarks.md"
    )
    args = parser.parse_args()
    if not args.report:
        OUT.mkdir(parents=True, exist_ok=True)
        systems, datasets = args.systems.split(","), args.datasets.split(",")
        for budget in map(float, args.budgets.split(",")):
            for dataset in datasets:
                for system in systems:
                    version = src_version()  # what the cell will run: the working tree now
                    if done(load_results(), system, dataset, budget, version):
                        continue
                    print(
                        f"[{dt.datetime.now():%H:%M:%S}] {system} {dataset} {budget:.0f}s ...",
                        flush=True,
                    )
                    record = run_cell(system, dataset, budget, version)
                    with open(RESULTS, "a") as fh:
                        fh.write(json.dumps(record) + "\n")
                    print("    " + json.dumps(record), flush=True)
                    write_report()
    write_report()
    print(report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
