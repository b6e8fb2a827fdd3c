"""The learner: what the data means, decided once, before anything looks at the test rows.

:func:`frame_problem` loads and checks the data, frames the problem (its kind, metric and positive
class), sets the test rows aside and infers the schema on the training rows only. It writes
nothing: the facade (:meth:`mlcraft.Project.create`) stores the :class:`Framing` it returns.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlcraft.config import ProjectConfig, check_test_size
from mlcraft.core.analysis.metrics import check_metric_target, get_metric
from mlcraft.core.data import framing
from mlcraft.core.data import load as data_mod
from mlcraft.core.data.schema import Schema, detect_identifier, infer_schema
from mlcraft.exceptions import ConfigError, DataError
from mlcraft.tasks import ProblemKind, get_kind, infer_kind, refuse_foreign_settings

__all__ = ["Framing", "frame_problem"]


@dataclass
class Framing:
    """A framed problem, ready to be stored: settings, data, test rows and schema."""

    config: ProjectConfig
    frame: pd.DataFrame  # every row, test rows included
    is_test: np.ndarray  # bool per row of ``frame``
    schema: Schema  # inferred on the training rows
    source: str
    test_frame: pd.DataFrame | None = None  # a separate test set (``--test-data``)
    notes: list[str] = field(default_factory=list)
    # data larger than memory (:mod:`mlcraft.core.data.stream`): ``frame`` is a seeded sample of it,
    # and this says where the whole data is and its fingerprint (the dataset version's name)
    reference: dict[str, Any] | None = None

    @property
    def column_notes(self) -> list[str]:
        return [f"{c.name}: {c.note}" for c in self.schema.columns if c.note]


def frame_problem(
    data: str | os.PathLike[str] | pd.DataFrame,
    target: str | None,
    *,
    task: str | None = None,
    metric: str | None = None,
    positive_class: Any = None,
    test_size: float,
    test_data: str | os.PathLike[str] | pd.DataFrame | None = None,
    stratify_on: str | None = None,
    id_column: str | None = None,
    categorical: Sequence[str] = (),
    drop: Sequence[str] = (),
    seed: int,
    time_limit: float | None,
    max_trials: int | None,
    n_folds: int,
    encoding: str | None = None,
    labels: str | None = None,
    **settings: Any,
) -> Framing:
    """Frame the problem on ``data`` (see :meth:`mlcraft.Project.create` for the parameters).

    ``settings`` are further :class:`~mlcraft.config.ProjectConfig` fields recorded as given.
    """
    kind = get_kind(task) if task is not None else None
    check_test_size(test_size)  # also when --test-data replaces the split
    if kind is not None and not kind.needs_target:
        if settings.get("semi_supervised"):
            raise ConfigError(
                f"--semi-supervised learns a classification target from rows without a label; --task {kind.name} has no target: leave the flag out"
            )
        return _frame_without_target(
            data,
            kind,
            target=target,
            labels=labels,
            metric=metric,
            test_size=test_size,
            test_data=test_data,
            id_column=id_column,
            categorical=categorical,
            drop=drop,
            seed=seed,
            time_limit=time_limit,
            max_trials=max_trials,
            n_folds=n_folds,
            encoding=encoding,
            **settings,
        )
    refuse_foreign_settings(kind, settings)
    if labels is not None:
        raise ConfigError(
            f"--labels scores a kind without a target (--task cluster); for --task {kind.name if kind else 'regression, binary or multiclass'} the column to learn is --target"
        )
    if target is None:
        raise ConfigError(
            "give the column to predict with --target COL, or --task cluster to group the rows"
        )
    table = data_mod.load_table(data, encoding=encoding)
    data_mod.require_columns(table.frame, [target], table.source, "target column")
    if kind is not None:  # a kind that reshapes its table (a forecast's regular grid)
        table, prepared = _prepare(kind, table, target, settings, test_data)
        settings.update(prepared)
    frame, notes = table.frame, list(table.notes)
    present = framing.check_target(frame[target], target)
    kind = kind or infer_kind(present)
    kind.check_target(present, target)
    metric_name = get_metric(metric or kind.default_metric, kind.name).name
    check_metric_target(get_metric(metric_name), present, target)
    positive = kind.positive_class(present, positive_class)
    data_mod.check_finite(frame, table.source, table.line_of)
    test_table = _test_table(test_data, frame, encoding)
    if test_table is not None:
        test_size = 0.0
    if stratify_on is not None:
        data_mod.require_columns(frame, [stratify_on], table.source, "--stratify-on column")
    ident = detect_identifier(frame, target, id_column)
    labelled = frame[target].notna().to_numpy()
    semi = _check_unlabelled(kind, target, labelled, bool(settings.get("semi_supervised")), notes)
    split = kind.split_test(
        frame[labelled].reset_index(drop=True),
        target,
        test_size=test_size,
        seed=seed,
        id_column=ident,
        stratify_on=stratify_on,
        settings={name: settings.get(name) for name in kind.settings},
    )
    is_test = np.zeros(len(frame), dtype=bool)
    is_test[np.flatnonzero(labelled)] = split.is_test
    train_rows = frame[(labelled | semi) & ~is_test]  # unlabelled rows are training rows too
    schema = infer_schema(
        train_rows,
        target,
        categorical=(*categorical, *kind.forced_categorical(settings)),
        drop=drop,
        id_column=ident,
    )
    if kind.classification:  # every class must reach the training rows
        framing.check_target(train_rows[target], target)
    return _framed(
        table,
        notes,
        is_test,
        schema,
        test_table,
        split.method,
        target=target,
        task=kind.name,
        metric=metric_name,
        positive_class=framing.to_native(positive),
        id_column=ident,
        categorical=tuple(categorical),
        drop=tuple(drop),
        test_size=test_size,
        stratify_on=stratify_on,
        seed=seed,
        time_limit=time_limit,
        max_trials=max_trials,
        n_folds=n_folds,
        **settings,
    )


def _prepare(
    kind: ProblemKind,
    table: data_mod.LoadedTable,
    target: str,
    settings: dict[str, Any],
    test_data: Any,
) -> tuple[data_mod.LoadedTable, dict[str, Any]]:
    """The table as ``kind`` reshapes it (:meth:`ProblemKind.prepare_frame`) and its settled settings."""
    if test_data is not None and not kind.external_test:
        raise ConfigError(
            f"--task {kind.name} sets its own test rows aside (the last --horizon of every series); leave out --test-data"
        )
    own = {name: settings.get(name) for name in kind.settings}
    frame, own, notes = kind.prepare_frame(
        table.frame, target, own, where=str(table.source), line_of=table.line_of
    )
    if frame is table.frame:
        table.notes.extend(notes)
        return table, own
    return data_mod.LoadedTable(frame, table.source, [*table.notes, *notes]), own


def _check_unlabelled(
    kind: ProblemKind, target: str, labelled: np.ndarray, semi: bool, notes: list[str]
) -> bool:
    """Rows with a missing target: unlabelled rows (``--semi-supervised``), dropped with a note
    (kinds that cannot learn from them), or refused (a classification target without the flag)."""
    if semi and not kind.semi_supervised:
        raise ConfigError(
            f"--semi-supervised learns a classification target from rows without a label; {target!r} is a {kind.name} target: leave the flag out"
        )
    missing = int((~labelled).sum())
    if semi:
        notes.append(
            f"{missing} row(s) without a label are used by the semi-supervised families only (never tested or scored)"
            if missing
            else "every row has a label: --semi-supervised has no unlabelled rows to learn from"
        )
    elif missing and kind.semi_supervised:
        raise DataError(
            f"target {target!r} is missing in {missing} row(s): give --semi-supervised to learn from them as unlabelled rows, or remove those rows"
        )
    elif missing:
        notes.append(f"{missing} row(s) with a missing target are not used for training or testing")
    return semi


def _test_table(
    test_data: str | os.PathLike[str] | pd.DataFrame | None, frame: pd.DataFrame, encoding
) -> data_mod.LoadedTable | None:
    """A separate test set (``--test-data``), checked to hold the data's columns, or None."""
    if test_data is None:
        return None
    table = data_mod.load_table(test_data, encoding=encoding)
    data_mod.require_columns(table.frame, list(frame.columns), table.source)
    data_mod.check_finite(table.frame, table.source, table.line_of)
    return table


