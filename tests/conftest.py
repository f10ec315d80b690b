"""Shared fixtures; the helpers they use live in ``helpers.py`` (import those from there)."""
from __future__ import annotations

from pathlib import Path

import pytest

from helpers import TEST_DATA, run_cli, tiny_experiment_text


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
