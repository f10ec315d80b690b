"""The classic baselines through the fit cache: a sweep over bits or seeds computes the covariance, the
PCA and AGH's k-means once (counted), the codes equal a fit with the cache off, and damaged entries are
recomputed with a warning."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

import hashbench_ref.methods.classic as classic
import hashbench_ref.methods.classic.agh as agh_module
from hashbench.data import FIT_CACHE_ENV
from hashbench_ref.methods.classic.agh import AGH
from hashbench_ref.methods.classic.itq import ITQ
from hashbench_ref.methods.classic.pcah import PCAH
from hashbench_ref.methods.classic.sh import SH


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """Overlapping Gaussian clusters, 24-d float32: 240 training rows, 40 held out."""
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((6, 24))[rng.integers(0, 6, 280)] + rng.standard_normal((280, 24)))
    return x[:240].astype(np.float32), x[240:].astype(np.float32)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(FIT_CACHE_ENV, str(tmp_path / "fits"))
    return tmp_path / "fits"


def counting(monkeypatch: pytest.MonkeyPatch, module, name: str) -> list[int]:
    """Replace ``module.name`` by a wrapper that counts its calls; returns the one-element counter."""
    calls = [0]
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def codes_and_state(method, held: np.ndarray) -> tuple[np.ndarray, dict]:
    return method.encode(held).numpy(), {k: v.numpy() for k, v in method.state_dict().items()}


def fit_without_cache(cls, bits: int, seed: int, train: np.ndarray, monkeypatch: pytest.MonkeyPatch, **kwargs):
    with monkeypatch.context() as patch:
        patch.setenv(FIT_CACHE_ENV, "off")
        method = cls(bits, seed=seed, **kwargs)
        method.fit(train)
    return method


def assert_identical(a, b, held: np.ndarray) -> None:
    (codes_a, state_a), (codes_b, state_b) = codes_and_state(a, held), codes_and_state(b, held)
    assert codes_a.tobytes() == codes_b.tobytes()
    assert set(state_a) == set(state_b) and all(state_a[k].tobytes() == state_b[k].tobytes() for k in state_a)


def test_a_sweep_over_bits_and_seeds_computes_the_pca_once_per_length(data, cache, monkeypatch) -> None:
    train, held = data
    covariances = counting(monkeypatch, classic, "covariance")
    eigen = counting(monkeypatch, classic, "principal_components")
    sweep = [(PCAH, 8, 0), (ITQ, 8, 0), (ITQ, 8, 1), (SH, 12, 0), (ITQ, 12, 2), (PCAH, 12, 0)]
    fitted = []
    for cls, bits, seed in sweep:
        method = cls(bits, seed=seed)
        method.fit(train)
        fitted.append(method)
    assert covariances[0] == 1  # one O(N D^2) pass for the whole sweep
    assert eigen[0] == 2  # k = 8 and k = 12
    assert len(list((cache / "covariance").glob("*.npz"))) == 1 and len(list((cache / "pca").glob("*.npz"))) == 2
    for (cls, bits, seed), method in zip(sweep, fitted):
        assert_identical(method, fit_without_cache(cls, bits, seed, train, monkeypatch), held)


def test_other_data_misses(data, cache, monkeypatch) -> None:
    train, _ = data
    covariances = counting(monkeypatch, classic, "covariance")
    PCAH(8).fit(train)
    PCAH(8).fit(train[:-1])
    PCAH(8).fit(train.astype(np.float64))
    assert covariances[0] == 3


def test_agh_reuses_its_kmeans_anchors_across_bits(data, cache, monkeypatch) -> None:
    train, held = data
    kmeans = counting(monkeypatch, agh_module, "kmeans_anchors")
    graphs = counting(monkeypatch, agh_module, "anchor_graph")
    fitted = {}
    for bits in (6, 10):
        fitted[bits] = AGH(bits, seed=0, anchors=20, nearest=3)
        fitted[bits].fit(train)
    assert (kmeans[0], graphs[0]) == (1, 1)
    AGH(6, seed=0, anchors=20, nearest=2).fit(train)  # another graph on the same anchors
    assert (kmeans[0], graphs[0]) == (1, 2)
    AGH(6, seed=1, anchors=20, nearest=3).fit(train)  # another seed: other anchors
    assert (kmeans[0], graphs[0]) == (2, 3)
    for bits, method in fitted.items():
        assert_identical(method, fit_without_cache(AGH, bits, 0, train, monkeypatch, anchors=20, nearest=3), held)


def test_damaged_cache_files_are_recomputed_with_a_warning(data, cache, monkeypatch, caplog) -> None:
    train, held = data
    first = ITQ(8, seed=0)
    first.fit(train)
    files = sorted(cache.rglob("*.npz"))
    assert len(files) == 2
    for path in files:
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    covariances = counting(monkeypatch, classic, "covariance")
    again = ITQ(8, seed=0)
    with caplog.at_level(logging.WARNING, logger="hashbench.data.fit_cache"):
        again.fit(train)
    assert covariances[0] == 1
    assert sum("unreadable" in r.getMessage() for r in caplog.records) == 2
    assert_identical(first, again, held)
