"""The leaderboard's sections: rows grouped by family (from the method's declared ``needs_labels``) and by
evaluation protocol (tags P1, P2, ... with a legend), published rows in their section, no cell across two
protocols; and fit-only rows (ITQ: epoch 0) labelled without the train settings they never used."""
from __future__ import annotations

import csv
import io
import itertools
import tomllib

import pytest

import hashbench
from support import ROOT, run_cli
from hashbench.config import experiment_from_dict
from hashbench.results import RESULT_COLUMNS, append_rows, metric_rows, read_published, read_results
from hashbench.results import families
from hashbench.results.identity import experiment_identity, identity_json
from hashbench.results.leaderboard import build_leaderboard
from hashbench.results.papers import build_papers_table
from hashbench.results.render import render, render_papers

FEATURES = ROOT / "experiments" / "features"
SUPERVISED = FEATURES / "supervised_csq_frames.toml"  # frame_transformer + linear + csq: deep_hashing
UNSUPERVISED = FEATURES / "moving_digits_features_itq.toml"  # itq: fit only
COLUMN = "moving_digits_features"
_IDS = itertools.count()


def add_run(path, toml, value: float, *, seed: int = 0, select: str = "last", epoch: int | None = None,
            **changes) -> None:
    """One run's ``map`` and ``map_over_k@20`` rows from the real identity of ``toml`` with dotted ``changes``
    (``__`` for ``.``), on the FCVID layout (one dataset column for every run)."""
    doc = tomllib.loads(toml.read_text())
    doc["dataset"]["layout"] = "fcvid"
    doc["seed"] = seed
    doc.setdefault("eval", {})["select"] = select
    for dotted, item in changes.items():
        *parents, last = dotted.split("__")
        node = doc
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = item
    exp = experiment_from_dict(doc)
    base = {c: "" for c in RESULT_COLUMNS if c not in ("metric", "value")}
    trained = exp.method_name == "deep_hashing"
    base.update(run_id=f"r{next(_IDS)}", experiment=exp.name, method=exp.method, dataset=COLUMN, bits=32,
                seed=seed, config_hash=exp.config_hash(), device="cpu", data_origin="generated", skipped=0,
                epoch=(exp.train.epochs if trained else 0) if epoch is None else epoch,
                selection="last" if select == "last" else f"best_{select}:map_over_k@5",
                config=identity_json(experiment_identity(exp, hashbench.registry())))
    append_rows(path, metric_rows(base, {"map": value, "map_over_k@20": value / 2}))


@pytest.fixture()
def mixed(tmp_path):
    """csq (supervised) under select=last and select=test, itq (unsupervised) under select=last; 2 seeds."""
    path = tmp_path / "results.csv"
    for seed in (0, 1):
        add_run(path, SUPERVISED, 0.80 + seed / 100, seed=seed)
        add_run(path, SUPERVISED, 0.90 + seed / 100, seed=seed, select="test")
        add_run(path, UNSUPERVISED, 0.30 + seed / 100, seed=seed)
    return path


def test_families_come_from_the_declared_needs_labels(monkeypatch):
    from hashbench.train.deep_method import DeepHashing

    factory = hashbench.registry().get("method", "deep_hashing").factory
    assert getattr(factory, "needs_labels") is DeepHashing.needs_labels is True  # the factory says what it builds
    assert families.method_family("deep_hashing") == "supervised"
    assert families.method_family("itq") == families.method_family("conmh") == "unsupervised"
    assert families.method_family("no_such_method") == "unknown"
    # the rule reads the factory, not a list of names: a factory that declares labels is supervised
    monkeypatch.setattr(hashbench.registry().get("method", "itq").factory, "needs_labels", True, raising=False)
    families._declared.cache_clear()
    try:
        assert families.method_family("itq") == "supervised"
    finally:
        monkeypatch.undo()
        families._declared.cache_clear()
    assert families.published_family("BTH") == "unsupervised"  # a registered method, any case
    assert families.published_family("CSQ") == "supervised"  # a registered loss: deep_hashing's family
    assert families.published_family("Video-Retrieval-C3D") == "unknown"
    assert families.published_family("Video-Retrieval-C3D", "supervised") == "supervised"  # the CSV's column


