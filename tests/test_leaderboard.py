"""The leaderboard: pivot, mean ± std over seeds, best marks, published rows per metric, every format, CLI."""
from __future__ import annotations

import csv
import hashlib
import io
import subprocess
from pathlib import Path

import pytest

from hashbench.errors import ResultsError
from hashbench.leaderboard import build_leaderboard, render
from hashbench.results import RESULT_COLUMNS, append_rows, metric_rows, read_published, read_results

ROOT = Path(__file__).resolve().parents[1]
HASHBENCH = ROOT / ".venv" / "bin" / "hashbench"
PUBLISHED = ROOT / "results" / "published.csv"

# mean of the map cell over seeds 0,1,2 is BASE + 0.01 (values BASE, BASE+0.01, BASE+0.02), std 0.01
BASE = {
    ("ours", "ucf101", 16): 0.60, ("ours", "ucf101", 48): 0.70, ("ours", "ucf101", 64): 0.74,
    ("ours", "hmdb51", 16): 0.30, ("ours", "hmdb51", 48): 0.45, ("ours", "jhmdb", 16): 0.35,
    ("ours", "jhmdb", 48): 0.50,
    ("baseline", "ucf101", 16): 0.55, ("baseline", "ucf101", 48): 0.65, ("baseline", "ucf101", 64): 0.69,
    ("baseline", "hmdb51", 16): 0.33, ("baseline", "hmdb51", 48): 0.40, ("baseline", "jhmdb", 16): 0.31,
    ("baseline", "jhmdb", 48): 0.45,
}
LOSS = {"ours": "batch_all_triplet", "baseline": "contrastive"}


def row_base(method: str, dataset: str, bits: int, seed: int, frames: int = 16, run: int = 0) -> dict:
    base = {c: "" for c in RESULT_COLUMNS if c not in ("metric", "value")}
    config = f"{method}-{dataset}-{bits}-f{frames}-s{seed}"
    base.update(run_id=f"{config}-run{run}", time=f"2024-01-0{1 + run}T00:00:00+00:00",
                experiment=f"exp-{method}", method=method, dataset=dataset, split="1",
                backbone="r3d18", head="tanh", loss=LOSS[method], bits=bits, frames=frames, epoch=5,
                selection="last", seed=seed, config_hash=config, device="cpu")
    return base


@pytest.fixture()
def table(tmp_path) -> Path:
    """3 datasets x several bits x 2 methods x 3 seeds, metrics map and map@100, one rerun."""
    path = tmp_path / "results.csv"
    for (method, dataset, bits), base in BASE.items():
        for seed in range(3):
            value = base + 0.01 * seed
            append_rows(path, metric_rows(row_base(method, dataset, bits, seed),
                                          {"map": value, "map@100": value + 0.1}))
    return path


@pytest.fixture()
def published(tmp_path) -> Path:
    path = tmp_path / "published.csv"
    path.write_text(
        "source,method,dataset,bits,frames,margin,metric,value,selection,note,url\n"
        "Repo README,RefNet,ucf101,48,16,14,map,0.7116,best epoch on test queries,,\n"
        "Repo README,RefNet,ucf101,48,32,14,map,0.7204,best epoch on test queries,,\n"
        "Repo README,RefNet,hmdb51,48,32,8,map,0.4687,best epoch on test queries,,\n"
        "Codes paper,CodeNet,ucf101,64,,,map@100,0.8738,released model,,https://example.org/codes\n"
        "Codes paper,CodeNet,ucf101,64,,,map,0.8460,released model,,https://example.org/codes\n")
    return path


def board_for(table: Path, published: Path | None = None, **kw):
    pub = read_published(published) if published else None
    return build_leaderboard(read_results(table), pub, **kw)


def test_cells_are_mean_std_n_over_seeds(table):
    board = board_for(table)
    assert board.metric == "map"
    assert board.columns == [("ucf101", 16), ("ucf101", 48), ("ucf101", 64), ("hmdb51", 16),
                             ("hmdb51", 48), ("jhmdb", 16), ("jhmdb", 48)]
    assert [r.keys for r in board.rows] == [("baseline",), ("ours",)]
    for (method, dataset, bits), base in BASE.items():
        cell = board.cell(method, dataset, bits)
        assert cell.n == 3
        assert cell.mean == pytest.approx(base + 0.01)
        assert cell.std == pytest.approx(0.01)
        assert cell.text() == f"{base + 0.01:.4f} ± 0.0100 (n=3)"


def test_best_per_column_is_marked(table):
    board = board_for(table)
    for column in board.columns:
        winner = max(("ours", "baseline"), key=lambda m: BASE[(m, *column)])
        loser = "baseline" if winner == "ours" else "ours"
        assert board.cell(winner, *column).best and not board.cell(loser, *column).best
    assert board.cell("baseline", "hmdb51", 16).best  # the baseline wins one column


