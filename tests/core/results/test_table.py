"""The results table: row building, locked appends from real concurrent processes, line-checked reads."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from support import run_cli

from hashbench.errors import ResultsError
from hashbench.results import (RESULT_COLUMNS, append_rows, completed_config_hashes,
                               default_results_path, metric_rows, read_published, read_results)



def base_row(**over) -> dict:
    base = {c: "" for c in RESULT_COLUMNS if c not in ("metric", "value")}
    base.update(run_id="20240101-000000-abcdef01-0001", time="2024-01-01T00:00:00+00:00",
                experiment="demo", method="r3d18+tanh+batch_all_triplet", dataset="ucf101", split="1",
                data_checksum="0123456789ab", backbone="r3d18", head="tanh", loss="batch_all_triplet",
                bits=48, frames=16, epoch=3, selection="last", seed=0, config_hash="cfg0",
                hashbench_version="0.1.0", torch_version="2.4", git_commit="abc1234", device="cpu")
    base.update(over)
    return base


def test_metric_rows_one_row_per_metric_in_column_order():
    rows = metric_rows(base_row(), {"map": 0.5, "map@100": 0.75})
    assert [r["metric"] for r in rows] == ["map", "map@100"]
    assert [r["value"] for r in rows] == [0.5, 0.75]
    assert all(list(r) == list(RESULT_COLUMNS) for r in rows)


def test_metric_rows_rejects_wrong_base_columns():
    bad = base_row()
    del bad["seed"]
    with pytest.raises(ResultsError, match="missing seed"):
        metric_rows(bad, {"map": 0.5})
    with pytest.raises(ResultsError, match="unexpected colour"):
        metric_rows({**base_row(), "colour": "red"}, {"map": 0.5})


def test_append_creates_dir_and_header_and_roundtrips_types(tmp_path):
    path = tmp_path / "sub" / "results.csv"
    value = 0.1 + 0.2  # needs full repr precision to round-trip
    assert append_rows(path, metric_rows(base_row(), {"map": value, "map@100": 1 / 3})) == 2
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(RESULT_COLUMNS)
    assert len(lines) == 3
    frame = read_results(path)
    assert list(frame.columns[: len(RESULT_COLUMNS)]) == list(RESULT_COLUMNS)
    assert frame["value"].tolist() == [value, 1 / 3]
    assert frame["bits"].tolist() == [48, 48] and str(frame["bits"].dtype) == "Int64"
    assert frame["_line"].tolist() == [2, 3]
    append_rows(path, metric_rows(base_row(run_id="r2", config_hash="cfg1", epoch=None), {"map": 0.4}))
    frame = read_results(path)
    assert len(frame) == 3 and frame["epoch"].isna().tolist() == [False, False, True]
    assert completed_config_hashes(path) == {"cfg0", "cfg1"}


def test_fields_with_commas_and_quotes_are_quoted(tmp_path):
    path = tmp_path / "results.csv"
    append_rows(path, metric_rows(base_row(method='net, "v2"'), {"map": 0.5}))
    assert read_results(path)["method"].tolist() == ['net, "v2"']


def test_invalid_rows_write_nothing(tmp_path):
    path = tmp_path / "results.csv"
    append_rows(path, metric_rows(base_row(), {"map": 0.5}))
    before = path.read_bytes()
    good = metric_rows(base_row(run_id="ok"), {"map": 0.6})[0]
    with pytest.raises(ResultsError, match="line break"):
        append_rows(path, [good, {**good, "method": "two\nlines"}])
    with pytest.raises(ResultsError, match="not a number"):
        append_rows(path, [good, {**good, "value": "high"}])
    with pytest.raises(ResultsError, match="wrong columns"):
        append_rows(path, [good, {k: v for k, v in good.items() if k != "device"}])
    with pytest.raises(ResultsError, match="'bits' is empty"):
        append_rows(path, [{**good, "bits": None}])
    assert path.read_bytes() == before


def test_append_refuses_a_table_with_another_header(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("run_id,metric,value\nx,map,0.5\n")
    before = path.read_bytes()
    with pytest.raises(ResultsError, match=r"line 1: the header does not match.*move the file aside"):
        append_rows(path, metric_rows(base_row(), {"map": 0.5}))
    assert path.read_bytes() == before


def test_append_after_a_hand_edit_without_final_newline(tmp_path):
    path = tmp_path / "results.csv"
    append_rows(path, metric_rows(base_row(), {"map": 0.5}))
    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # an editor dropped the final newline
    append_rows(path, metric_rows(base_row(run_id="r2"), {"map": 0.6}))
    assert read_results(path)["run_id"].tolist() == ["20240101-000000-abcdef01-0001", "r2"]


def test_missing_file_reads_as_empty_table(tmp_path):
    frame = read_results(tmp_path / "nope.csv")
    assert frame.empty and list(frame.columns[: len(RESULT_COLUMNS)]) == list(RESULT_COLUMNS)
    assert completed_config_hashes(tmp_path / "nope.csv") == set()


def test_default_path_from_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("HASHBENCH_RESULTS", raising=False)
    assert default_results_path() == Path("results/results.csv")
    monkeypatch.setenv("HASHBENCH_RESULTS", str(tmp_path / "r.csv"))
    assert default_results_path() == tmp_path / "r.csv"


def _good_table(tmp_path: Path) -> Path:
    path = tmp_path / "results.csv"
    append_rows(path, metric_rows(base_row(), {"map": 0.5, "map@100": 0.6, "map_tie": 0.55}))
    return path


def _edit_line(path: Path, lineno: int, edit) -> None:
    lines = path.read_text().splitlines(keepends=True)
    lines[lineno - 1] = edit(lines[lineno - 1])
    path.write_text("".join(lines))


@pytest.mark.parametrize("lineno,edit,message", [
    (3, lambda s: s.replace(",map@100,0.6,", ",map@100,0.6,extra,"), r"line 3: 26 fields, expected 25"),
    (4, lambda s: s.replace(",map_tie,0.55,", ",map_tie,0,55,"), r"line 4: 26 fields"),
    (2, lambda s: s.replace(",map,0.5,", ",map,n/a,"), r"line 2: column 'value' = 'n/a' is not a number"),
    (3, lambda s: s.replace(",48,16,", ",48 bits,16,"), r"line 3: column 'bits' = '48 bits' is not an int"),
    (1, lambda s: s.replace("frames", "frame"), r"line 1: the header does not match.*missing frames"),
    (4, lambda s: s.replace(",map_tie,", ',"map_tie,'), r"line 4: .*(malformed CSV|fields)"),
])
def test_hand_edited_table_errors_name_the_line(tmp_path, lineno, edit, message):
    path = _good_table(tmp_path)
    _edit_line(path, lineno, edit)
    with pytest.raises(ResultsError, match=message) as info:
        read_results(path)
    assert str(path) in str(info.value)


def test_bad_table_through_the_cli_is_one_line_exit_2(tmp_path):
    path = _good_table(tmp_path)
    _edit_line(path, 3, lambda s: s.rstrip("\n") + ",oops\n")
    before = path.read_bytes()
    proc = run_cli("leaderboard", "--results", str(path), "--no-published", cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "line 3" in lines[0] and str(path) in lines[0] and "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert path.read_bytes() == before
    assert not (tmp_path / "LEADERBOARD.md").exists()


def test_published_table_checks_lines(tmp_path):
    path = tmp_path / "published.csv"
    path.write_text("source,method,dataset,bits,metric,value\nrepo,M,ucf101,48,map,0.7\nrepo,M,ucf101,4x,map,0.7\n")
    with pytest.raises(ResultsError, match=r"line 3: column 'bits' = '4x' is not an integer"):
        read_published(path)
    path.write_text("source,method,dataset,bits,metric,value,colour\n")
    with pytest.raises(ResultsError, match=r"line 1: bad header \(unknown: colour"):
        read_published(path)
    path.write_text("source,method,dataset,bits,metric,value\nrepo,M,ucf101,48,map,0.7\n")
    frame = read_published(path)
    assert frame["frames"].isna().all() and frame["value"].tolist() == [0.7]


# -- concurrency: 8 real processes appending at the same moment ------------------------------------
WRITER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from hashbench.results import RESULT_COLUMNS, append_rows, metric_rows
    path, worker, go, appends = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    while not go.exists():
        time.sleep(0.001)
    for i in range(appends):
        base = {c: "" for c in RESULT_COLUMNS if c not in ("metric", "value")}
        # a long label makes each append far larger than an atomic pipe write (4 KiB)
        base.update(run_id=f"w{worker}-a{i}", method=f"m{worker}-" + "x" * 1500, dataset="ucf101",
                    bits=48, seed=worker, config_hash=f"c{worker}-{i}")
        append_rows(path, metric_rows(base, {"map": worker + i / 1000, "map@100": 0.5,
                                             "map_tie": 0.25, "precision@r2": 0.125}))
""")