def test_two_families_and_two_protocols_are_sections_and_no_cell_mixes_protocols(mixed):
    board = build_leaderboard(read_results(mixed), None)
    # P1 is the protocol of the first row shown (csq's select=test row sorts first: its identity says "test")
    assert [(r.family, board.protocol_tag(r.protocol)) for r in board.rows] == [
        ("supervised", "P1"), ("supervised", "P2"), ("unsupervised", "P2")]
    assert board.protocols == ["select=test on map_over_k@5", "select=last"]
    for row in board.rows:  # every cell: the two seeds of one protocol, never a run of the other
        cell = row.cells[(COLUMN, 32)]
        assert cell.n == 2 and not cell.mixed
    sup_test, sup_last, itq = board.rows
    assert sup_last.cells[(COLUMN, 32)].mean == pytest.approx(0.805)
    assert sup_test.cells[(COLUMN, 32)].mean == pytest.approx(0.905)
    md = render(board, "md")
    headings = [line.split("|")[1].strip() for line in md.splitlines() if line.startswith("| **")]
    assert headings == ["**supervised · P1**", "**supervised · P2**", "**unsupervised · P2**"]
    assert "P1 = select=test on map_over_k@5; P2 = select=last" in md
    assert r"\textit{unsupervised $\cdot$ P2}" in render(board, "latex")
    assert "<b>supervised · P2</b>" in render(board, "html")
    flat = build_leaderboard(read_results(mixed), None, sections=False)
    assert flat.protocols == [] and "**supervised" not in render(flat, "md")


def test_published_rows_sit_in_their_family_and_protocol(mixed, tmp_path):
    published = tmp_path / "published.csv"
    published.write_text(
        "source,method,dataset,bits,metric,value,selection,family\n"
        f"A paper,BTH,{COLUMN},32,map,0.5,last epoch,\n"  # a registered method: unsupervised
        f"B paper,Other,{COLUMN},32,map,0.6,best_test:map_over_k@5,supervised\n"  # its CSV says supervised
        f"C paper,Mystery,{COLUMN},32,map,0.7,released model,\n")
    board = build_leaderboard(read_results(mixed), read_published(published))
    shown = [(r.label.split(" ")[0], r.family, board.protocol_tag(r.protocol)) for r in board.rows]
    assert shown == [("frame_transformer+linear+csq,", "supervised", "P1"), ("Other", "supervised", "P1"),
                     ("frame_transformer+linear+csq,", "supervised", "P2"),
                     ("itq,", "unsupervised", "P2"), ("BTH", "unsupervised", "P2"),
                     ("Mystery", "unknown", "P3")]
    assert board.protocols[2] == "selection: released model"


def test_papers_layout_has_the_same_sections(mixed):
    table = build_papers_table(read_results(mixed), None)
    block = table.blocks[0]
    assert [table.section_title(r) for r in block.rows] == ["supervised · P1", "supervised · P2",
                                                             "unsupervised · P2"]
    md = render_papers(table, "md")
    assert md.count("| **supervised · P") == 2 and "P1 = select=test on map_over_k@5" in md
    rows = list(csv.DictReader(io.StringIO(render_papers(table, "csv"))))
    assert [(r["family"], r["protocol"]) for r in rows] == [
        ("supervised", "select=test on map_over_k@5"), ("supervised", "select=last"), ("unsupervised", "select=last")]


def test_a_fit_only_row_names_no_train_setting(tmp_path):
    path = tmp_path / "results.csv"
    add_run(path, SUPERVISED, 0.8, train__epochs=3)
    add_run(path, SUPERVISED, 0.7, train__epochs=5, train__optimizer__lr=0.01)
    add_run(path, UNSUPERVISED, 0.3, seed=0, train__epochs=3)  # the train settings of a fit-only run: unused
    add_run(path, UNSUPERVISED, 0.4, seed=1, train__epochs=7, train__optimizer__lr=0.5)
    board = build_leaderboard(read_results(path), None)
    labels = [r.label for r in board.rows]
    assert labels[:2] == ["frame_transformer+linear+csq, 3 ep, lr=0.001",
                          "frame_transformer+linear+csq, 5 ep, lr=0.01"], labels
    assert labels[2] == "itq"  # no "3 ep", no "lr=": one experiment, its two seeds in one cell
    assert board.rows[2].cells[(COLUMN, 32)].n == 2


def test_cli_prints_sections_and_csv_columns(mixed, tmp_path):
    proc = run_cli("leaderboard", "--results", str(mixed), "--no-published", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "| **supervised · P1** " in proc.stdout and "| **unsupervised · P2** " in proc.stdout
    assert "| **reference** " in proc.stdout or "random codes" not in proc.stdout
    proc = run_cli("leaderboard", "--results", str(mixed), "--no-published", "-f", "csv", "--no-sections",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [r["family"] for r in rows] == ["", "", ""]  # --no-sections: one flat list
    proc = run_cli("leaderboard", "--results", str(mixed), "--no-published", "-f", "csv", cwd=tmp_path)
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [(r["family"], r["protocol"]) for r in rows] == [
        ("supervised", "select=test on map_over_k@5"), ("supervised", "select=last"), ("unsupervised", "select=last")]
