"""CIBHash against a float64 loop re-derivation of FIRe's CIBHashLoss and ArchCIBHash
(tests/references/fire_unsupervised_cibhash.py): the two views, each term and every parameter's gradient
on fixed batches with identical weights (float32 tolerance reached: 1e-5 relative, 1e-6 absolute); the
views come from the seeded generator (same epoch, same views); vectors; the registered factory's keys."""
from __future__ import annotations

import pytest
import torch

from hashbench.contract import MethodBatch
from hashbench_ref.methods.ssl.masking import complementary_masks
from hashbench_ref.methods.unsupervised import FACTORIES
from references import fire_unsupervised as ref
from references import fire_unsupervised_cibhash as cib
from support.methods import assert_gradients_match, assert_refused

B, T, D, BITS = 6, 5, 10, 8


def build(seed: int = 0, **keys):
    return FACTORIES["cibhash"](bits=BITS, feature_dim=D, seed=seed, **{"hidden": 12, **keys})


def test_views_terms_and_gradients_equal_the_re_derivation():
    method = build(temperature=0.5, mask_ratio=0.4)
    train = torch.randn(20, T, D, generator=torch.Generator().manual_seed(1)) + 1.0
    method.fit(train)
    inputs = train[:B]
    method.on_epoch_start(3, 5)
    terms = method.loss_terms(MethodBatch(inputs, torch.arange(B)))
    (terms["contrast"] + 0.25 * terms["kl"]).backward()
    masks = complementary_masks(B, T, 0.4, torch.Generator().manual_seed(0 * 1_000_003 + 3))
    assert (masks.sum(dim=2) == 2).all()  # int(0.4 * 5) frames masked in each view
    mean, std = train.mean(dim=1).double().mean(0), train.mean(dim=1).double().std(0, unbiased=False)
    x1, x2 = ((v - mean) / std for v in cib.frame_views(inputs, masks))
    p = ref.as_float64(method.state_dict())
    expected = cib.cibhash_terms(x1, x2, p, temperature=0.5)
    ref.assert_close(terms["contrast"], expected["contrast"])
    ref.assert_close(terms["kl"], expected["kl"])
    assert float(expected["kl"].detach()) > 0
    (expected["contrast"] + 0.25 * expected["kl"]).backward()
    assert_gradients_match(method, p, ref.assert_close)


def test_training_loss_weighs_the_kl_by_beta_and_views_follow_the_epoch():
    method = build(beta=0.5)
    data = torch.randn(8, T, D)
    method.fit(data)
    batch = MethodBatch(data, torch.arange(8))
    method.on_epoch_start(1, 2)
    terms = method.loss_terms(batch)
    method.on_epoch_start(1, 2)
    torch.testing.assert_close(method.training_loss(batch), terms["contrast"] + 0.5 * terms["kl"])
    method.on_epoch_start(2, 2)
    assert not torch.equal(method.loss_terms(batch)["kl"], terms["kl"])  # other views


def test_vectors_get_dimension_dropout_views_and_encode_is_p_minus_half():
    method = build(mask_ratio=0.5)
    data = torch.randn(8, D)
    method.fit(data)
    x1, x2 = method.views(data)
    assert not torch.equal(x1, x2)
    kept = (x1 * method.feature_std + method.feature_mean) != 0
    assert 0.2 < float(kept.float().mean()) < 0.8
    codes = method.encode(data)
    assert codes.shape == (8, BITS) and float(codes.detach().abs().max()) < 0.5
    torch.testing.assert_close(codes, torch.sigmoid(method.encoder(method.features(data))) - 0.5)


@pytest.mark.parametrize("keys, message", [
    ({"temperature": 0}, "method.temperature: must be a number > 0"),
    ({"mask_ratio": 1.0}, "method.mask_ratio: must be a number"),
    ({"beta": -1}, "method.beta: must be a number >= 0"),
])
def test_bad_keys_say_which_key_and_why(keys, message):
    assert_refused(build, keys, message)
