"""The monitoring report as JSON (for machines) and one self-contained HTML page (for people)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlcraft import atomic
from mlcraft.jsonsafe import clean, dumps

__all__ = ["write_report", "render_html", "clean"]

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mlcraft monitor: {{ r.project }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.bad{background:#fde2e2}.ok{color:#2a7a2a}.alert{color:#b00;font-weight:bold}small{color:#666}
</style></head><body>
<h1>Monitoring report: {{ r.project }}</h1>
<p>Model version {{ r.model_version }} &middot; window {{ r.since }} to {{ r.until }} &middot; {{ r.rows }} logged row(s) against {{ r.reference_rows }} training row(s) &middot; generated {{ r.generated }}</p>
{% if r.alerts %}<h2 class="alert">{{ r.alerts|length }} alert(s)</h2><ul>{% for a in r.alerts %}<li class="alert">{{ a }}</li>{% endfor %}</ul>
{% else %}<h2 class="ok">No threshold crossed</h2>{% endif %}
{% if r.notes %}<ul>{% for n in r.notes %}<li>{{ n }}</li>{% endfor %}</ul>{% endif %}
<h2>Service</h2>
<table><tr><th>requests</th><th>errors</th><th>error rate</th><th>latency p50 / p95 / p99 (ms)</th><th>flagged rows</th></tr>
<tr class="{{ 'bad' if r.service.flagged else '' }}"><td>{{ r.service.requests }}</td><td>{{ r.service.errors }}</td><td>{{ '%.2f%%'|format(100 * r.service.error_rate) if r.service.error_rate is not none else '-' }}</td>
<td>{% if r.service.latency_ms %}{{ '%.2f'|format(r.service.latency_ms.p50) }} / {{ '%.2f'|format(r.service.latency_ms.p95) }} / {{ '%.2f'|format(r.service.latency_ms.p99) }}{% else %}-{% endif %}</td><td>{{ r.service.flagged_rows }}</td></tr></table>
<h2>Live quality</h2>
{% if r.quality.windows %}<p>Test-set {{ r.quality.metric }} of the champion: {% if r.quality.test %}{{ '%.6g'|format(r.quality.test.value) }} (95% CI {{ '%.6g'|format(r.quality.test.ci_low) }} to {{ '%.6g'|format(r.quality.test.ci_high) }}){% else %}not recorded (run <code>mlcraft evaluate</code>){% endif %}</p>
<table><tr><th>window start</th><th>labels</th><th>{{ r.quality.metric }}</th><th>95% CI</th><th>worse than test</th></tr>
{% for w in r.quality.windows %}<tr class="{{ 'bad' if w.worse else '' }}"><td>{{ w.start }}</td><td>{{ w.n }}</td><td>{{ '%.6g'|format(w.value) if w.value is not none else '-' }}</td>
<td>{% if w.value is not none %}{{ '%.6g'|format(w.ci_low) }} to {{ '%.6g'|format(w.ci_high) }}{% else %}-{% endif %}</td><td>{{ 'yes' if w.worse else ('-' if w.value is none else 'no') }}</td></tr>{% endfor %}</table>
{% else %}<p>No labels joined yet (send them with <code>mlcraft feedback</code> or POST /feedback).</p>{% endif %}
<h2>Prediction drift</h2>
{{ checks_table(r.prediction.checks) }}
{% if r.prediction.get("shares") %}<table><tr><th>answer</th><th>share of training rows</th><th>share of logged rows</th></tr>
{% for v in r.prediction.shares[:20] %}<tr><td>{{ v.value }}</td><td>{{ '%.1f%%'|format(100 * v.reference) }}</td><td>{{ '%.1f%%'|format(100 * v.current) }}</td></tr>{% endfor %}</table>{% endif %}
{% if r.prediction.get("windows") and r.prediction.windows.windows %}{% set g = r.prediction.windows %}
<h3>Share of rows per group over time</h3>
<table><tr><th>window start</th><th>rows</th>{% for name in g.groups %}<th>{{ name }}</th>{% endfor %}<th>largest change</th></tr>
<tr><td>training rows</td><td>-</td>{% for name in g.groups %}<td>{{ '%.1f%%'|format(100 * g.reference[name]) }}</td>{% endfor %}<td>-</td></tr>
{% for w in g.windows %}<tr><td>{{ w.start }}</td><td>{{ w.n }}</td>{% for name in g.groups %}<td>{{ '%.1f%%'|format(100 * w.shares[name]) }}</td>{% endfor %}<td>{{ '%.1f'|format(100 * w.max_change) }} points</td></tr>{% endfor %}</table>
{% endif %}
<h2>Feature drift</h2>
{% for f in r.features %}<h3 class="{{ 'alert' if f.drift else '' }}">{{ f.name }} <small>({{ f.role }})</small>{{ ' - drift' if f.drift else '' }}</h3>
{{ checks_table(f.checks) }}{% endfor %}
<p><small>Settings: {% for k, v in r.settings.items() %}{{ k }}={{ v }} {% endfor %}</small></p>
</body></html>
"""

_MACRO = """{% macro checks_table(checks) %}{% if checks %}<table><tr><th>check</th><th>value</th><th>threshold</th><th>detail</th></tr>
{% for c in checks %}<tr class="{{ 'bad' if c.flagged else '' }}"><td>{{ c.name }}</td><td>{{ '%.4g'|format(c.value) if c.value is not none else '-' }}</td>
<td>{{ c.threshold if c.threshold is not none else '-' }}</td><td>{{ c.detail }}</td></tr>{% endfor %}</table>{% else %}<p>Not enough rows.</p>{% endif %}{% endmacro %}"""


def render_html(report: dict[str, Any]) -> str:
    """The report as one HTML page (no external files)."""
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_MACRO + _TEMPLATE).render(r=report)


def write_report(report: dict[str, Any], directory: str | Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into ``directory`` (atomically); return both paths."""
    directory = Path(directory)
    report = clean(report)
    json_path, html_path = directory / "report.json", directory / "report.html"
    atomic.write_text(json_path, dumps(report, indent=2) + "\n")
    atomic.write_text(html_path, render_html(report))
    return json_path, html_path
