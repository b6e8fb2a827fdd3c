"""The Typer application and what every command shares: error handling and output helpers."""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console

from mlcraft.exceptions import MlcraftError
from mlcraft.formatting import format_number

__all__ = ["app", "command", "console", "fail", "fmt", "split_names", "process_age"]

app = typer.Typer(
    name="mlcraft",
    help="The Machine Learning Project Checklist, automated: train, evaluate, predict (and more) on a project directory.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
console = Console(highlight=False, soft_wrap=True)  # no hard line breaks in piped output


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one line to stderr; return the Exit to raise."""
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    return typer.Exit(code)


def command(name: str | None = None, **kwargs: Any) -> Callable:
    """Register a command whose user errors become one line and exit code 2 (never a traceback)."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kw: Any) -> Any:
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            try:
                return fn(*args, **kw)
            except MlcraftError as exc:
                raise fail(str(exc), exc.exit_code) from None
            except KeyboardInterrupt:
                raise fail(
                    "interrupted; nothing was half-written (the project is as it was before this command)",
                    130,
                ) from None

        return app.command(name, **kwargs)(wrapper)

    return decorate


def process_age() -> float:
    """Seconds since this process started (imports included); 0 where the system does not say."""
    import os

    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            start_ticks = float(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as fh:
            uptime = float(fh.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def split_names(values: list[str] | None) -> list[str]:
    """Repeatable options also accept comma-separated names: --drop a,b --drop c."""
    out: list[str] = []
    for value in values or []:
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return out


fmt = format_number  # a score for people (mlcraft.formatting.format_number)
