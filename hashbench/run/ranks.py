"""The processes of one distributed run: who writes, how a failure on one rank reaches rank 0.

Rank 0 alone writes the run directory. A rank other than 0 that fails writes one small file,
``rank<R>.error`` (JSON: rank, message, type), into the run directory and exits; rank 0 then sees
its collective fail (or torchrun's SIGTERM), reads the file and records the run as failed with
"rank R: message", so the one line the user reads names the rank and what happened.
"""
from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Optional

from ..atomic import write_text_atomic
from ..train.distributed import DistEnv

__all__ = ["write_rank_error", "peer_error", "ignore_sigterm", "STEP_LOG_ENV"]

#: A debug trace: when set, rank 0 appends one JSON line per optimizer step (epoch, step, loss, and
#: the per-rank losses with ``train.loss_scope = "rank"``) to this file.
STEP_LOG_ENV = "HASHBENCH_STEP_LOG"


def write_rank_error(run_path: Path, env: DistEnv, message: str, kind: str) -> None:
    """Leave this rank's failure for rank 0 to report (best effort: the directory may be gone)."""
    try:
        write_text_atomic(run_path / f"rank{env.rank}.error",
                          json.dumps({"rank": env.rank, "message": message, "type": kind}))
    except OSError:
        pass


def peer_error(run_path: Path, wait_s: float = 0.0) -> Optional[dict]:
    """The failure another rank left in ``run_path`` (the lowest rank's), waiting up to ``wait_s``
    seconds for one to appear; None when there is none. The files are removed once read."""
    deadline = time.monotonic() + wait_s
    while True:
        files = sorted(run_path.glob("rank*.error"), key=lambda p: int(p.stem[4:] or 0))
        if files:
            try:
                found = json.loads(files[0].read_text())
            except (OSError, ValueError):
                found = {"rank": files[0].stem[4:], "message": "failed (its message could not be read)",
                         "type": "HashbenchError"}
            for file in files:
                file.unlink(missing_ok=True)
            return found
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


def ignore_sigterm() -> None:
    """From now on ignore SIGTERM (torchrun's stop of the remaining ranks while this one records a
    failure); a no-op outside the main thread."""
    try:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    except ValueError:
        pass
