"""Command-line interface (thin: parse, call library modules, print).

Every HashbenchError becomes one line on stderr and exit code 2, without a traceback; an interrupted
run exits 130. Any other exception is a bug in hashbench: its traceback is shown with a line asking
for a report. ``HASHBENCH_DEBUG=1`` shows the traceback of every error.
"""
from __future__ import annotations

import os
import sys
import traceback
from typing import Sequence

from ..errors import HashbenchError
from ._app import app, err_console

# Command modules register themselves on import.
from . import plugins_cmd, run_cmd, runs_cmd, score_cmd, leaderboard_cmd, data_cmd  # noqa: E402,F401
from . import check_cmd, weights_cmd, features_cmd  # noqa: E402,F401

__all__ = ["app", "main"]

DEBUG_ENV = "HASHBENCH_DEBUG"


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point. Usage errors exit 2 (typer); HashbenchError exits 2 in one line."""
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        app(args=list(argv) if argv is not None else None, prog_name="hashbench", standalone_mode=True)
    except HashbenchError as exc:
        if debug:
            traceback.print_exc()
        _fail(error_line(exc))
    except OSError as exc:  # unreadable/unwritable paths that no module turned into a HashbenchError
        if debug:
            traceback.print_exc()
        from ..failures import os_error

        _fail(str(os_error(exc)))
    except KeyboardInterrupt:
        err_console.print("interrupted", highlight=False)
        sys.exit(130)
    except Exception:  # a bug in hashbench: the traceback is the report
        traceback.print_exc()
        from ..failures import bug_report_line

        err_console.print(f"error: {bug_report_line()}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)


def error_line(exc: HashbenchError) -> str:
    """The message, plus where the failed run was recorded (when a run directory exists)."""
    text = " ".join(str(exc).split("\n"))
    if exc.run_dir is not None:
        text += f" [run {exc.run_dir} recorded as failed]"
    return text


def _fail(message: str) -> None:
    from rich.markup import escape  # messages quote TOML tables like [train]: not rich markup

    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True, markup=True)
    sys.exit(2)
