"""Two mlcraft commits side by side on `make bench-compare`'s datasets at one budget, on this machine.

A change that should not move the numbers (a redesign) is checked this way: each dataset runs at
both commits back to back (interleaved, so a slow phase of a shared machine hits both), each cell
in its own process on ``git archive``'s copy of ``src/`` at that commit (``bench_compare.run_cell``).
Results are appended to ``bench-out/compare/ab.jsonl``.

Usage: python benchmarks/bench_ab.py BEFORE,AFTER [--datasets housing,titanic,...] [--budget 60]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_compare as bc  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("versions", help="commits, comma-separated (each must have changed src/)")
    parser.add_argument("--datasets", default=",".join(bc.DATASETS))
    parser.add_argument("--budget", type=float, default=60.0)
    args = parser.parse_args()
    bc.OUT.mkdir(parents=True, exist_ok=True)
    out = bc.OUT / "ab.jsonl"
    for dataset in args.datasets.split(","):
        for version in args.versions.split(","):
            record = bc.run_cell("mlcraft", dataset, args.budget, version)
            with open(out, "a") as fh:
                fh.write(json.dumps(record) + "\n")
            print(
                version,
                dataset,
                record.get("test"),
                record.get("fit_wall_s"),
                record.get("error", ""),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
