"""Command-line interface (thin: parse, call library modules, print).

Every HashbenchError becomes one line on stderr and exit code 2, without a traceback.
"""
from __future__ import annotations

import sys
from typing import Sequence

from ..errors import HashbenchError
from ._app import app, err_console

# Command modules register themselves on import.
from . import plugins_cmd, run_cmd, score_cmd, leaderboard_cmd, data_cmd  # noqa: E402,F401

__all__ = ["app", "main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point. Usage errors exit 2 (typer); HashbenchError exits 2 in one line."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name="hashbench")
    except HashbenchError as exc:
        _fail(str(exc))
    except OSError as exc:  # unreadable/unwritable paths that no module turned into a HashbenchError
        _fail(str(exc))


def _fail(message: str) -> None:
    from rich.markup import escape  # messages quote TOML tables like [train]: not rich markup

    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True, markup=True)
    sys.exit(2)
