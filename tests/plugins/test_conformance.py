"""The conformance kit (hashbench.contract.conformance) on every registered component of every installed
distribution — the reference set, and any plugin package installed beside it — by the same code; then the
kit itself: each contract breach it is about is caught as a failed check naming it, never a crash.

A plugin author runs the same checks on their own package with ``hashbench check-plugins --dist NAME``
(tests/cli/test_check_plugins.py installs a separate package and does exactly that).
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

import hashbench
from hashbench.contract import (REFERENCE_DIST, BrokenPlugin, CheckResult, Component, HashLoss, KINDS, Registry,
                                assert_conforms, check_component, check_registered, conformance_example,
                                select_components)
from hashbench.contract.conformance import (KNOWN_ANSWERS, check_backbone, check_dataset, check_head, check_loss,
                                        check_metric, component_id, example_of)

COMPONENTS = select_components()


@pytest.mark.parametrize("component", COMPONENTS, ids=component_id)
def test_registered_component_conforms(component):
    assert_conforms(component)


def test_the_reference_set_has_every_kind_and_known_answers_for_its_metrics():
    reference = {(c.kind, c.name) for c in COMPONENTS if c.dist == REFERENCE_DIST}
    assert {kind for kind, _ in reference} == set(KINDS)
    assert {name for kind, name in reference if kind == "metric"} == set(KNOWN_ANSWERS)
    assert {"ucf101", "hmdb51", "jhmdb", "frames", "folder"} <= {n for k, n in reference if k == "dataset"}
    registry = hashbench.registry()
    assert all(callable(example_of(registry.get("dataset", n).factory))
               for n in ("ucf101", "hmdb51", "jhmdb", "frames", "folder"))


# -- the kit itself --------------------------------------------------------------------------------
def failures(results):
    return {r.check: r.message for r in results if not r.passed}


def checks(results):
    return [r.check for r in results]


class PairLoss(HashLoss):
    def compute_loss(self, batch):
        inner = batch.codes @ batch.codes.T / batch.bits
        return ((inner - (2 * batch.similarity.float() - 1)) ** 2).mean()


def good_loss(num_classes: int = 2, multi_label: bool = False):
    """A correct loss (the kit's control)."""
    return PairLoss(num_classes, multi_label)


class VectorLoss(nn.Module):
    def forward(self, codes, labels):
        return (codes ** 2).mean(dim=1)  # (B,): not reduced


class ForgetfulBank(HashLoss):
    """Keeps its memory in a plain attribute: not in the state_dict, lost by --resume."""

    needs_indices = True

    def __init__(self, num_classes, num_train, bits, multi_label):
        super().__init__(num_classes, multi_label)
        self.bank = torch.zeros(num_train, bits)

    def compute_loss(self, batch):
        self.bank[batch.indices] = batch.codes.detach()
        return ((batch.codes @ self.bank.T) ** 2).mean()


class DetachedLoss(HashLoss):
    def compute_loss(self, batch):
        return (batch.codes.detach() ** 2).mean()


class NanOnOneClass(HashLoss):
    def compute_loss(self, batch):
        negatives = (~batch.similarity).float().sum()
        return (batch.codes ** 2).mean() / negatives * negatives  # 0/0 when a batch has one class


def test_a_correct_loss_passes_every_check():
    results = check_loss(good_loss)
    assert not failures(results)
    assert checks(results) == ["example", "builds", "scalar", "finite", "gradient", "single_class_batch",
                               "no_positive_pair_batch", "multi_label", "classify", "state_dict", "on_epoch_start",
                               "weight_penalty"]
    assert [r.check for r in results if r.skipped] == ["classify", "weight_penalty"]
    assert all(isinstance(r, CheckResult) and r.component == "loss:good_loss" for r in results)


class DetachedPenalty(HashLoss):
    """A weight penalty cut off from the weight: it would change the value, never the weights."""

    def compute_loss(self, batch):
        return (batch.codes ** 2).mean()

    def weight_penalty(self, weight):
        return (weight.detach() ** 2).sum()


def test_a_weight_penalty_without_a_gradient_path_fails_that_check():
    def detached_penalty(num_classes: int = 2, multi_label: bool = False):
        return DetachedPenalty(num_classes, multi_label)

    failed = failures(check_loss(detached_penalty))
    assert list(failed) == ["weight_penalty"] and "no gradient path to the weight" in failed["weight_penalty"]


def test_a_loss_that_returns_a_vector_fails_scalar():
    failed = failures(check_loss(lambda: VectorLoss()))
    assert "scalar" in failed and "(8,)" in failed["scalar"] and "scalar tensor" in failed["scalar"]


def test_state_outside_the_state_dict_fails_the_round_trip():
    def forgetful(num_classes: int = 2, num_train: int = 0, bits: int = 8, multi_label: bool = False):
        return ForgetfulBank(num_classes, num_train, bits, multi_label)

    failed = failures(check_loss(forgetful))
    assert list(failed) == ["state_dict"] and "register buffers" in failed["state_dict"]


def test_a_loss_that_supports_multi_label_must_be_told_which_data_it_gets():
    failed = failures(check_loss(lambda num_classes=2: PairLoss(num_classes)))
    assert list(failed) == ["multi_label"] and "no `multi_label` parameter" in failed["multi_label"]


def test_a_detached_loss_fails_gradient_and_a_nan_on_one_class_fails_that_batch():
    def detached(num_classes: int = 2, multi_label: bool = False):
        return DetachedLoss(num_classes, multi_label)

    def nan_on_one_class(num_classes: int = 2, multi_label: bool = False):
        return NanOnOneClass(num_classes, multi_label)

    assert "gradient" in failures(check_loss(detached))
    failed = failures(check_loss(nan_on_one_class))
    assert list(failed) == ["single_class_batch"] and "nan" in failed["single_class_batch"]


def test_a_factory_that_raises_is_a_failed_build_not_a_crash():
    def not_written_yet(bits: int = 8):
        from hashbench_ref.losses.no_such_module import Loss  # noqa: F401

    results = check_loss(not_written_yet)
    assert checks(results) == ["example", "builds"]
    assert "ModuleNotFoundError" in failures(results)["builds"]


def test_required_keys_need_an_example_table():
    def scaled(scale: float, num_classes: int = 2, multi_label: bool = False):
        return PairLoss(num_classes, multi_label)

    failed = failures(check_loss(scaled))
    assert list(failed) == ["example"]
    assert "needs an example table" in failed["example"] and "scale" in failed["example"]
    assert not failures(check_loss(conformance_example({"scale": 2.0})(scaled)))
    seen = []

    def from_folder(folder):
        seen.append(folder.is_dir())
        return {"scale": 1.0}

    assert not failures(check_loss(conformance_example(from_folder)(scaled)))
    assert seen == [True]
    assert not failures(check_loss(scaled, {"scale": 3.0}))  # an explicit table wins


class TinyBackbone(nn.Module):
    def __init__(self, normalised=True, unused=False):
        super().__init__()
        self.conv = nn.Conv3d(3, 4, 3, padding=1)
        self.unused = nn.Linear(2, 2) if unused else None
        self.feature_dim = 4
        if normalised:
            self.input_mean, self.input_std = (110.0, 100.0, 95.0), (40.0, 40.0, 40.0)

    def forward(self, clips):
        return self.conv(clips).mean(dim=(2, 3, 4))


def test_a_missing_optional_extra_is_a_skipped_build_not_a_failure():
    from hashbench.errors import MissingExtraError

    def needs_extra():
        raise MissingExtraError("backbone x needs timm: pip install 'hashbench[timm]'")

    results = check_backbone(needs_extra)
    assert [(r.check, r.passed, r.skipped) for r in results] == [("example", True, False), ("builds", True, True)]
    assert "pip install 'hashbench[timm]'" in results[1].message


def test_a_backbone_checked_on_the_clip_it_declares():
    seen = []

    class FixedClip(TinyBackbone):
        def forward(self, clips):
            seen.append(tuple(clips.shape))
            if tuple(clips.shape[2:]) != (6, 40, 40):
                raise ValueError(f"takes 6x40x40 clips only, got {tuple(clips.shape)}")
            return super().forward(clips)

    def fixed(num_frames: int = 0):
        assert num_frames == 6, num_frames
        return FixedClip()

    assert "forward" in failures(check_backbone(lambda: FixedClip()))
    assert not failures(check_backbone(conformance_example({}, clip=(6, 40, 40))(fixed)))
    assert seen[-1] == (2, 3, 6, 40, 40)
    with pytest.raises(TypeError, match="clip must be"):
        conformance_example({}, clip=(6, 40))


def test_backbone_checks_catch_missing_normalisation_and_unused_parameters():
    assert not failures(check_backbone(lambda: TinyBackbone()))
    assert "declared" in failures(check_backbone(lambda: TinyBackbone(normalised=False)))["normalisation"]
    failed = failures(check_backbone(lambda: TinyBackbone(unused=True)))
    assert list(failed) == ["backward"] and "unused.weight" in failed["backward"]


def test_head_checks_catch_a_wrong_shape_and_integer_codes():
    assert not failures(check_head(lambda feature_dim, bits: nn.Linear(feature_dim, bits)))
    wide = failures(check_head(lambda feature_dim, bits: nn.Linear(feature_dim, bits + 1)))
    assert "shape" in wide and "(4, 9)" in wide["shape"]

    class Ints(nn.Linear):
        def forward(self, x):
            return torch.sign(super().forward(x)).long()

    integer = failures(check_head(lambda feature_dim, bits: Ints(feature_dim, bits)))
    assert "torch.int64" in integer["eval_forward"] and "torch.int64" in integer["shape"] and "real-valued" in integer["shape"]


def test_head_check_hash_weight_takes_the_weight_that_makes_the_codes():
    class Declared(nn.Linear):
        def __init__(self, feature_dim, bits, stray=False):
            super().__init__(feature_dim, bits)
            self.stray = nn.Parameter(torch.zeros(bits, feature_dim)) if stray else None

        @property
        def hash_weight(self):
            return self.stray if self.stray is not None else self.weight

    passed = check_head(lambda feature_dim, bits: Declared(feature_dim, bits))
    assert not failures(passed) and [r for r in passed if r.check == "hash_weight" and not r.skipped]
    stray = failures(check_head(lambda feature_dim, bits: Declared(feature_dim, bits, stray=True)))
    assert "hash_weight" in stray and "do not depend on hash_weight" in stray["hash_weight"]


class TinyDataset:
    num_classes, class_names, multi_label, num_frames = 2, ["a", "b"], False, 2
    built = 0

    def __init__(self, duplicate=False, label=1, varies=False):
        TinyDataset.built += 1
        self.duplicate, self.label = duplicate, label
        self.fill = TinyDataset.built if varies else 7  # varies: a different clip at every build

    def split(self, name):
        return [(torch.full((3, 2, 8, 8), self.fill, dtype=torch.uint8), 0),
                (torch.zeros(3, 2, 8, 8, dtype=torch.uint8), self.label)]

    def video_ids(self, name):
        return ["x", "x"] if self.duplicate else [f"{name}/0", f"{name}/1"]

    def info(self):
        return {"split": "1", "data_checksum": "0", "data_origin": "generated"}


def test_dataset_checks_catch_duplicate_ids_bad_labels_and_nondeterminism():
    assert not failures(check_dataset(lambda: TinyDataset()))
    assert list(failures(check_dataset(lambda: TinyDataset(duplicate=True)))) == ["video_ids"]
    assert "outside 0..1" in failures(check_dataset(lambda: TinyDataset(label=2)))["items"]
    failed = failures(check_dataset(lambda: TinyDataset(varies=True)))
    assert list(failed) == ["deterministic"] and "different first training clip" in failed["deterministic"]
def test_metric_checks_catch_lower_is_better_and_wrong_known_answers():
    def distance(q, ql, d, dl):  # mean Hamming distance to the relevant items: lower is better
        qu, du = torch.as_tensor(q.unpack()), torch.as_tensor(d.unpack())
        distances = (qu[:, None, :] != du[None, :, :]).sum(-1).float()  # (Q, D)
        relevant = torch.as_tensor(ql)[:, None] == torch.as_tensor(dl)[None, :]
        return float(distances[relevant].mean())

    assert "higher must be better" in failures(check_metric(lambda: distance))["perfect_beats_shuffled"]
    nan = failures(check_metric(lambda: (lambda q, ql, d, dl: float("nan"))))
    assert "value" in nan
    registry = hashbench.registry()
    before = dict(registry.components["metric"])
    impostor = Component("metric", "map", registry.get("metric", "map_tie").factory, REFERENCE_DIST, "0")
    failed = failures(check_metric(impostor))
    assert list(failed) == ["known_answers"] and "tied case" in failed["known_answers"]
    assert registry.components["metric"] == before  # scored under a temporary name, removed after


def test_check_registered_filters_and_reports_broken_plugins():
    registry = Registry()
    registry.components["loss"]["good"] = Component("loss", "good", good_loss, "my-Plugin", "1.0")
    linear = lambda feature_dim, bits: nn.Linear(feature_dim, bits)  # noqa: E731
    registry.components["head"]["lin"] = Component("head", "lin", linear, "other", "1.0")
    registry.broken.append(BrokenPlugin("mine = my_plugin.hooks", "my_plugin", "1.0", "ImportError: boom"))
    results = check_registered(registry, dist="my_plugin")  # compared as pip does: my_plugin == my-Plugin
    assert {r.component for r in results} == {"plugin:mine = my_plugin.hooks", "loss:good"}
    assert failures([r for r in results if r.component.startswith("plugin:")]) == {"loads": "ImportError: boom"}
    assert [c.name for c in select_components(registry, kind="head")] == ["lin"]
    assert {r.component for r in check_registered(registry, kind="head")} == {"head:lin"}
    results = check_component(registry.get("loss", "good"))
    assert all(r.dist == "my-Plugin" for r in results)
    with pytest.raises(AssertionError, match="scalar"):
        assert_conforms(Component("loss", "vector", lambda: VectorLoss(), "x", "0"))
    assert str(CheckResult("loss:x", "scalar", False, "returned (8,)")) == "loss:x scalar: FAILED: returned (8,)"
