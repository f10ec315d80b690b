"""FAISS binary indexes over packed codes, and searching a run directory's database by video id."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from hashbench.codes import hamming_distances, pack_codes, save_codes
from hashbench.errors import DataError, HashbenchError
from hashbench.eval.search import (INSTALL_HINT, RunSearch, build_index, import_faiss, load_index,
                              save_index, search_index)

import_faiss().omp_set_num_threads(1)  # tiny indexes: OpenMP threads only add contention


@pytest.fixture(scope="module")
def codes():
    rng = np.random.default_rng(0)
    return pack_codes(rng.integers(0, 2, size=(12, 45))), pack_codes(rng.integers(0, 2, size=(600, 45)))


def test_flat_index_gives_exact_top_k_in_distance_then_database_order(codes):
    queries, db = codes
    truth = hamming_distances(queries, db)
    distances, rows = search_index(build_index(db, "flat"), queries, 15)
    assert distances.shape == rows.shape == (12, 15)
    for i in range(12):
        np.testing.assert_array_equal(distances[i], np.sort(truth[i])[:15])
        np.testing.assert_array_equal(truth[i, rows[i]], distances[i])
        keys = distances[i].astype(np.int64) * 10_000 + rows[i]
        assert np.all(np.diff(keys) > 0)


def test_saved_index_is_written_atomically_and_reloads(codes, tmp_path):
    queries, db = codes
    index = build_index(db, "flat")
    path = save_index(index, tmp_path / "db.faiss")
    assert os.listdir(tmp_path) == ["db.faiss"]
    for a, b in zip(search_index(load_index(path), queries, 7), search_index(index, queries, 7)):
        np.testing.assert_array_equal(a, b)
    (tmp_path / "junk.faiss").write_bytes(b"nope")
    with pytest.raises(DataError, match="not a readable FAISS binary index"):
        load_index(tmp_path / "junk.faiss")


@pytest.mark.parametrize("kind, params", [("ivf", {"nlist": 10, "nprobe": 10}), ("ivf", {"nlist": 24}),
                                          ("hash", {"hash_bits": 8, "nflip": 8}), ("hash", {})])
def test_approximate_indexes_return_true_distances(codes, kind, params):
    queries, db = codes
    truth = hamming_distances(queries, db)
    distances, rows = search_index(build_index(db, kind, **params), queries, 10)
    found = rows >= 0
    assert found.any()
    for i in range(12):
        np.testing.assert_array_equal(truth[i, rows[i][found[i]]], distances[i][found[i]])
    if params.get("nprobe") == params.get("nlist") == 10:  # every cell probed: exact
        np.testing.assert_array_equal(distances, np.sort(truth, axis=1)[:, :10])


def test_missing_faiss_says_how_to_install(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "faiss", None)
    with pytest.raises(HashbenchError, match=r"pip install 'hashbench\[search\]'"):
        import_faiss()
    assert "hashbench[search]" in INSTALL_HINT


def make_run(tmp_path, n_db=40):
    rng = np.random.default_rng(1)
    run_dir = tmp_path / "run"
    save_codes(run_dir / "codes.npz", query_codes=rng.choice([-1, 1], size=(5, 24)),
               query_labels=rng.integers(0, 3, 5), db_codes=rng.choice([-1, 1], size=(n_db, 24)),
               db_labels=rng.integers(0, 3, n_db), query_ids=[f"query-{i}" for i in range(5)],
               db_ids=[f"video-{i}" for i in range(n_db)])
    (run_dir / "record.json").write_text(json.dumps({"row": {"run_id": "r"}}))
    return run_dir


def test_run_search_by_id_builds_saves_reuses_and_refreshes_the_index(tmp_path):
    run_dir = make_run(tmp_path)
    first = RunSearch(run_dir)
    assert first.built and first.index_path == run_dir / "index-flat.faiss" and first.index_path.is_file()
    answer = first.query_ids(["query-2"], k=6)[0]
    codes = np.load(run_dir / "codes.npz")
    qcode = pack_codes(codes["query_codes"][2:3], bits=24)
    truth = hamming_distances(qcode, pack_codes(codes["db_codes"], bits=24))[0]
    assert [h.distance for h in answer["hits"]] == sorted(truth.tolist())[:6]
    for hit in answer["hits"]:
        row = int(hit.id.split("-")[1])
        assert truth[row] == hit.distance and hit.label == int(codes["db_labels"][row])
        assert hit.relevant == (hit.label == answer["label"])
    assert not RunSearch(run_dir).built  # loaded from disk
    make_run(tmp_path, n_db=55)  # codes rewritten: the saved index is stale
    again = RunSearch(run_dir)
    assert again.built and again.index.ntotal == 55
    # a database id works as a query too (it finds itself at distance 0)
    assert again.query_ids(["video-7"], k=1)[0]["hits"][0].distance == 0


def test_run_search_errors(tmp_path):
    with pytest.raises(DataError, match="not a finished run directory"):
        RunSearch(tmp_path)
    run_dir = make_run(tmp_path)
    with pytest.raises(DataError, match="did you mean 'query-3'"):
        RunSearch(run_dir).query_ids(["query-33"])
    with pytest.raises(DataError, match="unknown index kind 'lsh'"):
        RunSearch(run_dir, "lsh")
