"""Check every point of a sweep before the first one trains.

A sweep of many points should not fail at point 37 on a typo that point 1 did not use. Each point's
components are built (plugins, keys, types and values checked by their factories) and its metric specs
parsed; identical tables are built once, so a 4-bits x 3-seeds grid builds one backbone per width, not
twelve. Training data is not loaded (``split()`` is not called): a missing video is reported by the
point that reads it, before its run directory exists.
"""
from __future__ import annotations

import inspect
import json
from typing import Any, Callable, Sequence

from ..config import Experiment
from ..config.validate import in_file
from ..contract import Registry
from ..errors import HashbenchError
from .build import component_context, head_bits, num_train_for

__all__ = ["check_points"]


def _key(*parts: Any) -> str:
    return json.dumps(parts, sort_keys=True, default=repr)


def _takes(registry: Registry, kind: str, name: str, parameter: str) -> bool:
    factory = registry.get(kind, name).factory
    return parameter in inspect.signature(factory).parameters


def check_points(points: Sequence[Experiment], registry: Registry) -> None:
    """Build every component of every point (once per distinct table); raise the first error, naming
    the point. A single point is not checked here: the run itself builds everything before it writes."""
    if len(points) < 2:
        return
    cache: dict[str, Any] = {}
    for experiment in points:
        try:
            with in_file(experiment.source):
                _check(experiment, registry, cache)
        except HashbenchError as exc:
            text = str(exc)
            if f"sweep point" not in text:
                text = f"{text} (sweep point {experiment.name})"
            raise type(exc)(text) from exc


def _cached(cache: dict[str, Any], key: str, build: Callable[[], Any]) -> Any:
    if key not in cache:
        cache[key] = build()
    return cache[key]


def _check(experiment: Experiment, registry: Registry, cache: dict[str, Any]) -> None:
    import torch

    from ..train.model import build_hash_model

    bits = head_bits(experiment)
    registry.check_loggers(experiment.loggers)
    context = component_context(experiment, "cpu", bits)
    name = str(experiment.dataset["name"])
    seed = experiment.seed if _takes(registry, "dataset", name, "seed") else None
    dataset = _cached(cache, _key("dataset", experiment.dataset, seed),
                      lambda: registry.build("dataset", experiment.dataset, where="dataset", **context))
    context = component_context(experiment, "cpu", bits, dataset, num_train_for(experiment, registry, dataset))
    if getattr(dataset, "feature_dim", None) is not None:
        context["feature_dim"] = int(dataset.feature_dim)  # a method's, or a frame-feature backbone's, input width
    if experiment.method_table is not None:
        _cached(cache, _key("method", experiment.method_table, context),
                lambda: registry.build("method", experiment.method_table, where="method", **context))
        return _check_metrics(experiment, registry, cache)
    model_key = _key("model", experiment.backbone, experiment.head, context)
    with torch.random.fork_rng(devices=[]):
        model = _cached(cache, model_key, lambda: build_hash_model(registry, experiment.backbone, experiment.head,
                                                                   **context))
        context["feature_dim"] = int(model.backbone.feature_dim)
        _cached(cache, _key("loss", experiment.loss, context),
                lambda: registry.build("loss", experiment.loss, where="loss", **context))
    _check_metrics(experiment, registry, cache)


def _check_metrics(experiment: Experiment, registry: Registry, cache: dict[str, Any]) -> None:
    for spec in experiment.eval.metric_specs():
        _cached(cache, _key("metric", spec), lambda: registry.build_metric(spec))
