"""GreedyHash-unsupervised against a float64 loop re-derivation of FIRe's GreedyHashUnsupervisedLoss
(tests/references/fire_unsupervised.py): each term and every parameter's gradient on fixed batches with
identical weights (float32 tolerance reached: 1e-5 relative, 1e-6 absolute), odd and even batches; fit's
standardisation; the registered factory's keys; the zoo experiments of greedyhash_u, bihalf and uhbdnn
validate; uhbdnn's (fit state, the slowest) runs two epochs to the SSVH protocol's rows."""
from __future__ import annotations

import pytest
import torch

from hashbench.contract import MethodBatch
from hashbench_ref.methods.unsupervised import FACTORIES
from references import fire_unsupervised as ref
from support import ROOT, run_cli, run_cli_here
from support.methods import assert_gradients_match, assert_refused

ZOO = ["greedyhash_u", "bihalf", "uhbdnn"]
B, T, D, BITS = 7, 5, 12, 8


def build(seed: int = 0, **keys):
    return FACTORIES["greedyhash_u"](bits=BITS, feature_dim=D, seed=seed, **keys)


@pytest.mark.parametrize("batch", [B, B + 1])
def test_terms_and_gradients_equal_the_re_derivation(batch):
    method = build(alpha=0.3)
    train = torch.randn(20, T, D, generator=torch.Generator().manual_seed(1)) + 2.0
    method.fit(train)
    inputs = train[:batch]
    terms = method.loss_terms(MethodBatch(inputs, torch.arange(batch)))
    (terms["similarity"] + 0.3 * terms["quantisation"]).backward()
    p = ref.as_float64(method.state_dict())
    x = ref.standardised(train.mean(dim=1))[:batch]
    expected = ref.greedyhash_u_terms(x, p)
    for key in ("similarity", "quantisation"):
        ref.assert_close(terms[key], expected[key])
    assert terms["similarity"] > 0 and terms["quantisation"] > 0
    (expected["similarity"] + 0.3 * expected["quantisation"]).backward()
    assert_gradients_match(method, p, ref.assert_close)
    total = method.training_loss(MethodBatch(inputs, torch.arange(batch)))
    ref.assert_close(total, expected["similarity"] + 0.3 * expected["quantisation"])
    with torch.no_grad():
        ref.assert_close(method.encode(inputs), expected["h"])


def test_fit_standardises_with_the_training_statistics_and_can_be_turned_off():
    train = torch.randn(30, T, D, generator=torch.Generator().manual_seed(2)) * 3 + 1
    method = build()
    method.fit(train)
    ref.assert_close(method.features(train), ref.standardised(train.mean(dim=1)))
    ref.assert_close(method.features(train.mean(dim=1)), ref.standardised(train.mean(dim=1)))  # vectors too
    plain = build(standardise=False)
    plain.fit(train)
    assert torch.equal(plain.features(train), train.mean(dim=1))
    fresh = build(seed=5)
    fresh.load_state_dict(method.state_dict())
    assert torch.equal(fresh.encode(train), method.encode(train))


def test_builds_are_deterministic_from_the_seed_and_hidden_makes_an_mlp():
    a, b, c = build(seed=3), build(seed=3), build(seed=4)
    assert torch.equal(a.hash_fc.weight, b.hash_fc.weight) and not torch.equal(a.hash_fc.weight, c.hash_fc.weight)
    deep = build(hidden=16)
    assert [tuple(p.shape) for p in deep.parameters()] == [(16, D), (16,), (BITS, 16), (BITS,)]
    assert deep.encode(torch.randn(4, T, D)).shape == (4, BITS)


@pytest.mark.parametrize("keys, message", [
    ({"alpha": -1}, "method.alpha: must be a number >= 0"),
    ({"pow": 2.5}, "method.pow: must be a positive integer"),
    ({"hidden": -1}, "method.hidden: must be an integer >= 0"),
    ({"standardise": "yes"}, "method.standardise: must be true or false"),
])
def test_bad_keys_say_which_key_and_why(keys, message):
    assert_refused(build, keys, message)


@pytest.mark.parametrize("name", ZOO)
def test_the_zoo_experiment_validates(tmp_path, name):  # in this process; uhbdnn's runs below as a subprocess
    proc = run_cli_here("validate", str(ROOT / f"experiments/features/zoo/{name}.toml"), cwd=tmp_path,
                   env={"HASHBENCH_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.training
@pytest.mark.parametrize("name", ["uhbdnn"])
def test_the_zoo_experiment_runs_under_the_ssvh_protocol(tmp_path, name):
    proc = run_cli("run", str(ROOT / f"experiments/features/zoo/{name}.toml"), "--set", "train.epochs=2",
                   "--set", "train.eval_every=2", "--runs-dir", str(tmp_path / "runs"), "--results",
                   str(tmp_path / "results.csv"), "-q", cwd=tmp_path, env={"HASHBENCH_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = (tmp_path / "results.csv").read_text()
    assert "map_over_k@20" in rows and f"features-zoo-{name}" in rows
