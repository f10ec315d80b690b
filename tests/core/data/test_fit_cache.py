"""The fit cache (hashbench.data.fit_cache): keys, hits and misses, where it lives, and damaged or
unwritable entries (recomputed with one warning, never an error)."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from hashbench.data import FIT_CACHE_ENV, data_digest, fit_cache_root, memo
from hashbench.data.fit_cache import cache_key


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(FIT_CACHE_ENV, str(tmp_path / "fits"))
    return tmp_path / "fits"


class Counter:
    """A ``compute`` that counts its calls and returns fresh random arrays (so a hit is visible)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> dict[str, np.ndarray]:
        self.calls += 1
        rng = np.random.default_rng(self.calls)
        return {"a": rng.standard_normal((3, 4)), "n": np.array(self.calls, dtype=np.int64)}


def test_a_second_call_with_the_same_key_loads_the_first_result(root: Path) -> None:
    compute = Counter()
    first = memo("stage", {"k": 4}, "d1", compute)
    second = memo("stage", {"k": 4}, "d1", compute)
    assert compute.calls == 1
    assert set(second) == {"a", "n"} and np.array_equal(first["a"], second["a"]) and int(second["n"]) == 1
    assert second["a"].dtype == np.float64 and second["a"].tobytes() == first["a"].tobytes()
    assert len(list((root / "stage").glob("*.npz"))) == 1


def test_params_data_and_stage_each_change_the_key(root: Path) -> None:
    compute = Counter()
    memo("stage", {"k": 4, "seed": 0}, "d1", compute)
    memo("stage", {"seed": 0, "k": 4}, "d1", compute)  # the same params in another order: a hit
    assert compute.calls == 1
    memo("stage", {"k": 5, "seed": 0}, "d1", compute)
    memo("stage", {"k": 4, "seed": 0}, "d2", compute)
    memo("other", {"k": 4, "seed": 0}, "d1", compute)
    assert compute.calls == 4
    assert cache_key("s", {"k": 1}, "d") != cache_key("s", {"k": 1.5}, "d")


def test_off_computes_every_time_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FIT_CACHE_ENV, "off")
    monkeypatch.setenv("HASHBENCH_CACHE", str(tmp_path))
    assert fit_cache_root() is None
    compute = Counter()
    memo("stage", {}, "d", compute)
    memo("stage", {}, "d", compute)
    assert compute.calls == 2 and list(tmp_path.iterdir()) == []


def test_the_root_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FIT_CACHE_ENV, raising=False)
    monkeypatch.setenv("HASHBENCH_CACHE", str(tmp_path / "shared"))
    assert fit_cache_root() == tmp_path / "shared" / "fits"
    monkeypatch.delenv("HASHBENCH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert fit_cache_root() == tmp_path / "xdg" / "hashbench" / "fits"
    monkeypatch.setenv(FIT_CACHE_ENV, str(tmp_path / "mine"))
    assert fit_cache_root() == tmp_path / "mine"


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other_key", "pickle"])
def test_a_damaged_entry_is_recomputed_with_one_warning(root: Path, damage: str,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    compute = Counter()
    memo("stage", {}, "d", compute)
    (path,) = (root / "stage").glob("*.npz")
    if damage == "garbage":
        path.write_bytes(b"not a zip file at all")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "other_key":
        path.write_bytes(next(iter(_entry(root, "elsewhere").glob("*.npz"))).read_bytes())
    else:  # an object array needs pickle, which the loader refuses
        with open(path, "wb") as handle:
            np.savez(handle, a=np.array([{"x": 1}], dtype=object))
    with caplog.at_level(logging.WARNING, logger="hashbench.data.fit_cache"):
        again = memo("stage", {}, "d", compute)
    assert compute.calls == 2 and int(again["n"]) == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "unreadable" in warnings[0].getMessage() and str(path) in warnings[0].getMessage()
    assert int(memo("stage", {}, "d", compute)["n"]) == 2 and compute.calls == 2  # rewritten: a hit again


def _entry(root: Path, stage: str) -> Path:
    memo(stage, {}, "d", Counter())
    return root / stage


def test_an_unwritable_cache_warns_and_still_returns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv(FIT_CACHE_ENV, str(blocker / "fits"))
    with caplog.at_level(logging.WARNING, logger="hashbench.data.fit_cache"):
        out = memo("stage", {}, "d", Counter())
    assert int(out["n"]) == 1
    assert any("cannot write" in r.getMessage() for r in caplog.records)


def test_bad_stage_names_and_object_values_are_refused(root: Path) -> None:
    with pytest.raises(ValueError, match="stage"):
        memo("../up", {}, "d", Counter())
    with pytest.raises(ValueError, match="object array"):
        memo("stage", {}, "d", lambda: {"a": np.array([None, 1], dtype=object)})


def test_the_data_digest_sees_dtype_shape_and_every_byte() -> None:
    x = np.random.default_rng(0).standard_normal((50, 6)).astype(np.float32)
    base = data_digest(x)
    assert base == data_digest(x.copy()) and len(base) == 64
    assert data_digest(x.astype(np.float64)) != base
    assert data_digest(x.reshape(6, 50)) != base
    y = x.copy()
    y[49, 5] = np.nextafter(y[49, 5], np.float32(np.inf))
    assert data_digest(y) != base
    fortran = np.asfortranarray(x)  # not C-contiguous: hashed in C order, the same digest
    assert data_digest(fortran) == base
