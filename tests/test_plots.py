"""`hashbench plot`: PNGs that open and have the expected size; clear errors without matplotlib/codes."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hashbench.results import RESULT_COLUMNS, append_rows, metric_rows

ROOT = Path(__file__).resolve().parents[1]
HASHBENCH = ROOT / ".venv" / "bin" / "hashbench"
CSQ = ROOT.parent / "shared" / "data" / "csq_codes"


def hb(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(HASHBENCH), *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def imread(path: Path) -> np.ndarray:
    from matplotlib.image import imread as _imread

    return _imread(str(path))


@pytest.fixture()
def table(tmp_path) -> Path:
    path = tmp_path / "results" / "results.csv"
    for method, offset in (("ours", 0.05), ("baseline", 0.0)):
        for dataset in ("ucf101", "hmdb51", "jhmdb"):
            for bits in (16, 32, 48, 64):
                for seed in range(2):
                    base = {c: "" for c in RESULT_COLUMNS if c not in ("metric", "value")}
                    base.update(run_id=f"{method}-{dataset}-{bits}-{seed}", method=method, dataset=dataset,
                                bits=bits, seed=seed, config_hash=f"{method}-{dataset}-{bits}-{seed}")
                    value = 0.3 + bits / 200 + offset + 0.01 * seed
                    append_rows(path, metric_rows(base, {"map": value, "map@100": value + 0.1}))
    return path


def test_plot_bits_writes_a_png_per_metric_next_to_the_table(table, tmp_path):
    proc = hb("plot", "bits", "--results", str(table), "--no-published", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    png = table.parent / "map_vs_bits.png"
    assert png.is_file() and f"wrote {png}" in proc.stdout.replace("\n", "")
    image = imread(png)
    height, width = image.shape[:2]
    assert image.ndim == 3 and 300 < height < 800 and width > 3 * 400  # three dataset panels + legend
    assert image[..., :3].std() > 0.05  # something was drawn

    one = tmp_path / "plots"
    proc = hb("plot", "bits", "--results", str(table), "--no-published", "--metric", "map@100",
              "--datasets", "hmdb51", "--out", str(one), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    narrow = imread(one / "map@100_vs_bits.png")
    assert narrow.shape[1] < width * 0.6  # one panel only
    assert not list(one.glob(".*"))  # atomic write left no temp file


def test_plot_bits_includes_published_rows(table, tmp_path):
    from hashbench.leaderboard import build_leaderboard
    from hashbench.plots import plot_bits
    from hashbench.results import read_published, read_results

    pub = tmp_path / "published.csv"
    pub.write_text("source,method,dataset,bits,metric,value\nRepo,RefNet,ucf101,48,map,0.7204\n")
    frame = read_results(table)
    with_pub = plot_bits(build_leaderboard(frame, read_published(pub)), tmp_path / "with")
    without = plot_bits(build_leaderboard(frame), tmp_path / "without")
    a, b = imread(with_pub), imread(without)
    assert a.shape != b.shape or not np.array_equal(a, b)  # the published point and legend entry show


def test_plot_without_matplotlib_says_how_to_install(table, tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None; from hashbench.cli import main; "
            f"main(['plot', 'bits', '--results', {str(table)!r}, '--no-published'])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "pip install 'hashbench[plot]'" in lines[0], proc.stderr
    assert not (table.parent / "map_vs_bits.png").exists()


def test_plot_pr_from_a_run_directory(tmp_path):
    from hashbench.codes import save_codes

    run_dir = tmp_path / "runs" / "csq" / "20240101-000000-hmdb"
    run_dir.mkdir(parents=True)
    q = np.load(CSQ / "hmdb51" / "test_hash.npy")[:200]
    ql = np.load(CSQ / "hmdb51" / "test_label.npy")[:200].astype(np.int64)
    d = np.load(CSQ / "hmdb51" / "database_hash.npy")
    dl = np.load(CSQ / "hmdb51" / "database_label.npy").astype(np.int64)
    save_codes(run_dir / "codes.npz", query_codes=q, query_labels=ql, db_codes=d, db_labels=dl)
    out = tmp_path / "pr.png"
    proc = hb("plot", "pr", str(run_dir), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    image = imread(out)
    assert image.ndim == 3 and 300 < image.shape[0] < 900 and 400 < image.shape[1] < 1000
    assert image[..., :3].std() > 0.05

    proc = hb("plot", "pr", str(tmp_path / "runs" / "nothing"), cwd=tmp_path)
    assert proc.returncode == 2 and "codes.npz" in proc.stderr and "Traceback" not in proc.stderr
