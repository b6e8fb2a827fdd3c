"""Render a document (a dict) and its figures into one self-contained HTML page, and write the
page, its JSON twin and the figures as PNG files, atomically.

Images are inlined as ``data:`` URIs, in the order given, while the page stays under
:data:`MAX_HTML_BYTES`; a figure that would push it over is left out of the page with a note naming
its PNG file (every figure is always saved as PNG).
"""

from __future__ import annotations

import base64
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlcraft import atomic
from mlcraft.formatting import format_number
from mlcraft.jsonsafe import clean
from mlcraft.plots.base import Plot, slug

__all__ = [
    "MAX_HTML_BYTES",
    "render_html",
    "write_bundle",
    "write_page",
    "format_number",
    "environment",
    "clean",
    "plot_entries",
]

MAX_HTML_BYTES = 5_000_000  # a page any browser opens quickly, whatever the dataset size
SAFETY = 50_000


def _percent(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}%"


def environment() -> Any:
    """The Jinja2 environment over the templates shipped in this package (autoescaped)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mlcraft.reports", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = format_number
    env.filters["pct"] = _percent
    env.filters["slug"] = slug
    env.filters["sentence"] = lambda text: str(text)[:1].upper() + str(text)[1:]
    return env


def _figures(plots: Sequence[Plot], inline: set[str], where: str) -> dict[str, dict[str, Any]]:
    out = {}
    for p in plots:
        uri = (
            "data:image/png;base64," + base64.b64encode(p.png).decode("ascii")
            if p.name in inline
            else None
        )
        out[p.name] = {
            "name": p.name,
            "title": p.title,
            "caption": p.caption,
            "uri": uri,
            "path": p.source or f"{where}/{p.file}",
        }
    return out


def render_html(
    template: str,
    doc: dict[str, Any],
    plots: Sequence[Plot],
    *,
    where: str = ".",
    limit: int = MAX_HTML_BYTES,
) -> str:
    """The page for ``doc`` with as many of ``plots`` inlined (in order) as fit under ``limit`` bytes."""
    page = environment().get_template(template)
    text_only = len(page.render(doc=doc, figures=_figures(plots, set(), where)).encode("utf-8"))
    budget = limit - text_only - SAFETY
    inline: list[str] = []
    for p in plots:
        cost = 4 * math.ceil(len(p.png) / 3) + 200
        if cost <= budget:
            inline.append(p.name)
            budget -= cost
    while True:
        html = page.render(doc=doc, figures=_figures(plots, set(inline), where))
        if len(html.encode("utf-8")) < limit or not inline:
            return html
        inline.pop()


def _share(*paths: Path) -> None:
    """Give documents the permissions a new file or folder normally gets (temporary files are private)."""
    mask = os.umask(0)
    os.umask(mask)
    for path in paths:
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)


def plot_entries(
    plots: Sequence[Plot], directory: str | os.PathLike[str] = "."
) -> list[dict[str, str]]:
    """How the JSON twin lists the figures: PNG paths relative to the page's ``directory``."""
    return [
        {
            "file": os.path.relpath(p.source, directory) if p.source else p.file,
            "title": p.title,
            "caption": p.caption,
        }
        for p in plots
    ]


def write_bundle(
    directory: str | os.PathLike[str],
    name: str,
    template: str,
    doc: dict[str, Any],
    plots: Sequence[Plot],
) -> tuple[Path, dict[str, Any]]:
    """Write ``<directory>/<name>.html``, ``<name>.json`` and every figure as PNG, replacing the
    directory at once (a failure leaves the previous one as it was).

    Returns the HTML path and the document as written (with its list of figures)."""
    directory = Path(directory)
    doc = clean({**doc, "plots": plot_entries(plots)})
    html = render_html(template, doc, plots, where=str(directory))
    with atomic.atomic_dir(directory, replace=True) as tmp:
        for p in plots:
            (tmp / p.file).write_bytes(p.png)
        (tmp / f"{name}.html").write_text(html, encoding="utf-8")
        atomic.write_json(tmp / f"{name}.json", doc)
        _share(tmp, *tmp.iterdir())
    return directory / f"{name}.html", doc


def write_page(
    html_path: str | os.PathLike[str], template: str, doc: dict[str, Any], plots: Sequence[Plot]
) -> tuple[Path, dict[str, Any]]:
    """Write one HTML page and its JSON twin (same name, ``.json``); both are rendered before either is written.

    Returns the HTML path and the document as written."""
    html_path = Path(html_path)
    doc = clean({**doc, "plots": plot_entries(plots, html_path.parent)})
    html = render_html(template, doc, plots, where=str(html_path.parent))
    atomic.write_json(html_path.with_suffix(".json"), doc)
    atomic.write_text(html_path, html)
    _share(html_path, html_path.with_suffix(".json"))
    return html_path, doc
