"""The papers' table (methods x K per dataset/bits block) and its mAP@K-over-K plot, from results rows built with
real experiment identities (the shipped feature experiment with [eval] protocol = "ssvh") and the shipped
published rows."""
from __future__ import annotations

import tomllib

import pytest

import hashbench
from support import ROOT
from hashbench.config import experiment_from_dict
from hashbench.errors import ResultsError
from hashbench.results import RESULT_COLUMNS, append_rows, metric_rows, read_results
from hashbench.results.identity import experiment_identity, identity_json
from hashbench.results.papers import TEST_SELECTED_MARK, build_papers_table
from hashbench.results.published import published_rows
from hashbench.results.render import render_papers

SSVH_K = (5, 10, 20, 40, 60, 80, 100)
DATASET = "moving_digits_features"
TOML = ROOT / "experiments" / "features" / "moving_digits_features_itq.toml"


def value_of(method: str, bits: int, k: int, seed: int) -> float:
    """A made-up but distinct number per run and K (falls with K, as in every paper)."""
    return round(0.6 - k / 400 + bits / 1000 + (0.05 if method == "itq" else 0.0) + seed / 100, 6)


def add_run(path, method: str, bits: int, seed: int, select: str = "last") -> None:
    doc = tomllib.loads(TOML.read_text())
    doc["method"] = {"name": method, "bits": bits}
    doc["eval"] = {"protocol": "ssvh", "select": select}
    doc["seed"] = seed
    exp = experiment_from_dict(doc)
    base = {c: "" for c in RESULT_COLUMNS if c not in ("metric", "value")}
    base.update(run_id=f"{method}-{bits}-{seed}-{select}", experiment=exp.name, method=method, dataset=DATASET,
                bits=bits, seed=seed, config_hash=exp.config_hash(), device="cpu", data_origin="generated",
                skipped=0, selection="last" if select == "last" else f"best_{select}:map_over_k@5",
                config=identity_json(experiment_identity(exp, hashbench.registry())))
    append_rows(path, metric_rows(base, {f"map_over_k@{k}": value_of(method, bits, k, seed) for k in SSVH_K}))


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    path = tmp_path_factory.mktemp("papers") / "results.csv"
    for method in ("itq", "lsh"):
        for bits in (16, 32):
            for seed in (0, 1):
                add_run(path, method, bits, seed)
    return read_results(path)


def test_blocks_are_dataset_and_bits_and_columns_are_k(results):
    table = build_papers_table(results, None)
    assert [(b.column, b.bits) for b in table.blocks] == [(DATASET, 16), (DATASET, 32)]
    assert table.ks == list(SSVH_K)
    block = table.block(DATASET, 32)
    assert [r.label for r in block.rows] == ["itq", "lsh"] and not any(r.published for r in block.rows)
    for row in block.rows:
        for k in SSVH_K:
            cell = row.cells[k]
            expected = (value_of(row.label, 32, k, 0) + value_of(row.label, 32, k, 1)) / 2
            assert cell.n == 2 and cell.mean == pytest.approx(expected)
            assert cell.best == (row.label == "itq")  # itq is 0.05 higher at every K


def test_published_rows_sit_after_hashbench_rows_marked_and_flagged(results):
    table = build_papers_table(results, published_rows(), datasets=[DATASET, "fcvid"], bits=[16, 64])
    assert [b.title for b in table.blocks] == ["fcvid 16-bit", "fcvid 64-bit", f"{DATASET} 16-bit"]  # as the board
    assert all(not r.published for r in table.block(DATASET, 16).rows)  # no published row on this dataset
    fcvid = table.block("fcvid", 64)
    shown = {r.label.split(" ")[0]: r for r in fcvid.rows}
    assert set(shown) == {"AutoSSVH", "BTH", "ConMH", "S5VH"} and all(r.published for r in fcvid.rows)
    assert {m for m, r in shown.items() if r.test_selected} == {"S5VH", "AutoSSVH"}
    assert shown["S5VH"].shown.endswith(TEST_SELECTED_MARK) and not shown["BTH"].shown.endswith(TEST_SELECTED_MARK)
    assert shown["BTH"].cells[10].mean == pytest.approx(0.375) and 10 not in shown["S5VH"].cells
    assert shown["AutoSSVH"].cells[5].best and not shown["BTH"].cells[5].best
    assert any(n.startswith(TEST_SELECTED_MARK) for n in table.notes)
    assert any("S5VH README" in n and "4926cb7" in n for n in table.notes)


def test_a_run_selected_on_the_test_queries_is_its_own_flagged_row(tmp_path):
    path = tmp_path / "results.csv"
    add_run(path, "itq", 16, 0)
    add_run(path, "itq", 16, 0, select="test")
    table = build_papers_table(read_results(path), None)
    rows = table.blocks[0].rows
    assert len(rows) == 2  # different selection: different experiments, never one cell
    flagged = [r for r in rows if r.test_selected]
    assert len(flagged) == 1 and "select=test" in flagged[0].label
    assert all(c.n == 1 for r in rows for c in r.cells.values())


def test_markdown_and_csv_show_the_k_columns_and_numbers(results):
    table = build_papers_table(results, None, bits=[16])
    md = render_papers(table, "md")
    assert f"## {DATASET} 16-bit" in md
    header = next(line for line in md.splitlines() if line.startswith("| method"))
    assert [c.strip() for c in header.strip("|").split("|")] == ["method"] + [f"@{k}" for k in SSVH_K]
    itq = next(line for line in md.splitlines() if line.startswith("| itq"))
    mean5 = (value_of("itq", 16, 5, 0) + value_of("itq", 16, 5, 1)) / 2
    assert f"**{mean5:.4f} ± " in itq
    csv_text = render_papers(table, "csv").splitlines()
    assert csv_text[0] == "dataset,bits,method," + ",".join(f"@{k}" for k in SSVH_K) + \
        ",source,test_selected,family,protocol"
    assert csv_text[2].startswith(f"{DATASET},16,lsh,") and csv_text[2].endswith(",local,0,unsupervised,select=last")
    for fmt in ("latex", "html"):
        assert f"{mean5:.4f}" in render_papers(table, fmt)


def test_no_k_metric_is_one_clear_error(tmp_path):
    with pytest.raises(ResultsError, match=r"no map_over_k@K results .*protocol = \"ssvh\""):
        build_papers_table(read_results(tmp_path / "none.csv"), None)


def test_the_plot_has_a_panel_per_block_and_a_line_per_method(results, tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.image import imread

    from hashbench.results.plots import over_k_figure, plot_over_k

    table = build_papers_table(results, published_rows(), datasets=[DATASET, "fcvid"], bits=[16, 64])
    fig = over_k_figure(table)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == [b.title for b in table.blocks]
    for ax, block in zip(visible, table.blocks):
        lines = ax.get_lines()
        assert [line.get_label() for line in lines] == [r.shown for r in block.rows]
        for line, row in zip(lines, block.rows):
            assert list(line.get_xdata()) == sorted(row.cells)
            assert list(line.get_ydata()) == pytest.approx([row.cells[k].mean for k in sorted(row.cells)])
    png = plot_over_k(table, tmp_path / "curve.png")
    image = imread(str(png))
    assert image.ndim == 3 and image.shape[1] > 3 * 400 and image[..., :3].std() > 0.05
