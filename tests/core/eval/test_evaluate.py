"""score_codes / evaluate: metric specs, one shared ranking pass, third-party metrics through the plain
callable contract, undefined-query counts, and re-scoring a run directory."""
from __future__ import annotations

import json

import numpy as np
import pytest

import hashbench
import hashbench.eval.evaluation as evaluation_module
from hashbench.codes import PackedCodes, hamming_distances, save_codes
from hashbench.errors import ConfigError, DataError, PluginError
from hashbench.eval import evaluate, rescore_run, score_codes
from hashbench.contract import Component, load_registry
from hashbench.results import RESULT_COLUMNS, read_results


@pytest.fixture
def codes():
    rng = np.random.default_rng(0)
    return (rng.choice([-1, 1], size=(30, 16)), rng.integers(0, 4, 30),
            rng.choice([-1, 1], size=(200, 16)), rng.integers(0, 4, 200))


def hits_at_1(query_codes, query_labels, db_codes, db_labels):
    """A third-party metric written against the public contract only: is the nearest item relevant?"""
    assert isinstance(query_codes, PackedCodes) and isinstance(db_codes, PackedCodes)
    nearest = np.argmin(hamming_distances(query_codes, db_codes), axis=1)  # first of the ties
    return float(np.mean(db_labels[nearest] == query_labels))


def registry_with(name, factory):
    registry = load_registry()
    registry.components["metric"][name] = Component("metric", name, factory, "thirdparty", "0.1")
    return registry


def test_score_by_spec_strings_and_tables(codes):
    qc, ql, dc, dl = codes
    scores = hashbench.score(qc, ql, dc, dl, ["map", "map@10", {"name": "map@k", "k": 10, "label": "m10"},
                                              "precision@r2", "map"])
    assert list(scores) == ["map", "map@10", "m10", "precision@r2"]  # duplicates scored once
    assert scores["m10"] == scores["map@10"]
    assert all(0.0 <= v <= 1.0 for v in scores.values())


def test_reference_metrics_share_one_ranking_pass(codes, monkeypatch):
    calls = []
    real = evaluation_module.compute_stats

    def counting(*args, **kwargs):
        calls.append(args[4])  # the merged needs
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluation_module, "compute_stats", counting)
    score_codes(hashbench.registry(), *codes, ["map", "map@5", "map@50", "map_tie", "precision@r1"])
    assert len(calls) == 1 and calls[0].ap and calls[0].topk == 50


def test_third_party_metric_through_the_plain_callable_contract(codes):
    qc, ql, dc, dl = codes
    registry = registry_with("hits@1", lambda: hits_at_1)
    scores = score_codes(registry, qc, ql, dc, dl, ["hits@1", "precision@1"])
    assert scores["hits@1"] == pytest.approx(scores["precision@1"])  # same thing, ties in db order


@pytest.mark.parametrize("factory, message", [
    (lambda: (lambda *a: "high"), "returned str"),
    (lambda: (lambda *a: 1 / 0), "failed: ZeroDivisionError"),
    (lambda: 42, "not a callable"),
])
def test_broken_third_party_metrics_raise_one_line_plugin_errors(codes, factory, message):
    with pytest.raises(PluginError, match=message) as info:
        score_codes(registry_with("bad", factory), *codes, ["bad"])
    assert "\n" not in str(info.value)


def test_unknown_metric_and_bad_parameters_are_clear(codes):
    with pytest.raises(PluginError, match="unknown metric 'mAP'"):
        hashbench.score(*codes, ["mAP"])
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        hashbench.score(*codes, ["map@0"])


def test_evaluation_reports_conventions_and_undefined_queries():
    qc = np.array([[1, 1], [-1, -1], [-1, 1]])
    dc = np.array([[1, 1], [1, -1], [-1, -1], [-1, 1]])
    ql, dl = np.array([0, 5, 1]), np.array([0, 1, 1, 0])  # query 1: no relevant item
    report = evaluate(hashbench.registry(), qc, ql, dc, dl, ["map", "map@1", "precision@r0"])
    assert report.queries_without_relevant == 1
    assert report.details["map"]["undefined"] == 1
    assert report.details["map@1"]["undefined"] == 2  # + query 2, whose nearest item is of class 0
    assert "ties by database order" in report.details["map"]["convention"]
    assert report.to_dict()["n_queries"] == 3 and report.to_dict()["relevance"] == "same class id"


def test_input_errors_are_data_errors(codes):
    qc, ql, dc, dl = codes
    with pytest.raises(DataError, match="query labels: 29 labels for 30 codes"):
        hashbench.score(qc, ql[:-1], dc, dl)
    with pytest.raises(DataError, match="16 bits but database codes have 8"):
        hashbench.score(qc, ql, dc[:, :8], dl)
    with pytest.raises(DataError, match="database is empty"):
        hashbench.score(qc, ql, dc[:0], dl[:0])


def make_run(tmp_path, codes, metrics=("map", "map@10")):
    qc, ql, dc, dl = codes
    run_dir = tmp_path / "runs" / "exp" / "20250101-000000-abcd1234-0001"
    save_codes(run_dir / "codes.npz", query_codes=qc, query_labels=ql, db_codes=dc, db_labels=dl,
               query_ids=[f"q{i}" for i in range(len(qc))], db_ids=[f"d{i}" for i in range(len(dc))])
    row = {c: "" for c in RESULT_COLUMNS if c not in ("metric", "value")}
    row.update(run_id=run_dir.name, experiment="exp", method="m", dataset="moving_digits", bits=16,
               frames=8, epoch=3, selection="last", seed=0, config_hash="abc")
    (run_dir / "record.json").write_text(json.dumps({"row": row, "status": "finished"}))
    (run_dir / "config.json").write_text(json.dumps({"eval": {"metrics": list(metrics)}}))
    return run_dir


def test_rescore_run_appends_rows_with_the_same_run_id(tmp_path, codes):
    run_dir = make_run(tmp_path, codes)
    results = tmp_path / "results.csv"
    report, rows = rescore_run(run_dir, ["map_tie", "map@5"], results_path=results)
    table = read_results(results)
    assert table["run_id"].tolist() == [run_dir.name] * 2
    assert table["metric"].tolist() == ["map_tie", "map@5"]
    assert table["epoch"].tolist() == [3, 3]
    expected = hashbench.score(*codes, ["map_tie", "map@5"])
    assert table["value"].tolist() == pytest.approx([expected["map_tie"], expected["map@5"]])
    # default metrics: the run's [eval] metrics
    report, rows = rescore_run(run_dir, None, results_path=None)
    assert list(report.values) == ["map", "map@10"] and len(read_results(results)) == 2


def test_rescore_run_errors_name_the_directory(tmp_path, codes):
    with pytest.raises(DataError, match="run directory not found"):
        rescore_run(tmp_path / "nope")
    run_dir = make_run(tmp_path, codes)
    (run_dir / "record.json").write_text("{broken")
    with pytest.raises(DataError, match="record.json: not readable JSON"):
        rescore_run(run_dir)
    (run_dir / "codes.npz").unlink()
    with pytest.raises(DataError, match="no codes.npz"):
        rescore_run(run_dir)
