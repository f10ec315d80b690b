"""The processes of one distributed run: who writes, how a failure on one rank reaches rank 0.

Rank 0 alone writes the run directory. A rank other than 0 that fails writes one small file,
``rank<R>.error`` (JSON: rank, message, type), into the run directory and exits; rank 0 then sees
its collective fail (or torchrun's SIGTERM), reads the file and records the run as failed with
"rank R: message", so the one line the user reads names the rank and what happened.
"""
from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..atomic import write_text_atomic
from ..errors import HashbenchError, TrainingError
from ..train.distributed import DistEnv

__all__ = ["write_rank_error", "peer_error", "ignore_sigterm", "STEP_LOG_ENV", "RankFailure", "leave_rank_failure",
           "rank_failure", "collective_failure", "lost_local_peer"]

#: A debug trace: when set, rank 0 appends one JSON line per optimizer step (epoch, step, loss, and
#: the per-rank losses with ``train.loss_scope = "rank"``) to this file.
STEP_LOG_ENV = "HASHBENCH_STEP_LOG"


@dataclass
class RankFailure:
    """A distributed run's failure as rank 0 records it: ``message`` (naming the rank), ``kind`` (the
    name of the failed rank's error type) and the ``error`` rank 0 raises."""

    message: str
    kind: str
    error: HashbenchError


def _message(exc: BaseException, explained: HashbenchError | None) -> str:
    """The one line a rank reports: the explained error, else ``Type: first line of the message``."""
    if explained is not None:
        return str(explained)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"


def leave_rank_failure(run_path: Path, env: DistEnv, exc: BaseException, explained: HashbenchError | None) -> None:
    """On a rank other than 0: leave this rank's failure for rank 0 (nothing for an interruption)."""
    if not isinstance(exc, KeyboardInterrupt):
        write_rank_error(run_path, env, _message(exc, explained), type(explained or exc).__name__)


def rank_failure(exc: BaseException, explained: HashbenchError | None, run_path: Path) -> Optional[RankFailure]:
    """On rank 0: the failure to record, "rank R: message" of the lowest failed rank (left by
    :func:`leave_rank_failure`), a collective that failed because another process went away, or rank 0's
    own explained error. None when rank 0 records ``exc`` as one process would: an interruption while
    no rank failed, or a bug on rank 0 (its traceback is shown)."""
    interrupted = isinstance(exc, KeyboardInterrupt)
    lost = interrupted and lost_local_peer()  # looked at first: interrupted peers exit soon after
    collective = explained is None and not interrupted and collective_failure(exc)
    peer = peer_error(run_path, wait_s=3.0 if interrupted or collective else 0.5)
    if peer is not None:
        message = f"rank {peer['rank']}: {peer['message']}"
        return RankFailure(message, str(peer.get("type", "HashbenchError")), TrainingError(message))
    if lost:  # torchrun stopped rank 0 because a peer had died: a failure, not the user's interruption
        message = ("a process of the distributed run stopped without a message (killed?); rank 0 was then"
                   " stopped by the launcher")
        return RankFailure(message, "ChildFailedError", TrainingError(message))
    if interrupted or (explained is None and not collective):
        return None
    if collective:
        message = (f"a process of the distributed run stopped without a message (killed?); rank 0 saw:"
                   f" {_message(exc, None)}")
        return RankFailure(message, type(exc).__name__, TrainingError(message))
    message = f"rank 0: {explained}"
    error: HashbenchError = TrainingError(message)
    try:
        error = type(explained)(message)
    except TypeError:
        pass
    return RankFailure(message, type(explained).__name__, error)


def lost_local_peer() -> bool:
    """Whether a rank on this node is already gone when this one is stopped: torchrun reaps a killed worker,
    then sends SIGTERM to the others, whereas a user's Ctrl-C or a scheduler's SIGTERM reaches ranks that are
    all alive. Counts the live children of this process's parent (the launcher) against ``LOCAL_WORLD_SIZE``;
    False where ``/proc`` is not there (the interruption is then recorded as one)."""
    expected = int(os.environ.get("LOCAL_WORLD_SIZE", "0") or 0)
    proc = Path("/proc")
    if expected < 2 or not proc.is_dir():
        return False
    parent, alive = os.getppid(), 0
    for stat in proc.glob("[0-9]*/stat"):
        try:
            state, ppid = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError, ValueError):
            continue
        alive += int(ppid) == parent and state not in ("Z", "X")
    return alive < expected


def collective_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a collective that failed because another process went away."""
    name = type(exc).__name__
    text = str(exc)
    return name in ("DistBackendError", "DistNetworkError", "DistError") or any(
        word in text for word in ("Connection closed by peer", "Connection reset by peer", "gloo", "NCCL",
                                  "Broken pipe", "ProcessGroup"))


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
