"""The state dicts pytorch-video-recognition's ``train.py`` saves, read and loaded strictly (torch-free).

``{'epoch', 'state_dict', 'opt_dict'}`` (or a bare state dict) in the repo's module names: ``res2plus1d.*``
or ``res3d.*`` and the classifier ``linear.*``; no weights are published, so no checkpoint is declared.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Tuple

from hashbench.contract import load_state_dict_strict, read_state_dict

__all__ = ["read_pvr_state", "load_pvr_state"]


def read_pvr_state(path: Path) -> Tuple[Mapping[str, Any], Optional[int]]:
    """``(state dict, classes of its linear classifier or None)`` of the file at ``path``."""
    state = read_state_dict(path)
    weight = state.get("linear.weight")
    classes = int(weight.shape[0]) if getattr(weight, "dim", lambda: 0)() == 2 else None
    return state, classes


def load_pvr_state(model: Any, state: Mapping[str, Any], path: Path, *, keep_classifier: bool) -> None:
    """Load ``state`` strictly (``linear.*`` dropped unless ``keep_classifier``; BN ``num_batches_tracked``
    may be absent, as in files of PyTorch < 0.4): CheckpointError listing the keys that do not fit."""
    if not keep_classifier:
        state = {k: v for k, v in state.items() if not k.startswith("linear.")}
    load_state_dict_strict(model, state, f"backbone.pretrained: {Path(path).expanduser()}",
                           ignore_missing=("num_batches_tracked",))