def test_eight_processes_appending_at_once_lose_nothing(tmp_path):
    path = tmp_path / "results.csv"
    go = tmp_path / "go"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    workers, appends = 8, 20
    procs = [subprocess.Popen([sys.executable, str(script), str(path), str(w), str(go), str(appends)],
                              stderr=subprocess.PIPE, text=True) for w in range(workers)]
    time.sleep(1.5)  # let every interpreter start and wait on the go file
    go.touch()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    frame = read_results(path)  # would raise on any torn or merged line
    assert len(frame) == workers * appends * 4
    keys = list(zip(frame["run_id"], frame["metric"]))
    assert len(set(keys)) == len(keys)
    expected = {(f"w{w}-a{i}", m) for w in range(workers) for i in range(appends)
                for m in ("map", "map@100", "map_tie", "precision@r2")}
    assert set(keys) == expected
    for w in range(workers):  # each worker's own appends stay in order, the 4 rows of one append together
        mine = frame[frame["run_id"].str.startswith(f"w{w}-")]
        assert mine["run_id"].tolist() == [f"w{w}-a{i}" for i in range(appends) for _ in range(4)]
        assert (mine["method"] == f"m{w}-" + "x" * 1500).all()
    with open(path, newline="") as fh:
        assert all(len(rec) == len(RESULT_COLUMNS) for rec in csv.reader(fh))
    assert path.read_text().count("\n") == 1 + workers * appends * 4
    assert os.path.exists(str(path) + ".lock")


