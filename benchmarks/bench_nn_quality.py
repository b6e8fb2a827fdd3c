"""`make bench-nn-quality`: the MLP family alone on housing (default split), at its defaults.

Creates a project in a temporary directory with mlcraft's defaults (20% stratified test split, seed
42), trains only the ``mlp`` family (5-fold CV, refit), evaluates once on the test set, and prints
the test RMSE with its 95% interval, the CV RMSE and where the learning curves were saved.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import pandas as pd

import mlcraft

ROOT = Path(__file__).resolve().parents[1]
HOUSING = ROOT.parent / "shared" / "data" / "housing.csv"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        project = mlcraft.Project.create(
            Path(tmp) / "housing", data=HOUSING, target="median_house_value", time_limit=None
        )
        start = time.perf_counter()
        result = project.train(time_limit=None, max_trials=None, families=["mlp"])
        wall = time.perf_counter() - start
        evaluation = project.evaluate()
        run = Path(tmp) / "housing" / "runs" / result.run_id
        curves = pd.read_csv(run / "learning_curves.csv")
        network = json.loads((run / "network.json").read_text())
    print(
        f"mlp at its defaults: CV RMSE {result.cv_mean:,.0f} ± {result.cv_std:,.0f}; train wall {wall:.1f}s"
    )
    print(
        f"test RMSE {evaluation.value:,.0f} (95% CI {evaluation.ci_low:,.0f} to {evaluation.ci_high:,.0f})"
    )
    print(
        f"refit: {network['epochs']} epochs, best {network['best_epoch']}, {network['stop_reason']}; "
        f"final train/val RMSE {curves['rmse'].iloc[-1]:,.0f} / {curves['val_rmse'].iloc[-1]:,.0f}"
    )


if __name__ == "__main__":
    main()
