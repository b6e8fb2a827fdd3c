"""The README's "Data larger than memory" section, run exactly as written (a shorter time limit)."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from conftest import readme_block, run_script

pytestmark = pytest.mark.slow


def test_readme_streaming_section(tmp_path):
    script = readme_block("## Data larger than memory").replace(
        "--time-limit 30", "--time-limit 15"
    )
    env = {k: v for k, v in os.environ.items() if k != "MLCRAFT_IN_MEMORY_LIMIT"}
    result = run_script(script, tmp_path, env, timeout=400)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert (
        out.count("streamed in batches") == 2
    )  # both trainings streamed (the embed, the clusters)
    # each champion learnt incrementally from every training row (80% of 200,000), not the sample
    assert out.count("learnt incrementally from all 160,051 training rows") == 2
    coords = pd.read_parquet(tmp_path / "coords.parquet")
    assert len(coords) == 200_000 and coords.shape[1] >= 5
    report = run_script("mlcraft report --project pca-big", tmp_path, env, timeout=300)
    assert report.returncode == 0, report.stderr[-2000:]
    notes = json.loads((tmp_path / "pca-big" / "reports" / "report.json").read_text())["notes"]
    assert any("learnt incrementally from all 160,051 training rows" in n for n in notes)