def _framed(
    table: data_mod.LoadedTable,
    notes: list[str],
    is_test: np.ndarray,
    schema: Schema,
    test_table: data_mod.LoadedTable | None,
    split_method: str,
    reference: dict[str, Any] | None = None,
    **fields: Any,
) -> Framing:
    """The framing of ``table``: its settings (``fields`` plus where the data came from)."""
    config = ProjectConfig(
        source=str(table.source),
        dataset=data_mod.frame_hash(table.frame)
        if reference is None
        else str(reference["fingerprint"]),
        test_source=None if test_table is None else str(test_table.source),
        test_dataset=None if test_table is None else data_mod.frame_hash(test_table.frame),
        split_method="external" if test_table is not None else split_method,
        **fields,
    )
    return Framing(
        config,
        table.frame,
        is_test,
        schema,
        str(table.source),
        None if test_table is None else test_table.frame,
        notes,
        reference,
    )


def _frame_without_target(
    data: str | os.PathLike[str] | pd.DataFrame,
    kind: ProblemKind,
    *,
    target: str | None,
    labels: str | None,
    metric: str | None,
    test_size: float,
    test_data: str | os.PathLike[str] | pd.DataFrame | None,
    id_column: str | None,
    categorical: Sequence[str],
    drop: Sequence[str],
    seed: int,
    time_limit: float | None,
    max_trials: int | None,
    n_folds: int,
    encoding: str | None,
    **settings: Any,
) -> Framing:
    """Frame a kind without a target (clustering): every row is used, ``labels`` only scores."""
    refuse_foreign_settings(kind, settings)
    if target is not None:
        raise ConfigError(
            f"--task {kind.name} has no target: leave out --target {target}, or give it as --labels {target} to score the result against it (it is never fitted)"
        )
    metric_name = get_metric(metric or kind.default_metric, kind.name).name
    table, reference = _load_or_sample(data, encoding, seed, test_data)
    frame, notes = table.frame, list(table.notes)
    data_mod.check_finite(frame, table.source, table.line_of)
    if labels is not None:
        data_mod.require_columns(frame, [labels], table.source, "--labels column")
        if frame.shape[1] == 1:
            raise DataError(
                f"{table.source}: --labels {labels!r} is the only column; the rows need features to be grouped by"
            )
    test_table = _test_table(test_data, frame, encoding)
    if test_table is not None:
        test_size = 0.0
    features = frame.drop(columns=[labels]) if labels is not None else frame
    if len(features.drop_duplicates()) < 2:
        raise DataError(f"{table.source}: every row is the same; there is nothing to group")
    ident = detect_identifier(frame, labels or "", id_column)
    split = kind.split_test(frame, None, test_size=test_size, seed=seed, id_column=ident)
    train_rows = frame[~split.is_test]
    need = 4 * n_folds  # each fold's held-out rows can hold two clusters of two rows
    if len(train_rows) < need:
        raise DataError(
            f"{table.source}: {len(train_rows)} training row(s); grouping rows into at least 2 clusters scored over {n_folds} folds needs at least {need}; add rows, or use fewer --folds"
        )
    schema = infer_schema(
        train_rows,
        None,
        categorical=categorical,
        drop=(*drop, *([labels] if labels is not None else [])),
        id_column=ident,
    )
    settings, decided = kind.frame_settings(
        schema,
        schema.coerce(train_rows, where="training data")[0],
        settings,
        metric=metric_name,
        known=None if labels is None else frame[labels],
    )
    notes.extend(decided)
    return _framed(
        table,
        notes,
        split.is_test,
        schema,
        test_table,
        split.method,
        reference,
        target=None,
        labels=labels,
        task=kind.name,
        metric=metric_name,
        id_column=ident,
        categorical=tuple(categorical),
        drop=tuple(drop),
        test_size=test_size,
        seed=seed,
        time_limit=time_limit,
        max_trials=max_trials,
        n_folds=n_folds,
        **settings,
    )


