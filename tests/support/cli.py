"""Repository paths, the real test data (tests/data), CLI runners (a real subprocess, or in this process), the
tiny-experiment TOML, an offline pip install and clip replication."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The real test data (clips, official split lists, published codes), copied from the project's shared data.
TEST_DATA = ROOT / "tests" / "data"
HASHBENCH = [sys.executable, "-m", "hashbench"]


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None,
            timeout: float | None = 600) -> subprocess.CompletedProcess:
    """Run `hashbench ARGS` in a real subprocess; returns the completed process (text output)."""
    full_env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    full_env.pop("HASHBENCH_RESULTS", None)
    if env:
        full_env.update(env)
    return subprocess.run([*HASHBENCH, *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def run_cli_here(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """`hashbench ARGS` in this process, through the console script's own entry point (``hashbench.cli.main``,
    its one-line errors and exit codes included): what :func:`run_cli` returns, without starting an interpreter
    (seconds each on a loaded machine). For commands that read no plugin path at start-up; every suite keeps
    real subprocess runs of the same commands. ``env`` and ``cwd`` hold for the call only."""
    import contextlib
    import io

    from hashbench.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd = dict(os.environ), Path.cwd()
    os.environ.update({"COLUMNS": "200", "NO_COLOR": "1", **(env or {})})
    os.environ.pop("HASHBENCH_RESULTS", None)
    code: int = 0
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(["hashbench", *args], code, out.getvalue(), err.getvalue())


def tiny_experiment_text(*, name: str = "tiny", seed: int = 0, epochs: int = 2, select: str = "last",
                         backbone: str = 'name = "r3d18"\nwidth = 8', size: int = 32, num_frames: int = 8,
                         clips_per_class: int = 6, queries_per_class: int = 3, batch_size: int = 16,
                         metrics: str = '["map", "map@10", "map_tie"]') -> str:
    """A tiny CPU experiment on moving_digits (seconds to train); every test TOML is built from this."""
    return f"""
name = "{name}"
seed = {seed}
device = "cpu"
[dataset]
name = "moving_digits"
size = {size}
num_frames = {num_frames}
clips_per_class = {clips_per_class}
queries_per_class = {queries_per_class}
[backbone]
{backbone}
[head]
name = "tanh"
bits = 16
[loss]
name = "batch_all_triplet"
margin = 4
[train]
epochs = {epochs}
batch_size = {batch_size}
optimizer = {{ name = "adam", lr = 1e-3 }}
eval_every = 1
[eval]
metrics = {metrics}
select = "{select}"
"""


def pip_install(source: Path, target: Path) -> Path:
    """``pip install --no-deps --no-build-isolation --no-index --target target`` of a copy of the package
    folder ``source`` (a real install, offline: put ``target`` on PYTHONPATH to use it); returns ``target``."""
    copy = target.parent / f"{source.name}-src-{target.name}"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--target", str(target), str(copy)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return target


def replicate_clips(root: Path, count: int, videos: Path = TEST_DATA / "videos") -> list[tuple[str, int, Path]]:
    """Symlink the real test clips into ``root`` as ``count`` videos, clip k as ``c{label}/{stem}_{k:03d}{ext}``
    with label = k mod the number of clips (existing links kept); returns ``[(relative path, label, source)]``."""
    sources = sorted(videos.iterdir())
    out = []
    for k in range(count):
        label = k % len(sources)
        src = sources[label]
        rel = f"c{label}/{src.stem}_{k:03d}{src.suffix}"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        if not (root / rel).exists():
            os.symlink(src, root / rel)
        out.append((rel, label, src))
    return out