def test_other_metric_is_its_own_table(table):
    board = board_for(table, metric="map@100")
    assert board.cell("ours", "ucf101", 48).mean == pytest.approx(0.81)
    with pytest.raises(ResultsError, match=r"no results for metric 'map@70'.*map, map@100"):
        board_for(table, metric="map@70")


def test_latest_run_of_a_config_and_seed_wins(table):
    # rerun of ours/ucf101/48 seed 0: only the run appended last counts, n stays 3
    append_rows(table, metric_rows(row_base("ours", "ucf101", 48, 0, run=1), {"map": 0.97, "map@100": 0.9}))
    cell = board_for(table).cell("ours", "ucf101", 48)
    assert cell.n == 3
    assert cell.mean == pytest.approx((0.97 + 0.71 + 0.72) / 3)
    # a run appended later wins by position even with an older time stamp (copied from elsewhere)
    older = {**row_base("ours", "ucf101", 48, 0, run=2), "time": "2023-12-31T00:00:00+00:00"}
    append_rows(table, metric_rows(older, {"map": 0.40}))
    assert board_for(table).cell("ours", "ucf101", 48).mean == pytest.approx((0.40 + 0.71 + 0.72) / 3)
    assert board_for(table, metric="map@100").cell("ours", "ucf101", 48) is not None
    assert board_for(table, metric="map@100").cell("ours", "ucf101", 48).n == 2  # run 2 has no map@100
    # the very same run's rows appended twice count once
    append_rows(table, metric_rows(older, {"map": 0.40}))
    cell = board_for(table).cell("ours", "ucf101", 48)
    assert cell.n == 3 and cell.mean == pytest.approx((0.40 + 0.71 + 0.72) / 3)


def test_filters_datasets_bits_where(table):
    board = board_for(table, datasets=["jhmdb", "ucf101"], bits=[48])
    assert board.columns == [("ucf101", 48), ("jhmdb", 48)]  # display order, not argument order
    board = board_for(table, where=["loss=contrastive"])
    assert [r.keys for r in board.rows] == [("baseline",)]
    assert all(c.best for c in board.rows[0].cells.values())
    board = board_for(table, where=["dataset=hmdb51,jhmdb", "seed=0,1"])
    assert {c[0] for c in board.columns} == {"hmdb51", "jhmdb"}
    assert board.cell("ours", "hmdb51", 48).n == 2
    with pytest.raises(ResultsError, match=r"unknown column 'frame' \(did you mean 'frames'\?\)"):
        board_for(table, where=["frame=16"])
    with pytest.raises(ResultsError, match="expected COLUMN=VALUE"):
        board_for(table, where=["frames"])


def test_mixed_configurations_flagged_and_group_separates_them(table):
    for seed in range(2):  # ours at 32 frames shares method label and seeds with the 16-frame runs
        append_rows(table, metric_rows(row_base("ours", "ucf101", 48, seed, frames=32), {"map": 0.8}))
    board = board_for(table)
    cell = board.cell("ours", "ucf101", 48)
    assert cell.mixed and cell.n == 5 and cell.text().endswith("‡")
    assert any(n.startswith("‡") for n in board.notes)
    assert not board.cell("ours", "ucf101", 16).mixed
    board = board_for(table, group=["method", "frames"])
    assert [r.keys for r in board.rows] == [("baseline", "16"), ("ours", "16"), ("ours", "32")]
    split32 = board.rows[2].cells[("ucf101", 48)]
    assert (split32.n, split32.mean, split32.mixed) == (2, pytest.approx(0.8), False)
    assert board.rows[2].cells.keys() == {("ucf101", 48)}
    with pytest.raises(ResultsError, match="cannot group rows by 'bits'"):
        board_for(table, group=["method", "bits"])


def test_published_rows_only_under_their_metric(table, published):
    board = board_for(table, published, metric="map")
    labels = [r.keys[0] for r in board.rows]
    assert labels == ["baseline", "ours", "CodeNet †", "RefNet (16 frames, margin 14) †",  # numeric order
                      "RefNet (32 frames, margin 8) †", "RefNet (32 frames, margin 14) †"]
    ref32 = next(r for r in board.rows if r.keys[0] == "RefNet (32 frames, margin 14) †")
    assert ref32.published and ref32.source == "Repo README"
    assert ref32.cells[("ucf101", 48)].text() == "0.7204" and ref32.cells[("ucf101", 48)].best
    assert not board.cell("ours", "ucf101", 48).best  # 0.7100 < 0.7204
    assert board.cell("CodeNet †", "ucf101", 64).mean == pytest.approx(0.846)
    assert any("published: Repo README" in n and "best epoch on test queries" in n for n in board.notes)

    board = board_for(table, published, metric="map@100")
    pub_rows = [r for r in board.rows if r.published]
    assert [r.keys[0] for r in pub_rows] == ["CodeNet †"]
    assert pub_rows[0].cells[("ucf101", 64)].mean == pytest.approx(0.8738)
    text = render(board, "md")
    assert "0.7204" not in text and "0.7116" not in text and "0.8460" not in text and "RefNet" not in text
    # published rows follow the shared filters too
    board = board_for(table, published, metric="map", where=["frames=32"])
    # only the columns that still vary name the variant
    assert [r.keys[0] for r in board.rows if r.published] == ["RefNet (margin 8) †", "RefNet (margin 14) †"]


