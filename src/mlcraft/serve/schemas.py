"""Request and response models of the HTTP API (they make /docs and the OpenAPI schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "Health",
    "ModelInfo",
    "Predictions",
    "Flag",
    "Feedback",
    "FeedbackResult",
    "Reload",
    "Problem",
    "ERROR_RESPONSES",
    "CSV_TYPES",
    "predict_body",
]

CSV_TYPES = (
    "text/csv",
    "application/csv",
)  # request content types read as CSV by POST /predict; any other is JSON


class Problem(BaseModel):
    """An error: what is wrong, where, and what to do."""

    detail: str
    request_id: str | None = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Missing or wrong API key"},
    413: {"model": Problem, "description": "Request body over the size limit"},
    422: {
        "model": Problem,
        "description": "The input does not match the training schema (the column and value are named)",
    },
}


class LogStats(BaseModel):
    queued: int
    submitted: int
    written: int
    dropped: int = Field(
        description="Log records dropped because the queue was full (predictions are never dropped)"
    )
    failed: int
    last_error: str | None = None


class Health(BaseModel):
    status: str
    model_version: int
    uptime_s: float
    log: LogStats | None = None


class Column(BaseModel):
    name: str
    role: str
    categories: list[str] | None = None
    low: float | None = None
    high: float | None = None


class ModelInfo(BaseModel):
    version: int
    champion: int | None
    family: str | None = None
    task: str
    target: str
    classes: list[Any] | None = None
    metric: str | None = None
    cv: dict[str, float | None]
    test: dict[str, Any] | None = None
    created: str | None = None
    dataset: str | None = None
    loaded_at: float
    schema_: list[Column] = Field(alias="schema")


class Flag(BaseModel):
    row: int
    column: str
    value: Any
    issue: str = Field(
        description="out_of_range, unseen_category, or no_prediction (the model gave no finite value)"
    )
    message: str


class Predictions(BaseModel):
    request_id: str = Field(
        description="Quote it to send the ground truth later (POST /feedback or `mlcraft feedback`)"
    )
    model_version: int
    target: str
    predictions: list[Any] = Field(
        description="One value (regression) or label (classification) per record, in order"
    )
    probabilities: list[dict[str, float]] | None = Field(
        None, description="Class probabilities per record (classification)"
    )
    flags: list[Flag] = Field(
        description="Inputs served but worth a look: values outside the training range, unseen categories"
    )
    notes: list[str]


class Feedback(BaseModel):
    """Ground truth: each record holds the target column and either ``request_id`` (and ``row``,
    default 0) or the ``key`` column whose logged input value identifies the prediction."""

    records: list[dict[str, Any]] = Field(min_length=1)
    key: str | None = Field(
        None, description="A column of the logged inputs that identifies a row (e.g. an id)"
    )


class FeedbackResult(BaseModel):
    received: int
    matched: int
    unmatched: int
    notes: list[str] = []


class Reload(BaseModel):
    previous_version: int
    model_version: int


def predict_body(record: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI request body of POST /predict: a record, an array of records, or CSV."""
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"anyOf": [record, {"type": "array", "items": record, "minItems": 1}]}
            },
            "text/csv": {
                "schema": {
                    "type": "string",
                    "description": "A header line with the feature columns, then one line per record",
                }
            },
        },
    }
