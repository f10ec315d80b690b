"""The leaderboard: pivot, mean ± std over seeds, best marks, published rows per metric, every format, CLI.

The first part uses tables of hashbench 0.1 (no ``config`` column values: rows grouped by method); the
second part builds rows with real experiment identities (``config``) and checks which runs may share a
cell, row labels, dataset/custom columns and when ``LEADERBOARD.md`` is written.
"""
from __future__ import annotations

import copy
import csv
import hashlib
import io
import itertools
import json
import os
import re
import tomllib
from pathlib import Path

import pytest

import hashbench
from support import ROOT, run_cli, tiny_experiment_text
from hashbench.config import experiment_from_dict
from hashbench.errors import ResultsError
from hashbench.results.identity import experiment_identity, identity_json
from hashbench.results.leaderboard import build_leaderboard, identity_labels
from hashbench.results.render import render
from hashbench.results import RESULT_COLUMNS, append_rows, metric_rows, read_published, read_results

PUBLISHED = ROOT / "hashbench" / "results" / "published.csv"

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
    assert not any(c.best for c in board.rows[0].cells.values())  # one entry per column: no best
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
    assert rows[0][0] == "method" and rows[0][-3:] == ["source", "family", "protocol"]
    by_label = {r[0]: r for r in rows[1:]}
    assert by_label["ours"][1] == best + "*" and by_label["baseline"][1] == plain
    assert by_label["CodeNet †"][3] == "0.8460*" and by_label["ours"][3] == "0.7500 ± 0.0100 (n=3)"
    assert by_label["ours"][-3:] == ["local", "supervised", "select=last"]  # a 0.1 row: a triple
    assert by_label["CodeNet †"][-3:] == ["Codes paper", "unknown", "selection: released model"]
    assert by_label["RefNet (32 frames, margin 14) †"][2] == "0.7204*"
    assert by_label["RefNet (32 frames, margin 14) †"][1] == ""

    html = render(board, "html")
    assert f"<b>{best}</b>" in html and f"<b>{plain}</b>" not in html and plain in html
    assert "<b>0.7204</b>" in html and "RefNet (32 frames, margin 14) †" in html
    sections = len({(r.family, r.protocol) for r in board.rows})  # supervised (the 0.1 rows) + 2 published
    assert sections == 3 and html.count("<tr>") == 1 + sections + len(board.rows)

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


def hb(*args: str, cwd: Path, env: dict | None = None):
    return run_cli(*args, cwd=cwd, env=env, timeout=120)