def test_every_format_renders_cells_marks_and_published(table, published):
    board = board_for(table, published, metric="map")
    best, plain = "0.6100 ± 0.0100 (n=3)", "0.5600 ± 0.0100 (n=3)"  # ucf101 16: ours best, baseline not

    md = render(board, "md", caption="Metric `map`: whole database")
    assert md.startswith("# hashbench leaderboard — metric map") and "Metric `map`" in md
    header = next(line for line in md.splitlines() if line.startswith("| method"))
    cols = [c.strip() for c in header.strip("|").split("|")]
    assert cols == ["method", "ucf101 16-bit", "ucf101 48-bit", "ucf101 64-bit", "hmdb51 16-bit",
                    "hmdb51 48-bit", "jhmdb 16-bit", "jhmdb 48-bit"]
    ours = next(line for line in md.splitlines() if line.startswith("| ours "))
    cells = [c.strip() for c in ours.strip("|").split("|")]
    assert cells[1] == f"**{best}**" and cells[2] == "0.7100 ± 0.0100 (n=3)"
    assert cells[3] == "0.7500 ± 0.0100 (n=3)"  # published CodeNet (0.8460) is best at ucf101 64
    baseline = next(line for line in md.splitlines() if line.startswith("| baseline "))
    assert [c.strip() for c in baseline.strip("|").split("|")][1] == plain
    ref = next(line for line in md.splitlines() if line.startswith("| RefNet (32 frames, margin 14) †"))
    assert "**0.7204**" in ref and ref.count("–") == 6
    assert "† published: Repo README" in md

    rows = list(csv.reader(io.StringIO(render(board, "csv"))))
    assert rows[0][0] == "method" and rows[0][-1] == "source"
    by_label = {r[0]: r for r in rows[1:]}
    assert by_label["ours"][1] == best + "*" and by_label["baseline"][1] == plain
    assert by_label["CodeNet †"][3] == "0.8460*" and by_label["ours"][3] == "0.7500 ± 0.0100 (n=3)"
    assert by_label["ours"][-1] == "local" and by_label["CodeNet †"][-1] == "Codes paper"
    assert by_label["RefNet (32 frames, margin 14) †"][2] == "0.7204*"
    assert by_label["RefNet (32 frames, margin 14) †"][1] == ""

    html = render(board, "html")
    assert f"<b>{best}</b>" in html and f"<b>{plain}</b>" not in html and plain in html
    assert "<b>0.7204</b>" in html and "RefNet (32 frames, margin 14) †" in html
    assert html.count("<tr>") == 1 + len(board.rows)

    latex = render(board, "latex")
    assert r"\begin{tabular}" in latex and r"\end{tabular}" in latex
    assert r"\textbf{0.6100 $\pm$ 0.0100 (n=3)}" in latex and r"0.5600 $\pm$ 0.0100 (n=3) &" in latex
    assert r"RefNet (32 frames, margin 14) $^\dagger$" in latex and r"\textbf{0.7204}" in latex
    assert "±" not in latex and "†" not in latex


def test_labels_are_escaped(tmp_path):
    path = tmp_path / "results.csv"
    append_rows(path, metric_rows({**row_base("ours", "ucf101", 48, 0), "method": "a<b> & 50%_x"},
                                  {"map": 0.5}))
    board = build_leaderboard(read_results(path))
    assert "a&lt;b&gt; &amp; 50%_x" in render(board, "html")
    assert r"a<b> \& 50\%\_x" in render(board, "latex")


