"""SSVH (hashbench_ref.methods.ssvh) against the re-derivation of its released Theano code
(tests/references/ssvh_ssvh.py): codes, each loss term and every parameter's gradient on fixed inputs
with identical weights (float32 method vs float64 reference: agreement to rtol 1e-4); the similarity
stage against the release's loops; fit determinism; state round-trip; exact resume; the conformance kit."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import hashbench
from hashbench.contract import MethodBatch, assert_conforms
from hashbench_ref.methods.ssvh import SSVH, similarity_lists
from support.methods import assert_resumes_exactly, assert_round_trips, assert_same_state
from tests.references import ssvh_ssvh as ref

N, T, D, HIDDEN, BITS = 12, 5, 6, 5, 4
KW = {"hidden": HIDDEN, "knn": 3, "shared": 2}


def data(seed: int = 0, n: int = N) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, T, D, generator=g) + torch.randn(n, 1, D, generator=g)


def fitted(variant: str = "released", seed: int = 0) -> SSVH:
    method = SSVH(BITS, D, T, seed=seed, variant=variant, **KW)
    method.fit(data())
    return method


def dense_sim(method: SSVH) -> np.ndarray:
    n = method.bank.shape[0]
    return method.similarity_rows(torch.arange(n)).numpy().astype(bool)


def test_similarity_stage_equals_the_release_loops():
    feats = data().numpy()
    for k1, k2 in ((3, 2), (2, 4), (1, 8), (10, 5)):  # (1, 8): fewer sharers than k2
        arrays = similarity_lists(feats.mean(axis=1), k1, k2)
        dense = np.zeros((N, N), dtype=bool)
        for i in range(N):
            dense[i, arrays["indices"][arrays["indptr"][i]:arrays["indptr"][i + 1]]] = True
        expected = ref.similarity(feats, k1, k2)
        assert np.array_equal(dense, expected), (k1, k2)
        assert dense.any() and (k1 == 10 or not dense.all())  # the small lists: a real subset
    assert np.array_equal(dense_sim(fitted()), ref.similarity(data().numpy(), 3, 2))


@pytest.mark.parametrize("variant", ["released", "paper"])
def test_codes_terms_and_gradients_equal_the_rederivation(variant):
    method = fitted(variant)
    method.train()
    x = data(seed=3, n=6)
    idx = [7, 0, 3, 11, 5, 2]
    bank = torch.randn(N, BITS, generator=torch.Generator().manual_seed(9))
    sim = dense_sim(method)
    weights = ref.weights_of(method)
    expected = ref.losses(weights, x, idx, bank, sim, frames=4, lamb=0.2, variant=variant)
    got = method.terms_given(x, torch.tensor(idx), bank)
    torch.testing.assert_close(got["codes"].double(), expected["H"], rtol=1e-4, atol=1e-5)
    for name in ("pairwise", "quantisation", "backward", "forward", "mean"):
        torch.testing.assert_close(got[name].double(), expected[name].double(), rtol=1e-4, atol=1e-5, msg=name)
    method.zero_grad()
    method.weighted(got).backward()
    ref.total(expected, 0.2, 0.999, (1 / 3, 1 / 3, 1 / 3)).backward()
    checked = 0
    for chain, net in ref.NETS.items():
        module = getattr(method, chain)
        for name, grad in ref.grads_as_method(weights, net, module.width).items():
            mine = module.get_parameter(name).grad
            assert mine is not None, (chain, name)
            torch.testing.assert_close(mine.double(), grad, rtol=1e-4, atol=1e-6, msg=f"{chain}.{name}")
            checked += 1
    assert checked == len(list(method.parameters()))


def test_variants_differ_only_in_the_forward_decoder():
    released, paper = fitted("released"), fitted("paper")
    x, idx = data(seed=4, n=6), torch.arange(6)
    a, b = released.terms_given(x, idx, released.bank), paper.terms_given(x, idx, paper.bank)
    assert not torch.allclose(a["forward"], b["forward"])
    for name in ("pairwise", "quantisation", "backward", "mean"):
        assert torch.equal(a[name], b[name]), name


def test_encode_uses_the_running_statistics_and_training_updates_them():
    method = fitted()
    x = data(seed=5, n=6)
    weights = ref.weights_of(method)
    h, _, _ = ref.encode(weights, x, 4, train=False)
    torch.testing.assert_close(method.encode(x).double(), h, rtol=1e-4, atol=1e-6)
    method.train()
    before = method.enc1.norms[0].running_mean.clone()
    method.training_loss(MethodBatch(x, torch.arange(6)))
    cell_mean = method.enc1.norms[0].running_mean
    assert not torch.equal(before, cell_mean)
    p = weights["lu"]  # step 0 from a zero state: cell = sig(x W_in + b_in) tanh(x W_cell + b_cell)
    x0 = x[:, 0].double()
    cell = torch.sigmoid(x0 @ p["W_in_in"] + p["b_in"]) * torch.tanh(x0 @ p["W_in_cell"] + p["b_cell"])
    torch.testing.assert_close(cell_mean.double(), 0.99 * before.double() + 0.01 * cell.mean(dim=0).detach())


def test_training_loss_writes_the_batch_codes_into_the_bank():
    method = fitted()
    method.eval()  # no running-statistics update: the same codes twice
    x, idx = data(seed=6, n=5), torch.tensor([1, 4, 6, 8, 10])
    codes = method.terms_given(x, idx, method.bank)["codes"].detach()
    loss = method.training_loss(MethodBatch(x, idx))
    assert torch.equal(method.bank[idx], codes)
    assert float(loss.detach()) > 0 and torch.equal(method.bank[0], torch.zeros(BITS))


def test_fit_is_deterministic_and_the_state_round_trips():
    a, b = fitted(), fitted()
    assert_same_state(a, b)
    assert fitted(seed=1).enc1.w_in.ne(a.enc1.w_in).any()
    fresh = SSVH(BITS, D, T, **KW)
    assert fresh.bank.shape == (0, BITS)
    assert_round_trips(a, fresh, data(seed=2))
    assert fresh.bank.shape == (N, BITS) and torch.equal(fresh.sim_indices, a.sim_indices)


def _epoch(method: SSVH, optimizer: torch.optim.Optimizer, epoch: int, x: torch.Tensor) -> None:
    method.train()
    method.on_epoch_start(epoch, 2)
    order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(epoch))
    for start in range(0, x.shape[0], 5):
        idx = order[start:start + 5]
        optimizer.zero_grad()
        method.training_loss(MethodBatch(x[idx], idx)).backward()
        optimizer.step()


def test_resume_continues_exactly():
    x = data()
    run = assert_resumes_exactly(fitted, lambda: SSVH(BITS, D, T, **KW),
                                 lambda method, opt, epochs: [_epoch(method, opt, e, x) for e in epochs], lr=1e-2)
    assert not torch.equal(run.straight.bank, fitted().bank)  # it trained


def test_training_before_fit_says_so():
    with pytest.raises(Exception, match="before fit"):
        SSVH(BITS, D, T, **KW).training_loss(MethodBatch(data(n=2), torch.arange(2)))


def test_factory_validates_keys_and_the_kit_passes():
    registry = hashbench.registry()
    component = registry.get("method", "ssvh")
    with pytest.raises(ValueError, match="method.variant"):
        component.factory(bits=8, feature_dim=4, num_frames=4, variant="theano")
    with pytest.raises(ValueError, match="method.pairwise_weight"):
        component.factory(bits=8, feature_dim=4, num_frames=4, pairwise_weight=1.5)
    assert_conforms(component)
