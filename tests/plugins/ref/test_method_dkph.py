"""DKPH (hashbench_ref.methods.dkph): codes, each loss term and every parameter's gradient against the
loop re-derivation of the released code (tests/references/ssvh_dkph.py), BTH's preprocessing stages, a
deterministic fit, the state_dict round trip, an exact resume, and the conformance kit."""
from __future__ import annotations

import pytest
import torch

from hashbench.contract import MethodBatch
from hashbench_ref.methods.selfsupervised import bth, dkph
from support.methods import assert_kit_passes, assert_resumes_exactly, assert_round_trips, assert_same_state
from tests.plugins.ref.test_method_bth import SMALL, clips, run_epoch, weights
from tests.references import ssvh_dkph as ref

#: float32 method vs float64 loops: terms within rtol 2e-5 / atol 1e-6, gradients rtol 1e-4 / atol 1e-6.
RTOL, ATOL = 2e-5, 1e-6
KEYS = {**SMALL, "num_frames": 5}


def fitted(dropout: float = 0.0, **keys) -> tuple:
    method = dkph(**{**KEYS, "dropout": dropout, **keys})
    x = clips()
    method.fit(x)
    return method, x


@pytest.mark.parametrize("variant", ["released", "paper"])
def test_codes_terms_and_gradients_equal_the_re_derivation(variant, monkeypatch):
    monkeypatch.setenv("HASHBENCH_FIT_CACHE", "off")
    method, x = fitted(variant=variant)
    method.train()
    batch = MethodBatch(x[:6], torch.arange(6))
    draw = method.draw(batch)
    draw["target"] = torch.tensor([1.0, -1.0, -1.0, 1.0, -1.0, -1.0])  # both kinds of pair, whatever was drawn
    terms = method.loss_terms(batch, draw)
    p = weights(method)
    expected = ref.terms(draw, p, 2, method.anchors.double(), method.pseudo_labels[:6].tolist())
    assert float(terms["triplet"].detach()) > 0
    for name in ("recon", "centre", "triplet", "bsim"):
        assert torch.allclose(terms[name].double(), expected[name], rtol=RTOL, atol=ATOL), name
    method.zero_grad()
    sum(terms.values()).backward()
    sum(expected.values()).backward()
    for name, param in method.net.named_parameters():
        assert torch.allclose(param.grad.double(), p[name].grad, rtol=1e-4, atol=1e-6), name
    method.eval()
    with torch.no_grad():
        codes = method.encode(x[:4])
    assert torch.equal(codes.double(), torch.stack([ref.dkph(v.double(), p, 2)[0] for v in x[:4]]).detach())


def test_training_loss_weights_the_terms_as_released(monkeypatch):
    monkeypatch.setenv("HASHBENCH_FIT_CACHE", "off")
    method, x = fitted()
    batch = MethodBatch(x[:8], torch.arange(8))
    method.on_epoch_start(1, 1)
    t = method.loss_terms(batch)
    method.on_epoch_start(1, 1)
    expected = t["recon"] + 0.9 * (t["centre"] + 0.1 * t["triplet"]) + 0.11 * t["bsim"]
    assert torch.allclose(method.training_loss(batch), expected)


def test_fit_runs_bths_stages_deterministically_and_the_state_round_trips(monkeypatch):
    monkeypatch.setenv("HASHBENCH_FIT_CACHE", "off")
    a, x = fitted(dropout=0.1)
    b, _ = fitted(dropout=0.1)
    assert_same_state(a, b)
    reference = bth(**{**SMALL, "dropout": 0.1})
    reference.fit(x)
    for name in ("anchors", "pseudo_labels", "adjacency"):
        assert torch.equal(getattr(a, name), getattr(reference, name)), name
    assert_round_trips(a, dkph(**{**KEYS, "dropout": 0.1}), x)


def test_resume_continues_exactly(monkeypatch):
    monkeypatch.setenv("HASHBENCH_FIT_CACHE", "off")
    x = clips()
    run = assert_resumes_exactly(lambda: fitted(dropout=0.1)[0], lambda: dkph(**{**KEYS, "dropout": 0.1}),
                                 lambda method, opt, epochs: [run_epoch(method, opt, x, e) for e in epochs])
    assert run.resumed_out == run.straight_out[1:]


def test_conformance_kit_passes(monkeypatch):
    monkeypatch.setenv("HASHBENCH_FIT_CACHE", "off")
    assert_kit_passes(dkph)


def test_bad_keys_and_frames_say_which(monkeypatch):
    with pytest.raises(ValueError, match="method.margin"):
        dkph(bits=8, feature_dim=4, num_frames=5, margin=-1)
    with pytest.raises(ValueError, match="method.w_bsim"):
        dkph(bits=8, feature_dim=4, num_frames=5, w_bsim="a")
    method = dkph(bits=8, feature_dim=4, num_frames=5, hidden=8)
    with pytest.raises(ValueError, match="built for 5 frames"):
        method.encode(torch.randn(2, 6, 4))
