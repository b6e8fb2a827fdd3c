"""From registered families to what the search runs: candidates, sized to the data and the memory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlcraft.core.data.schema import Schema
from mlcraft.core.fit.family import BuildContext, Family, Subsampled, preparation_space
from mlcraft.core.fit.scheduler import available_memory
from mlcraft.core.fit.search import Candidate
from mlcraft.core.fit.tuning import FamilySpec
from mlcraft.core.predict.pipeline import make_pipeline

__all__ = [
    "Builder",
    "encoded_width",
    "family_spec",
    "make_candidate",
    "MIN_SUBSAMPLE_ROWS",
    "MEMORY_SHARE",
]

MEMORY_SHARE = 0.7  # share of the available memory the workers may use together
MIN_SUBSAMPLE_ROWS = (
    1000  # below this, a configuration that does not fit in memory is skipped instead
)
KEEP_MODELS_BYTES = 300e6  # fold models of lighter configurations are kept for k-fold bagging


def encoded_width(schema: Schema, family: Family) -> int:
    """Columns after preparation for ``family`` (one-hot categories widen the table)."""
    width = len(schema.numeric) + 5 * len(schema.datetime)
    for name in schema.categorical:
        n = schema.column(name).n_unique
        width += min(n, 64) if family.categorical == "onehot" else 1
    return max(width, 1)


class Builder:
    """A picklable pipeline factory (sent to the worker processes), optionally subsampling rows."""

    def __init__(
        self,
        family: Family,
        schema: Schema,
        params: Mapping[str, Any],
        context: BuildContext,
        max_rows: int | None = None,
    ):
        self.family, self.schema, self.params, self.context, self.max_rows = (
            family,
            schema,
            dict(params),
            context,
            max_rows,
        )

    @property
    def semi_supervised(self) -> bool:
        """Its pipeline is fitted on the unlabelled training rows too (see ``Family.semi_supervised``)."""
        return self.family.semi_supervised

    def __call__(self):
        pipeline = make_pipeline(self.family, self.schema, self.params, self.context)
        if self.max_rows is not None:
            model = pipeline.steps[-1][1]
            pipeline.steps[-1] = (
                "model",
                Subsampled(model, max_rows=self.max_rows, random_state=self.context.seed),
            )
        return pipeline


def memory_plan(
    family: Family, n_rows: int, width: int, params: Mapping[str, Any], n_jobs: int
) -> tuple[int | None, str | None, str | None]:
    """(max_rows, note, skip_reason): subsample or skip a configuration that would not fit in memory."""
    need = family.memory_bytes(n_rows, width, params)
    allowed = available_memory() * MEMORY_SHARE / max(1, n_jobs)
    if need <= allowed:
        return None, None, None
    rows = int(n_rows * allowed / need)
    gb = f"~{need / 1e9:.1f} GB per fit, {allowed / 1e9:.1f} GB per worker available"
    if rows < MIN_SUBSAMPLE_ROWS:
        return None, None, f"skipped: would need {gb}"
    return rows, f"subsampled to {rows} rows to fit in memory ({gb})", None


def make_candidate(
    family: Family,
    schema: Schema,
    task: str,
    seed: int,
    n_fit_rows: int,
    name: str,
    params: Mapping[str, Any],
    n_jobs: int = 1,
    options: Mapping[str, Any] | None = None,
) -> Candidate:
    """One configuration of ``family`` as a candidate for cross-validation (memory-checked)."""
    width = encoded_width(schema, family)
    max_rows, note, skip = memory_plan(family, n_fit_rows, width, params, n_jobs)
    context = BuildContext(
        task=task,
        n_rows=n_fit_rows if max_rows is None else max_rows,
        n_features=width,
        seed=seed,
        n_jobs=1,
        options=dict(options or {}),
    )
    candidate = Candidate(
        name=name,
        family=family.name,
        params=dict(params),
        build=Builder(family, schema, params, context, max_rows),
        estimated_fit_seconds=family.cost(context.n_rows, width),
        skip_reason=skip,
        note=note,
        keep_models=family.memory_bytes(context.n_rows, width, params) < KEEP_MODELS_BYTES,
    )
    return candidate


def family_spec(
    family: Family,
    schema: Schema,
    task: str,
    seed: int,
    n_fit_rows: int,
    n_jobs: int,
    *,
    portfolio: bool = True,
    options: Mapping[str, Any] | None = None,
) -> FamilySpec:
    """The search's view of a family: its space, its first trials (defaults, portfolio) and a factory."""
    first = [family.default_params(task, n_fit_rows)]
    if portfolio:
        first += family.portfolio_params(task, n_fit_rows)
    preparation = preparation_space(family, task)
    # the first trials prepare as before (a searched preparation is the sampler's to try)
    first = [{**p, **{k: d.default for k, d in preparation.items()}} for p in first]
    width = encoded_width(schema, family)

    def make(name: str, params: dict[str, Any]) -> Candidate:
        return make_candidate(
            family,
            schema,
            task,
            seed,
            n_fit_rows,
            name,
            params,
            n_jobs,
            options=options,
        )

    return FamilySpec(
        family.name,
        {**family.space(task, n_fit_rows), **preparation},
        first,
        make,
        family.cost(n_fit_rows, width),
        family.priority,
    )
