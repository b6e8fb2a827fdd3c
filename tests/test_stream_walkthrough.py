"""The README's "Data larger than memory" section, run exactly as written (a shorter time limit)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def section() -> str:
    text = (ROOT / "README.md").read_text()
    part = text[text.index("## Data larger than memory") :]
    return re.search(r"```bash\n(.*?)```", part, re.S).group(1)


def test_readme_streaming_section(tmp_path):
    script = section().replace("--time-limit 30", "--time-limit 15")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("MLCRAFT_IN_MEMORY_LIMIT", None)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert (
        out.count("streamed in batches") == 2
    )  # both trainings streamed (the embed, the clusters)
    # each champion learnt incrementally from every training row (80% of 200,000), not the sample
    assert out.count("learnt incrementally from all 160,051 training rows") == 2
    coords = pd.read_parquet(tmp_path / "coords.parquet")
    assert len(coords) == 200_000 and coords.shape[1] >= 5
    # the report says what was streamed, as train did
    report = subprocess.run(
        ["mlcraft", "report", "--project", "pca-big"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.returncode == 0, report.stderr[-2000:]
    notes = json.loads((tmp_path / "pca-big" / "reports" / "report.json").read_text())["notes"]
    assert any("learnt incrementally from all 160,051 training rows" in n for n in notes)