def test_cli_writes_leaderboard_md_and_never_touches_results(table, published, tmp_path):
    before = sha256(table)
    proc = hb("leaderboard", "--results", str(table), "--published", str(published), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    written = (tmp_path / "LEADERBOARD.md").read_text()
    assert proc.stdout == written
    assert "| ours " in written and "**0.6100 ± 0.0100 (n=3)**" in written and "RefNet" in written
    assert f"from {table}" in written

    # map@100, ucf101, 48/64 bits: ours best at 48 (0.81); at 64 the rows of --published (CodeNet 0.8738)
    # sit beside the shipped ones, and the shipped CSQ codes (0.8740) are best
    for fmt, ext, probe in [("csv", "csv", "0.8100 ± 0.0100 (n=3)*"),
                            ("latex", "tex", r"\textbf{0.8100 $\pm$ 0.0100 (n=3)}"),
                            ("html", "html", "<b>0.8100 ± 0.0100 (n=3)</b>"), ("md", "md", " 0.8738 |"),
                            ("md", "md", "| CSQ † ")]:
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


def test_cli_env_default_and_group(table, published, tmp_path):
    for seed in range(2):
        append_rows(table, metric_rows(row_base("ours", "ucf101", 48, seed, frames=32), {"map": 0.8}))
    before = sha256(table)
    proc = hb("leaderboard", "--no-published", "--group", "method,frames", "--where", "dataset=ucf101",
              "-f", "csv", cwd=tmp_path, env={"HASHBENCH_RESULTS": str(table)})
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    assert rows[0] == ["method", "frames", "ucf101 16-bit", "ucf101 48-bit", "ucf101 64-bit", "source", "family",
                       "protocol"]
    assert ["ours", "32", "", "0.8000 ± 0.0000 (n=2)*", "", "local", "", ""] in rows  # --group: no sections
    # a filtered, non-md view is printed only: neither LEADERBOARD.csv nor LEADERBOARD.md is written
    assert not list(tmp_path.glob("LEADERBOARD.*")) and sha256(table) == before
    assert "not written" in proc.stderr


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


# -- rows with real experiment identities ------------------------------------------------------------
_RUN_IDS = itertools.count()
UCF = {"name": "ucf101", "root": "/data/UCF-101"}  # the root is a placement key: not in the identity


def experiment(changes: dict | None = None):
    """The tiny test experiment with dotted-key ``changes`` (a whole table may be replaced)."""
    doc = tomllib.loads(tiny_experiment_text())
    for dotted, value in (changes or {}).items():
        *parents, last = dotted.split(".")
        node = doc
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = copy.deepcopy(value)
    return experiment_from_dict(doc)


def add_run(path: Path, value: float, *, seed: int = 0, origin: str = "generated", skipped: int | None = 0,
            checksum: str = "0123456789abcdef", epoch: int | None = None, extra: float = 0.1,
            **changes) -> str:
    """Append one run's rows (map = value, map@10 = value + extra) built from a real identity.

    ``changes`` are dotted experiment keys with ``__`` for ``.`` (``train__epochs=1``).
    """
    exp = experiment({k.replace("__", "."): v for k, v in changes.items()} | {"seed": seed})
    run_id = f"run{next(_RUN_IDS):04d}"
    base = {c: "" for c in RESULT_COLUMNS if c not in ("metric", "value")}
    base.update(run_id=run_id, time="2024-01-01T00:00:00+00:00", experiment=exp.name, method=exp.method,
                dataset=str(exp.dataset["name"]), split="1", data_checksum=checksum,
                backbone=str(exp.backbone["name"]), head=str(exp.head["name"]), loss=str(exp.loss["name"]),
                bits=int(exp.head["bits"]), frames=int(exp.dataset.get("num_frames", 8)),
                epoch=exp.train.epochs if epoch is None else epoch, selection="last", seed=seed,
                config_hash=exp.config_hash(), device="cpu", data_origin=origin, skipped=skipped,
                config=identity_json(experiment_identity(exp, hashbench.registry())))
    append_rows(path, metric_rows(base, {"map": value, "map@10": value + extra}))
    return run_id


def labels_of(board) -> list[str]:
    return [r.keys[0] for r in board.rows]


def md_header(md: str) -> list[str]:
    line = next(line for line in md.splitlines() if line.startswith("| method"))
    return [c.strip() for c in line.strip("|").split("|")]


def md_cells(md: str, label: str) -> list[str]:
    line = next(line for line in md.splitlines() if line.startswith(f"| {label} "))
    return [c.strip() for c in line.strip("|").split("|")][1:]


DEFAULT = "r3d18+tanh+batch_all_triplet"


def test_runs_differing_in_epochs_are_two_rows_labelled_with_their_epochs(tmp_path):
    path = tmp_path / "results.csv"
    for seed, value in enumerate((0.30, 0.34)):
        add_run(path, value, seed=seed, train__epochs=20)
    add_run(path, 0.10, train__epochs=2)  # same everything else, one seed
    board = build_leaderboard(read_results(path))
    assert labels_of(board) == [f"{DEFAULT}, 2 ep", f"{DEFAULT}, 20 ep"]  # 2 before 20 (numbers)
    assert board.cell(f"{DEFAULT}, 2 ep", "moving_digits", 16).text() == "0.1000"
    assert board.cell(f"{DEFAULT}, 20 ep", "moving_digits", 16).text() == "0.3200 ± 0.0283 (n=2)"
    assert not any(c.mixed for r in board.rows for c in r.cells.values())
    # cosine's t_max follows the epochs by default: not a second difference to name
    path2 = tmp_path / "cosine.csv"
    for epochs in (1, 20):
        add_run(path2, 0.2, train__epochs=epochs, train__scheduler={"name": "cosine"})
    assert labels_of(build_leaderboard(read_results(path2))) == [f"{DEFAULT}, 1 ep", f"{DEFAULT}, 20 ep"]
    add_run(path2, 0.3, train__epochs=20, train__scheduler={"name": "cosine", "t_max": 10})
    assert labels_of(build_leaderboard(read_results(path2))) == [
        f"{DEFAULT}, 1 ep, t_max=1", f"{DEFAULT}, 20 ep, t_max=10", f"{DEFAULT}, 20 ep, t_max=20"]


def test_seeds_of_one_identity_average_into_one_cell(tmp_path):
    path = tmp_path / "results.csv"
    for seed, value in enumerate((0.40, 0.50, 0.60)):
        add_run(path, value, seed=seed)
    board = build_leaderboard(read_results(path))
    assert labels_of(board) == [DEFAULT]  # nothing differs: the plain method label
    cell = board.cell(DEFAULT, "moving_digits", 16)
    assert (cell.n, cell.text()) == (3, "0.5000 ± 0.1000 (n=3)") and not cell.mixed
    # a rerun of (identity, seed 0) replaces the earlier run, even under another label
    add_run(path, 0.70, seed=0, label="ours")
    board = build_leaderboard(read_results(path))
    assert labels_of(board) == ["ours"]  # the row is named by its latest run
    assert board.cell("ours", "moving_digits", 16).text() == "0.6000 ± 0.1000 (n=3)"
    # the same experiment on other data (lists are not in the identity) is not a rerun
    add_run(path, 0.99, seed=0, origin="custom", checksum="ffffeeee00001111", label="ours")
    board = build_leaderboard(read_results(path))
    cell = board.cell("ours", "moving_digits", 16)
    assert cell.n == 3 and cell.mean == pytest.approx(0.6)
    assert board.cell("ours", "moving_digits (custom lists ffffeeee)", 16).text() == "0.9900"


def test_custom_list_run_never_in_the_official_column(tmp_path, published):
    path = tmp_path / "results.csv"
    add_run(path, 0.70, origin="official", checksum="aaaabbbbccccdddd", dataset=UCF, head__bits=48)
    add_run(path, 0.95, origin="custom", skipped=3, checksum="1a2b3c4d5e6f7a8b", dataset=UCF, head__bits=48)
    add_run(path, 0.90, origin="official", skipped=2, checksum="9f8e7d6c5b4a3928", dataset=UCF, head__bits=48)
    board = build_leaderboard(read_results(path), read_published(published), datasets=["ucf101"], bits=[48])
    assert board.columns == [("ucf101", 48), ("ucf101 (custom lists 1a2b3c4d)", 48),
                             ("ucf101 (custom lists 9f8e7d6c)", 48)]
    local = board.row(DEFAULT)  # one experiment: the lists are data, not identity
    assert {k: c.text() for k, c in local.cells.items()} == {
        ("ucf101", 48): "0.7000", ("ucf101 (custom lists 1a2b3c4d)", 48): "0.9500",
        ("ucf101 (custom lists 9f8e7d6c)", 48): "0.9000"}
    for row in board.rows:
        if row.published:  # published numbers only ever in the plain column
            assert set(row.cells) <= {("ucf101", 48)}
    ref = board.cell("RefNet (32 frames) †", "ucf101", 48)
    assert ref.text() == "0.7204" and ref.best and not local.cells[("ucf101", 48)].best
    assert not local.cells[("ucf101 (custom lists 1a2b3c4d)", 48)].best  # alone in its column
    assert "ucf101 (custom lists 1a2b3c4d): 3 listed videos skipped" in "\n".join(board.notes)
    assert "ucf101 (custom lists 9f8e7d6c): 2 listed videos skipped" in "\n".join(board.notes)
    md = render(board, "md")
    # the header stays short: a column set apart by its data is footnoted, its full name in the legend
    assert md_header(md) == ["method", "ucf101 48-bit", "ucf101 [1] 48-bit", "ucf101 [2] 48-bit"]
    assert "- [1] ucf101 (custom lists 1a2b3c4d)\n- [2] ucf101 (custom lists 9f8e7d6c)\n" in md
    assert "- ucf101 (custom lists 1a2b3c4d): 3 listed videos skipped" in md
    csv_header = next(csv.reader(io.StringIO(render(board, "csv"))))  # csv: full names, no legend
    assert csv_header[2:4] == ["ucf101 (custom lists 1a2b3c4d) 48-bit", "ucf101 (custom lists 9f8e7d6c) 48-bit"]


def test_width_named_only_when_widths_differ(tmp_path):
    path = tmp_path / "results.csv"
    add_run(path, 0.5, backbone={"name": "r3d18", "width": 32}, train__epochs=20)
    add_run(path, 0.6, backbone={"name": "r3d18"}, train__epochs=20)  # width unset == its default 64
    add_run(path, 0.4, backbone={"name": "r3d18", "width": 32}, train__epochs=1)
    board = build_leaderboard(read_results(path))
    assert labels_of(board) == ["r3d18(width=32)+tanh+batch_all_triplet, 1 ep",
                                "r3d18(width=32)+tanh+batch_all_triplet, 20 ep",
                                "r3d18(width=64)+tanh+batch_all_triplet, 20 ep"]
    same = tmp_path / "same.csv"
    for epochs in (1, 20):
        add_run(same, 0.5, backbone={"name": "r3d18", "width": 32}, train__epochs=epochs)
    assert labels_of(build_leaderboard(read_results(same))) == [f"{DEFAULT}, 1 ep", f"{DEFAULT}, 20 ep"]


def test_component_keys_compared_per_plugin_and_user_labels(tmp_path):
    path = tmp_path / "results.csv"
    # a margin sweep labels its points itself: the margin is not repeated
    for margin in (8, 14):
        add_run(path, 0.5, loss={"name": "batch_all_triplet", "margin": margin},
                label=f"{DEFAULT} [margin={margin}]")
    add_run(path, 0.6)  # margin 4
    add_run(path, 0.7, label="ours", train__optimizer={"name": "sgd", "lr": 0.01})
    board = build_leaderboard(read_results(path))
    assert labels_of(board) == [
        # a user label: the differing component settings follow in brackets
        "ours [r3d18+tanh+batch_all_triplet(margin=4)], optimizer=sgd, lr=0.01",
        "r3d18+tanh+batch_all_triplet(margin=4), optimizer=adam, lr=0.001",
        f"{DEFAULT} [margin=8], optimizer=adam, lr=0.001",  # 8 before 14
        f"{DEFAULT} [margin=14], optimizer=adam, lr=0.001",
    ]
    # optimizer keys other than lr are compared among rows of the same optimizer only: sgd's momentum
    # and adam's betas are no difference to name


def test_dataset_variant_columns(tmp_path, published):
    path = tmp_path / "results.csv"
    add_run(path, 0.5, dataset=UCF | {"num_frames": 16}, head__bits=48, origin="official")
    add_run(path, 0.6, dataset=UCF | {"num_frames": 32}, head__bits=48, origin="official")
    add_run(path, 0.3)  # moving_digits: one variant -> the plain column
    board = build_leaderboard(read_results(path), read_published(published), bits=[16, 48])
    assert board.columns == [("ucf101", 48), ("ucf101 (num_frames=16)", 48), ("ucf101 (num_frames=32)", 48),
                             ("hmdb51", 48), ("moving_digits", 16)]
    local = board.row(DEFAULT)
    assert set(local.cells) == {("ucf101 (num_frames=16)", 48), ("ucf101 (num_frames=32)", 48),
                                ("moving_digits", 16)}
    assert {k for r in board.rows if r.published for k in r.cells} == {("ucf101", 48), ("hmdb51", 48)}
    # moving_digits with another noise level: two variant columns, never one cell
    add_run(path, 0.1, dataset__noise=20.0)
    board = build_leaderboard(read_results(path), datasets=["moving_digits"])
    assert board.columns == [("moving_digits (noise=0.0)", 16), ("moving_digits (noise=20.0)", 16)]
    assert [c.text() for c in board.row(DEFAULT).cells.values()] == ["0.3000", "0.1000"]
    assert any(n.startswith("Columns moving_digits (noise=0.0), moving_digits (noise=20.0)")
               for n in board.notes)


def test_labels_are_unique_in_tricky_cases(tmp_path):
    ident = experiment_identity(experiment(), hashbench.registry())
    one, text_one = {**ident, "train.extra": 1}, {**ident, "train.extra": "1"}  # both print as "1"
    two_ep, three_ep = {**ident, "train.epochs": 2}, {**ident, "train.epochs": 3}
    rows = [(DEFAULT, one), (DEFAULT, text_one), (DEFAULT, two_ep), (DEFAULT, three_ep),
            (f"{DEFAULT}, 2 ep, extra=unset", None)]  # a 0.1 row whose method reads like a label
    labels = identity_labels(rows)
    assert len(set(labels)) == len(rows)
    assert labels[3] == f"{DEFAULT}, 3 ep"  # extra is absent in this row: not named
    for i in (0, 1):  # the clashing ones carry a hash of their identity
        assert re.fullmatch(r".+ #[0-9a-f]{6}", labels[i]), labels[i]
    assert all(label.startswith(f"{DEFAULT}, 2 ep, extra=1 #") for label in labels[:2])
    assert identity_labels(rows) == labels  # deterministic
    # short names stay unambiguous: two keys ending in the same segment keep their parents
    nested = [(DEFAULT, {**ident, "backbone.a.x": 1, "backbone.b.x": 1}),
              (DEFAULT, {**ident, "backbone.a.x": 2, "backbone.b.x": 3})]
    assert identity_labels(nested) == ["r3d18(a.x=1, b.x=1)+tanh+batch_all_triplet",
                                       "r3d18(a.x=2, b.x=3)+tanh+batch_all_triplet"]
    # through the table, with hand-written config JSON
    path = tmp_path / "results.csv"
    for i, (method, config) in enumerate(rows[:4]):
        base = {c: "" for c in RESULT_COLUMNS if c not in ("metric", "value")}
        base.update(run_id=f"r{i}", method=method, dataset="moving_digits", bits=16, seed=0,
                    config=json.dumps(config, sort_keys=True, separators=(",", ":")), data_origin="generated")
        append_rows(path, metric_rows(base, {"map": 0.1 * (i + 1)}))
    board = build_leaderboard(read_results(path))
    assert len(set(labels_of(board))) == 4 and all(len(r.cells) == 1 for r in board.rows)


def test_bold_only_where_a_column_has_two_entries(tmp_path):
    path = tmp_path / "results.csv"
    add_run(path, 0.5, train__epochs=1)
    add_run(path, 0.6, train__epochs=2)
    add_run(path, 0.2, train__epochs=2, head__bits=32)  # alone in its column
    board = build_leaderboard(read_results(path))
    assert board.cell(f"{DEFAULT}, 2 ep", "moving_digits", 16).best
    assert not board.cell(f"{DEFAULT}, 1 ep", "moving_digits", 16).best
    assert not board.cell(f"{DEFAULT}, 2 ep", "moving_digits", 32).best
    md = render(board, "md")
    assert md_header(md) == ["method", "moving_digits 16-bit", "moving_digits 32-bit"]
    assert md_cells(md, f"{DEFAULT}, 1 ep") == ["0.5000", "–"]
    assert md_cells(md, f"{DEFAULT}, 2 ep") == ["**0.6000**", "0.2000"]
    assert render(board, "csv").count("*") == 1


def test_group_by_numeric_columns_sorts_numbers(tmp_path):
    path = tmp_path / "results.csv"
    for epoch, value in ((10, 0.5), (2, 0.4)):
        add_run(path, value, epoch=epoch, train__epochs=epoch)
    board = build_leaderboard(read_results(path), group=["method", "epoch"])
    assert [r.keys for r in board.rows] == [(DEFAULT, "2"), (DEFAULT, "10")]
    for col, values in (("seed", (10, 2, 1)), ("skipped", (12, 3))):
        table = tmp_path / f"{col}.csv"
        for v in values:
            add_run(table, 0.5, **({"seed": v} if col == "seed" else
                                   {"skipped": v, "origin": "custom", "checksum": f"{v:016d}"}))
        keys = [r.keys[1] for r in build_leaderboard(read_results(table), group=["method", col]).rows]
        assert keys == [str(v) for v in sorted(values)]
    proc = run_cli("leaderboard", "--results", str(path), "--group", "method,epoch", "-f", "csv", "--no-published",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [r[:2] for r in csv.reader(io.StringIO(proc.stdout))][1:] == [[DEFAULT, "2"], [DEFAULT, "10"]]


def test_group_that_merges_experiments_flags_the_cell(tmp_path):
    path = tmp_path / "results.csv"
    add_run(path, 0.2, train__epochs=1)
    add_run(path, 0.6, seed=1, train__epochs=20)
    merged = build_leaderboard(read_results(path), group=["method", "frames"])
    cell = merged.rows[0].cells[("moving_digits", 16)]
    assert cell.mixed and cell.n == 2 and cell.text().endswith("‡")
    assert any(n.startswith("‡") for n in merged.notes)
    apart = build_leaderboard(read_results(path))
    assert not any(c.mixed for r in apart.rows for c in r.cells.values())
    assert not any(n.startswith("‡") for n in apart.notes)


def test_table_of_0_1_keeps_method_labels_beside_identity_rows(tmp_path):
    path = tmp_path / "results.csv"
    for seed in range(2):
        append_rows(path, metric_rows(row_base("ours", "ucf101", 48, seed), {"map": 0.5 + 0.1 * seed}))
    add_run(path, 0.7, dataset=UCF, head__bits=48, origin="official")
    board = build_leaderboard(read_results(path))
    assert labels_of(board) == ["ours", DEFAULT]
    assert board.cell("ours", "ucf101", 48).text() == "0.5500 ± 0.0707 (n=2)"
    assert board.cell(DEFAULT, "ucf101", 48).best
    assert any("hashbench 0.1" in n for n in board.notes)


def test_cli_writes_leaderboard_md_only_for_the_default_view_or_out(tmp_path):
    results_dir = tmp_path / "tmp"
    results = results_dir / "results.csv"
    add_run(results, 0.10, train__epochs=1)
    add_run(results, 0.30, train__epochs=20, head__bits=48)
    default = results_dir / "LEADERBOARD.md"

    proc = hb("leaderboard", "--results", str(results), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert default.read_text() == proc.stdout and f"wrote {default}" in proc.stderr
    assert f"| {DEFAULT}, 1 ep " in proc.stdout and f"| {DEFAULT}, 20 ep " in proc.stdout

    default.write_text("kept\n")
    os.utime(default, (1_000_000_000, 1_000_000_000))
    for args in (["--bits", "16"], ["--datasets", "moving_digits"], ["--where", "seed=0"],
                 ["--group", "method,frames"], ["-m", "map@10"], ["-f", "csv"], ["--no-published"]):
        proc = hb("leaderboard", "--results", str(results), *args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "moving_digits" in proc.stdout  # the view is printed
        assert "not written" in proc.stderr and "--out" in proc.stderr
        assert default.read_text() == "kept\n" and default.stat().st_mtime == 1_000_000_000, args
    assert [p.name for p in results_dir.glob("LEADERBOARD*")] == ["LEADERBOARD.md"]
    assert not list(tmp_path.glob("LEADERBOARD*"))

    out = tmp_path / "views" / "bits16.md"
    proc = hb("leaderboard", "--results", str(results), "--bits", "16", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and "16-bit" in out.read_text() and "48-bit" not in out.read_text()
    assert default.read_text() == "kept\n"

    proc = hb("leaderboard", "--results", str(results), cwd=tmp_path)  # the default view again
    assert proc.returncode == 0 and default.read_text() == proc.stdout

    help_text = " ".join(hb("leaderboard", "--help", cwd=tmp_path).stdout.split())
    assert "LEADERBOARD.md" in help_text and "a filtered view never overwrites that file" in help_text


def test_leaderboard_top1_shows_the_published_classification_rows(tmp_path, table):
    """``hashbench leaderboard -m top1``: the shipped classification numbers (no code length) in plain
    dataset columns, next to a local classification row of the same metric."""
    pub = read_published(PUBLISHED)
    top1 = pub[pub["metric"] == "top1"]
    assert sorted(zip(top1["method"], top1["dataset"], top1["value"])) == [
        ("3D ResNet-50 (Hara)", "hmdb51", 0.61), ("3D ResNet-50 (Hara)", "ucf101", 0.893),
        ("Video_Classification_ResNet3D", "hmdb51", 0.5319), ("Video_Classification_ResNet3D", "ucf101", 0.8157)]
    assert top1["bits"].isna().all()
    path = tmp_path / "results.csv"
    append_rows(path, metric_rows(row_base("ours", "ucf101", 48, 0), {"top1": 0.5}))
    proc = run_cli("leaderboard", "-m", "top1", "--results", str(path), "--published", str(PUBLISHED),
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    header = next(line for line in lines if line.startswith("| method"))
    assert [c.strip() for c in header.strip("|").split("|")] == ["method", "ucf101", "ucf101 48-bit", "hmdb51"]
    hara = next(line for line in lines if line.startswith("| 3D ResNet-50 (Hara) †"))
    assert "**0.8930**" in hara and "**0.6100**" in hara
    vc = next(line for line in lines if line.startswith("| Video_Classification_ResNet3D †"))
    assert "0.8157" in vc and "0.5319" in vc
    assert "0.5000" in next(line for line in lines if line.startswith("| ours"))


def test_columns_set_apart_by_dataset_settings_get_short_headers_and_a_legend(tmp_path):
    """Issue 17: the demo's columns were named by every dataset setting (700-character lines)."""
    path = tmp_path / "results.csv"
    add_run(path, 0.3, dataset__noise=10.0, dataset__clips_per_class=20, dataset__queries_per_class=8)
    add_run(path, 0.2, dataset__noise=20.0, dataset__clips_per_class=10, dataset__queries_per_class=4)
    add_run(path, 0.4, head__bits=32, dataset__noise=10.0, dataset__clips_per_class=20, dataset__queries_per_class=8)
    board = build_leaderboard(read_results(path))
    long_names = ["moving_digits (clips_per_class=10, noise=20.0, queries_per_class=4)",
                  "moving_digits (clips_per_class=20, noise=10.0, queries_per_class=8)"]
    assert sorted({c for c, _ in board.columns}) == long_names
    md = render(board, "md")
    assert md_header(md) == ["method", "moving_digits [1] 16-bit", "moving_digits [2] 16-bit",
                             "moving_digits [2] 32-bit"]
    assert f"- [1] {long_names[0]}\n- [2] {long_names[1]}\n" in md
    for fmt in ("html", "latex"):
        text = render(board, fmt)
        assert "digits [1] 16-bit" in text and "[1] moving" in text and "=8) 32-bit" not in text
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert max(map(len, table)) < 130  # was over 250 with the settings in the header
    assert board.column_label(board.columns[0]) == f"{long_names[0]} 16-bit"  # the data keeps the full name


def _codes_for(runs: Path, experiment: str, run_id: str, bits: int, classes: int = 4) -> None:
    """A run directory's codes.npz: balanced labels, 12 queries and 48 database items."""
    import numpy as np
    from hashbench.codes import save_codes
    from hashbench.results.rundir import RunDir

    rng = np.random.default_rng(7)
    ql, dl = np.arange(12) % classes, np.arange(48) % classes
    save_codes(RunDir.for_run(runs, experiment, run_id).codes_path, query_codes=rng.choice([-1, 1], (12, bits)),
               query_labels=ql, db_codes=rng.choice([-1, 1], (48, bits)), db_labels=dl)


def test_random_codes_reference_row_and_ratios(tmp_path):
    """The leaderboard scores random codes on the labels of each column's latest run and shows every
    cell's ratio to it; a column without a run directory has no reference."""
    import numpy as np
    from hashbench.results.chance import random_codes_score

    path = tmp_path / "results.csv"
    first = add_run(path, 0.6)
    add_run(path, 0.9, head__bits=32)  # no run directory: no reference in its column
    _codes_for(tmp_path / "runs", "tiny", first, 16)
    chance = random_codes_score(np.arange(12) % 4, np.arange(48) % 4, 16, "map")
    assert 0.2 < chance < 0.45  # 4 balanced classes: about 1/4
    proc = hb("leaderboard", "--results", str(path), "--no-published", "-f", "csv", "--runs-dir", "runs",
              cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    assert rows[0] == ["method", "moving_digits 16-bit", "moving_digits 32-bit", "source", "family", "protocol"]
    assert rows[1][1:3] == [f"0.6000 ({0.6 / chance:.1f}x)", "0.9000"]
    assert rows[2] == ["random codes", f"{chance:.4f}", "", "reference: random codes", "", ""]  # never marked best
    md = hb("leaderboard", "--results", str(path), "--no-published", "--runs-dir", "runs", cwd=tmp_path).stdout
    assert md_cells(md, "random codes") == [f"{chance:.4f}", "–"] and "- random codes: the map of random" in md
    # the same labels always give the same reference: seeds are fixed
    assert random_codes_score(np.arange(12) % 4, np.arange(48) % 4, 16, "map") == chance
    none = hb("leaderboard", "--results", str(path), "--no-published", "--runs-dir", "elsewhere", cwd=tmp_path)
    assert none.returncode == 0 and "random codes" not in none.stdout and "x)" not in none.stdout
