"""video_retrieval: value and gradient parity (codes, features, classifier) with the loop re-derivation of
Video_Retrieval's released objective (batch-hard triplet + 0.1 CE + 0.1 Smooth-AP) on class-sorted
batches as its AP loss requires; the same value on any order of the batch; the weights as keys; the
seed TOMLs that run it (experiments/seeds/video_retrieval_*_released.toml); the zoo's pairing
(experiments/zoo/video_retrieval.toml) and a real ``ce = 0`` run through its evaluation."""
from __future__ import annotations

import pytest
import torch

import hashbench
from hashbench.config import expand_sweep, load_experiment
from hashbench.contract import CORE_KEYS, bind_parameters
from hashbench.errors import ConfigError

from support import ATOL, ROOT, RTOL, run_cli
from references.fire_losses_b import batch_hard_triplet_ref, smooth_ap_grouped, video_retrieval_loss

BITS, CLASSES, FEATURES, GROUP = 16, 4, 6, 3


def build(**table):
    return hashbench.registry().build("loss", {"name": "video_retrieval", **table}, bits=BITS, num_classes=CLASSES,
                                      multi_label=False, feature_dim=FEATURES)


def batch_for(seed: int, scale: float = 0.6):
    """Class-sorted tanh codes (B, bits), features (B, D) and class ids: CLASSES groups of GROUP."""
    g = torch.Generator().manual_seed(6000 + seed)
    h = torch.tanh(torch.randn(CLASSES * GROUP, BITS, generator=g) * scale)
    f = torch.randn(CLASSES * GROUP, FEATURES, generator=g)
    return h, f, torch.arange(CLASSES).repeat_interleave(GROUP)


def grads(fn, *tensors):
    leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
    value = fn(*leaves)
    return value.detach(), torch.autograd.grad(value, leaves)


@pytest.mark.parametrize("anneal", [0.01, 0.5])
@pytest.mark.parametrize("seed", range(3))
def test_the_objective_equals_the_released_code(seed, anneal):
    torch.manual_seed(seed)
    loss = build(anneal=anneal)
    h, f, labels = batch_for(seed)
    y = torch.nn.functional.one_hot(labels, CLASSES).float()
    weight, bias = loss.classifier.weight.detach().clone(), loss.classifier.bias.detach().clone()
    value, (gh, gf) = grads(lambda h_, f_: loss(h_, labels, features=f_), h, f)
    loss.zero_grad()
    loss(h, labels, features=f).backward()
    expected, (eh, ef, ew, eb) = grads(lambda *a: video_retrieval_loss(*a[:2], y, *a[2:], group=GROUP, anneal=anneal),
                                       h, f, weight, bias)
    assert value.item() == pytest.approx(expected.item(), rel=RTOL, abs=ATOL)
    for got, want in ((gh, eh), (gf, ef), (loss.classifier.weight.grad, ew), (loss.classifier.bias.grad, eb)):
        torch.testing.assert_close(got, want.float(), rtol=RTOL, atol=ATOL)
    assert gh.abs().sum() > 0 and ew.abs().sum() > 0


@pytest.mark.parametrize("seed", range(3))
def test_each_term_alone_equals_its_reference(seed):
    h, f, labels = batch_for(seed, scale=1.5)
    y = torch.nn.functional.one_hot(labels, CLASSES).float()
    triplet = build(triplet=1.0, ce=0.0, ap=0.0, margin=0.5)
    assert triplet.classifier is None and not triplet.needs_features
    value, (g,) = grads(lambda a: triplet(a, labels), h)
    expected, (eg,) = grads(lambda a: batch_hard_triplet_ref(a, y, 0.5), h)
    assert value.item() == pytest.approx(expected.item(), rel=RTOL, abs=ATOL)
    torch.testing.assert_close(g, eg.float(), rtol=RTOL, atol=ATOL)
    ap = build(triplet=0.0, ce=0.0, ap=1.0, anneal=0.3)
    value, (g,) = grads(lambda a: ap(a, labels), h)
    expected, (eg,) = grads(lambda a: smooth_ap_grouped(a, GROUP, 0.3), h)
    assert value.item() == pytest.approx(expected.item(), rel=RTOL, abs=ATOL)
    torch.testing.assert_close(g, eg.float(), rtol=RTOL, atol=ATOL)
    assert 0 < value.item() < 1


def test_any_order_of_the_batch_gives_the_released_value():
    """The release needs class-sorted equal groups; written per anchor, the loss does not care."""
    torch.manual_seed(0)
    loss = build(anneal=0.2)
    h, f, labels = batch_for(4)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(1))
    sorted_value = loss(h, labels, features=f).item()
    assert loss(h[order], labels[order], features=f[order]).item() == pytest.approx(sorted_value, rel=1e-6)


def test_one_class_batches_and_distinct_classes_stay_finite():
    h, f, _ = batch_for(5)
    loss = build(ce=0.0)
    same = torch.zeros(len(h), dtype=torch.long)
    assert loss(h, same).item() == 0.0  # no negative: no triplet; every clip relevant: AP = 1
    close = 0.01 * h[:CLASSES]  # distinct classes closer than the margin: only the self-positive
    distinct = build(ce=0.0)(close, torch.arange(CLASSES))
    assert torch.isfinite(distinct) and distinct.item() > 0.25


