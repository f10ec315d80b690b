"""AutoSSVH against float64 loop re-derivations of the released code (tests/references/ssvh_autossvh.py and
ssvh_conmh.py): each loss term (reconstruction, contrastive, ProtoNCE) and every parameter's gradient on
fixed inputs with identical weights, masks and sampled negatives (float32 tolerance reached: 2e-5
relative, 1e-6 of the largest entry absolute); the "paper" variant's adversarial sampler given its noise
(kept frames, straight-through values, the reversed gradient) and its terms and gradients (encoder,
decoder and sampler), same tolerance; the sampler in eval mode; the cluster density; the code bank;
clustering after the warm-up, deterministic; the conformance kit on the "paper" variant; a resumed run
continues exactly (both variants); bad keys give one clear error."""
from __future__ import annotations


import numpy as np
import pytest
import torch

import hashbench
from hashbench.contract import MethodBatch, assert_conforms
from hashbench.contract.conformance import example_of
from hashbench_ref.methods.autossvh import cluster_density
from hashbench_ref.methods.ssl.sampler import FrameSampler, sampler_noise
from hashbench_ref.methods.selfsupervised import FACTORIES
from references import ssvh_autossvh as ref
from references.ssvh_conmh import as_float64, train_direct

SMALL = {"depth": 2, "width": 16, "heads": 3, "decoder_depth": 1, "decoder_width": 8, "decoder_heads": 2,
         "mask_ratio": 0.5, "a": 0.7, "b": 0.3, "tau_plus": 0.1, "clusters": [3, 8], "warmup_epoch": 1}
B, T, D, BITS, N = 5, 8, 12, 8, 12


def build(seed: int = 0, **keys):
    return FACTORIES["autossvh"](bits=BITS, feature_dim=D, num_frames=T, seed=seed, num_train=N,
                                 **{**SMALL, **keys})


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    """float32 against float64: 2e-5 relative, and 1e-6 of the tensor's largest entry (at least 1e-6) absolute."""
    scale = max(1.0, float(b.detach().abs().max()))
    torch.testing.assert_close(a.double(), b.detach(), rtol=2e-5, atol=1e-6 * scale)


def _clustered(method, seed: int = 5):
    """Fixed clusterings in the method's buffers (as on_epoch_start leaves them)."""
    g = torch.Generator().manual_seed(seed)
    method.clustered.fill_(True)
    for n, k in enumerate(method.clusters):
        getattr(method, f"im2cluster_{n}").copy_(torch.randint(0, k, (N,), generator=g))
        getattr(method, f"centroids_{n}").copy_(torch.nn.functional.normalize(torch.randn(k, BITS, generator=g)))
        getattr(method, f"density_{n}").copy_(0.1 + torch.rand(k, generator=g))
    return method


def _parity(method, draw, expected_of):
    """The method's terms and gradients on fixed inputs against the re-derivation ``expected_of(x, drawn, p)``,
    with the generator's draws replayed (``draw(method)``: the views' masks or sampler noise, then the
    negatives per view and clustering); returns (expected terms, float64 weights, x, indices)."""
    x = torch.randn(B, T, D, generator=torch.Generator().manual_seed(1))
    idx = torch.tensor([7, 0, 3, 11, 5])
    state = method.generator.get_state()
    terms = method.loss_terms(MethodBatch(x, idx))
    method.generator.set_state(state)
    drawn = draw(method)
    negatives = [[method.negatives(getattr(method, f"im2cluster_{n}")[idx], k).tolist()
                  for n, k in enumerate(method.clusters)] for _ in range(2)]
    method.generator.set_state(state)
    method.zero_grad()
    method.training_loss(MethodBatch(x, idx)).backward()
    p = as_float64(method.state_dict())
    expected = expected_of(x.double(), drawn, p)
    proto = 0.0
    for view, codes in enumerate((expected["codes1"], expected["codes2"])):
        h = codes / codes.norm(dim=1, keepdim=True)
        for n in range(2):
            proto = proto + ref.proto_nce(h, getattr(method, f"im2cluster_{n}")[idx].tolist(), negatives[view][n],
                                          p[f"centroids_{n}"], p[f"density_{n}"]) / 2 / 2
    for key, value in (("reconstruction", expected["reconstruction"]), ("contrastive", expected["contrastive"]),
                       ("prototype", proto)):
        _close(terms[key], value)
    assert float(terms["prototype"].detach()) > 0 and any(len(n) > 0 for v in negatives for n in v)
    (expected["reconstruction"] + 0.7 * expected["contrastive"] + 0.3 * proto).backward()
    for name, param in method.named_parameters():
        _close(param.grad, p[name.removeprefix("net.")].grad)
    return expected, p, x, idx


