"""Figures of the checklist (matplotlib, Agg canvas, no display needed), as PNG bytes.

Each function takes plain data (arrays, or the dicts computed by :mod:`mlcraft.core`) and returns a
:class:`Plot`: a file name, a title, a caption and the PNG image. matplotlib is imported by the
submodules only, so importing this package costs nothing.
"""

from __future__ import annotations

from mlcraft.plots.base import DPI, Plot

__all__ = ["DPI", "Plot"]
