"""The experiment identity (``config`` column): what makes two runs comparable, seed left out."""
from __future__ import annotations

import json

import pytest

import hashbench
from hashbench.config import experiment_from_dict
from hashbench.results.identity import experiment_identity, identity_json

BASE = {
    "name": "a", "seed": 0, "device": "cpu",
    "dataset": {"name": "moving_digits"},
    "backbone": {"name": "r3d18", "width": 32},
    "head": {"name": "tanh", "bits": 48},
    "loss": {"name": "batch_all_triplet", "margin": 14},
    "train": {"epochs": 20, "num_workers": 2},
    "eval": {"metrics": ["map"], "batch_size": 64},
}


def identity(**changes) -> dict:
    doc = json.loads(json.dumps(BASE))
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = doc
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return experiment_identity(experiment_from_dict(doc), hashbench.registry())


def test_plugin_defaults_are_filled_in_and_context_is_left_out():
    ident = identity()
    assert ident["backbone.width"] == 32 and ident["backbone.normalization"] == "c3d_retrieval"
    assert ident["dataset.clips_per_class"] == 60 and ident["loss.weighting"] == "original"
    assert ident["head.bits"] == 48 and ident["train.optimizer.name"] == "sgd"
    for context in ("dataset.seed", "loss.multi_label", "head.feature_dim"):
        assert context not in ident
    # writing a default explicitly is the same experiment
    assert identity(loss__weighting="original") == ident


def test_keys_a_factory_derives_resolve_to_what_they_derive():
    """r3d18 leaves normalization/shortcut unset (a named checkpoint's, else its profile's): writing the
    resolved value is the same experiment, another value or a checkpoint that implies another is not."""
    ident = identity()
    assert ident["backbone.normalization"] == "c3d_retrieval" and ident["backbone.shortcut"] == "A"
    assert identity(backbone__normalization="c3d_retrieval", backbone__shortcut="A") == ident
    assert identity(backbone__normalization="kinetics") != ident
    master = identity(backbone__name="r3d50")
    assert master["backbone.normalization"] == "kinetics_master" and master["backbone.shortcut"] == "B"
    named = identity(backbone__pretrained="resnet-18-kinetics")
    assert named["backbone.normalization"] == "kinetics" and named["backbone.shortcut"] == "A"


@pytest.mark.parametrize("key,value", [("seed", 5), ("name", "other"), ("device", "auto"), ("label", "mine"),
                                       ("train__num_workers", 0), ("eval__batch_size", 8),
                                       ("eval__metrics", ["map", "map@100"]), ("train__eval_every", 2),
                                       ("eval__val_fraction", 0.2)])
def test_what_does_not_change_a_result_is_not_in_the_identity(key, value):
    assert identity(**{key: value}) == identity()


@pytest.mark.parametrize("key,value", [("train__epochs", 21), ("backbone__width", 64), ("loss__margin", 8),
                                       ("head__bits", 16), ("dataset__noise", 10.0), ("eval__select", "val"),
                                       ("train__optimizer", {"name": "adam"})])
def test_every_setting_that_changes_a_result_is(key, value):
    assert identity(**{key: value}) != identity()


def test_placement_keys_are_ignored_and_weight_files_compared_by_name(tmp_path):
    registry = hashbench.registry()
    from hashbench.results.identity import component_identity

    a = component_identity(registry, "dataset", {"name": "ucf101", "root": "/data/a/UCF-101", "cache": "/c1",
                                                 "source": "files", "missing": "skip"})
    b = component_identity(registry, "dataset", {"name": "ucf101", "root": "/mnt/UCF-101"})
    assert a == b and "dataset.root" not in a and a["dataset.num_frames"] == 32
    w1 = component_identity(registry, "backbone", {"name": "r3d18", "pretrained": "/w/resnet-18-kinetics.pth"})
    w2 = component_identity(registry, "backbone", {"name": "r3d18", "pretrained": "/x/resnet-18-kinetics.pth"})
    assert w1 == w2 and w1["backbone.pretrained"] == "resnet-18-kinetics.pth"


def test_identity_json_is_canonical():
    text = identity_json(identity())
    assert text == identity_json(dict(reversed(list(identity().items()))))
    assert " " not in text.replace("c3d_retrieval", "") and json.loads(text) == identity()


def test_selection_keys_count_only_where_the_selection_reads_them():
    val = identity(eval__select="val")
    assert val["eval.select_metric"] == "map" and "eval.val_fraction" in val
    assert identity(eval__select="val", eval__val_fraction=0.2) != val
    assert identity(eval__select="val", train__eval_every=2) != val
    assert "eval.select_metric" not in identity() and "train.eval_every" not in identity()
