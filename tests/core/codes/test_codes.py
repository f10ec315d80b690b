"""Packed codes: every accepted input form, the codes.npz file, user files for `score`, Hamming distances."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from hashbench.codes import (HAS_BITWISE_COUNT, PackedCodes, check_labels, hamming_blocks,
                             hamming_distances, hamming_torch, load_array, load_codes, load_labels,
                             pack_codes, save_codes, torch_pm1)
from hashbench.errors import DataError


def brute_hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distances between ±1 / 0-1 rows by direct comparison of the unpacked bits."""
    a, b = np.asarray(a) > 0, np.asarray(b) > 0
    return (a[:, None, :] != b[None, :, :]).sum(axis=2)


@pytest.mark.parametrize("bits", [1, 7, 8, 13, 64, 65, 130])
def test_pm1_01_bool_real_and_tensor_inputs_pack_identically(bits):
    rng = np.random.default_rng(bits)
    pm1 = rng.choice([-1, 1], size=(9, bits)).astype(np.int8)
    forms = [pm1, (pm1 > 0).astype(np.uint8), pm1 > 0, pm1 * rng.uniform(0.1, 3.0, size=pm1.shape),
             torch.from_numpy(pm1.astype(np.float32)), pm1.tolist()]
    packed = [pack_codes(f) for f in forms]
    for p in packed:
        assert p.bits == bits and p.words.shape == (9, -(-bits // 8)) and p.words.dtype == np.uint8
        np.testing.assert_array_equal(p.words, packed[0].words)
    np.testing.assert_array_equal(packed[0].unpack(), pm1)


def test_exact_zero_packs_like_minus_one_and_padding_bits_are_zero():
    codes = pack_codes(np.array([[0.0, 1.0, -2.0, 0.5, 0, 0, 0, 0, 1]]))
    assert codes.bits == 9
    np.testing.assert_array_equal(codes.unpack(), [[-1, 1, -1, 1, -1, -1, -1, -1, 1]])
    assert codes.words[0, 1] == 0b1000_0000  # bit 8 set, 7 padding bits clear


def test_already_packed_bytes_and_uint64_words_are_accepted_with_bits():
    rng = np.random.default_rng(0)
    pm1 = rng.choice([-1, 1], size=(5, 20))
    ref = pack_codes(pm1)
    assert pack_codes(ref) is ref
    np.testing.assert_array_equal(pack_codes(ref.words, bits=20).words, ref.words)
    np.testing.assert_array_equal(pack_codes(ref.words64(), bits=20).words, ref.words)
    dirty = ref.words.copy()
    dirty[:, -1] |= 0x0F  # garbage in the padding bits is cleared
    np.testing.assert_array_equal(pack_codes(dirty, bits=20).words, ref.words)
    np.testing.assert_array_equal(pack_codes(np.array([[0, 1, 1]], dtype=np.uint8)).words, [[0b01100000]])


@pytest.mark.parametrize("bad, bits, message", [
    (np.ones(8), None, "2-D"),
    (np.array([[1.0, np.nan]]), None, "NaN"),
    (np.ones((3, 5)), 6, "5 columns but 6 bits"),
    (np.array([["a", "b"]]), None, "expected numbers"),
    (np.array([[253, 50, 255, 51]], dtype=np.uint8), None, "look like packed bytes.*pass bits"),
])
def test_bad_code_arrays_raise_one_clear_data_error(bad, bits, message):
    with pytest.raises(DataError, match=message):
        pack_codes(bad, bits=bits, what="my codes")


def test_packed_codes_reject_inconsistent_words():
    with pytest.raises(DataError, match="do not hold"):
        PackedCodes(np.zeros((2, 3), np.uint8), 48)
    with pytest.raises(DataError, match="uint8"):
        PackedCodes(np.zeros((2, 6), np.int64), 48)


def test_check_labels_forms_and_errors():
    np.testing.assert_array_equal(check_labels(np.array([1.0, 2.0]), 2), [1, 2])  # CSQ stores float ids
    assert check_labels(np.array([[3], [4]]), 2).tolist() == [3, 4]  # a column of ids
    multi = check_labels(np.array([[0, 1, 1], [1, 0, 0]]), 2)
    assert multi.dtype == bool and multi.shape == (2, 3)
    assert check_labels(np.array([[True], [False]]), 2).shape == (2, 1)  # one-class multi-hot stays 2-D
    with pytest.raises(DataError, match="3 labels for 2 codes"):
        check_labels([1, 2, 3], 2, "query labels")
    with pytest.raises(DataError, match="whole numbers"):
        check_labels([0.5, 1.0], 2)
    with pytest.raises(DataError, match="only 0/1"):
        check_labels(np.array([[0, 2]]), 1)


def test_save_and_load_codes_roundtrip_atomically(tmp_path):
    rng = np.random.default_rng(1)
    qc, dc = rng.choice([-1, 1], size=(4, 12)), rng.choice([-1, 1], size=(6, 12))
    ql, dl = np.array([0, 1, 2, 0]), rng.random((6, 3)) < 0.5
    path = save_codes(tmp_path / "run" / "codes.npz", query_codes=qc, query_labels=ql, db_codes=dc,
                      db_labels=dl, query_ids=[f"q{i}" for i in range(4)], db_ids=None)
    assert sorted(os.listdir(path.parent)) == ["codes.npz"]  # no temporary file left behind
    loaded = load_codes(path)
    assert loaded["bits"] == 12
    np.testing.assert_array_equal(loaded["query_codes"].unpack(), qc)
    np.testing.assert_array_equal(loaded["db_codes"].unpack(), dc)
    np.testing.assert_array_equal(loaded["query_labels"], ql)
    np.testing.assert_array_equal(loaded["db_labels"], dl)
    assert loaded["query_ids"] == ["q0", "q1", "q2", "q3"] and loaded["db_ids"] is None


def test_save_codes_refuses_mismatches_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "codes.npz"
    save_codes(path, query_codes=np.ones((2, 8)), query_labels=[0, 1], db_codes=np.ones((3, 8)),
               db_labels=[0, 1, 1])
    before = path.read_bytes()
    with pytest.raises(DataError, match="bits"):
        save_codes(path, query_codes=np.ones((2, 8)), query_labels=[0, 1], db_codes=np.ones((3, 9)),
                   db_labels=[0, 1, 1])
    with pytest.raises(DataError, match="2 ids for 3 codes"):
        save_codes(path, query_codes=np.ones((2, 8)), query_labels=[0, 1], db_codes=np.ones((3, 8)),
                   db_labels=[0, 1, 1], db_ids=["a", "b"])
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["codes.npz"]


def test_load_codes_errors_name_the_file_and_key(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_codes(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(DataError, match="junk.npz: not a readable .npz"):
        load_codes(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", query_codes=np.zeros((1, 1), np.uint8))
    with pytest.raises(DataError, match="missing key"):
        load_codes(tmp_path / "other.npz")


def test_load_array_npy_npz_role_and_explicit_key(tmp_path):
    a, b = np.arange(6).reshape(3, 2), np.arange(3)
    np.save(tmp_path / "a.npy", a)
    np.savez(tmp_path / "one.npz", a)
    np.savez(tmp_path / "two.npz", x=a, query_labels=b)
    np.testing.assert_array_equal(load_array(tmp_path / "a.npy", "query_codes")[0], a)
    np.testing.assert_array_equal(load_array(tmp_path / "one.npz", "query_codes")[0], a)
    np.testing.assert_array_equal(load_array(tmp_path / "two.npz", "query_labels")[0], b)
    np.testing.assert_array_equal(load_array(f"{tmp_path / 'two.npz'}:x", "db_codes")[0], a)
    with pytest.raises(DataError, match="choose one with"):
        load_array(tmp_path / "two.npz", "db_codes")
    with pytest.raises(DataError, match="no array named 'y'"):
        load_array(f"{tmp_path / 'two.npz'}:y", "db_codes")
    (tmp_path / "two.txt").write_text("1 2 3")
    with pytest.raises(DataError, match="unsupported file type"):
        load_array(tmp_path / "two.txt", "db_codes")
    with pytest.raises(DataError, match="3 labels for 4 codes"):
        load_labels(tmp_path / "two.npz", "query_labels", 4)


def test_codes_npz_of_a_run_serves_every_score_option(tmp_path):
    path = save_codes(tmp_path / "codes.npz", query_codes=-np.ones((2, 10)), query_labels=[0, 1],
                      db_codes=np.ones((3, 10)), db_labels=[1, 1, 0])
    words, bits = load_array(path, "db_codes")
    assert bits == 10 and pack_codes(words, bits=bits).unpack().tolist() == np.ones((3, 10)).tolist()


@pytest.mark.parametrize("bits", [3, 48, 64, 100, 300])
@pytest.mark.parametrize("popcount", ["bitwise_count", "lut"])
def test_hamming_distances_match_brute_force(bits, popcount):
    if popcount == "bitwise_count" and not HAS_BITWISE_COUNT:
        pytest.skip("numpy < 2 has no bitwise_count (the LUT path is tested)")
    rng = np.random.default_rng(bits)
    q, d = rng.integers(0, 2, size=(7, bits)), rng.integers(0, 2, size=(1100, bits))
    got = hamming_distances(pack_codes(q), pack_codes(d), popcount=popcount)
    assert got.dtype == (np.uint8 if bits <= 255 else np.uint16)
    np.testing.assert_array_equal(got, brute_hamming(q, d))


def test_hamming_blocks_any_block_size_and_torch_matmul_agree():
    rng = np.random.default_rng(5)
    q, d = rng.integers(0, 2, size=(11, 37)), rng.integers(0, 2, size=(53, 37))
    ref = brute_hamming(q, d)
    for block in (1, 4, 11, 100):
        parts = list(hamming_blocks(pack_codes(q), pack_codes(d), block=block, device="cpu"))
        assert [start for start, _ in parts] == list(range(0, 11, block))
        np.testing.assert_array_equal(np.concatenate([p for _, p in parts]), ref)
    qt = torch_pm1(pack_codes(q), "cpu", torch.float32)
    dt = torch_pm1(pack_codes(d), "cpu", torch.float32)
    np.testing.assert_array_equal(qt.numpy(), np.where(q > 0, 1, -1))
    np.testing.assert_array_equal(hamming_torch(qt, dt).numpy(), ref)


def test_distance_bit_count_mismatch_is_a_data_error():
    with pytest.raises(DataError, match="16 bits but database codes 8"):
        hamming_distances(pack_codes(np.ones((1, 16))), pack_codes(np.ones((1, 8))))


@pytest.mark.gpu
def test_cuda_float16_matmul_distances_are_exact():
    rng = np.random.default_rng(9)
    q, d = rng.integers(0, 2, size=(64, 2048)), rng.integers(0, 2, size=(3000, 2048))
    parts = list(hamming_blocks(pack_codes(q), pack_codes(d), block=16, device="cuda"))
    np.testing.assert_array_equal(np.concatenate([p for _, p in parts]), brute_hamming(q, d))