def test_blank_lines_are_skipped_and_line_numbers_stay_true(tmp_path):
    path = _good_table(tmp_path)
    text = path.read_text().splitlines(keepends=True)
    text.insert(2, "\n")  # blank line 3 -> the map@100 row moves to line 4
    text.insert(3, "," * (len(RESULT_COLUMNS) - 1) + "\n")  # a line of empty fields: line 4
    path.write_text("".join(text))
    frame = read_results(path)
    assert frame["metric"].tolist() == ["map", "map@100", "map_tie"]
    assert frame["_line"].tolist() == [2, 5, 6]
    _edit_line(path, 6, lambda s: s.replace(",map_tie,0.55,", ",map_tie,high,"))
    with pytest.raises(ResultsError, match="line 6: column 'value' = 'high'"):
        read_results(path)


def test_nan_values_and_padded_numbers_read(tmp_path):
    path = tmp_path / "results.csv"
    append_rows(path, metric_rows(base_row(), {"map": float("nan"), "map@100": 0.5}))
    _edit_line(path, 3, lambda s: s.replace(",48,16,", ", 48 ,16,"))
    frame = read_results(path)
    assert frame["value"].isna().tolist() == [True, False]
    assert frame["bits"].tolist() == [48, 48]


# -- all or nothing, at most once, upgrade, checks before training ------------------------------------
def test_a_failed_write_truncates_the_table_back_and_says_it_is_unchanged(tmp_path, monkeypatch):
    path = tmp_path / "results.csv"
    append_rows(path, metric_rows(base_row(), {"map": 0.5}))
    before = path.read_bytes()
    real_write = os.write

    def short_then_enospc(fd, data):  # what a nearly full disk does: part of the data, then ENOSPC
        if len(data) > 10:
            real_write(fd, bytes(data[:10]))
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", short_then_enospc)
    with pytest.raises(ResultsError, match=r"No space left on device; the table is unchanged"):
        append_rows(path, metric_rows(base_row(run_id="second"), {"map": 0.7, "map@100": 0.8}))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert read_results(path)["run_id"].tolist() == [base_row()["run_id"]]


def test_run_rows_are_appended_at_most_once(tmp_path):
    from hashbench.results import append_run_rows, has_run

    path = tmp_path / "results.csv"
    rows = metric_rows(base_row(run_id="run-a"), {"map": 0.5, "map@100": 0.6})
    assert not has_run(path, "run-a")
    assert append_run_rows(path, rows) == 2
    assert append_run_rows(path, rows) == 0  # a resumed run whose rows are already there
    assert has_run(path, "run-a") and not has_run(path, "run-")
    assert len(read_results(path)) == 2
    # re-scoring (hashbench eval) appends rows of the same run id on purpose: plain append_rows does
    assert append_rows(path, metric_rows(base_row(run_id="run-a"), {"map@10": 0.9})) == 1


