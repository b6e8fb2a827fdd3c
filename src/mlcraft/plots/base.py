"""What every figure shares: the Agg canvas, the size and resolution, and PNG encoding."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["DPI", "PLOT_SAMPLE", "Plot", "new_figure", "to_plot", "sample_index", "short", "slug"]

DPI = 80  # modest resolution: the report stays small whatever the data
PLOT_SAMPLE = 5_000  # rows drawn in scatter plots and maps (statistics always use every row)
WIDTH = 8.0  # inches
HEIGHT = 5.0


@dataclass(frozen=True)
class Plot:
    """One figure: where it is saved (``name`` + ``.png``), what it shows, and its PNG bytes."""

    name: str
    title: str
    png: bytes
    caption: str = ""
    source: str | None = None  # where the PNG is already saved (a figure reused from another page)

    @property
    def file(self) -> str:
        return f"{self.name}.png"


def new_figure(width: float = WIDTH, height: float = HEIGHT, *, grid: bool = False) -> Any:
    """A matplotlib Figure on its own Agg canvas (no pyplot state, no display).

    ``grid`` figures (many small panels) get fixed spacing instead of the constrained layout, which
    costs seconds for dozens of panels.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout=None if grid else "constrained")
    if grid:
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.07, top=0.95, wspace=0.35, hspace=0.55)
    FigureCanvasAgg(fig)
    return fig


def to_plot(fig: Any, name: str, title: str, caption: str = "") -> Plot:
    """Encode ``fig`` as PNG."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return Plot(name, title, buffer.getvalue(), caption)


def sample_index(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Sorted positions of at most ``size`` rows out of ``n`` (all of them when ``n <= size``)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def short(text: Any, width: int = 24) -> str:
    """A label cut to ``width`` characters."""
    text = str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def slug(text: Any) -> str:
    """``text`` made safe for a file name (letters, digits and underscores)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", str(text))
