"""S5VH against a float64 loop re-derivation of the released code (tests/references/ssvh_s5vh.py): codes,
each loss term (warm-up and soft-label epochs, both variants) and every parameter's gradient on fixed
inputs with identical weights (float32 tolerance reached: 2e-5 relative, 1e-6 absolute; drop path 0, the
re-derivation has none); fit's stages on small data (pseudo-labels = nearest centroid of the PCA
projection, hash centres no worse than the Hadamard start, cached); deterministic fit; state_dict round
trip; a resumed run continues exactly (bank and drop-path draws included); bad keys."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from hashbench_ref.methods.selfsupervised import FACTORIES
from hashbench_ref.methods.ssl.centres import hadamard_start
from references import ssvh_s5vh as ref
from references.ssl_blocks import centre_metric, nearest
from references.ssvh_conmh import as_float64
from support.methods import (assert_gradients_match, assert_refused, assert_resumes_exactly, assert_round_trips,
                             assert_same_state, train_direct)

SMALL = {"depth": 2, "width": 4, "decoder_depth": 1, "decoder_width": 4, "d_state": 2, "drop_path": 0.0,
         "mask_ratio": 0.5, "alpha": 0.7, "a_cluster": 0.3, "clusters": 3, "pca_dim": 5, "centre_sweeps": 0,
         "warm_up_epoch": 1}
B, T, D, BITS, N = 4, 5, 10, 8, 12  # T odd: a frame mean of +-1 codes is never 0


def build(seed: int = 0, **keys):
    return FACTORIES["s5vh"](bits=BITS, feature_dim=D, num_frames=T, seed=seed, num_train=N, **{**SMALL, **keys})


def data(seed: int = 2) -> torch.Tensor:
    return torch.randn(N, T, D, generator=torch.Generator().manual_seed(seed))


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a.double(), b.detach(), rtol=2e-5, atol=1e-6)


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch):
    monkeypatch.setenv("HASHBENCH_FIT_CACHE", "off")


@pytest.mark.parametrize("variant, epoch", [("released", 1), ("released", 2), ("paper", 2)])
def test_codes_terms_and_gradients_equal_the_re_derivation(variant, epoch):
    method = build(variant=variant)
    x = data()
    method.fit(x)
    method.on_epoch_start(epoch, 3)
    with torch.no_grad():  # soft rows, so the bank update is visible
        method.cluster_labels.copy_(torch.softmax(torch.randn(N, 3, generator=torch.Generator().manual_seed(5)), -1))
    idx = torch.tensor([3, 0, 7, 9])
    p = as_float64(method.state_dict())
    rows = method.cluster_labels[idx].double().clone()
    masks = method.masks(B, T)
    terms = method.terms_given(x[idx], masks, idx)
    (terms["reconstruction"] + 0.7 * terms["contrastive"] + 0.3 * terms["cluster"]).backward()
    settings = {"bits": BITS, "temperature": 0.5, "tau_plus": 0.1, "temperature_cluster": 0.5, "smoothing": 0.01,
                "warm": epoch <= 1, "ln": variant == "paper"}
    expected = ref.s5vh_terms(x[idx].double(), masks, p, rows, settings)
    for key in ("reconstruction", "contrastive", "cluster", "codes1", "codes2"):
        _close(terms[key], expected[key])
    _close(method.cluster_labels[idx], expected["targets"])  # the bank holds the updated rows
    assert torch.equal(method.cluster_labels[idx], rows.float()) == (epoch <= 1)
    (expected["reconstruction"] + 0.7 * expected["contrastive"] + 0.3 * expected["cluster"]).backward()
    assert_gradients_match(method, p, _close, prefix="net.", nonzero=len(list(method.parameters())) - 2)
    method.eval()
    with torch.no_grad():
        codes = method.encode(x[idx])
    assert torch.equal(torch.sign(codes), torch.sign(ref.inference_codes(x[idx].double(), p)).float())


def test_variants_differ_as_documented():
    released, paper = build(), build(variant="paper")
    assert released.net.blocks[0].mamba2 is None and paper.net.blocks[0].mamba2 is not None
    assert released.net.blocks[0].norm1.eps == 1e-6
    x = data()
    released.fit(x)
    paper.fit(x)
    assert torch.equal(paper.classifier.weight, paper.hash_centres)
    assert not torch.equal(released.classifier.weight, released.hash_centres)
    # the released code zeroes the Mambas' dt bias with its Xavier pass
    assert torch.equal(released.net.blocks[1].mamba1.dt_proj.bias, torch.zeros(8))


def test_fit_stages_on_small_data(monkeypatch, tmp_path):
    monkeypatch.setenv("HASHBENCH_FIT_CACHE", str(tmp_path))
    x = data(3)
    method = build(centre_sweeps=1)
    method.fit(x)
    pooled = x.double().mean(dim=1).numpy()
    centred = pooled - pooled.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    latent = centred @ vt[:5].T  # PCA to pca_dim = 5 (signs free: distances do not see them)
    labels = method.pseudo_labels.numpy()
    centroids = np.stack([latent[labels == k].mean(axis=0) for k in range(3)])
    assert sorted(set(labels.tolist())) == [0, 1, 2]
    assert np.array_equal(nearest(latent, centroids), labels)  # k-means fixed point: nearest centroid
    assert torch.equal(method.cluster_labels, torch.eye(3)[method.pseudo_labels])
    centres = method.hash_centres.double().numpy()
    assert set(np.unique(centres)) <= {-1.0, 1.0}
    assert centre_metric(centres, centroids) >= centre_metric(hadamard_start(3, BITS, 0), centroids) - 1e-9
    stored = sorted(p.parent.name for p in tmp_path.rglob("*.npz"))
    assert stored == ["s5vh_centres", "s5vh_clusters"]
    again = build(centre_sweeps=1)
    again.fit(x)  # from the cache: same state
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in method.state_dict().items())


def test_fit_is_deterministic_and_state_dict_round_trips():
    x = data()
    a, b = build(seed=3), build(seed=3)
    a.fit(x)
    b.fit(x)
    assert_same_state(a, b)
    fresh = FACTORIES["s5vh"](bits=BITS, feature_dim=D, num_frames=T, seed=4, **SMALL)  # num_train unknown
    assert_round_trips(a, fresh, x)
    assert torch.equal(fresh.cluster_labels, a.cluster_labels)


def test_a_resumed_run_continues_exactly():
    x = data()
    keys = {"drop_path": 0.5}  # drop-path draws from the method's generator too

    def fitted():
        method = build(**keys)
        method.fit(x)
        return method

    # a fresh build, not fitted: everything comes from the checkpoint
    run = assert_resumes_exactly(fitted, lambda: build(seed=9, **keys),
                                 lambda method, opt, epochs: train_direct(method, opt, x, epochs, batch=6),
                                 optimizer=torch.optim.AdamW)
    assert not torch.equal(run.straight.cluster_labels, run.first.cluster_labels)  # epoch 2 smoothed the bank


@pytest.mark.parametrize("keys, message", [
    ({"mask_ratio": 1.0}, "method.mask_ratio: must be a number"),
    ({"variant": "tied"}, "method.variant: unknown value 'tied'"),
    ({"clusters": 0}, "method.clusters: must be a positive integer"),
    ({"centre_sweeps": -1}, "method.centre_sweeps: must be an integer >= 0"),
    ({"bits": 12}, "method.bits: S5VH's Hadamard hash centres need a power of 2, got 12"),
])
def test_bad_keys_say_which_key_and_why(keys, message):
    assert_refused(FACTORIES["s5vh"], {"bits": BITS, "feature_dim": D, "num_frames": T, **SMALL, **keys}, message)


def test_fit_with_more_clusters_than_videos_says_so():
    with pytest.raises(Exception, match="method.clusters = 3: the training split has 2 videos"):
        build().fit(data()[:2])
