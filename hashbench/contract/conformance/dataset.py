"""Conformance of a dataset, built from its example table: splits of ``(uint8 clip, label)`` items.

Checks, in order: ``builds``, ``attributes`` (``num_classes``, ``class_names``, ``multi_label``,
``num_frames``), ``splits`` (``train``/``query``/``database``, each a non-empty torch Dataset),
``items`` (the first and last item of each: an input of the dataset's ``item_kind`` -- a uint8 clip,
frame features or a vector, shapes in :mod:`hashbench.contract.hookspecs` -- and a label in range), ``video_ids`` (unique, one per item), ``info`` (the provenance recorded in
results rows) and ``deterministic`` (building twice gives the same ids and first clip).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, List, Mapping, Optional, Union

from .. import rules
from ..registry import Component
from .kit import CheckResult, Checks, build, expect, require, run_kind

__all__ = ["check_dataset", "SPLITS"]

SPLITS = ("train", "query", "database")


def check_dataset(component: Union[Component, Callable[..., Any]], table: Optional[Mapping[str, Any]] = None, *,
                  device: str = "cpu", workdir: Optional[Path] = None) -> List[CheckResult]:
    """Every check of a dataset (registered component or bare factory) on its example table."""
    return run_kind("dataset", component, table, device=device, workdir=workdir, builds=builds, body=_checks)


def _checks(checks: Checks, ds: Any, component: Component, table: Mapping[str, Any], device: str) -> None:
    if not checks.run("attributes", attributes, ds):
        return
    if checks.run("splits", splits, ds):
        checks.run("items", items, ds)
        checks.run("video_ids", video_ids, ds)
    checks.run("info", info, ds)
    checks.run("deterministic", deterministic, ds, component, table)


def builds(component: Component, table: Mapping[str, Any], device: str) -> tuple:
    """The factory returns the dataset object (``device`` unused: datasets are built on the CPU)."""
    ds = build(component, table)
    return type(ds).__name__, ds


def attributes(ds: Any) -> str:
    """``num_classes`` (int >= 1), ``class_names`` (that many), ``multi_label`` (bool), ``num_frames`` (int >= 1)."""
    require(rules.dataset_attributes(getattr(ds, "num_classes", None), getattr(ds, "class_names", None),
                                     getattr(ds, "multi_label", None), getattr(ds, "num_frames", None)))
    return f"{ds.num_classes} classes, {ds.num_frames} frames{', multi-label' if ds.multi_label else ''}"


def splits(ds: Any) -> str:
    """``split(name)`` for train/query/database: a non-empty torch Dataset (``len`` and ``getitem``)."""
    sizes = []
    for name in SPLITS:
        split = ds.split(name)
        expect(hasattr(split, "__getitem__") and hasattr(split, "__len__"),
               f"split({name!r}) returned {type(split).__name__}, not a torch Dataset (len, getitem)")
        expect(len(split) >= 1, f"split({name!r}) is empty")
        sizes.append(f"{name}={len(split)}")
    return ", ".join(sizes)


def items(ds: Any) -> str:
    """The first and last item of each split: ``(input, label)`` as the contract says for the dataset's
    ``item_kind`` (``"clips"`` when it declares none)."""
    kind = getattr(ds, "item_kind", "clips")
    dim = getattr(ds, "feature_dim", None) if kind != "clips" else None
    shapes = set()
    for name in SPLITS:
        split = ds.split(name)
        for index in sorted({0, len(split) - 1}):
            item = split[index]
            expect(isinstance(item, (tuple, list)) and len(item) == 2,
                   f"{name}[{index}] is {type(item).__name__}; the contract is (clip, label)")
            clip, label = item
            labelled = ds.has_labels(name) if hasattr(ds, "has_labels") else True
            for problem in (rules.item(clip, kind, ds.num_frames, dim),
                            rules.label(label, ds.num_classes, ds.multi_label) if labelled else
                            (None if label == -1 else f"label of an unlabelled split is {label!r}; the contract is -1")):
                require(problem and f"{name}[{index}]: {problem}")
            shapes.add(tuple(clip.shape))
    dtype = "uint8" if kind == "clips" else "float"
    return f"{kind} {dtype} {', '.join(map(str, sorted(shapes)))}; labels in range"


def video_ids(ds: Any) -> str:
    """``video_ids(name)``: strings, unique, one per item."""
    for name in SPLITS:
        ids, size = list(ds.video_ids(name)), len(ds.split(name))
        expect(len(ids) == size, f"video_ids({name!r}) has {len(ids)} ids for {size} items")
        expect(all(isinstance(i, str) for i in ids), f"video_ids({name!r}) are not all strings")
        repeated = sorted({i for i in ids if ids.count(i) > 1}) if len(set(ids)) != len(ids) else []
        expect(not repeated, f"video_ids({name!r}) repeats {rules.first(repeated)}")
    return "unique, one per item"


def info(ds: Any) -> str:
    """``info()``: ``split``, ``data_checksum`` and ``data_origin`` (official / custom / generated)."""
    provenance = ds.info()
    require(rules.info(provenance))
    return f"split={provenance['split']!r}, data_origin={provenance['data_origin']!r}"


def deterministic(ds: Any, component: Component, table: Mapping[str, Any]) -> str:
    """Building twice gives the same ``video_ids`` and the same first training clip and label."""
    import torch

    again = build(component, table)
    for name in SPLITS:
        expect(list(again.video_ids(name)) == list(ds.video_ids(name)),
               f"building twice gives different video_ids({name!r})")
    (clip_a, label_a), (clip_b, label_b) = ds.split("train")[0], again.split("train")[0]
    expect(torch.equal(torch.as_tensor(clip_a), torch.as_tensor(clip_b)),
           "building twice gives a different first training clip")
    expect(torch.equal(torch.as_tensor(label_a), torch.as_tensor(label_b)),
           "building twice gives a different first training label")
    return "same ids and first clip"
