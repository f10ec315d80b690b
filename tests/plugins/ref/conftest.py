"""The reference plugins' tests run torch on one thread.

Their tensors are tiny (a few clips of a few frames): on a small, shared CPU, torch's intra-op threads cost
more than they save (measured on a loaded 2-core machine: MCMSH's exact-resume test 12.3 s with two threads,
2.8 s with one; this folder's fast tier 151 s -> 102 s). Each test gets one thread and the previous count back afterwards; every comparison inside a test runs
on the same count, and subprocesses are not affected.
"""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
