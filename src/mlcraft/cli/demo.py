"""`mlcraft demo`: the whole checklist on datasets bundled with scikit-learn."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import typer

from mlcraft.api.demo import DEMO_DATASETS, DEMO_TIME_LIMIT_S, run_demo
from mlcraft.cli.app import command, console, fmt, split_names
from mlcraft.cli.train import RichReport, baseline_score, leaderboard_table, top_rows

DATASETS_HELP = f"Only these datasets: {', '.join(DEMO_DATASETS)}."


@command("demo")
def demo(
    directory: Path | None = typer.Option(
        None,
        "--dir",
        help="Keep the demo projects here (default: a temporary directory, removed afterwards).",
    ),
    dataset: list[str] | None = typer.Option(None, help=DATASETS_HELP),
    time_limit: float = typer.Option(DEMO_TIME_LIMIT_S, help="Seconds of training per dataset."),
) -> None:
    """Train, evaluate and predict on breast cancer (binary), wine (multiclass) and diabetes (regression)."""
    root = Path(tempfile.mkdtemp(prefix="mlcraft-demo-")) if directory is None else directory

    def callbacks(project):
        return [
            RichReport(
                len(project.candidate_families()),
                project.metric.name,
                project.metric.greater_is_better,
            )
        ]

    try:
        for name in split_names(dataset) or list(DEMO_DATASETS):
            console.rule(f"{name}: {DEMO_DATASETS.get(name, '')}")
            for result in run_demo(
                root, datasets=[name], time_limit=time_limit, callbacks=callbacks
            ):
                metric = result.train.metric
                console.print(leaderboard_table(top_rows(result.train.leaderboard, 8), metric))
                ev = result.evaluation
                baseline = baseline_score(result.train.leaderboard, metric)
                console.print(
                    f"champion {result.train.best}: CV {metric} {fmt(result.train.cv_mean)} ± {fmt(result.train.cv_std)}"
                    + ("" if baseline is None else f" (baseline {fmt(baseline)})")
                    + "; "
                    f"test {metric} [bold]{fmt(ev.value)}[/] (95% CI {fmt(ev.ci_low)} to {fmt(ev.ci_high)}, {ev.test_rows} rows)"
                )
                console.print("predictions for the first rows:")
                console.print(result.predictions.round(3).to_string(index=False))
    finally:
        if directory is None:
            shutil.rmtree(root, ignore_errors=True)
        else:
            console.print(f"demo projects kept in {root}")