def _load_or_sample(
    data: str | os.PathLike[str] | pd.DataFrame, encoding: str | None, seed: int, test_data: Any
) -> tuple[data_mod.LoadedTable, dict[str, Any] | None]:
    """The table, loaded whole; or, for Parquet data larger than memory, a seeded sample of its rows
    and a reference to the whole data (its fingerprint names the dataset version)."""
    from mlcraft.core.data import stream

    if not stream.should_stream(data):
        return data_mod.load_table(data, encoding=encoding), None
    assert isinstance(data, (str, os.PathLike))
    if test_data is not None:
        raise ConfigError(
            f"{data} is streamed (larger than the in-memory limit); --test-data is not supported with streamed data: leave it out (the test rows are set aside by a hash of each row or of --id)"
        )
    source = stream.open_source(data)
    sample, _ = stream.draw_sample(source, stream.SAMPLE_ROWS, seed)
    limit = stream.in_memory_limit()
    reference = {
        "path": str(source.path.resolve()),
        "files": [f.name for f in source.files],
        "fingerprint": stream.fingerprint(source),
        "rows": source.rows,
        "columns": list(source.columns),
        "sample_rows": len(sample),
        "estimated_bytes": source.estimated_bytes,
        "in_memory_limit": limit,
    }
    note = (
        f"{source.describe()}, about {stream.format_bytes(source.estimated_bytes)} in memory, over the in-memory "
        f"limit of {stream.format_bytes(limit)} (MLCRAFT_IN_MEMORY_LIMIT): streamed in batches; the schema, the settings and the "
        f"sampled families are learnt from a seeded sample of {len(sample):,} rows; the project refers to the data "
        f"(fingerprint {reference['fingerprint']}) and stores only that sample"
    )
    return data_mod.LoadedTable(sample, str(data), [note]), reference
