"""Reading a weight file as a state dict and loading it strictly: what every backbone plugin calls.

:func:`read_state_dict` reads a file with ``weights_only=True`` (a bare state dict or one under
``state_dict``/``model``, DataParallel's ``module.`` prefix stripped); :func:`load_state_dict_strict`
loads it and, when it does not fit, lists the missing, unexpected and mis-shaped keys.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, NoReturn, Sequence

from ..errors import CheckpointError
from ..weights.store import missing_file_message

__all__ = ["read_state_dict", "load_state_dict_strict", "key_listing"]


def key_listing(label: str, keys: Sequence[str], limit: int = 12) -> str:
    """``missing keys (3): a, b, c`` with at most ``limit`` names shown."""
    keys = list(keys)
    more = f" ... and {len(keys) - limit} more" if len(keys) > limit else ""
    return f"{label} ({len(keys)}): {', '.join(keys[:limit])}{more}"


def read_state_dict(path: Any, where: str = "backbone.pretrained",
                    strip_prefixes: Sequence[str] = ("module.",)) -> dict[str, Any]:
    """A checkpoint file's tensors as a plain state dict (``torch.load(..., weights_only=True)``).

    Accepts a bare state dict or a dict holding one under ``state_dict`` / ``model`` (Hara's and most
    training scripts' format); ``strip_prefixes`` (default ``module.``, DataParallel's) are removed
    from the key names. CheckpointError naming the file when it is missing (and the command that
    fetches known ones), unreadable or holds no tensors.
    """
    import torch

    file = Path(path).expanduser()
    if not file.is_file():
        raise CheckpointError(missing_file_message(where, file))
    try:
        obj: Any = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt file, or pickled objects that weights_only refuses
        first = (str(exc).strip().splitlines() or [""])[0]
        raise CheckpointError(f"{where}: cannot read {file} as a weights-only torch checkpoint"
                              f" ({type(exc).__name__}: {first})") from exc
    state = obj
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                state = obj[key]
                break
    if not isinstance(state, Mapping) or not state or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise CheckpointError(f"{where}: {file} holds no state dict (expected a dict of tensors, or a dict with"
                              " a 'state_dict' entry)")
    out = {}
    for key, value in state.items():
        for prefix in strip_prefixes:
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        out[key] = value
    return out


def load_state_dict_strict(module: Any, state: Any, where: str, *, ignore_missing: Sequence[str] = ()) -> None:
    """Load ``state`` into ``module`` strictly; CheckpointError listing the missing, unexpected and
    mis-shaped keys (at most 12 of each) when it does not fit. Missing keys ending in one of
    ``ignore_missing`` (e.g. ``num_batches_tracked`` of checkpoints from PyTorch < 0.4) are allowed."""
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{where}: holds no state dict for the model")
    expected = module.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith(tuple(ignore_missing))]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        _refuse(where, missing, unexpected, _mismatched(state, expected))
    full = dict(state)
    for key in expected:  # allowed missing keys keep the module's own value
        full.setdefault(key, expected[key])
    try:  # a module may size a buffer from the saved one (a method's fitted stage outputs) while it loads
        module.load_state_dict(full, strict=True)
    except RuntimeError:
        _refuse(where, [], [], _mismatched(state, module.state_dict()) or ["(see the model)"])


def _mismatched(state: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    return [f"{k} {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}" for k in state
            if k in expected and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(expected[k].shape)]


def _refuse(where: str, missing: Sequence[str], unexpected: Sequence[str], mismatched: Sequence[str]) -> NoReturn:
    raise CheckpointError(f"{where}: does not fit this model; " + "; ".join(
        key_listing(label, keys) for label, keys in (
            ("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched))
        if keys))
