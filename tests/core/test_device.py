"""hashbench.device: the one owner of device names, their resolution and CPU worker counts."""
from __future__ import annotations

import os

import pytest
import torch

from hashbench.device import (AUTO_CUDA_MIN_PAIRS, compute_device, decode_workers, device_description,
                              is_device_name, ranking_threads, resolve_device, torch_device, usable_cpus)
from hashbench.errors import ConfigError, DataError


def test_resolve_device():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        assert resolve_device("cuda:0") == "cuda:0"
        with pytest.raises(ConfigError, match="CUDA device"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")
    else:
        with pytest.raises(ConfigError, match=r"device: 'cuda:1' requested but CUDA is not available"):
            resolve_device("cuda:1")
    with pytest.raises(ConfigError, match=r"device: must be .*got 'tpu'"):
        resolve_device("tpu")
    assert torch_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("name, ok", [("auto", True), ("cpu", True), ("cuda", True), ("cuda:12", True),
                                      ("cuda:", False), ("gpu", False), ("CPU", False), (0, False)])
def test_device_names(name, ok):
    assert is_device_name(name) is ok


def test_compute_device_keeps_small_jobs_on_the_cpu():
    assert compute_device("auto", pairs=10) == "cpu"
    assert compute_device(None) == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert compute_device("auto", pairs=AUTO_CUDA_MIN_PAIRS) == expected
    assert compute_device("cpu", pairs=10**12) == "cpu"
    with pytest.raises(DataError, match="unknown device 'tpu'; use auto, cpu or cuda"):
        compute_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DataError, match="torch sees no CUDA GPU"):
            compute_device("cuda:0")


def test_device_description():
    assert device_description(torch.device("cpu")) == "cpu"


def test_worker_counts(monkeypatch):
    cpus = usable_cpus()
    assert 1 <= cpus <= (os.cpu_count() or 1)
    assert decode_workers() == min(16, cpus)
    monkeypatch.delenv("HASHBENCH_THREADS", raising=False)
    assert ranking_threads() == 1
    monkeypatch.setenv("HASHBENCH_THREADS", "3")
    assert ranking_threads() == 3
    monkeypatch.setenv("HASHBENCH_THREADS", "0")
    assert ranking_threads() == 1
    monkeypatch.setenv("HASHBENCH_THREADS", "many")
    with pytest.raises(DataError, match="HASHBENCH_THREADS='many': expected a positive integer"):
        ranking_threads()
