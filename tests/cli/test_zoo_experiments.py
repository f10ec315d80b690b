"""experiments/zoo: the sweep covers every loss of the reference set once, each per-method file is exactly
its sweep point (same data, backbone, bits, schedule; only the method differs), and the whole zoo is
checked by the preflight that a real ``hashbench run`` does (every point built)."""
from __future__ import annotations

import pytest

import hashbench
from support import ROOT
from hashbench.config import expand_sweep, load_experiment
from hashbench.contract import REFERENCE_DIST
from hashbench.results.identity import experiment_identity
from hashbench.run.preflight import check_points

ZOO = ROOT / "experiments" / "zoo"
HEADS = {"triplet": "tanh", "csq": "linear", "dpsh": "linear", "hashnet": "scaled_tanh", "dsh": "linear",
         "greedyhash": "linear", "orthohash": "bn", "dpn": "linear", "cross_entropy": "tanh", "dtsh": "linear",
         "orthoarc": "bn", "dfh": "linear", "sdh_c": "tanh", "dbdh": "linear", "jmlh": "linear", "adsh": "tanh",
         "video_retrieval": "linear"}


@pytest.fixture(scope="module")
def points():
    return {p.name.split("variant=")[1]: p for p in expand_sweep(load_experiment(ZOO / "zoo.toml"))}


def test_the_zoo_runs_every_reference_loss_with_its_papers_head(points):
    registry = hashbench.registry()
    losses = {c.name for c in registry.all() if c.kind == "loss" and c.dist == REFERENCE_DIST}
    assert {p.loss["name"] for p in points.values()} == losses
    assert {name: p.head["name"] for name, p in points.items()} == HEADS
    shared = [{k: v for k, v in p.to_dict().items() if k not in ("name", "head", "loss")} for p in points.values()]
    assert all(s == shared[0] for s in shared)  # same data, backbone, training and evaluation
    assert {p.head["bits"] for p in points.values()} == {32}
    assert shared[0]["dataset"]["motions"] == "all"  # 15 classes: harder than the demo's 8


@pytest.mark.parametrize("method", sorted(HEADS))
def test_each_method_file_is_its_sweep_point(method, points):
    alone = load_experiment(ZOO / f"{method}.toml")
    point = points[method]
    assert alone.name == f"zoo-{method}" and not alone.sweep
    registry = hashbench.registry()
    assert experiment_identity(alone, registry) == experiment_identity(point, registry)
    assert {k: v for k, v in alone.to_dict().items() if k not in ("name", "sweep")} == \
        {k: v for k, v in point.to_dict().items() if k not in ("name", "sweep")}


def test_every_zoo_point_builds(points):
    check_points(list(points.values()), hashbench.registry())  # raises on the first point that does not
