"""``--resume`` of label-free methods with stage outputs and training state (issue 19's acceptance): a BTH
run (mask-only pre-training, latents, k-means anchors, pseudo-labels, the anchor-graph tags) and an S5VH
run (PCA, k-means pseudo-labels, its label bank), and the other methods whose fit sizes their state (SSVH's
similarity, MCMSH's graph, SSDH's pseudo-similarity, UH-BDNN's targets, AutoSSVH's code bank), interrupted after epoch 1 and resumed through
``run_experiment(..., resume=True)`` (what ``hashbench run --resume`` calls) end with exactly the
weights, buffers and metrics of an uninterrupted run, without fitting again."""
from __future__ import annotations

import pytest
import torch

import hashbench
from hashbench.config import experiment_from_dict
from hashbench.contract import Component, load_registry
from hashbench.run import run_experiment
from hashbench.train import load_checkpoint

FEATURES = {"name": "moving_digits_features", "num_frames": 6, "dim": 16, "clips_per_class": 6,
            "queries_per_class": 2}
SMALL = {"bth": {"hidden": 16, "anchors": 8, "pretrain_epochs": 1, "pretrain_batch": 16},
         "s5vh": {"depth": 1, "width": 16, "decoder_width": 16, "d_state": 4, "clusters": 4, "pca_dim": 8,
                  "warm_up_epoch": 1, "centre_sweeps": 0},
         "ssvh": {"hidden": 8, "knn": 3, "shared": 2}, "mcmsh": {"hidden": 16, "clusters": 6},
         "ssdh": {}, "uhbdnn": {"hidden": [16]}, "autossvh": {"depth": 1, "width": 16, "heads": 2,
                                                          "decoder_width": 8, "decoder_heads": 2,
                                                          "clusters": [4], "warmup_epoch": 1}}


class Stop(Exception):
    """Stands for a kill between epochs."""


def _registry(name: str, stop_at: int | None, fits: list[int]):
    """The reference registry, with ``name``'s factory wrapped: the built method counts its fits and raises
    at the start of epoch ``stop_at``."""
    registry = load_registry()
    factory = registry.components["method"][name].factory

    def build(**table):
        method = factory(**table)
        fit, start = getattr(method, "fit", None), method.on_epoch_start

        def counted_fit(train):
            fits.append(1)
            fit(train)

        def stopping(epoch, epochs):
            if epoch == stop_at:
                raise KeyboardInterrupt("simulated interruption")
            start(epoch, epochs)

        method.on_epoch_start = stopping
        if fit is not None:
            method.fit = counted_fit
        return method

    build.__signature__ = __import__("inspect").signature(factory)  # type: ignore[attr-defined]
    registry.components["method"][name] = Component("method", name, build, "tests", "0")
    return registry


@pytest.mark.parametrize("name", sorted(SMALL))
def test_a_resumed_run_ends_exactly_where_an_uninterrupted_one_does(tmp_path, name):
    if name not in hashbench.registry().names("method"):
        pytest.skip(f"{name} is not registered in this checkout")
    doc = {"name": f"resume-{name}", "seed": 0, "device": "cpu", "dataset": FEATURES,
           "method": {"name": name, "bits": 8, **SMALL[name]},
           "train": {"epochs": 3, "batch_size": 16, "optimizer": {"name": "adam", "lr": 1e-3}, "eval_every": 3,
                     "amp": False},
           "eval": {"metrics": ["map"]}}
    fits: list[int] = []
    straight = run_experiment(experiment_from_dict(doc), _registry(name, None, fits), runs_dir=tmp_path / "a",
                              results_path=None)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(experiment_from_dict(doc), _registry(name, 2, fits), runs_dir=tmp_path / "b",
                       results_path=None)
    fitted = len(fits)
    assert fitted in (0, 2)  # both runs fitted (a method with a fit stage), or neither
    resumed = run_experiment(experiment_from_dict(doc), _registry(name, None, fits), runs_dir=tmp_path / "b",
                             results_path=None, resume=True)
    assert len(fits) == fitted  # the checkpoint holds the stages' outputs: no fit again
    assert resumed.metrics == straight.metrics
    a = load_checkpoint(straight.run_dir / "model.pt")["model"]
    b = load_checkpoint(resumed.run_dir / "model.pt")["model"]
    assert set(a) == set(b) and len(a) > 0
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, differ[:5]
