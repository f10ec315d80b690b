"""The names the plugin contract fixes: component kinds, context values, and the metric spec syntax.

Context values are handed to a factory by hashbench when it declares a parameter of that name (the way
pytest injects fixtures); a component table cannot set them, except the ones its own kind defines
(:data:`TABLE_OWNED`: the head's and the method's ``bits``, the dataset's ``num_frames``).

A metric registered as ``"name@k"`` is asked for as ``"name@100"`` (``k=100``), one registered as
``"name@r"`` as ``"name@r2"`` (``r=2``): :func:`parse_metric_spec` is the one reader of that syntax.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

__all__ = ["KINDS", "ITEM_KINDS", "CONTEXT_NAMES", "CONTEXT_ORIGINS", "TABLE_OWNED", "CORE_KEYS", "CORE_DEFAULTS", "MetricSpec",
           "parse_metric_spec"]

#: The component kinds, one registration hook each.
KINDS = ("backbone", "head", "loss", "dataset", "metric", "method")
#: What a dataset's items hold (its ``item_kind``; ``"clips"`` when it declares none) and what a method
#: ``consumes``: uint8 clips, frame features, or one vector per video (shapes: hookspecs' docstring).
ITEM_KINDS = ("clips", "frame_features", "vector")
#: Values hashbench injects into factories that ask for them by parameter name.
CONTEXT_NAMES = ("bits", "feature_dim", "num_classes", "multi_label", "num_frames", "num_train", "device", "seed")
#: Where each context value comes from (named when a table tries to set one).
CONTEXT_ORIGINS = {
    "bits": "head.bits", "feature_dim": "the backbone", "num_classes": "the dataset",
    "multi_label": "the dataset", "num_frames": "dataset.num_frames",
    "num_train": "the size of the training split", "device": "the top-level device",
    "seed": "the top-level seed",
}
#: Context names that a kind's own table defines (the head or the method sets ``bits``, the dataset
#: ``num_frames``).
TABLE_OWNED = {"head": ("bits",), "method": ("bits",), "dataset": ("num_frames",)}
#: Keys of a component table that hashbench itself reads, whatever the plugin (never passed to it):
#: ``[backbone] init_from`` starts the backbone from a previous run's (or a checkpoint's) weights;
#: ``[backbone] freeze = true`` keeps its weights fixed (only the head and the loss's parameters train).
CORE_KEYS = {"backbone": ("init_from", "freeze")}
#: The value a core key has when it is not written (equal values are the same experiment).
CORE_DEFAULTS = {"freeze": False}

_PARAMETRISED = re.compile(r"^(?P<base>[A-Za-z_][\w\-]*)@(?P<r>r?)(?P<value>\d+)$")


@dataclass(frozen=True)
class MetricSpec:
    """A parametrised metric spec: ``map@100`` -> ``MetricSpec("map", "k", 100)`` (registered as ``map@k``)."""

    base: str
    param: str  # "k" (ranks) or "r" (Hamming radius)
    value: int

    @property
    def registered(self) -> str:
        """The name the metric is registered under: ``map@k``, ``precision@r``."""
        return f"{self.base}@{self.param}"


def parse_metric_spec(spec: str) -> Optional[MetricSpec]:
    """The parts of ``"name@100"`` / ``"name@r2"``, or None when ``spec`` is not of that form."""
    match = _PARAMETRISED.match(spec)
    if not match:
        return None
    return MetricSpec(match["base"], "r" if match["r"] else "k", int(match["value"]))
