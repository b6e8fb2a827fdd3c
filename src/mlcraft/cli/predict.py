"""`mlcraft predict`: score a file with the champion (or a chosen version)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from mlcraft.cli.app import command, console


def _percents(text: str) -> list[int]:
    from mlcraft.exceptions import ConfigError

    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--levels {text!r}: give whole percents, e.g. 80,95") from None


@command("predict")
def predict(
    data: Path | None = typer.Argument(
        None,
        help="CSV or Parquet file with the feature columns (a forecasting project: leave it out).",
    ),
    project: Path = typer.Option(..., "--project", "-p", help="Project directory."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Where to write predictions (.csv or .parquet)."
    ),
    version: int | None = typer.Option(None, help="Model version (default: the champion)."),
    encoding: str | None = typer.Option(None, help="Text encoding of the CSV (default: detected)."),
    history: Path | None = typer.Option(
        None,
        "--history",
        help="A forecasting project: newer rows that extend the series (no retraining).",
    ),
    levels: str | None = typer.Option(
        None,
        "--levels",
        help="A forecasting project: the prediction intervals' levels in percent, comma-separated (default 80,95).",
    ),
    intervals: str = typer.Option(
        "conformal",
        "--intervals",
        help="A forecasting project: conformal (from the backtest errors, coverage measured) or native (the champion's own quantiles, or MC dropout for a network).",
    ),
    future_covariates: Path | None = typer.Option(
        None,
        "--future-covariates",
        help="A forecasting project trained with --known: those covariates for every stamp of the horizon (series ids, time, values).",
    ),
) -> None:
    """Predict DATA: one column named like the target, plus proba_<class> columns for classification. Files of any size are read in chunks (constant memory) with a progress bar. A forecasting project (no DATA): the next --horizon values of every series with 80% and 95% intervals."""
    from mlcraft.api import Project  # here, not at the top: `mlcraft --help` stays light
    from mlcraft.exceptions import ConfigError

    proj = Project.open(project)
    if proj.kind.forecasts:
        if data is not None:
            raise ConfigError(
                f"{project} forecasts what follows its known rows: leave out {data}, or give newer rows with --history {data}"
            )
        written, rows, notes = proj.write_forecast(
            out,
            version=version,
            history=history,
            future_covariates=future_covariates,
            levels=None if levels is None else _percents(levels),
            intervals=intervals,
        )
        for note in notes:
            console.print(f"[yellow]note[/]: {note}")
        console.print(f"wrote {rows} forecast row(s) to {written}")
        return
    if data is None or history is not None or future_covariates is not None:
        raise ConfigError(
            "give the rows to predict: mlcraft predict DATA --project P --out F (--history and --future-covariates are for forecasting projects)"
        )

    with Progress(
        TextColumn("scoring"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("scoring", total=None)

        def progress(done: int, total: int, unit: str) -> None:
            bar.update(task, completed=done, total=total)

        summary = proj.predict_file(
            data, out, version=version, encoding=encoding, progress=progress
        )
    for note in summary.notes:
        console.print(f"[yellow]warning[/]: {note}")
    console.print(
        f"wrote {summary.rows} prediction(s) to {summary.out} (model version {summary.version})"
    )
