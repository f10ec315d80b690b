"""Shared test helpers: repository paths, the shared test data, and a CLI runner (real subprocess)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
HASHBENCH = [sys.executable, "-m", "hashbench"]


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `hashbench ARGS` in a real subprocess; returns the completed process (text output)."""
    full_env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    full_env.pop("HASHBENCH_RESULTS", None)
    if env:
        full_env.update(env)
    return subprocess.run([*HASHBENCH, *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared test data not found at {SHARED_DATA} (CI puts shared/ beside the checkout)")
    return SHARED_DATA


TINY_EXPERIMENT = """
name = "tiny"
seed = {seed}
device = "cpu"
[dataset]
name = "moving_digits"
size = 32
num_frames = 8
clips_per_class = 6
queries_per_class = 3
[backbone]
name = "r3d18"
width = 8
[head]
name = "tanh"
bits = 16
[loss]
name = "batch_all_triplet"
margin = 4
[train]
epochs = {epochs}
batch_size = 16
optimizer = {{ name = "adam", lr = 1e-3 }}
eval_every = 1
[eval]
metrics = ["map", "map@10", "map_tie"]
select = "{select}"
"""


@pytest.fixture
def tiny_toml(tmp_path: Path):
    """Write a tiny CPU experiment (moving_digits, narrow r3d18) and return its path."""

    def make(epochs: int = 2, seed: int = 0, select: str = "last", extra: str = "") -> Path:
        path = tmp_path / f"tiny_{epochs}_{seed}_{select}.toml"
        path.write_text(TINY_EXPERIMENT.format(epochs=epochs, seed=seed, select=select) + extra)
        return path

    return make