def test_a_table_of_hashbench_0_1_is_read_and_upgraded_on_the_next_append(tmp_path):
    from hashbench.results import LEGACY_COLUMNS

    path = tmp_path / "results.csv"
    old = {c: v for c, v in base_row().items() if c in LEGACY_COLUMNS}
    lines = [",".join(LEGACY_COLUMNS)] + [",".join(str({**old, "metric": "map", "value": 0.5}[c])
                                                   for c in LEGACY_COLUMNS)]
    path.write_text("\n".join(lines) + "\n")
    frame = read_results(path)
    assert frame["value"].tolist() == [0.5] and frame["config"].isna().all()
    new = base_row(run_id="new", data_origin="official", skipped=0, config='{"a":1}')
    append_rows(path, metric_rows(new, {"map": 0.6}))
    text = path.read_text().splitlines()
    assert text[0] == ",".join(RESULT_COLUMNS)
    assert text[1].startswith(lines[1]) and text[1].endswith(",,,")
    frame = read_results(path)
    assert frame["run_id"].tolist() == [base_row()["run_id"], "new"]
    assert frame["config"].tolist()[1] == '{"a":1}' and frame["skipped"].tolist()[1] == 0


def test_check_table_refuses_what_a_later_append_would(tmp_path):
    from hashbench.results import check_table

    check_table(tmp_path / "new" / "results.csv")  # a folder that can be created: fine
    bad = tmp_path / "bad.csv"
    bad.write_text("run_id,when\nx,y\n")
    with pytest.raises(ResultsError, match=r"bad\.csv: line 1: the header does not match"):
        check_table(bad)
    with pytest.raises(ResultsError, match="is a directory"):
        check_table(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ResultsError, match="cannot create it under"):
        check_table(blocker / "sub" / "results.csv")


def test_a_carriage_return_in_the_header_is_one_clear_line_not_a_crash(tmp_path):
    """``run_id,ti\\rme,...``: the pre-run check and the append both say the header is damaged."""
    from hashbench.results import check_table

    path = _good_table(tmp_path)
    path.write_bytes(path.read_bytes().replace(b"run_id,time,", b"run_id,ti\rme,", 1))
    before = path.read_bytes()
    rows = metric_rows(base_row(run_id="r2"), {"map": 1.0})
    for attempt in (lambda: check_table(path), lambda: append_rows(path, rows)):
        with pytest.raises(ResultsError, match=r"results\.csv: line 1: the header is damaged \(a carriage return"
                                               r" inside a column name.*move the file aside"):
            attempt()
    assert path.read_bytes() == before


def test_a_torn_last_row_is_refused_with_the_command_that_drops_it(tmp_path):
    """A row cut inside its quoted config JSON (a crash mid-write): never built on; the command given works."""
    from hashbench.results import check_table

    path = tmp_path / "results.csv"
    append_rows(path, metric_rows(base_row(config='{"backbone": {"name": "r3d18"}, "seed": 0}'), {"map": 0.5}))
    whole = path.read_bytes()
    append_rows(path, metric_rows(base_row(run_id="r2", config='{"backbone": {"name": "r3d18"}}'), {"map": 0.6}))
    data = path.read_bytes()
    torn = data[: data.index(b'"{', len(whole)) + 12]  # cut 12 bytes into the second row's config JSON
    path.write_bytes(torn)
    assert not torn.endswith(b"\n") and torn.count(b"\n") == 2
    rows = metric_rows(base_row(run_id="r3"), {"map": 1.0})
    for attempt in (lambda: check_table(path), lambda: append_rows(path, rows)):
        with pytest.raises(ResultsError, match=rf"line 3: the last row is torn .*no rows are added after it.*"
                                               rf"`truncate -s {len(whole)} {path}`") as info:
            attempt()
        assert "\n" not in str(info.value)
    assert path.read_bytes() == torn
    subprocess.run(["truncate", "-s", str(len(whole)), str(path)], check=True)  # the fix, as given
    assert path.read_bytes() == whole
    check_table(path)
    append_rows(path, metric_rows(base_row(run_id="r3"), {"map": 1.0}))
    assert read_results(path)["run_id"].tolist() == [base_row()["run_id"], "r3"]
