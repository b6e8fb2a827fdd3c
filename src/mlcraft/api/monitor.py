"""`monitor`: the prediction log against the training data and the test score.

Reads the logged requests of a time window, measures drift per feature and of the predictions,
latency and error rate, and the live metric per window where labels arrived; writes an HTML and a
JSON report; ``alerts`` lists every threshold crossed (the CLI exits non-zero when there is one).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlcraft.config import MONITOR_SINCE
from mlcraft.core.analysis.evaluate import score_with_interval
from mlcraft.core.analysis.metrics import Scorer, get_metric
from mlcraft.core.data.schema import Role, as_category_strings
from mlcraft.exceptions import ConfigError
from mlcraft.jsonsafe import clean
from mlcraft.monitoring import PredictionLog
from mlcraft.monitoring.drift import MonitorSettings, categorical_drift, numeric_drift
from mlcraft.monitoring.report import write_report

if TYPE_CHECKING:
    from mlcraft.api.project import Project

__all__ = ["monitor", "MonitorResult", "parse_since", "parse_duration", "SINCE"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_LOG_ROWS = 500_000  # the most recent logged rows read for drift
SINCE = MONITOR_SINCE  # how far back `monitor` looks by default


@dataclass
class MonitorResult:
    """What ``monitor`` found: the report (as written to ``report.json``) and where it was written."""

    report: dict[str, Any]
    json_path: Path
    html_path: Path

    @property
    def alerts(self) -> list[str]:
        return self.report["alerts"]


def parse_duration(text: str) -> float:
    """Seconds in ``7d``, ``12h``, ``30m``, ``2w``, ``45s``."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text or "")
    if not match:
        raise ConfigError(f"{text!r} is not a duration; use e.g. 30m, 12h, 7d or 2w")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_since(text: str, now: float) -> float:
    """A start time: a duration back from now (``7d``) or an ISO date-time."""
    try:
        return now - parse_duration(text)
    except ConfigError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--since {text!r}: use a duration (7d, 12h) or a date (2026-11-20)"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def monitor(
    project: Project,
    *,
    since: str = SINCE,
    window: str | None = None,
    out: str | Path | None = None,
    now: float | None = None,
) -> MonitorResult:
    """Drift, service health and live quality over the prediction log since ``since``."""
    settings = MonitorSettings.from_config(project.config.extra.get("monitor"))
    now = time.time() if now is None else now
    start = parse_since(since, now)
    step = parse_duration(window or settings.window)
    version = project.registry.require_champion()
    model = project.load_model(version)
    log = PredictionLog(project.registry.db)
    rows = log.predictions(start, limit=MAX_LOG_ROWS)
    reference = project.training_frame()
    ref_features, _ = model.schema.coerce(reference, where="training data")
    notes: list[str] = []
    current = _logged_features(model, rows, notes)
    features: list[dict[str, Any]] = []
    prediction: dict[str, Any] = {"checks": []}
    if len(current) < settings.min_rows:
        notes.append(
            f"only {len(current)} logged row(s) since {_iso(start)} (fewer than min_rows={settings.min_rows}): drift is not judged"
        )
    else:
        features = [
            _feature(col, ref_features[col.name], current[col.name], settings)
            for col in model.schema.columns
            if col.is_feature
        ]
        ref_raw = model.predict_raw(ref_features)  # the training rows' answers, read by both
        prediction = _prediction_drift(model, ref_raw, rows, settings)
        prediction["windows"] = _group_windows(model, ref_raw, rows, start, now, step)
    service = _service(log, start, now, rows, settings)
    quality = _quality(project, model, version, rows, start, now, step, settings)
    report = {
        "project": str(project.path),
        "generated": _iso(now),
        "since": _iso(start),
        "until": _iso(now),
        "model_version": version,
        "rows": len(current),
        "reference_rows": len(reference),
        "settings": asdict(settings),
        "features": features,
        "prediction": prediction,
        "service": service,
        "quality": quality,
        "notes": notes,
    }
    report["alerts"] = _alerts(report)
    report["ok"] = not report["alerts"]
    directory = (
        Path(out)
        if out is not None
        else project.path
        / "monitoring"
        / dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y%m%d-%H%M%S")
    )
    json_path, html_path = write_report(report, directory)
    return MonitorResult(clean(report), json_path, html_path)


