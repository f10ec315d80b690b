"""ConMH against a float64 loop re-derivation of the released code (tests/references/ssvh_conmh.py):
codes, each loss term and every parameter's gradient on fixed inputs with identical weights (float32
tolerance reached: 2e-5 relative, 1e-6 absolute); masks from the seeded generator; state_dict round trip;
a resumed run continues exactly; bad keys give one clear error."""
from __future__ import annotations

import pytest
import torch

from hashbench.contract import MethodBatch
from hashbench_ref.methods.selfsupervised import FACTORIES
from references import ssvh_conmh as ref
from support.methods import (assert_gradients_match, assert_refused, assert_resumes_exactly, assert_round_trips,
                             assert_same_state, train_direct)

SMALL = {"depth": 2, "width": 16, "heads": 3, "decoder_depth": 1, "decoder_width": 8, "decoder_heads": 2,
         "mask_ratio": 0.5, "a": 0.7, "tau_plus": 0.1}
B, T, D, BITS = 5, 8, 12, 8


def build(seed: int = 0, **keys):
    return FACTORIES["conmh"](bits=BITS, feature_dim=D, num_frames=T, seed=seed, **{**SMALL, **keys})


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a.double(), b.detach(), rtol=2e-5, atol=1e-6)


def test_codes_terms_and_gradients_equal_the_re_derivation():
    method = build()
    x = torch.randn(B, T, D, generator=torch.Generator().manual_seed(1))
    masks = method.masks(B, T)
    terms = method.terms_given(x, masks)
    loss = terms["reconstruction"] + method.a * terms["contrastive"]
    loss.backward()
    p = ref.as_float64(method.state_dict())
    expected = ref.conmh_terms(x.double(), masks, p, (3, 2), 0.5, 0.1)
    for key in ("reconstruction", "contrastive", "codes1", "codes2"):
        _close(terms[key], expected[key])
    (expected["reconstruction"] + 0.7 * expected["contrastive"]).backward()
    assert_gradients_match(method, p, _close, prefix="net.", nonzero=len(list(method.parameters())) - 1)
    with torch.no_grad():
        codes = method.encode(x)
    mean = ref.inference_codes(x.double(), p, 3)
    decided = mean != 0
    assert torch.equal(torch.sign(codes)[decided], torch.sign(mean)[decided].float())
    assert (torch.sign(codes) != 0).all() and ((codes.double() - mean).abs() < 1 / T).all()


def test_loss_terms_draw_the_masks_from_the_seeded_generator():
    method = build()
    x = torch.randn(B, T, D)
    method.on_epoch_start(3, 5)
    state = method.generator.get_state()
    terms = method.loss_terms(MethodBatch(x, torch.arange(B)))
    method.generator.set_state(state)
    masks = method.masks(B, T)
    assert masks.shape == (B, 2, T) and int(masks[0, 0].sum()) == int(0.5 * T)
    again = method.terms_given(x, masks)
    assert set(terms) == {"reconstruction", "contrastive"}
    assert all(torch.equal(terms[k], again[k]) for k in terms)
    total = method.training_loss(MethodBatch(x, torch.arange(B)))  # next masks: another value
    assert total.ndim == 0 and torch.isfinite(total)
    method.on_epoch_start(3, 5)
    assert torch.equal(method.masks(B, T), masks)
    method.on_epoch_start(4, 5)
    assert not torch.equal(method.masks(B, T), masks)


def test_builds_are_deterministic_from_the_seed_and_state_dict_round_trips():
    a, b, c = build(seed=3), build(seed=3), build(seed=4)
    assert_same_state(a, b)
    assert not torch.equal(a.state_dict()["net.patch_embed.weight"], c.state_dict()["net.patch_embed.weight"])
    assert_round_trips(a, c, torch.randn(3, T, D))


def test_a_resumed_run_continues_exactly():
    data = torch.randn(12, T, D, generator=torch.Generator().manual_seed(2))
    # a fresh build of another seed: everything that matters comes from the checkpoint
    run = assert_resumes_exactly(build, lambda: build(seed=9),
                                 lambda method, opt, epochs: train_direct(method, opt, data, epochs, batch=4))
    assert not torch.equal(run.straight.state_dict()["net.head.weight"], run.first.state_dict()["net.head.weight"])


@pytest.mark.parametrize("keys, message", [
    ({"mask_ratio": 1.0}, "method.mask_ratio: must be a number"),
    ({"mask_ratio": 0.05}, "masks 0 of 8 frames"),
    ({"width": 4, "heads": 6}, "method.heads: at most width (4) heads, got 6"),
    ({"depth": 0}, "method.depth: must be a positive integer"),
    ({"tau_plus": 1.0}, "method.tau_plus"),
])
def test_bad_keys_say_which_key_and_why(keys, message):
    assert_refused(build, keys, message)
