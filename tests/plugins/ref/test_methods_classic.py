"""The classic unsupervised baselines (hashbench_ref.methods.classic) against independent re-derivations
of their references (tests/references/classic_hashing.py), plus their common surface: shapes, seeds,
state_dict round trips, clear errors, and the ordering every paper reports (ITQ >= PCAH >= LSH)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans

import hashbench
from hashbench.errors import CheckpointError, ContractError, DataError
from hashbench_ref.methods.classic import pca_fit
from hashbench_ref.methods.classic.agh import AGH
from hashbench_ref.methods.classic.itq import ITQ
from hashbench_ref.methods.classic.lsh import LSH
from hashbench_ref.methods.classic.pcah import PCAH
from hashbench_ref.methods.classic.sh import SH
from hashbench_ref.methods.classic.sph import SpH
from tests.references import classic_hashing as ref

BITS = 12
#: Every baseline with small-data keyword arguments.
FAMILIES = {"lsh": (LSH, {}), "pcah": (PCAH, {}), "itq": (ITQ, {}), "sh": (SH, {}), "sph": (SpH, {}),
            "agh": (AGH, {"anchors": 20, "nearest": 3})}
#: Families whose fit draws random numbers (a different seed gives different codes).
RANDOM = ("lsh", "itq", "sph", "agh")


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """Six overlapping Gaussian clusters in 24-d (overlapping, so that the anchor graph is connected):
    240 training rows and 40 held-out rows, float64."""
    rng = np.random.default_rng(0)
    centres = 0.8 * rng.standard_normal((6, 24))
    labels = rng.integers(0, 6, 280)
    x = centres[labels] + rng.standard_normal((280, 24))
    return x[:240], x[240:]


def fitted(name: str, train: np.ndarray, seed: int = 0, bits: int = BITS):
    cls, kwargs = FAMILIES[name]
    method = cls(bits, seed=seed, **kwargs)
    method.fit(train)
    return method


def real(method, x: np.ndarray) -> np.ndarray:
    return method.encode(x).double().numpy()


@pytest.mark.parametrize("center", [False, True])
def test_lsh_equals_fire_projection(data, center: bool) -> None:
    train, held = data
    method = LSH(BITS, seed=3, center=center)
    method.fit(train)
    expected = ref.lsh(train, held, BITS, seed=3, center=center)
    np.testing.assert_allclose(real(method, held), expected, rtol=1e-6, atol=1e-5)  # float32 output
    assert (np.sign(real(method, held)) == np.sign(expected)).all()


def test_pca_fit_equals_sklearn_on_both_eigen_routes() -> None:
    """D = 24 takes the dense eigh, D = 160 with k = 16 the ARPACK route; both equal sklearn's PCA."""
    rng = np.random.default_rng(1)
    for d, k in [(24, 12), (160, 16)]:
        x = rng.standard_normal((300, d)) * np.linspace(3.0, 0.5, d)
        mean, components = pca_fit(x, k)
        model = ref.pca(x, k)
        np.testing.assert_allclose(mean, model.mean_, atol=1e-12)
        np.testing.assert_allclose(components, model.components_, atol=1e-9)


def test_pcah_equals_sklearn_pca_projection(data) -> None:
    train, held = data
    method = fitted("pcah", train)
    expected = ref.pca_project(ref.pca(train, BITS), held)
    np.testing.assert_allclose(real(method, held), expected, rtol=1e-6, atol=1e-5)
    assert (np.sign(real(method, held)) == np.sign(expected)).all()


def test_itq_loss_sequence_rotation_and_codes_equal_itq_m(data) -> None:
    train, held = data
    method = fitted("itq", train, seed=5)
    model, rotation, losses = ref.itq(train, BITS, seed=5, n_iter=50)
    got = method.state_dict()["losses"].numpy()
    assert got.shape == (50,)
    np.testing.assert_allclose(got, losses, rtol=1e-10)
    assert (np.diff(got) <= 1e-9 * got[0]).all(), "ITQ's quantisation loss must not increase"
    assert got[-1] < got[0]
    np.testing.assert_allclose(method.state_dict()["rotation"].numpy(), rotation, atol=1e-10)
    expected = ref.pca_project(model, held) @ rotation
    assert (np.sign(real(method, held)) == np.sign(expected)).all()


def test_sh_modes_and_codes_equal_train_compress_sh(data) -> None:
    train, held = data
    method = fitted("sh", train)
    param = ref.train_sh(train, BITS)
    np.testing.assert_array_equal(method.state_dict()["modes"].numpy(), param["modes"])
    for x in (train, held):
        expected = ref.compress_sh(x, param)
        np.testing.assert_allclose(real(method, x), expected, atol=1e-6)
        assert (np.sign(real(method, x)) == np.sign(expected)).all()


