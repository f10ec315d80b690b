"""The public API: exactly what ``hashbench`` and the modules declared public export, and that it works.

Changing one of these lists is a change of the public interface: say so in the commit.
"""
from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import numpy as np
import pytest
import torch
from support import ROOT

import hashbench
import hashbench.contract
import hashbench.data
import hashbench.errors
import hashbench.eval.metrics
import hashbench.weights

HASHBENCH_ALL = [
    "__version__", "hookimpl", "registry", "build_model", "build_deep_hashing", "score",
    "HashbenchError", "ConfigError", "PluginError", "DataError", "CheckpointError", "ResultsError",
]
CONTRACT_ALL = [
    "PROJECT", "hookimpl", "hookspec", "Factories",
    "identity_keys", "identity_resolver", "key_modes", "IDENTITY_ATTRIBUTE",
    "KINDS", "ITEM_KINDS", "CONTEXT_NAMES", "CONTEXT_ORIGINS", "TABLE_OWNED", "CORE_KEYS", "CORE_DEFAULTS", "MetricSpec", "parse_metric_spec",
    "bind_parameters",
    "Registry", "Component", "BrokenPlugin", "load_registry", "DISABLE_ENV", "REFERENCE_DIST",
    "Backbone", "Head", "Dataset", "Metric", "EpochAware", "RunInfo",
    "HashMethod", "MethodBatch", "iter_inputs", "pooled_inputs", "HashLoss", "LossBatch", "MemoryBank", "one_hot_labels", "call_loss", "classifies",
    "check_batch", "BatchReport",
    "conformance_example", "CheckResult", "check_component", "check_registered", "select_components",
    "assert_conforms",
    "choice", "integer", "number", "positive_int",
    "Checkpoint", "known_checkpoints", "checkpoints_of", "resolve_pretrained", "read_state_dict",
    "load_state_dict_strict", "key_listing",
]
ERRORS_ALL = ["HashbenchError", "ConfigError", "PluginError", "ContractError", "DataError", "CheckpointError",
              "ResultsError", "TrainingError", "ResourceError", "MissingExtraError", "RunInterrupted"]
DATA_ALL = [
    "VideoDataset", "ListedVideo", "default_cache_root",
    "read_list", "read_text_lines", "ListLine", "path_and_label", "safe_relpath", "entries_checksum",
    "read_video_clip", "read_media", "ClipInfo", "is_video_file", "VIDEO_EXTENSIONS", "sample_indices",
    "parse_size", "DEFAULT_RESIZE", "DEFAULT_CROP", "ClipArrayDataset", "write_text_atomic",
    "media_dataset", "check_dataset", "CheckReport",
    "FrameFeatureDataset", "FeatureSplit", "FeatureStore", "feature_files", "read_labels", "FRAME_FEATURES",
    "UNLABELLED", "memo", "data_digest", "fit_cache_root", "FIT_CACHE_ENV",
]
WEIGHTS_ALL = ["WEIGHTS_ENV", "search_paths", "locate", "resolve_pretrained", "missing_file_message", "sha256_of",
               "name_prefix", "digest_problem", "digest_verdict", "fetch", "WeightCheck", "check_file"]
METRICS_ALL = [
    "Needs", "RankStats", "Relevance", "compute_stats", "MetricResult", "Metric", "MeanAP", "MapAtK",
    "MapTie", "MapTieAtK", "PrecisionAtK", "RecallAtK", "PrecisionAtRadius", "RecallAtRadius",
    "pr_curve", "harmonic_diff", "score_metrics", "EMPTY_POLICIES", "KERNELS", "cpu_kernel",
    "numba_kernels",
]


@pytest.mark.parametrize("module, expected", [
    (hashbench, HASHBENCH_ALL), (hashbench.contract, CONTRACT_ALL), (hashbench.errors, ERRORS_ALL),
    (hashbench.data, DATA_ALL), (hashbench.eval.metrics, METRICS_ALL), (hashbench.weights, WEIGHTS_ALL),
], ids=["hashbench", "contract", "errors", "data", "eval.metrics", "weights"])
def test_public_names_are_exactly_these(module, expected):
    assert list(module.__all__) == expected
    assert all(hasattr(module, name) for name in expected)


def test_the_exception_tree_is_drawn_in_the_errors_docstring():
    doc = hashbench.errors.__doc__
    for name in ERRORS_ALL:
        assert name in doc, name
        cls = getattr(hashbench.errors, name)
        assert issubclass(cls, hashbench.HashbenchError) or name == "RunInterrupted"
    assert issubclass(hashbench.errors.RunInterrupted, KeyboardInterrupt)
    assert issubclass(hashbench.errors.ContractError, hashbench.PluginError)


def test_registry_build_model_and_score():
    reg = hashbench.registry()
    assert isinstance(reg, hashbench.contract.Registry) and reg is hashbench.registry()
    assert {"backbone", "head", "loss", "dataset", "metric", "method"} == set(hashbench.contract.KINDS)
    model = hashbench.build_model({"name": "r3d18", "width": 4}, {"name": "tanh", "bits": 8})
    out = model(torch.zeros(2, 3, 4, 32, 32))
    assert out.shape == (2, 8) and float(out.detach().abs().max()) <= 1.0
    labels = np.random.default_rng(0).integers(0, 3, 20)
    codes = np.array([[1] * 8, [-1] * 8, [1, -1] * 4])[labels]  # one code per class: a perfect ranking
    scores = hashbench.score(codes, labels, codes, labels, ["map", "precision@r0"])
    assert scores == pytest.approx({"map": 1.0, "precision@r0": 1.0})


def test_metric_spec_syntax_has_one_reader():
    parse = hashbench.contract.parse_metric_spec
    assert parse("map@100") == hashbench.contract.MetricSpec("map", "k", 100)
    assert parse("precision@r2").registered == "precision@r"
    assert parse("map") is None and parse("map@") is None and parse("map@r") is None


def test_there_is_no_hookspecs_shim():
    """``hashbench.hookspecs`` (a compatibility shim no released version exported) is gone; the spellings
    are ``hashbench.hookimpl`` and ``hashbench.contract`` (see CHANGELOG.md)."""
    assert not (ROOT / "hashbench" / "hookspecs.py").exists()
    assert hashbench.hookimpl is hashbench.contract.hookimpl


def test_plugin_facing_modules_do_not_import_torch():
    """``hashbench plugins`` and ``--help`` stay fast: the contract and the data toolkit load without torch."""
    code = ("import sys, hashbench, hashbench.contract, hashbench.data, hashbench.errors, hashbench.config;"
            " hashbench.registry(); print('torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_entry_points_are_valid():
    scripts = {ep.name: ep for ep in metadata.entry_points(group="console_scripts") if ep.name == "hashbench"}
    assert scripts["hashbench"].value == "hashbench.cli:main"
    assert callable(scripts["hashbench"].load())
    plugins = {ep.name: ep.value for ep in metadata.entry_points(group="hashbench")}
    assert plugins.get("reference") == "hashbench_ref.plugin"
    proc = subprocess.run([sys.executable, "-m", "hashbench", "--help"], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0 and "run" in proc.stdout and "leaderboard" in proc.stdout