def test_terms_and_gradients_equal_the_re_derivation():
    method = _clustered(build())
    _, p, x, idx = _parity(method, lambda m: m.masks(B, T),
                           lambda x, masks, p: ref.conmh_terms(x, masks, p, (3, 2), 0.5, 0.1))
    assert float(p["decoder_pos"].grad.abs().sum()) > 0  # AutoSSVH's learned decoder positions train
    _close(method.bank[idx], ref.normalised_codes(x.double(), p, 3))


def _sampler_case(keep: int = 3):
    """A sampler, embedded frames h (B, T, C) requiring grad, a fixed noise and a float64 copy of the weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4)
        sampler = FrameSampler(16, keep)
    g = torch.Generator().manual_seed(6)
    h = torch.randn(B, T, 16, generator=g).requires_grad_()
    p = {f"sampler.{k}": v.detach().double().clone().requires_grad_() for k, v in sampler.state_dict().items()}
    return sampler, h, sampler_noise(B, T, g), p


def test_the_sampler_equals_the_re_derivation_given_its_noise():
    sampler, h, noise, p = _sampler_case()
    picked, visible = sampler(h, noise)
    weights = torch.randn(picked.shape, generator=torch.Generator().manual_seed(8))
    (picked * weights).sum().backward()
    h64 = h.detach().double().requires_grad_()
    kept, rets, expected = ref.sample([h64[v] for v in range(B)], noise.double(), p, 3)
    assert [visible[v].nonzero().squeeze(1).tolist() for v in range(B)] == kept
    for v in range(B):
        one_hot = torch.tensor([1.0 if f in kept[v] else 0.0 for f in range(T)], dtype=torch.float64)
        assert torch.allclose(rets[v].detach(), one_hot, rtol=0, atol=1e-15)  # straight-through value: the one-hot
        _close(picked[v], expected[v])
    (torch.stack(expected) * weights.double()).sum().backward()
    _close(h.grad, h64.grad)
    for name, param in sampler.named_parameters():
        _close(param.grad, p[f"sampler.{name}"].grad)
    assert float(sampler.mlp[0].weight.grad.abs().sum()) > 0
    # the reversal: without it (picked = h * ret) the sampler's gradient is the opposite
    forward = {k: v.detach().clone().requires_grad_() for k, v in p.items()}
    _, rets, _ = ref.sample([h64[v].detach() for v in range(B)], noise.double(), forward, 3)
    plain = sum((h64[v].detach()[kept[v]] * rets[v][kept[v]].unsqueeze(1) * weights[v].double()).sum()
                for v in range(B))
    plain.backward()
    for name, param in sampler.named_parameters():
        _close(-param.grad, forward[f"sampler.{name}"].grad)


def test_the_sampler_in_eval_mode_keeps_the_top_scores_without_noise():
    sampler, h, noise, p = _sampler_case()
    sampler.eval()
    picked, visible = sampler(h, noise)
    again, same = sampler(h, torch.randn(B, T) * 100)
    assert torch.equal(visible, same) and torch.equal(picked, again)
    scores = [[float(ref.sampler_score(h[v, f].detach().double(), p).detach()) for f in range(T)] for v in range(B)]
    for v in range(B):
        top = sorted(sorted(range(T), key=lambda f: -scores[v][f])[:3])
        assert visible[v].nonzero().squeeze(1).tolist() == top
        torch.testing.assert_close(picked[v], h[v, top].detach())


def test_paper_variant_terms_and_gradients_equal_the_re_derivation():
    method = _clustered(build(variant="paper"))
    expected, _, _, _ = _parity(method, lambda m: [sampler_noise(B, T, m.generator).double() for _ in range(2)],
                                lambda x, noises, p: ref.paper_terms(x, noises, p, (3, 2), 4, 0.5, 0.1))
    assert all(len(kept) == 4 for view in expected["kept"] for kept in view)
    assert expected["kept"][0] != expected["kept"][1]  # the two views' noise differs
    assert float(method.sampler.out.weight.grad.abs().sum()) > 0  # the sampler trains (against the loss)


def test_the_conformance_kit_passes_on_the_paper_variant():
    component = hashbench.registry().get("method", "autossvh")
    assert_conforms(component, {**example_of(component.factory), "variant": "paper"})


def test_cluster_density_equals_the_released_loops():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(30, 6))
    centroids = rng.normal(size=(7, 6))
    labels = np.r_[np.zeros(10), np.ones(8), np.full(6, 2), np.full(5, 3), [4]].astype(np.int64)  # 5, 6: empty
    got = cluster_density(features, centroids, labels, 0.2)
    np.testing.assert_allclose(got, ref.density(features, centroids, labels, 0.2), rtol=1e-12)
    assert abs(got.mean() - 0.2) < 1e-12
    same = cluster_density(np.zeros((6, 3)), np.zeros((2, 3)), np.array([0, 0, 0, 1, 1, 1]), 0.2)
    assert np.array_equal(same, np.full(2, 0.2))  # identical codes: no NaN from 0 / 0


def test_clustering_starts_after_the_warm_up_and_is_deterministic():
    method = build(warmup_epoch=2)
    x = torch.randn(N, T, D, generator=torch.Generator().manual_seed(3))
    method.on_epoch_start(1, 5)
    terms = method.loss_terms(MethodBatch(x, torch.arange(N)))
    assert float(terms["prototype"].detach()) == 0.0 and not bool(method.clustered)
    method.on_epoch_start(2, 5)
    assert not bool(method.clustered)
    method.on_epoch_start(3, 5)
    assert bool(method.clustered)
    first = {k: v.clone() for k, v in method.state_dict().items()}
    method.on_epoch_start(3, 5)
    assert all(torch.equal(first[k], v) for k, v in method.state_dict().items())
    for n, k in enumerate(method.clusters):
        assert torch.allclose(getattr(method, f"centroids_{n}").norm(dim=1), torch.ones(k))
        labels = getattr(method, f"im2cluster_{n}")
        assert labels.min() >= 0 and labels.max() < k and len(set(labels.tolist())) > 1
        assert abs(float(getattr(method, f"density_{n}").mean()) - 0.2) < 1e-6
    assert float(method.loss_terms(MethodBatch(x[:6], torch.arange(6)))["prototype"].detach()) > 0


@pytest.mark.parametrize("variant", ["released", "paper"])
def test_a_resumed_run_continues_exactly_through_the_clustering(tmp_path, variant):
    data = torch.randn(N, T, D, generator=torch.Generator().manual_seed(2))
    straight = build(variant=variant)
    opt = torch.optim.Adam(straight.parameters(), lr=1e-3)
    train_direct(straight, opt, data, range(1, 3), batch=4)
    assert bool(straight.clustered)
    first = build(variant=variant)
    opt1 = torch.optim.Adam(first.parameters(), lr=1e-3)
    train_direct(first, opt1, data, range(1, 2), batch=4)
    torch.save({"model": first.state_dict(), "opt": opt1.state_dict()}, tmp_path / "ckpt.pt")
    saved = torch.load(tmp_path / "ckpt.pt")
    resumed = build(variant=variant, seed=0)
    resumed.load_state_dict(saved["model"], strict=True)
    opt2 = torch.optim.Adam(resumed.parameters(), lr=1e-3)
    opt2.load_state_dict(saved["opt"])
    train_direct(resumed, opt2, data, range(2, 3), batch=4)
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


@pytest.mark.parametrize("keys, message", [
    ({"variant": "adversarial"}, "method.variant"),
    ({"variant": "paper", "mask_ratio": 0.9}, "the sampler would keep 0 of 8 frames"),
    ({"clusters": [3, 40]}, "method.clusters: 40 clusters but only 12 training videos"),
    ({"clusters": 3}, "method.clusters: expected a list"),
    ({"b": -1}, "method.b: must be a number >= 0"),
    ({"warmup_epoch": -1}, "method.warmup_epoch"),
])
def test_bad_keys_say_which_key_and_why(keys, message):
    with pytest.raises(ValueError) as info:
        build(**keys)
    assert message in str(info.value)
