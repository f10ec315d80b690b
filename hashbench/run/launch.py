"""``hashbench run X.toml --nproc N``: the same as ``torchrun --standalone --nproc_per_node N -m hashbench
run X.toml`` (torch's elastic launcher, called as a library), with torchrun's own failure report
replaced by the run's one line: rank 0 prints which rank failed and what; when rank 0 itself died
without a word (a signal), one line here says so.
"""
from __future__ import annotations

import logging
import os
import sys
import uuid
from typing import Sequence

__all__ = ["launch_local", "torchrun_command"]


def torchrun_command(args: Sequence[str], nproc: int) -> list[str]:
    """The equivalent torchrun command line (what the README shows; for reference and tests)."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "hashbench", *args]


def launch_local(args: Sequence[str], nproc: int) -> tuple[int, str]:
    """Run ``python -m hashbench ARGS`` in ``nproc`` processes on this machine (one per GPU when there
    are GPUs), rendezvous on a free local port. Returns ``(exit code, message)``: ``(0, "")`` when every
    process succeeded, ``(code, "")`` when rank 0 exited with a code or was stopped after another rank
    failed (it has printed the error line), else ``(2, "rank R ...")`` naming the process that died and
    how."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    logging.getLogger("torch.distributed.launcher").setLevel(logging.CRITICAL)
    if "OMP_NUM_THREADS" not in os.environ:
        from ..device import usable_cpus

        os.environ["OMP_NUM_THREADS"] = str(max(1, usable_cpus() // nproc))
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=f"hashbench-{uuid.uuid4().hex[:8]}",
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.1,
                          start_method="spawn")
    try:
        elastic_launch(config, sys.executable)("-m", "hashbench", *args)
    except ChildFailedError as exc:
        failures = exc.failures
        first = failures.get(0)
        if first is not None and first.exitcode > 0:
            return first.exitcode, ""
        if first is not None and first.signal_name() == "SIGTERM" and any(f.exitcode > 0 for f in failures.values()):
            return 2, ""  # another rank failed and the launcher stopped rank 0, which reported it as it stopped
        rank = min(failures)
        failure = failures[rank]
        how = f"was stopped by {failure.signal_name()}" if failure.exitcode < 0 else f"exited with {failure.exitcode}"
        return 2, f"rank {rank} of {nproc} {how}; resume with --resume"
    return 0, ""