def test_real_published_table_keeps_conventions_apart(table):
    """results/published.csv: the original README rows only under map; CSQ rows under their metric."""
    pub = read_published(PUBLISHED)
    c3d = pub[pub["source"] == "Video-Retrieval-C3D README"]
    assert len(c3d) == 10 and set(c3d["metric"]) == {"map"}
    assert set(c3d["selection"]) == {"best epoch on test queries"}
    csq = pub[pub["method"] == "CSQ"]
    assert {(d, m) for d, m in zip(csq["dataset"], csq["metric"])} >= {
        ("ucf101", "map"), ("ucf101", "map@100"), ("hmdb51", "map"), ("hmdb51", "map@70")}
    results = read_results(table)

    board = build_leaderboard(results, pub, metric="map")
    c3d_rows = [r for r in board.rows if r.source == "Video-Retrieval-C3D README"]
    assert {k: v.text() for r in c3d_rows for k, v in r.cells.items() if k == ("ucf101", 64)} == {
        ("ucf101", 64): "0.7724"}
    assert sum(len(r.cells) for r in c3d_rows) == 10
    csq_map = next(r for r in board.rows if r.keys[0] == "CSQ †")
    assert csq_map.cells[("ucf101", 64)].mean == pytest.approx(0.846, abs=0.003)
    assert csq_map.cells[("hmdb51", 64)].mean == pytest.approx(0.490, abs=0.003)

    board = build_leaderboard(results, pub, metric="map@100")
    assert [r.keys[0] for r in board.rows if r.published] == ["CSQ †"]
    csq100 = next(r for r in board.rows if r.published)
    assert set(csq100.cells) == {("ucf101", 64)}
    assert csq100.cells[("ucf101", 64)].mean == pytest.approx(0.874, abs=0.002)
    board = build_leaderboard(results.iloc[0:0], pub, metric="map@70")  # published only
    assert [(r.keys[0], list(r.cells)) for r in board.rows] == [("CSQ †", [("hmdb51", 64)])]
    assert board.rows[0].cells[("hmdb51", 64)].mean == pytest.approx(0.577, abs=0.002)


# -- the CLI ----------------------------------------------------------------------------------------
def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hb(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(HASHBENCH), *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_cli_writes_leaderboard_md_and_never_touches_results(table, published, tmp_path):
    before = sha256(table)
    proc = hb("leaderboard", "--results", str(table), "--published", str(published), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    written = (tmp_path / "LEADERBOARD.md").read_text()
    assert proc.stdout == written
    assert "| ours " in written and "**0.6100 ± 0.0100 (n=3)**" in written and "RefNet" in written
    assert f"from {table}" in written

    # map@100, ucf101, 48/64 bits: ours best at 48 (0.81), published CodeNet best at 64 (0.8738)
    for fmt, ext, probe in [("csv", "csv", "0.8100 ± 0.0100 (n=3)*"),
                            ("latex", "tex", r"\textbf{0.8100 $\pm$ 0.0100 (n=3)}"),
                            ("html", "html", "<b>0.8100 ± 0.0100 (n=3)</b>"), ("md", "md", "**0.8738**")]:
        out = tmp_path / "out" / f"board.{ext}"
        proc = hb("leaderboard", "--results", str(table), "--published", str(published), "--format", fmt,
                  "--metric", "map@100", "--bits", "48,64", "--datasets", "ucf101", "--out", str(out),
                  cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        text = out.read_text()
        assert probe in text and "CodeNet" in text and "RefNet" not in text and "hmdb51" not in text
        assert proc.stdout == ""  # --out: the table goes to the file only
    assert not list((tmp_path / "out").glob(".*tmp"))  # atomic writes leave no temp files
    assert sha256(table) == before


def test_cli_env_default_and_group(table, published, tmp_path, monkeypatch):
    for seed in range(2):
        append_rows(table, metric_rows(row_base("ours", "ucf101", 48, seed, frames=32), {"map": 0.8}))
    before = sha256(table)
    env_cmd = ["env", f"HASHBENCH_RESULTS={table}", str(HASHBENCH), "leaderboard", "--no-published",
               "--group", "method,frames", "--where", "dataset=ucf101", "-f", "csv"]
    proc = subprocess.run(env_cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    assert rows[0] == ["method", "frames", "ucf101 16-bit", "ucf101 48-bit", "ucf101 64-bit", "source"]
    assert ["ours", "32", "", "0.8000 ± 0.0000 (n=2)*", "", "local"] in rows
    assert (tmp_path / "LEADERBOARD.csv").exists() and sha256(table) == before


@pytest.mark.parametrize("args,message", [
    (["--metric", "map@7"], "no results for metric 'map@7'"),
    (["--where", "colour=red"], "unknown column 'colour'"),
    (["--bits", "4x"], "--bits '4x': not an integer"),
    (["--format", "pdf"], "--format 'pdf'"),
    (["--published", "missing.csv"], "published results file missing.csv not found"),
])
def test_cli_errors_are_one_line_exit_2(table, tmp_path, args, message):
    proc = hb("leaderboard", "--results", str(table), *args, cwd=tmp_path)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert not (tmp_path / "LEADERBOARD.md").exists()
