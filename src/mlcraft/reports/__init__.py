"""The documents of the checklist: self-contained HTML pages (Jinja2 templates shipped with the
package, figures inlined) and their JSON twins for machines."""

from __future__ import annotations

from mlcraft.reports.render import (
    MAX_HTML_BYTES,
    clean,
    format_number,
    render_html,
    write_bundle,
    write_page,
)

__all__ = ["MAX_HTML_BYTES", "clean", "format_number", "render_html", "write_bundle", "write_page"]
