"""The shared SSL building blocks against loop re-derivations: the straight-through binary unit (value
and gradient, the masks at x = -1 and beyond the clip), frame-mean pooling, the two complementary masks
and BERT corruption, and the debiased contrastive loss (value and gradient, both branches)."""
from __future__ import annotations

import math

import pytest
import torch

from hashbench_ref.methods.ssl.binary import binary_tanh_unit, frame_mean
from hashbench_ref.methods.ssl.contrastive import debiased_contrastive_loss
from hashbench_ref.methods.ssl.masking import bert_corruption, complementary_masks, masked_frames
from references import ssl_blocks


def test_binary_unit_value_and_gradient_match_round3():
    edges = torch.tensor([-2.0, -1.0, -0.999, -0.5, 0.0, 1e-7, 0.5, 1.0, 1.001, 3.0], dtype=torch.float64)
    x = torch.cat([edges, torch.randn(40, dtype=torch.float64) * 1.5]).requires_grad_()
    out = binary_tanh_unit(x)
    upstream = torch.randn_like(out)
    (grad,) = torch.autograd.grad(out, x, upstream)
    value, local = ssl_blocks.binary_unit(x)
    assert torch.equal(out.detach(), value)
    assert torch.equal(grad, upstream * local)
    assert out[4].item() == -1.0  # round(0.5) = 0: x = 0 gives -1, as the reference
    assert grad[1].item() == 0.0 and grad[7].item() == upstream[7].item()  # masked at -1, passed at +1


def test_frame_mean_pools_all_or_visible_frames():
    codes = torch.tensor([[[1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]]])
    assert torch.allclose(frame_mean(codes), torch.tensor([[1 / 3, 1 / 3]]))
    visible = torch.tensor([[True, True, False]])
    assert torch.equal(frame_mean(codes, visible), torch.tensor([[1.0, 0.0]]))


@pytest.mark.parametrize("ratio,visible,shared", [(0.75, 7, 0), (0.5, 13, 1)])
def test_complementary_masks_keep_the_papers_frame_counts(ratio, visible, shared):
    masks = complementary_masks(16, 25, ratio, torch.Generator().manual_seed(3))
    assert masks.shape == (16, 2, 25) and masks.dtype == torch.bool
    kept = ~masks
    assert (kept.sum(-1) == visible).all()
    assert ((kept[:, 0] & kept[:, 1]).sum(-1) == shared).all()
    again = complementary_masks(16, 25, ratio, torch.Generator().manual_seed(3))
    assert torch.equal(masks, again)
    x = torch.arange(16 * 25 * 2, dtype=torch.float32).reshape(16, 25, 2)
    picked = masked_frames(x, masks[:, 0])
    assert picked.shape == (16, 25 - visible, 2)
    assert torch.equal(picked[0], x[0][masks[0, 0]])


def test_complementary_masks_reject_a_full_mask():
    with pytest.raises(ValueError, match="mask ratio"):
        complementary_masks(2, 25, 1.0, torch.Generator())


def test_bert_corruption_zeroes_most_selected_frames_and_keeps_the_rest():
    x = torch.rand(64, 25, 8) + 1.0  # no frame is zero
    out, selected = bert_corruption(x, torch.Generator().manual_seed(0))
    assert 0.1 < selected.float().mean().item() < 0.2
    zeroed = (out == 0).all(-1)
    assert not (zeroed & ~selected).any()
    assert torch.equal(out[~selected], x[~selected])
    assert 0.7 < zeroed.sum().item() / selected.sum().item() < 0.9


@pytest.mark.parametrize("debiased", [True, False])
@pytest.mark.parametrize("tau_plus", [0.1, 0.05])
def test_debiased_contrastive_loss_matches_the_loop(debiased, tau_plus):
    gen = torch.Generator().manual_seed(1)
    x1 = torch.randn(6, 16, generator=gen, dtype=torch.float64).requires_grad_()
    x2 = (x1.detach() + 0.5 * torch.randn(6, 16, generator=gen, dtype=torch.float64)).requires_grad_()
    ours = debiased_contrastive_loss(x1, x2, 0.5, tau_plus, debiased)
    ref = ssl_blocks.dcl(x1, x2, 0.5, tau_plus, debiased)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-12)
    g_ours = torch.autograd.grad(ours, (x1, x2))
    g_ref = torch.autograd.grad(ref, (x1, x2))
    for a, b in zip(g_ours, g_ref):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


def test_debiased_contrastive_loss_clamps_the_negative_term():
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)  # views agree, negatives opposite
    loss = debiased_contrastive_loss(x, x.clone(), 0.5, 0.1)
    floor = 2 * math.exp(-2.0)  # N e^(-1/t) with N = 2B - 2 = 2: the debiased sum is negative here
    assert loss.item() == pytest.approx(-math.log(math.exp(2.0) / (math.exp(2.0) + floor)), rel=1e-12)
    assert loss.item() == pytest.approx(ssl_blocks.dcl(x, x.clone(), 0.5, 0.1).item(), rel=1e-12)
    with pytest.raises(ValueError, match="batch >= 2"):
        debiased_contrastive_loss(x[:1], x[:1])