def test_classify_gives_the_released_relu_scores_of_the_features():
    loss = build()
    h, f, _ = batch_for(6)
    scores = loss.classify(h, f)
    assert scores.shape == (len(h), CLASSES) and (scores >= 0).all()
    torch.testing.assert_close(scores, torch.relu(loss.classifier(f)))
    assert build(ce=0.0).classify(h, f) is None


def test_only_a_loss_with_a_classifier_tells_the_evaluator_it_classifies():
    """ce = 0 builds no classifier: the evaluator must not ask it for class scores (a ce = 0 run used to
    crash at its first evaluation on classify's None)."""
    from hashbench.contract import classifies

    assert classifies(build()) and not classifies(build(ce=0.0))
    copy = __import__("copy").deepcopy(build(ce=0.0))
    assert not classifies(copy) and copy.classifier is None


@pytest.mark.parametrize("key, value, match", [("margin", -1.0, "loss.margin"), ("ap", -0.1, "loss.ap"),
                                               ("anneal", 0.0, "loss.anneal"), ("ce", "x", "loss.ce")])
def test_bad_keys_are_config_errors(key, value, match):
    with pytest.raises(ConfigError, match=match):
        build(**{key: value})


@pytest.mark.parametrize("dataset, classes", [("ucf101", 101), ("hmdb51", 51)])
def test_released_seed_runs_this_objective_on_the_same_points(dataset, classes, monkeypatch, tmp_path):
    monkeypatch.setenv("HASHBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("HASHBENCH_WEIGHTS", str(tmp_path / "weights"))
    seeds = ROOT / "experiments" / "seeds"
    released = expand_sweep(load_experiment(seeds / f"video_retrieval_{dataset}_released.toml"))
    readme = expand_sweep(load_experiment(seeds / f"video_retrieval_{dataset}.toml"))
    text = (seeds / f"video_retrieval_{dataset}_released.toml").read_text(encoding="utf-8")
    assert text.startswith("# Reproduces: ") and "zhongzhou-code/Video_Retrieval" in text
    assert f"experiments/seeds/video_retrieval_{dataset}_released.toml" in text
    assert len(released) == len(readme) == 3
    registry = hashbench.registry()
    for mine, theirs in zip(released, readme):
        assert mine.loss == {"name": "video_retrieval", "margin": 0.3, "triplet": 1.0, "ce": 0.1, "ap": 0.1}
        assert theirs.loss["name"] == "batch_all_triplet"
        ours, other = mine.to_dict(), theirs.to_dict()
        assert {k: v for k, v in ours.items() if k not in ("name", "loss")} == \
            {k: v for k, v in other.items() if k not in ("name", "loss")}  # only the objective differs
        params = {k: v for k, v in mine.loss.items() if k != "name" and k not in CORE_KEYS.get("loss", ())}
        feature_dim = {"c3d": 4096, "r3d18": 512, "r3d34": 512}[mine.backbone["name"]]
        bind_parameters(registry.get("loss", "video_retrieval").factory, params,
                        {"bits": 512, "num_classes": classes, "multi_label": False, "feature_dim": feature_dim},
                        where="loss")


def test_the_zoo_file_changes_only_the_head_and_the_cross_entropy_weight():
    """experiments/zoo/video_retrieval.toml: the zoo's data, backbone, bits and schedule; a linear head and
    ce = 1 (the release's tanh head collapses every clip to one code there; see the module docstring)."""
    zoo = ROOT / "experiments" / "zoo"
    alone = load_experiment(zoo / "video_retrieval.toml")
    shared = expand_sweep(load_experiment(zoo / "zoo.toml"))[0].to_dict()
    ours = alone.to_dict()
    assert alone.name == "zoo-video_retrieval" and not alone.sweep
    assert alone.head == {"name": "linear", "bits": 32}
    assert alone.loss == {"name": "video_retrieval", "margin": 0.3, "triplet": 1.0, "ce": 1.0, "ap": 0.1}
    skip = ("name", "head", "loss", "sweep")
    assert {k: v for k, v in ours.items() if k not in skip} == {k: v for k, v in shared.items() if k not in skip}


@pytest.mark.training
@pytest.mark.parametrize("ce", ["0.0", "1.0"])
def test_a_real_run_evaluates_with_and_without_the_classifier(ce, tmp_path):
    """One epoch of the zoo file through the CLI, evaluated: ce = 0 used to crash there (classify gave None)."""
    done = run_cli("run", str(ROOT / "experiments" / "zoo" / "video_retrieval.toml"), "--no-record", "-q",
                   "--runs-dir", str(tmp_path / "runs"), "--set", "train.epochs=1", "--set", "train.eval_every=1",
                   "--set", f"loss.ce={ce}", "--set", "dataset.clips_per_class=4", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "map" in done.stdout and ("top1" in done.stdout) == (ce != "0.0")
