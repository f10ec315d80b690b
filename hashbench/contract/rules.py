"""The contract's rules, each written once: what :mod:`hashbench.contract.hookspecs` promises, as checks.

Every function looks at one thing a component gave and returns ``None`` when it keeps the contract,
else one line saying what it gave and what the contract is (``returned (2, 16) for 2 clips; the
contract is (B, feature_dim) = (2, 8)``). The caller names the component: the run-time checks
(:mod:`hashbench.contract.checks`) raise a ``ContractError`` with it, the conformance kit
(:mod:`hashbench.contract.conformance`) records a failed check. Torch is imported inside the rules
that need it.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Mapping, Optional, Sequence

__all__ = ["shape_of", "first", "feature_dim", "normalisation", "features", "codes", "finite", "scalar_loss",
           "loss_gradient", "clip", "item", "label", "dataset_attributes", "info", "ORIGINS", "INFO_KEYS"]

#: ``info()["data_origin"]`` values, and the keys every ``info()`` carries (recorded in results rows).
ORIGINS = ("official", "custom", "generated")
INFO_KEYS = ("split", "data_checksum", "data_origin")


def shape_of(x: Any, expected: Optional[tuple] = None) -> str:
    """``(2, 16)`` for a tensor or array (``(2, 16) torch.int64`` when that is the ``expected`` shape,
    so the dtype is what is wrong), else the type's name."""
    if not hasattr(x, "shape"):
        return type(x).__name__
    shape = tuple(x.shape)
    return f"{shape} {x.dtype}" if shape == expected and hasattr(x, "dtype") else str(shape)


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def feature_dim(value: Any) -> Optional[str]:
    """A backbone's ``feature_dim``: a positive int, its output width."""
    if _positive_int(value):
        return None
    return f"does not expose a positive int `feature_dim` (got {value!r}); the contract asks for its output width"


def normalisation(mean: Any, std: Any) -> Optional[str]:
    """A backbone's ``input_mean``/``input_std``: 3 finite numbers each, mean in 0..255, std > 0."""
    if mean is None or std is None:
        return ("input_mean/input_std are not declared: set them (3 numbers each, 0-255 pixel units, RGB) to"
                " the normalisation its weights expect")
    try:
        mean_t, std_t = tuple(float(v) for v in mean), tuple(float(v) for v in std)
    except (TypeError, ValueError):
        return f"declares input_mean {mean!r} / input_std {std!r}, not sequences of numbers"
    if len(mean_t) != 3 or len(std_t) != 3 or not all(math.isfinite(v) and 0 <= v <= 255 for v in mean_t) \
            or not all(math.isfinite(v) and v > 0 for v in std_t):
        return (f"declares input_mean {mean_t} / input_std {std_t}; the contract is 3 numbers each (0-255 pixel"
                " units, RGB), std > 0")
    return None


def features(out: Any, batch: int, dim: int) -> Optional[str]:
    """A backbone's output: a float tensor ``(B, feature_dim)``."""
    import torch

    if isinstance(out, torch.Tensor) and tuple(out.shape) == (batch, dim) and out.is_floating_point():
        return None
    return (f"returned {shape_of(out, (batch, dim))} for {batch} clips; the contract is (B, feature_dim) ="
            f" ({batch}, {dim}) floats")


def codes(out: Any, batch: int, bits: int) -> Optional[str]:
    """A head's output: real-valued codes, a float tensor ``(B, bits)``."""
    import torch

    if isinstance(out, torch.Tensor) and tuple(out.shape) == (batch, bits) and out.is_floating_point():
        return None
    return (f"returned {shape_of(out, (batch, bits))} for {batch} feature rows; the contract is real-valued codes"
            f" (B, bits) = ({batch}, {bits})")


def finite(values: Any, what: str) -> Optional[str]:
    """Every entry of a tensor is finite (``what``: "features", "codes"...)."""
    import torch

    return None if bool(torch.isfinite(values).all()) else f"{what} are not finite"


def scalar_loss(value: Any) -> Optional[str]:
    """A loss's output: a scalar tensor (one element, at most one dimension)."""
    import torch

    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.dim() <= 1:
        return None
    return f"returned {shape_of(value)}; the contract is a scalar tensor (reduce over the batch)"


def loss_gradient(value: Any) -> Optional[str]:
    """A training loss is differentiable: it has a gradient path to the codes."""
    if getattr(value, "requires_grad", False):
        return None
    return "returned a loss without a gradient path to the codes (was it detached?); compute it from them"


