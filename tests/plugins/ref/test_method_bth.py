"""BTH (hashbench_ref.methods.bth): codes, each loss term and every parameter's gradient against the
loop re-derivation of the released code (tests/references/ssvh_bth.py), the preprocessing stages on small
data, a deterministic fit, the state_dict round trip, an exact resume, and the conformance kit."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from hashbench.contract import MethodBatch
from hashbench_ref.methods.selfsupervised import bth
from support.methods import assert_kit_passes, assert_resumes_exactly, assert_round_trips, assert_same_state
from tests.references import ssl_blocks
from tests.references import ssvh_bth as ref

#: float32 method vs float64 loops: the largest relative difference reached is ~1e-6 (codes exact).
RTOL, ATOL = 2e-5, 1e-6
SMALL = {"bits": 8, "feature_dim": 12, "hidden": 8, "heads": 2, "anchors": 6, "pretrain_epochs": 2,
         "pretrain_batch": 8}


def clips(n: int = 24, t: int = 5, d: int = 12, seed: int = 0) -> torch.Tensor:
    """Two families of videos (drifting up or down over time), so anchors and pairs have structure."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n, 1, d, generator=g)
    drift = torch.linspace(-1, 1, t).view(1, t, 1) * torch.where(torch.arange(n) % 2 == 0, 1.0, -1.0).view(n, 1, 1)
    return base + drift + 0.1 * torch.randn(n, t, d, generator=g)


def fitted(dropout: float = 0.0, **keys) -> tuple:
    method = bth(**{**SMALL, "dropout": dropout, **keys})
    x = clips()
    method.fit(x)
    return method, x


def weights(method) -> dict:
    return {k[len("net."):]: v.detach().double().clone().requires_grad_(True)
            for k, v in method.state_dict().items() if k.startswith("net.")}


@pytest.mark.parametrize("variant", ["released", "paper"])
def test_codes_terms_and_gradients_equal_the_re_derivation(variant, monkeypatch):
    monkeypatch.setenv("HASHBENCH_FIT_CACHE", "off")
    method, x = fitted(variant=variant)
    method.train()
    batch = MethodBatch(x[:6], torch.arange(6))
    draw = method.draw(batch)
    if variant == "released":
        assert torch.equal(draw["y1"], draw["c1"])
    else:
        assert torch.equal(draw["y1"], x[:6]) and not torch.equal(draw["c1"], x[:6])
    terms = method.loss_terms(batch, draw)
    p = weights(method)
    labels = method.pseudo_labels[:6].tolist()
    expected = ref.terms(draw, p, 2, method.anchors.double(), labels)
    for name in ("mask", "nei", "mu"):
        assert torch.allclose(terms[name].double(), expected[name], rtol=RTOL, atol=ATOL), name
    method.zero_grad()
    sum(terms.values()).backward()
    sum(expected.values()).backward()
    for name, param in method.net.named_parameters():
        assert torch.allclose(param.grad.double(), p[name].grad, rtol=1e-4, atol=1e-6), name
    method.eval()
    with torch.no_grad():
        codes = method.encode(x[:4])
    expected_codes = torch.stack([ref.code(v.double(), p, 2) for v in x[:4]]).detach()
    assert torch.allclose(codes.double(), expected_codes, atol=1e-6)  # k / T in float32 vs float64
    assert torch.equal(torch.sign(codes).double(), torch.sign(expected_codes))


def test_training_loss_is_the_weighted_sum_of_the_terms(monkeypatch):
    monkeypatch.setenv("HASHBENCH_FIT_CACHE", "off")
    method, x = fitted(w_mask=0.5, w_nei=2.0, w_mu=3.0)
    batch = MethodBatch(x[:8], torch.arange(8))
    method.on_epoch_start(1, 1)
    terms = method.loss_terms(batch)
    method.on_epoch_start(1, 1)
    assert torch.allclose(method.training_loss(batch), 0.5 * terms["mask"] + 2 * terms["nei"] + 3 * terms["mu"])


def test_preprocessing_stages_match_their_re_derivations(monkeypatch):
    monkeypatch.setenv("HASHBENCH_FIT_CACHE", "off")
    from hashbench_ref.methods.bth import pretrained_latents

    method, x = fitted()
    settings = {"feature_dim": 12, "bits": 8, "hidden": 8, "layers": 1, "heads": 2, "dropout": 0.0,
                "select": 0.15, "variant": "released", "seed": 0, "epochs": 2, "batch": 8, "lr": 3e-4}
    latents = pretrained_latents(x, x.shape[0], settings)
    anchors = method.anchors.double().numpy()
    assert anchors.shape == (6, 8)
    assert method.pseudo_labels.tolist() == ssl_blocks.nearest(latents.astype(np.float64), anchors).tolist()
    assert np.array_equal(method.adjacency.numpy(), ssl_blocks.adjacency(latents.astype(np.float64), anchors))
    tags = method.adjacency
    partner, target = method.partners(torch.arange(24))
    for i, (j, s) in enumerate(zip(partner.tolist(), target.tolist())):
        if s > 0:  # a tag-1 neighbour other than itself when the batch has one
            others = [k for k in range(24) if k != i and tags[i, k] == 1]
            assert (j in others) if others else j == i
        else:
            row = [int(tags[i, k]) for k in range(24) if k != i]
            wanted = next((tag for tag in (2, 0) if tag in row), None)  # else any other video
            assert j != i and (wanted is None or int(tags[i, j]) == wanted)


def test_fit_is_deterministic_and_the_state_dict_round_trips(monkeypatch):
    monkeypatch.setenv("HASHBENCH_FIT_CACHE", "off")
    a, x = fitted(dropout=0.1)
    b, _ = fitted(dropout=0.1)
    assert_same_state(a, b)
    fresh = bth(**{**SMALL, "dropout": 0.1})
    assert_round_trips(a, fresh, x)
    assert torch.equal(fresh.adjacency, a.adjacency) and fresh.anchors.shape == a.anchors.shape


def run_epoch(method, optimizer, x, epoch) -> float:
    """One epoch of shuffled batches of 8 (the order seeded by ``epoch``); the last batch's loss."""
    method.train()
    method.on_epoch_start(epoch, 2)
    order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(epoch))
    for start in range(0, x.shape[0], 8):
        idx = order[start:start + 8]
        loss = method.training_loss(MethodBatch(x[idx], idx))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return float(loss.detach())


def test_resume_continues_exactly(monkeypatch):
    monkeypatch.setenv("HASHBENCH_FIT_CACHE", "off")
    x = clips()
    run = assert_resumes_exactly(lambda: fitted(dropout=0.1)[0], lambda: bth(**{**SMALL, "dropout": 0.1}),
                                 lambda method, opt, epochs: [run_epoch(method, opt, x, e) for e in epochs])
    assert run.resumed_out == run.straight_out[1:]


def test_conformance_kit_passes(monkeypatch):
    monkeypatch.setenv("HASHBENCH_FIT_CACHE", "off")
    assert_kit_passes(bth)


def test_bad_keys_say_which(monkeypatch):
    with pytest.raises(ValueError, match="method.variant"):
        bth(bits=8, feature_dim=4, variant="theirs")
    with pytest.raises(ValueError, match="method.anchors"):
        bth(bits=8, feature_dim=4, anchors=3)
    with pytest.raises(ValueError, match="method.hidden"):
        bth(bits=8, feature_dim=4, hidden=9, heads=2)
