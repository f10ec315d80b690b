"""TBH against a float64 loop re-derivation of FIRe's ArchTBH + TBHLoss + the split actor/critic backward
(tests/references/fire_unsupervised_tbh.py): each term and every parameter's gradient (the hashing
parameters get the actor's, the discriminators the critic's) on fixed batches with identical weights and
the same fake samples (float32 tolerance reached: 1e-5 relative, 1e-6 absolute); a multi-batch sequence
of SGD steps (each batch's graph from the codes of that step's weights) matches step by step; the fakes
come from the seeded generator; the registered factory's keys."""
from __future__ import annotations

import pytest
import torch

from hashbench.contract import MethodBatch
from hashbench_ref.methods.tbh import hamming_adjacency
from hashbench_ref.methods.unsupervised import FACTORIES
from references import fire_unsupervised as ref
from references import fire_unsupervised_tbh as tbh_ref
from support.methods import assert_gradients_match, assert_refused

B, T, D, BITS, HIDDEN, CONT = 6, 4, 8, 6, 10, 5


def build(seed: int = 0, **keys):
    return FACTORIES["tbh"](bits=BITS, feature_dim=D, seed=seed, **{"hidden": HIDDEN, "continuous": CONT, **keys})


def epoch_fakes(seed: int, epoch: int, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The fakes a method of ``seed`` draws first in ``epoch``: Bernoulli(0.5) codes, then uniforms."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    codes = torch.bernoulli(torch.full((batch, BITS), 0.5), generator=g)
    return codes.double(), torch.rand(batch, CONT, generator=g).double()


@pytest.mark.parametrize("rec_method, divisor", [("element", 1.0), ("all", B * D)])
def test_terms_and_split_gradients_equal_the_re_derivation(rec_method, divisor):
    method = build(adv=0.7, rec_method=rec_method)
    train = torch.randn(16, T, D, generator=torch.Generator().manual_seed(1)) + 0.5
    method.fit(train)
    x = ref.standardised(train.mean(dim=1))[:B]
    p = ref.as_float64(method.state_dict())
    method.on_epoch_start(2, 3)
    terms = method.loss_terms(MethodBatch(train[:B], torch.arange(B)))
    expected = tbh_ref.tbh_losses(x, p, *epoch_fakes(0, 2, B), adv=0.7, divisor=divisor)
    ref.assert_close(terms["reconstruction"], expected["rec"])
    ref.assert_close(terms["adversarial"], expected["adversarial"])
    assert 0 < float(expected["b"].detach().sum()) < B * BITS  # both code values occur
    method.on_epoch_start(2, 3)
    loss = method.training_loss(MethodBatch(train[:B], torch.arange(B)))
    ref.assert_close(loss, expected["rec"])  # FIRe's actor + critic
    loss.backward()
    tbh_ref.split_backward(expected, p)
    assert_gradients_match(method, p, ref.assert_close)


def test_a_sequence_of_steps_follows_the_re_derivation():
    method = build()
    data = torch.randn(12, T, D, generator=torch.Generator().manual_seed(3))
    method.fit(data)
    x = ref.standardised(data.mean(dim=1))
    p = ref.as_float64(method.state_dict())
    opt = torch.optim.SGD(method.parameters(), lr=0.05)
    leaves = [v for k, v in p.items() if k not in ("feature_mean", "feature_std")]
    ref_opt = torch.optim.SGD(leaves, lr=0.05)
    method.on_epoch_start(1, 1)
    g = torch.Generator().manual_seed(0 * 1_000_003 + 1)
    for step in range(3):
        rows = torch.arange(step * 4, step * 4 + 6) % 12
        opt.zero_grad()
        ref_opt.zero_grad()
        method.training_loss(MethodBatch(data[rows], rows)).backward()
        fakes = (torch.bernoulli(torch.full((6, BITS), 0.5), generator=g).double(),
                 torch.rand(6, CONT, generator=g).double())
        tbh_ref.split_backward(tbh_ref.tbh_losses(x[rows], p, *fakes), p)
        opt.step()
        ref_opt.step()
        for name, param in method.named_parameters():
            ref.assert_close(param, p[name])
    assert not torch.equal(method.gcn.weight, build().gcn.weight)


def test_graph_is_one_minus_normalised_hamming_and_encode_is_sigmoid_minus_half():
    b = torch.tensor([[1.0, 0.0, 1.0, 1.0], [1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 0.0]])
    torch.testing.assert_close(hamming_adjacency(b), torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    method = build()
    data = torch.randn(5, T, D)
    method.fit(data)
    codes = method.encode(data)
    assert codes.shape == (5, BITS) and float(codes.detach().abs().max()) < 0.5
    fresh = build(seed=4)
    fresh.load_state_dict(method.state_dict())
    assert torch.equal(fresh.encode(data), codes)


@pytest.mark.parametrize("keys, message", [
    ({"adv": -1}, "method.adv: must be a number >= 0"),
    ({"rec_method": "sum"}, "method.rec_method: unknown value 'sum'"),
    ({"continuous": 0}, "method.continuous: must be a positive integer"),
])
def test_bad_keys_say_which_key_and_why(keys, message):
    assert_refused(build, keys, message)
