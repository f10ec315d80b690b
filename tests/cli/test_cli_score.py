"""`hashbench score`, `hashbench eval` and `hashbench search` as real subprocesses of the installed CLI."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from support import ROOT, run_cli, tiny_experiment_text
from hashbench.codes import hamming_distances, load_codes, pack_codes, save_codes
from hashbench.results import RESULT_COLUMNS, read_results

TEST_DATA = ROOT / "tests" / "data"


def cli(*args, env=None):
    """The real CLI in a subprocess of this interpreter (works from any environment's pytest)."""
    return run_cli(*map(str, args), env=env, timeout=300)


def csq_args(name):
    root = TEST_DATA / "csq_codes" / name
    return ["--query-codes", root / "test_hash.npy", "--query-labels", root / "test_label.npy",
            "--db-codes", root / "database_hash.npy", "--db-labels", root / "database_label.npy"]


@pytest.mark.parametrize("name, k, at_k, whole", [("ucf101", 100, 0.874, 0.846), ("hmdb51", 70, 0.577, 0.490)])
def test_score_reproduces_published_csq_figures(name, k, at_k, whole):
    proc = cli("score", *csq_args(name), "-m", "map", "-m", f"map@{k}", "-m", "map_tie", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["metrics"][f"map@{k}"] == pytest.approx(at_k, abs=0.002)
    assert out["metrics"]["map"] == pytest.approx(whole, abs=0.002)
    assert abs(out["metrics"]["map_tie"] - out["metrics"]["map"]) < 0.005
    assert out["queries_without_relevant"] == 0 and out["bits"] == 64


def test_score_prints_a_table_with_conventions(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "q.npz", codes=rng.normal(size=(20, 12)), labels=rng.integers(0, 3, 20))
    np.save(tmp_path / "d.npy", rng.integers(0, 2, size=(80, 12)))  # 0/1 codes work as well
    np.save(tmp_path / "dl.npy", rng.integers(0, 3, 80))
    proc = cli("score", "--query-codes", f"{tmp_path / 'q.npz'}:codes", "--query-labels",
               f"{tmp_path / 'q.npz'}:labels", "--db-codes", tmp_path / "d.npy", "--db-labels",
               tmp_path / "dl.npy", "-m", "map@10", "-m", "map_over_k@10")
    assert proc.returncode == 0, proc.stderr
    assert "map@10" in proc.stdout and "map_over_k@10" in proc.stdout and "/ k" in proc.stdout
    assert "20 queries x 80 database items, 12 bits" in proc.stdout


def bad_inputs(tmp_path):
    rng = np.random.default_rng(1)
    np.save(tmp_path / "q.npy", rng.choice([-1, 1], size=(5, 16)))
    np.save(tmp_path / "ql.npy", np.arange(5))
    np.save(tmp_path / "d.npy", rng.choice([-1, 1], size=(9, 16)))
    np.save(tmp_path / "d8.npy", rng.choice([-1, 1], size=(9, 8)))
    np.save(tmp_path / "dl.npy", np.arange(9))
    np.save(tmp_path / "dl_short.npy", np.arange(7))
    base = {"--query-codes": tmp_path / "q.npy", "--query-labels": tmp_path / "ql.npy",
            "--db-codes": tmp_path / "d.npy", "--db-labels": tmp_path / "dl.npy"}
    return base


@pytest.mark.parametrize("change, message", [
    ({"--db-codes": "missing.npy"}, "missing.npy: file not found"),
    ({"--db-labels": "dl_short.npy"}, "7 labels for 9 codes"),
    ({"--db-codes": "d8.npy"}, "16 bits but database codes have 8"),
])
def test_bad_inputs_exit_2_with_one_line(tmp_path, change, message):
    args = bad_inputs(tmp_path)
    for key, value in change.items():
        args[key] = tmp_path / value if key.startswith("--") else value
    proc = cli("score", *[x for kv in args.items() for x in kv])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------------------------------
# A real (tiny) finished run: eval and search
# --------------------------------------------------------------------------------------------------
TINY = tiny_experiment_text(name="tiny-search", seed=3, epochs=1, backbone='name = "r3d18"\nwidth = 4',
                            clips_per_class=3, queries_per_class=1, batch_size=12, metrics='["map", "map@5"]')


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from hashbench import registry
    from hashbench.config import load_experiment
    from hashbench.run import run_experiment

    root = tmp_path_factory.mktemp("tiny_run")
    (root / "tiny.toml").write_text(TINY)
    result = run_experiment(load_experiment(root / "tiny.toml"), registry(), runs_dir=root / "runs",
                            results_path=root / "results.csv")
    return result.run_dir, root / "results.csv"


def test_eval_rescores_a_finished_run_and_appends_rows_with_its_id(finished_run, tmp_path):
    run_dir, _ = finished_run
    results = tmp_path / "results.csv"
    proc = cli("eval", run_dir, "-m", "map_tie", "-m", "precision@r2", "--results", results)
    assert proc.returncode == 0, proc.stderr
    assert "2 rows appended" in proc.stdout
    table = read_results(results)
    assert table["run_id"].tolist() == [run_dir.name] * 2
    assert table["metric"].tolist() == ["map_tie", "precision@r2"]
    record = json.loads((run_dir / "record.json").read_text())
    for column in RESULT_COLUMNS:
        if column not in ("metric", "value", "time"):
            assert str(table[column].iloc[0]) == str(record["row"][column]), column
    codes = load_codes(run_dir / "codes.npz")
    import hashbench

    expected = hashbench.score(codes["query_codes"], codes["query_labels"], codes["db_codes"],
                               codes["db_labels"], ["map_tie", "precision@r2"])
    assert table["value"].tolist() == pytest.approx(list(expected.values()), abs=1e-12)
    # without -m: the run's own metrics, same values as the run reported
    proc = cli("eval", run_dir, "--no-append", "--json")
    out = json.loads(proc.stdout)
    assert list(out["metrics"]) == ["map", "map@5"] and out["run_id"] == run_dir.name
    assert out["metrics"] == pytest.approx(record["metrics"], abs=1e-12)


def test_eval_of_something_that_is_not_a_run_exits_2(tmp_path):
    proc = cli("eval", tmp_path, "--no-append")
    assert proc.returncode == 2 and "no codes.npz" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_search_by_id_and_by_video_file(finished_run):
    run_dir, _ = finished_run
    codes = load_codes(run_dir / "codes.npz")
    query_id = codes["query_ids"][1]
    proc = cli("search", run_dir, "--id", query_id, "-k", "5", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["built"] and Path(out["index"]).is_file()
    hits = out["queries"][0]["hits"]
    truth = hamming_distances(codes["query_codes"][1], codes["db_codes"])[0]
    assert [h["distance"] for h in hits] == sorted(truth.tolist())[:5]
    assert all(h["id"] in codes["db_ids"] for h in hits)

    video = TEST_DATA / "videos" / "v_SoccerJuggling_g23_c01.avi"
    proc = cli("search", run_dir, "--video", video, "-k", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert not out["built"]  # the saved index is reused
    from hashbench.eval.search import encode_video

    code = encode_video(run_dir, video)
    again = encode_video(run_dir, video)
    np.testing.assert_array_equal(code.words, again.words)
    truth = hamming_distances(code, codes["db_codes"])[0]
    assert [h["distance"] for h in out["queries"][0]["hits"]] == sorted(truth.tolist())[:3]
    assert [h["id"] for h in out["queries"][0]["hits"]] == [codes["db_ids"][i] for i in
                                                            np.argsort(truth, kind="stable")[:3]]
    # the clip geometry the dataset reported is recorded; a run recorded before that (hashbench 0.1)
    # falls back to reading the dataset table, with the same code
    record_path = Path(run_dir) / "record.json"
    recorded = record_path.read_text()
    record = json.loads(recorded)
    assert record["clip_geometry"] == {"num_frames": 8, "resize": [32, 32], "crop": None}
    del record["clip_geometry"]
    record_path.write_text(json.dumps(record))
    try:
        np.testing.assert_array_equal(encode_video(run_dir, video).words, code.words)
    finally:
        record_path.write_text(recorded)


def test_search_without_faiss_says_how_to_install(tmp_path):
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "faiss.py").write_text("raise ImportError('No module named faiss')\n")
    run_dir = tmp_path / "run"
    save_codes(run_dir / "codes.npz", query_codes=np.ones((1, 8)), query_labels=[0],
               db_codes=np.ones((2, 8)), db_labels=[0, 1])
    proc = cli("search", run_dir, "--id", "0", env={"PYTHONPATH": str(shim)})
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: faiss is not installed; install the search extra: pip install" \
                                  " 'hashbench[search]'"


def test_packed_codes_files_need_bits(tmp_path):
    rng = np.random.default_rng(2)
    q = pack_codes(rng.integers(0, 2, size=(6, 24)))
    np.save(tmp_path / "q.npy", q.words)
    np.save(tmp_path / "ql.npy", np.arange(6))
    args = ["score", "--query-codes", tmp_path / "q.npy", "--query-labels", tmp_path / "ql.npy",
            "--db-codes", tmp_path / "q.npy", "--db-labels", tmp_path / "ql.npy", "--json"]
    out = json.loads(cli(*args, "--bits", "24").stdout)
    assert out["bits"] == 24 and out["metrics"]["map"] == pytest.approx(1.0)  # each query finds itself first
    bare = cli(*args)  # without --bits: one line naming both ways to give the length
    assert bare.returncode == 2 and len(bare.stderr.strip().splitlines()) == 1
    assert "--bits N" in bare.stderr and "FILE.npz:KEY" in bare.stderr


def test_search_lists_the_runs_videos_and_names_classes(finished_run):
    run_dir, _ = finished_run
    codes = load_codes(run_dir / "codes.npz")
    proc = cli("search", run_dir, "--list", "--json")
    assert proc.returncode == 0, proc.stderr
    videos = json.loads(proc.stdout)
    assert [v["id"] for v in videos] == list(codes["query_ids"]) + list(codes["db_ids"])
    names = json.loads((run_dir / "record.json").read_text())["class_names"]
    first = videos[0]
    assert first["split"] == "query" and first["class"] == f"{first['label']} ({names[first['label']]})"
    # the text views show the class name next to the label id, in the listing and in search hits
    listing = cli("search", run_dir, "--list")
    assert f"{first['label']} ({names[first['label']]})" in listing.stdout
    hits = cli("search", run_dir, "--id", codes["query_ids"][0], "-k", "2")
    assert hits.returncode == 0 and f"(label {first['label']} ({names[first['label']]}))" in hits.stdout


def test_search_without_a_query_says_what_to_give(finished_run):
    run_dir, _ = finished_run
    proc = cli("search", run_dir)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: search: give --id VIDEO_ID or --video FILE (see the run's ids with --list)"
