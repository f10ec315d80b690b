"""Classification runs (top1/top5 rows, clip- and video-level with eval.clips) and two-stage runs
(``[backbone] init_from``): end to end on the embedded dataset."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from support import tiny_experiment_text

from hashbench.config import experiment_from_dict, load_experiment
from hashbench.contract import load_registry
from hashbench.errors import CheckpointError, DataError
from hashbench.eval.classification import accuracy_at_k
from hashbench.results import read_results
from hashbench.results.identity import experiment_identity
from hashbench.run import run_experiment
from hashbench.run.build import build_components
from hashbench.train import load_checkpoint, seed_everything


def toml(tmp_path, name="cls", loss='name = "cross_entropy"', extra="", backbone='name = "r3d18"\nwidth = 8'):
    text = tiny_experiment_text(name=name, epochs=1, num_frames=6, backbone=backbone, metrics='["map"]')
    text = text.replace('[loss]\nname = "batch_all_triplet"\nmargin = 4', f"[loss]\n{loss}")
    path = tmp_path / f"{name}.toml"
    path.write_text(text + extra)
    return path


def test_accuracy_at_k_single_and_multi_label():
    logits = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.3], [0.2, 0.3, 0.5]])
    assert accuracy_at_k(logits, np.array([1, 2, 2]), 1) == pytest.approx(2 / 3)
    assert accuracy_at_k(logits, np.array([1, 2, 2]), 2) == 1.0
    multi = np.array([[1, 0, 1], [0, 1, 0], [0, 0, 0]], dtype=np.float32)
    assert accuracy_at_k(logits, multi, 1) == pytest.approx(0.0) and accuracy_at_k(logits, multi, 3) == pytest.approx(2 / 3)


def test_a_classifying_run_reports_top1_top5_video_and_clip_level(tmp_path):
    exp = load_experiment(toml(tmp_path), ["eval.clips=3"])
    results = tmp_path / "r.csv"
    result = run_experiment(exp, load_registry(), runs_dir=tmp_path / "runs", results_path=results)
    assert {"map", "top1", "top5", "top1_clip", "top5_clip"} == set(result.metrics)
    assert set(read_results(results)["metric"]) == {"map", "top1", "top5", "top1_clip", "top5_clip"}
    # recompute the video-level top1 from the saved model and classifier: the 3 windows' logits averaged
    saved = load_checkpoint(result.run_dir / "model.pt")
    built = build_components(exp, load_registry(), torch.device("cpu"))
    built.model.load_state_dict(saved["model"])
    built.loss.load_state_dict(saved["loss"])
    built.model.eval()
    query = built.dataset.split("query")
    clips = torch.stack([query[i][0] for i in range(len(query))])
    labels = np.array([query[i][1] for i in range(len(query))])
    with torch.no_grad():
        logits = torch.stack([built.loss.classify(built.model(built.model.normalize(clips[:, :, 2 * w:2 * w + 2])))
                              for w in range(3)]).mean(dim=0).numpy()
    assert result.metrics["top1"] == pytest.approx(accuracy_at_k(logits, labels, 1))
    assert result.metrics["top5"] == pytest.approx(accuracy_at_k(logits, labels, 5))


def test_a_retrieval_loss_reports_no_classification_rows(tmp_path):
    result = run_experiment(load_experiment(toml(tmp_path, loss='name = "batch_all_triplet"\nmargin = 4')),
                            load_registry(), runs_dir=tmp_path / "runs", results_path=None)
    assert set(result.metrics) == {"map"}


def test_init_from_starts_the_backbone_from_a_previous_runs_model(tmp_path):
    first = run_experiment(load_experiment(toml(tmp_path, name="stage1")), load_registry(),
                           runs_dir=tmp_path / "runs", results_path=None)
    stage2 = load_experiment(toml(tmp_path, name="stage2", loss='name = "batch_all_triplet"\nmargin = 4',
                                  backbone=f'name = "r3d18"\nwidth = 8\ninit_from = "{first.run_dir}"'))
    built = build_components(stage2, load_registry(), torch.device("cpu"))
    trained = load_checkpoint(first.run_dir / "model.pt")["model"]
    for key, value in built.model.backbone.state_dict().items():
        assert torch.equal(value, trained[f"backbone.{key}"]), key
    assert built.init_from["run_id"] == first.run_id
    # the identity (and so the leaderboard) says which run the backbone came from; the record too
    assert experiment_identity(stage2, load_registry())["backbone.init_from"] == first.run_id
    second = run_experiment(stage2, load_registry(), runs_dir=tmp_path / "runs", results_path=None)
    record = json.loads((second.run_dir / "record.json").read_text())
    assert record["init_from"]["run_id"] == first.run_id
    # a checkpoint file works too: the run's model.pt
    from_file = experiment_from_dict({**stage2.to_dict(), "backbone": {"name": "r3d18", "width": 8,
                                      "init_from": str(first.run_dir / "model.pt")}}, expand=False)
    built = build_components(from_file, load_registry(), torch.device("cpu"))
    assert torch.equal(built.model.backbone.conv1.weight, trained["backbone.conv1.weight"])


def test_init_from_that_does_not_fit_or_exist_is_a_clear_error(tmp_path):
    first = run_experiment(load_experiment(toml(tmp_path, name="narrow")), load_registry(),
                           runs_dir=tmp_path / "runs", results_path=None)
    wider = load_experiment(toml(tmp_path, name="wide", backbone=f'name = "r3d18"\nwidth = 16\ninit_from = "{first.run_dir}"'))
    with pytest.raises(CheckpointError, match=r"backbone.init_from: .*model.pt: does not fit this model; shape"
                                              r" mismatches \(\d+\): conv1.weight"):
        build_components(wider, load_registry(), torch.device("cpu"))
    missing = load_experiment(toml(tmp_path, name="x", backbone=f'name = "r3d18"\nwidth = 8\ninit_from = "{tmp_path}/nope"'))
    with pytest.raises(DataError, match=r"backbone.init_from: .*nope does not exist; give a run directory"):
        build_components(missing, load_registry(), torch.device("cpu"))


def test_freeze_keeps_the_backbone_weights_and_trains_the_rest(tmp_path):
    """``[backbone] freeze = true`` (a linear probe, Video_Classification_ResNet3D's ``--ft_begin_module fc``):
    the backbone's parameters are those it was built with, the head and the loss's classifier moved;
    BatchNorm running statistics still follow the data; the identity names the setting only when set."""
    frozen_exp = load_experiment(toml(tmp_path, name="frozen", loss='name = "cross_entropy"\non = "features"',
                                      backbone='name = "r3d18"\nwidth = 8\nfreeze = true'))
    seed_everything(frozen_exp.seed)  # as the run does before it builds
    initial = build_components(frozen_exp, load_registry(), torch.device("cpu"))
    assert not any(p.requires_grad for p in initial.model.backbone.parameters())
    before = {k: v.clone() for k, v in initial.model.state_dict().items()}
    classifier_before = {k: v.clone() for k, v in initial.loss.state_dict().items()}
    result = run_experiment(frozen_exp, load_registry(), runs_dir=tmp_path / "runs", results_path=None)
    saved = load_checkpoint(result.run_dir / "model.pt")
    parameters = {name for name, _ in initial.model.named_parameters()}
    for key, value in saved["model"].items():
        if key.startswith("backbone.") and key in parameters:
            assert torch.equal(value, before[key]), key
    assert any(not torch.equal(saved["model"][k], before[k]) for k in before if k.endswith("running_mean"))
    assert any(not torch.equal(saved["loss"][k], classifier_before[k]) for k in classifier_before)
    registry = load_registry()
    assert experiment_identity(frozen_exp, registry)["backbone.freeze"] is True
    unfrozen = experiment_from_dict({**frozen_exp.to_dict(), "backbone": {"name": "r3d18", "width": 8,
                                                                           "freeze": False}}, expand=False)
    unset = experiment_from_dict({**frozen_exp.to_dict(), "backbone": {"name": "r3d18", "width": 8}}, expand=False)
    assert experiment_identity(unfrozen, registry) == experiment_identity(unset, registry)
    bad = experiment_from_dict({**frozen_exp.to_dict(), "backbone": {"name": "r3d18", "width": 8,
                                                                      "freeze": "yes"}}, expand=False)
    with pytest.raises(Exception, match=r"backbone.freeze: expected true or false, got 'yes'"):
        build_components(bad, registry, torch.device("cpu"))
