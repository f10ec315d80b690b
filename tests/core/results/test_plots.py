"""`hashbench plot`: PNGs that open and have the expected size; clear errors without matplotlib/codes;
the series of `plot bits` join only comparable cells."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from support import TEST_DATA, run_cli
from hashbench.results import RESULT_COLUMNS, append_rows, metric_rows

CSQ = TEST_DATA / "csq_codes"


def hb(*args: str, cwd: Path):
    return run_cli(*args, cwd=cwd, timeout=120)


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
    from hashbench.results.leaderboard import build_leaderboard
    from hashbench.results.plots import plot_bits
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


# -- which cells one line joins ------------------------------------------------------------------------
def identity_rows(path: Path, runs) -> None:
    """Rows with real identities: ``runs`` = [(epochs, bits, seed, value, dataset changes)]."""
    import copy
    import tomllib

    import hashbench
    from support import tiny_experiment_text
    from hashbench.config import experiment_from_dict
    from hashbench.results.identity import experiment_identity, identity_json

    for i, (epochs, bits, seed, value, dataset) in enumerate(runs):
        doc = tomllib.loads(tiny_experiment_text(epochs=epochs, seed=seed))
        doc["head"]["bits"] = bits
        doc["dataset"].update(copy.deepcopy(dataset))
        exp = experiment_from_dict(doc)
        base = {c: "" for c in RESULT_COLUMNS if c not in ("metric", "value")}
        base.update(run_id=f"r{i}", method=exp.method, dataset="moving_digits", bits=bits, seed=seed,
                    epoch=epochs, config_hash=exp.config_hash(), data_origin="generated", skipped=0,
                    data_checksum="0" * 16,
                    config=identity_json(experiment_identity(exp, hashbench.registry())))
        append_rows(path, metric_rows(base, {"map": value}))


def test_bits_series_never_join_different_experiments(tmp_path):
    from hashbench.results.leaderboard import build_leaderboard
    from hashbench.results.plots import bits_series, plot_bits
    from hashbench.results import read_results

    path = tmp_path / "results.csv"
    identity_rows(path, [(1, 16, 0, 0.20, {}), (20, 48, 0, 0.60, {})])  # the example
    board = build_leaderboard(read_results(path))
    series = bits_series(board)
    assert [(s.label, s.column, s.points) for s in series] == [
        ("r3d18+tanh+batch_all_triplet, 1 ep", "moving_digits", [(16, 0.2, 0.0)]),
        ("r3d18+tanh+batch_all_triplet, 20 ep", "moving_digits", [(48, 0.6, 0.0)])]
    # grouped into one row (--group method,frames), the two experiments are still two series
    merged = build_leaderboard(read_results(path), group=["method", "frames"])
    assert len(merged.rows) == 1
    assert sorted(s.points for s in bits_series(merged)) == [[(16, 0.2, 0.0)], [(48, 0.6, 0.0)]]

    # one experiment at several code lengths (and seeds) is one series; a dataset variant is another
    identity_rows(path, [(20, 16, 0, 0.50, {}), (20, 16, 1, 0.54, {}), (20, 48, 1, 0.64, {}),
                         (20, 16, 0, 0.30, {"noise": 20.0}), (20, 48, 0, 0.40, {"noise": 20.0})])
    board = build_leaderboard(read_results(path))
    series = {(s.label, s.column): s.points for s in bits_series(board)}
    assert set(series) == {("r3d18+tanh+batch_all_triplet, 1 ep", "moving_digits (noise=0.0)"),
                           ("r3d18+tanh+batch_all_triplet, 20 ep", "moving_digits (noise=0.0)"),
                           ("r3d18+tanh+batch_all_triplet, 20 ep", "moving_digits (noise=20.0)")}
    twenty = series[("r3d18+tanh+batch_all_triplet, 20 ep", "moving_digits (noise=0.0)")]
    assert [b for b, _, _ in twenty] == [16, 48]
    assert twenty[0][1] == pytest.approx(0.52) and twenty[1][1] == pytest.approx(0.62)
    assert [b for b, _, _ in series[("r3d18+tanh+batch_all_triplet, 20 ep", "moving_digits (noise=20.0)")]] \
        == [16, 48]
    png = plot_bits(board, tmp_path)  # one panel per dataset column
    assert imread(png).shape[1] > 2 * 400


def test_bits_series_of_published_and_0_1_rows(table, tmp_path):
    from hashbench.results.leaderboard import build_leaderboard
    from hashbench.results.plots import bits_series
    from hashbench.results import read_published, read_results

    pub = tmp_path / "published.csv"
    pub.write_text("source,method,dataset,bits,metric,value\nRepo,RefNet,ucf101,48,map,0.72\n"
                   "Repo,RefNet,ucf101,64,map,0.77\n")
    board = build_leaderboard(read_results(table), read_published(pub), datasets=["ucf101"])
    series = bits_series(board)
    published = [s for s in series if s.published]
    assert [(s.label, [b for b, _, _ in s.points]) for s in published] == [("RefNet †", [48, 64])]
    # rows of 0.1 tables carry no identity: their points are not joined
    local = [s for s in series if not s.published]
    assert local and all(len(s.points) == 1 for s in local)
    assert {s.label for s in local} == {"baseline", "ours"} and len(local) == 2 * 4