def clip(value: Any, num_frames: Optional[int] = None) -> Optional[str]:
    """A dataset item's clip: a uint8 tensor ``(3, T, H, W)``, T = ``num_frames`` when given."""
    import torch

    if not (isinstance(value, torch.Tensor) and value.dtype == torch.uint8 and value.dim() == 4
            and value.shape[0] == 3):
        dtype = f" {value.dtype}" if hasattr(value, "dtype") else ""
        return f"clip is {shape_of(value)}{dtype}; the contract is uint8 (3, T, H, W)"
    if num_frames is not None and value.shape[1] != num_frames:
        return f"clip has {value.shape[1]} frames; num_frames is {num_frames}"
    return None


def item(value: Any, kind: str = "clips", num_frames: Optional[int] = None,
         dim: Optional[int] = None) -> Optional[str]:
    """A dataset item's input for its ``item_kind``: a clip (see :func:`clip`), float frame features ``(T, D)``
    with T = ``num_frames`` and D = ``dim`` when given, or one float vector ``(D,)``."""
    import torch

    if kind == "clips":
        return clip(value, num_frames)
    want = {"frame_features": 2, "vector": 1}.get(kind)
    if want is None:
        return f"item_kind {kind!r} is not one of clips, frame_features, vector"
    form = "(T, D)" if want == 2 else "(D,)"
    if not (isinstance(value, torch.Tensor) and value.is_floating_point() and value.dim() == want):
        dtype = f" {value.dtype}" if hasattr(value, "dtype") else ""
        return f"{kind} item is {shape_of(value)}{dtype}; the contract is a float tensor {form}"
    if want == 2 and num_frames is not None and value.shape[0] != num_frames:
        return f"frame features have {value.shape[0]} frames; num_frames is {num_frames}"
    if dim is not None and value.shape[-1] != dim:
        return f"{kind} item has D = {value.shape[-1]}; feature_dim is {dim}"
    return finite(value, f"{kind} item")


def label(value: Any, classes: int, multi_label: bool) -> Optional[str]:
    """A dataset item's label: an int class id in ``0..C-1``, or a multi-hot float ``(C,)`` of 0 and 1."""
    import numpy as np
    import torch

    if multi_label:
        row = value.detach().cpu() if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
        if tuple(row.shape) != (classes,) or not row.is_floating_point():
            return f"label is {shape_of(row)} {row.dtype}; the contract is multi-hot float ({classes},)"
        return None if bool(((row == 0) | (row == 1)).all()) else "multi-hot label has values other than 0 and 1"
    if isinstance(value, torch.Tensor):
        if value.dim() != 0 or value.is_floating_point():
            return f"label is a tensor {shape_of(value)} {value.dtype}; the contract is an int class id"
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return f"label is {type(value).__name__} {value!r}; the contract is an int class id"
    if not 0 <= int(value) < classes:
        return f"label {int(value)} outside 0..{classes - 1} (num_classes = {classes})"
    return None


def dataset_attributes(classes: Any, names: Any, multi: Any, frames: Any) -> Optional[str]:
    """A dataset's ``num_classes``, ``class_names``, ``multi_label`` and ``num_frames``."""
    if not _positive_int(classes):
        return f"num_classes must be a positive int, got {classes!r}"
    if names is None or isinstance(names, str) or len(list(names)) != classes:
        return f"class_names must list num_classes = {classes} names, got {names!r:.80}"
    if not isinstance(multi, bool):
        return f"multi_label must be a bool, got {multi!r}"
    if not _positive_int(frames):
        return f"num_frames must be a positive int, got {frames!r}"
    return None


def info(provenance: Any) -> Optional[str]:
    """A dataset's ``info()``: a mapping with ``split``, ``data_checksum`` and ``data_origin``."""
    if not isinstance(provenance, Mapping):
        return f"info() returned {type(provenance).__name__}, not a dict"
    missing = [k for k in INFO_KEYS if k not in provenance]
    if missing:
        return f"info() lacks {', '.join(missing)} (recorded in results rows)"
    if provenance["data_origin"] not in ORIGINS:
        return f"info()['data_origin'] is {provenance['data_origin']!r}; one of {', '.join(ORIGINS)}"
    return None


def first(names: Sequence[str], limit: int = 5) -> str:
    """The first ``limit`` names, comma-separated, then ``and N more``."""
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more
