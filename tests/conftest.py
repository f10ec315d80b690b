"""Shared fixtures and the test tiers; the helpers they use live in the ``support`` package (import those from there).

Tiers (markers declared in pyproject.toml):

- ``gpu``: needs a CUDA device. Skipped here, in one place, when ``torch.cuda.is_available()`` is false.
- ``slow``: long training, full-size checkpoints, the zoos;
- ``training``: a real ``hashbench run``/``sweep`` subprocess (the fault matrix, resume, loggers).

``make test`` (the fast tier) runs ``-m "not slow and not training"``; ``make test-slow`` runs ``-m "slow or training"``;
CI runs both.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from support import TEST_DATA, run_cli, tiny_experiment_text


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip every ``@pytest.mark.gpu`` test when no CUDA device is present (the only place that decides it)."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not gpu_items:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (none found: torch.cuda.is_available() is False)")
    for item in gpu_items:
        item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _fit_cache_in_tmp(tmp_path_factory: pytest.TempPathFactory):
    """Point the fit cache (``$HASHBENCH_FIT_CACHE``, inherited by CLI subprocesses) at a session tmp folder,
    so tests never write to ~/.cache."""
    import os

    previous = os.environ.get("HASHBENCH_FIT_CACHE")
    os.environ["HASHBENCH_FIT_CACHE"] = str(tmp_path_factory.mktemp("fit-cache"))
    yield
    if previous is None:
        os.environ.pop("HASHBENCH_FIT_CACHE", None)
    else:
        os.environ["HASHBENCH_FIT_CACHE"] = previous


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def real_data() -> Path:
    if not TEST_DATA.is_dir():
        pytest.fail(f"test data not found at {TEST_DATA} (it ships in the repository: tests/data)")
    return TEST_DATA


@pytest.fixture
def tiny_toml(tmp_path: Path):
    """Write a tiny CPU experiment (moving_digits, narrow r3d18) and return its path."""

    def make(epochs: int = 2, seed: int = 0, select: str = "last", extra: str = "") -> Path:
        path = tmp_path / f"tiny_{epochs}_{seed}_{select}.toml"
        path.write_text(tiny_experiment_text(epochs=epochs, seed=seed, select=select) + extra)
        return path

    return make