def _logged_features(model, rows: list[tuple], notes: list[str]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(columns=model.schema.features)
    frame = pd.DataFrame.from_records([json.loads(r[2]) for r in rows])
    for name in model.schema.features:
        if name not in frame.columns:
            frame[name] = np.nan
    features, _ = model.schema.coerce(frame, where="prediction log")
    return features


def _feature(col, ref: pd.Series, cur: pd.Series, s: MonitorSettings) -> dict[str, Any]:
    if col.role is Role.CATEGORICAL:
        known = set(col.categories) if col.categories is not None else None
        checks = categorical_drift(
            as_category_strings(ref), as_category_strings(cur), s, known=known
        )
    else:
        checks = numeric_drift(_numbers(ref), _numbers(cur), s)
    return {
        "name": col.name,
        "role": col.role.value,
        "checks": [c.to_dict() for c in checks],
        "drift": any(c.flagged for c in checks),
    }


def _numbers(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        out = values.to_numpy(dtype="datetime64[ns]").astype("int64").astype(float) / 86400e9
        out[values.isna().to_numpy()] = np.nan
        return out
    return values.to_numpy(dtype=float, na_value=np.nan)


def _prediction_drift(
    model, ref: np.ndarray, rows: list[tuple], s: MonitorSettings
) -> dict[str, Any]:
    """Drift of the logged answers from ``ref``, the model's raw output for the training rows."""
    cur_values = [json.loads(r[3]) for r in rows]
    if model.kind.numeric_target:  # the predictions are numbers
        cur = np.array(cur_values, dtype=float)
        checks = numeric_drift(ref, cur, s, psi_threshold=s.prediction_psi)
        return {
            "kind": "value",
            "checks": [c.to_dict() for c in checks if c.name in ("psi", "ks", "mean_shift")],
        }

    ref_labels = as_category_strings(pd.Series(model.labels(ref)))
    cur_labels = as_category_strings(pd.Series(cur_values, dtype=object))
    checks = categorical_drift(ref_labels, cur_labels, s, psi_threshold=s.prediction_psi)
    # each answer's share among the training rows and the logged rows (anomaly: the share flagged)
    ref_share = pd.Series(ref_labels, dtype=object).value_counts(normalize=True)
    cur_share = pd.Series(cur_labels, dtype=object).value_counts(normalize=True)
    shares = [
        {
            "value": str(v),
            "reference": float(ref_share.get(v, 0.0)),
            "current": float(cur_share.get(v, 0.0)),
        }
        for v in sorted(set(ref_share.index) | set(cur_share.index), key=str)
    ]
    return {
        "kind": "label",
        "checks": [c.to_dict() for c in checks if c.name in ("psi", "chi2")],
        "shares": shares,
    }


def _group_windows(
    model, ref_raw: np.ndarray, rows: list[tuple], start: float, now: float, step: float
) -> dict[str, Any] | None:
    """The share of logged rows per group (a kind's :meth:`prediction_groups`: clusters) in each
    time window, beside the training rows' shares; None for kinds without groups."""
    if model.kind.prediction_groups(np.zeros(0)) is None:
        return None
    ref_groups = model.kind.prediction_groups(model.labels(ref_raw)) or []
    raw = model.kind.logged_raw(
        [json.loads(r[3]) for r in rows],
        [json.loads(r[4]) if r[4] is not None else None for r in rows],
        model.classes,
    )
    groups = np.array(model.kind.prediction_groups(model.labels(raw)) or [], dtype=object)
    times = np.array([r[0] for r in rows], dtype=float)
    reference = pd.Series(ref_groups).value_counts(normalize=True)
    names = sorted(set(reference.index) | set(groups), key=lambda g: (not g.isdigit(), len(g), g))
    windows = []
    for lo in np.arange(start, now, step):
        mine = groups[(times >= lo) & (times < lo + step)]
        if not len(mine):
            continue
        shares = pd.Series(mine).value_counts(normalize=True)
        windows.append(
            {
                "start": _iso(lo),
                "n": len(mine),
                "shares": {g: float(shares.get(g, 0.0)) for g in names},
                # the largest move of one group's share from training
                "max_change": float(
                    max(abs(shares.get(g, 0.0) - reference.get(g, 0.0)) for g in names)
                ),
            }
        )
    return {
        "groups": names,
        "reference": {g: float(reference.get(g, 0.0)) for g in names},
        "windows": windows,
    }


def _service(
    log: PredictionLog, start: float, now: float, rows: list[tuple], s: MonitorSettings
) -> dict[str, Any]:
    requests = log.requests(start, now + 1)
    predict = [r for r in requests if r[1] == "/predict"]
    errors = sum(1 for r in predict if int(r[5]) >= 400)
    ok_latency = np.array([float(r[4]) for r in predict if int(r[5]) < 400])
    latency = None
    if ok_latency.size:
        p50, p95, p99 = np.percentile(ok_latency, [50, 95, 99])
        latency = {"p50": float(p50), "p95": float(p95), "p99": float(p99)}
    rate = errors / len(predict) if predict else None
    flagged_rows = sum(1 for r in rows if r[5])
    alerts = []
    if latency and latency["p99"] > s.latency_p99_ms:
        alerts.append(f"latency p99 {latency['p99']:.1f} ms > {s.latency_p99_ms:g} ms")
    if rate is not None and rate > s.error_rate:
        alerts.append(
            f"error rate {rate:.1%} > {s.error_rate:.1%} ({errors} of {len(predict)} requests)"
        )
    return {
        "requests": len(predict),
        "errors": errors,
        "error_rate": rate,
        "latency_ms": latency,
        "flagged_rows": flagged_rows,
        "flagged": bool(alerts),
        "alerts": alerts,
    }


def _quality(
    project: Project,
    model,
    version: int,
    rows: list[tuple],
    start: float,
    now: float,
    step: float,
    s: MonitorSettings,
) -> dict[str, Any]:
    cfg = project.config
    metric = get_metric(cfg.metric, cfg.task)
    test = project.registry.test_score(version)
    labelled = [r for r in rows if r[6] is not None]
    windows = []
    if labelled:
        scorer = Scorer(
            metric,
            classes=model.classes,
            positive_class=model.positive_class,
            threshold=model.threshold if model.threshold is not None else 0.5,
        )
        edges = np.arange(start, now + step, step)
        for lo, hi in zip(edges[:-1], edges[1:]):
            part = [r for r in labelled if lo <= r[0] < hi]
            windows.append(_window(part, lo, scorer, model, test, s))
    return {
        "metric": metric.name,
        "greater_is_better": metric.greater_is_better,
        "test": test,
        "labels": len(labelled),
        "windows": windows,
    }


def _window(
    part: list[tuple], lo: float, scorer: Scorer, model, test: dict | None, s: MonitorSettings
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "start": _iso(lo),
        "n": len(part),
        "value": None,
        "ci_low": None,
        "ci_high": None,
        "worse": False,
    }
    if len(part) < max(s.min_labels, 2):
        return out
    y = np.array(
        [json.loads(r[6]) for r in part], dtype=float if model.kind.numeric_target else object
    )
    pred = model.kind.logged_raw(
        [json.loads(r[3]) for r in part],
        [json.loads(r[4]) if r[4] is not None else None for r in part],
        model.classes,
    )
    y = model.kind.live_target(y, [json.loads(r[2]) for r in part], model.pipeline)
    try:
        iv = score_with_interval(scorer, y, pred, seed=0, n_bootstrap=200)
    except ValueError:
        return out
    out.update(value=iv.value, ci_low=iv.low, ci_high=iv.high)
    if test is not None and test.get("ci_low") is not None:
        out["worse"] = (
            bool(iv.low > test["ci_high"])
            if not scorer.metric.greater_is_better
            else bool(iv.high < test["ci_low"])
        )
    return out


def _alerts(report: dict[str, Any]) -> list[str]:
    alerts = []
    for feature in report["features"]:
        for c in feature["checks"]:
            if c["flagged"]:
                alerts.append(
                    f"feature {feature['name']!r}: {c['name']} {c['value']:.4g} over {c['threshold']:g} ({c['detail']})"
                )
    for c in report["prediction"]["checks"]:
        if c["flagged"]:
            alerts.append(
                f"predictions: {c['name']} {c['value']:.4g} over {c['threshold']:g} ({c['detail']})"
            )
    alerts += report["service"]["alerts"]
    for w in report["quality"]["windows"]:
        if w["worse"]:
            t = report["quality"]["test"]
            alerts.append(
                f"live {report['quality']['metric']} {w['value']:.6g} (95% CI {w['ci_low']:.6g} to {w['ci_high']:.6g}, {w['n']} labels, window from {w['start']}) is worse than the test score {t['value']:.6g} ({t['ci_low']:.6g} to {t['ci_high']:.6g})"
            )
    return alerts
