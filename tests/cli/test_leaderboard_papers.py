"""`hashbench leaderboard --layout papers` and `--plot-k`, in real subprocesses: the shipped published SSVH rows
as the papers print them, a real ITQ run's map_over_k@K rows in their own block, bad flags in one line."""
from __future__ import annotations

import pandas as pd
import pytest

from support import ROOT, run_cli

SSVH_K = (5, 10, 20, 40, 60, 80, 100)
FEATURES = ROOT / "experiments" / "features"


def md_row(text: str, method: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(f"| {method}"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_papers_layout_prints_the_published_block_and_writes_the_curve(tmp_path):
    png = tmp_path / "k.png"
    proc = run_cli("leaderboard", "--layout", "papers", "--datasets", "fcvid", "--bits", "64", "--plot-k", str(png),
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "## fcvid 64-bit" in proc.stdout and "fcvid 32-bit" not in proc.stdout
    assert md_row(proc.stdout, "BTH †") == ["BTH †", "0.4730", "0.3750", "0.3100", "0.2620", "0.2370", "0.2190",
                                           "0.2040"]
    assert md_row(proc.stdout, "S5VH † §")[1:] == ["0.5200", "–", "0.3690", "0.3250", "–", "0.2840", "0.2690"]
    assert "§ checkpoint kept by its score on the test queries" in proc.stdout
    assert png.is_file() and png.stat().st_size > 10_000
    assert not (tmp_path / "results" / "LEADERBOARD.md").exists()  # a papers' view never overwrites it

    out = tmp_path / "papers.csv"
    proc = run_cli("leaderboard", "--layout", "papers", "--format", "csv", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr
    table = pd.read_csv(out)
    assert set(table["dataset"]) == {"fcvid", "activitynet", "yfcc", "ucf101", "hmdb51"}
    flagged = set(table.loc[table["test_selected"] == 1, "method"].str.split(" ").str[0])
    assert flagged == {"S5VH", "AutoSSVH"}


@pytest.mark.parametrize("args, words", [
    (["--layout", "paper"], ["--layout", "'paper'", "papers"]),
    (["--layout", "papers", "--group", "method,frames"], ["--group", "one row per experiment"]),
    (["--layout", "papers", "--no-published"], ["no map_over_k@K results", "protocol"]),
])
def test_bad_papers_flags_are_one_line(tmp_path, args, words):
    proc = run_cli("leaderboard", *args, cwd=tmp_path)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert all(w in lines[0] for w in words), lines[0]


@pytest.mark.training
def test_a_real_itq_run_gets_its_block_with_its_numbers(tmp_path):
    results = tmp_path / "results.csv"
    proc = run_cli("run", str(FEATURES / "moving_digits_features_itq.toml"), "-q", "--set", 'eval.protocol="ssvh"',
                   "--set", "method.bits=16", "--runs-dir", str(tmp_path / "runs"), "--results", str(results),
                   cwd=tmp_path, env={"HASHBENCH_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    values = pd.read_csv(results).set_index("metric")["value"]
    png = tmp_path / "curve.png"
    proc = run_cli("leaderboard", "--layout", "papers", "--results", str(results), "--plot-k", str(png),
                   "--datasets", "moving_digits_features", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "## moving_digits_features 16-bit" in proc.stdout and "†" not in md_row(proc.stdout, "itq")[0]
    assert md_row(proc.stdout, "itq")[1:] == [f"{values[f'map_over_k@{k}']:.4f}" for k in SSVH_K]
    assert png.is_file()