def test_sph_pivots_radii_and_codes_equal_spherical_hashing_m(data) -> None:
    train, held = data
    method = fitted("sph", train, seed=2)
    centers, radii, iterations = ref.spherical_hashing(train, BITS, seed=2)
    state = method.state_dict()
    assert int(state["iterations"]) == iterations and 1 <= iterations < 100
    np.testing.assert_allclose(state["pivots"].numpy(), centers, atol=1e-10)
    np.testing.assert_allclose(state["radii"].numpy(), radii, atol=1e-10)
    for x in (train, held):
        np.testing.assert_array_equal(real(method, x) >= 0, ref.sph_inside(x, centers, radii))
    inside = ref.sph_inside(train, centers, radii)
    assert (inside.sum(axis=0) >= len(train) // 2).all()  # each sphere holds (at least) half the points


def test_agh_anchors_and_codes_equal_one_layer_agh(data) -> None:
    train, held = data
    method = fitted("agh", train, seed=1)
    state = method.state_dict()
    anchors = KMeans(n_clusters=20, n_init=1, random_state=1).fit(train).cluster_centers_
    np.testing.assert_allclose(state["anchors"].numpy(), anchors, atol=1e-12)
    w, sigma = ref.agh_train(train, anchors, BITS, 3)
    assert float(state["sigma"]) == pytest.approx(sigma, rel=1e-12)
    for x in (train, held):
        expected = ref.agh_test(x, anchors, w, 3, sigma)
        np.testing.assert_allclose(real(method, x), expected, rtol=1e-5, atol=1e-6)
        assert (np.sign(real(method, x)) == np.sign(expected)).all()


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_shapes_dtype_and_frame_pooling(data, name: str) -> None:
    train, held = data
    method = fitted(name, train)
    out = method.encode(held[:7])
    assert out.shape == (7, BITS) and out.dtype == torch.float32
    frames = np.stack([held[:7] - 1.0, held[:7] + 1.0], axis=1)  # (B, T=2, D), mean = held[:7]
    torch.testing.assert_close(method.encode(torch.from_numpy(frames)), out, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_state_dict_round_trip(data, name: str) -> None:
    train, held = data
    method = fitted(name, train, seed=4)
    state = {key: value.clone() for key, value in method.state_dict().items()}
    assert all(isinstance(value, torch.Tensor) for value in state.values())
    cls, kwargs = FAMILIES[name]
    fresh = cls(BITS, seed=99, **kwargs)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.encode(held), method.encode(held))


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_same_seed_same_codes_and_random_ones_depend_on_it(data, name: str) -> None:
    train, held = data
    first, again = fitted(name, train, seed=7), fitted(name, train, seed=7)
    assert torch.equal(first.encode(held), again.encode(held))
    if name in RANDOM:
        other = fitted(name, train, seed=8)
        assert not torch.equal(torch.sign(first.encode(held)), torch.sign(other.encode(held)))


def test_float32_input_fits_and_agrees_with_float64(data) -> None:
    train, held = data
    single, double = fitted("itq", train.astype(np.float32)), fitted("itq", train)
    agree = (torch.sign(single.encode(held)) == torch.sign(double.encode(held))).float().mean()
    assert agree > 0.99


def test_bad_inputs_raise_clear_errors(data) -> None:
    train, held = data
    with pytest.raises(ContractError, match="before fit"):
        ITQ(BITS).encode(held)
    method = fitted("pcah", train)
    with pytest.raises(DataError, match="24"):
        method.encode(held[:, :10])
    bad = train.copy()
    bad[3, 4] = np.nan
    with pytest.raises(DataError, match="NaN"):
        PCAH(BITS).fit(bad)
    with pytest.raises(DataError, match="bits <= 24"):
        PCAH(30).fit(train)
    with pytest.raises(CheckpointError, match="components"):
        PCAH(BITS).load_state_dict({"mean": torch.zeros(24), "input_dim": torch.tensor(24)})
    with pytest.raises(DataError, match="anchors"):
        AGH(BITS, anchors=300).fit(train)


def test_itq_beats_pcah_beats_lsh_on_clustered_features() -> None:
    """Ten overlapping Gaussian classes in 64-d with a positive offset (like ReLU features), 16 bits:
    the order every paper's table shows, scored with hashbench's mAP over the whole database."""
    rng = np.random.default_rng(0)
    centres = 0.45 * rng.standard_normal((10, 64))

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 10, n)
        return (centres[y] + rng.standard_normal((n, 64)) + 2.0).astype(np.float32), y

    (train, _), (query, yq), (database, yd) = draw(600), draw(100), draw(500)
    scores = {}
    for name in ("lsh", "pcah", "itq"):
        method = fitted(name, train, bits=16)
        scores[name] = hashbench.score(method.encode(query), yq, method.encode(database), yd, ["map"])["map"]
    assert scores["itq"] >= scores["pcah"] + 0.05, scores
    assert scores["pcah"] >= scores["lsh"] + 0.05, scores
