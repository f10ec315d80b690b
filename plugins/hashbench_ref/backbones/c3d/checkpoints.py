"""C3D's known checkpoint (the Sports-1M port), its key layout and strict loading: torch-free at import.

pytorch-video-recognition's ``c3d-pretrained.pth`` stores C3D as an ``nn.Sequential`` (``features.N`` /
``classifier.N``); :func:`to_model_names` renames those keys to the model's ``conv1`` .. ``fc8``
(:data:`SPORTS1M_LAYOUT`), and :func:`load_c3d_state` loads either layout strictly, listing missing /
unexpected / mis-shaped keys in the file's own names. :func:`pretrained_path` resolves the ``pretrained``
key of c3d (and of the pvr family, which shares its loader conventions).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

from hashbench.contract import Checkpoint, checkpoints_of, key_listing, resolve_pretrained
from hashbench.errors import CheckpointError, ConfigError

from ..normalization import PVR_BGR

__all__ = ["SPORTS1M", "SPORTS1M_CLASSES", "SPORTS1M_LAYOUT", "pretrained_path", "to_model_names", "load_c3d_state"]

#: Classes of the Sports-1M classifier fc8 (the kept classifier's size when no file says otherwise).
SPORTS1M_CLASSES = 487

SPORTS1M = Checkpoint(
    name="c3d_sports1m",
    file="c3d-pretrained.pth",
    url=None,  # published on Google Drive / BaiduYun pages, not as a direct download (see source)
    sha256=None,
    classes=SPORTS1M_CLASSES,
    mean=PVR_BGR[0],
    std=PVR_BGR[1],
    frames=16,
    size=112,
    options={},
    source="pytorch-video-recognition (jfzhang95) README: https://drive.google.com/file/d/"
           "19NWziHWh1LgCcHU34geoKwYezAogv9fX or https://pan.baidu.com/s/1saNqGBkzZHwZpG-A5RDLVw",
    notes="C3D trained on Sports-1M (Caffe weights ported to PyTorch); keys features.N / classifier.N"
          " (fc6, fc7, fc8 of 487 classes), renamed to conv1..fc8 on load; BGR input minus"
          " (90, 98, 102), no std, 16x112x112 clips (frames resized to 128x171, cropped)",
)

#: The Sports-1M port's module names -> ours.
SPORTS1M_LAYOUT = {
    "features.0": "conv1", "features.3": "conv2", "features.6": "conv3a", "features.8": "conv3b",
    "features.11": "conv4a", "features.13": "conv4b", "features.16": "conv5a", "features.18": "conv5b",
    "classifier.0": "fc6", "classifier.3": "fc7", "classifier.6": "fc8",
}


def pretrained_path(pretrained: Optional[str], factory: Any) -> tuple[Any, Optional[Checkpoint]]:
    """``(file or None, known checkpoint or None)`` for the ``pretrained`` key (a known name or a path)."""
    if pretrained is None:
        return None, None
    if not isinstance(pretrained, str) or not pretrained.strip():
        raise ConfigError("backbone.pretrained: empty path (was an environment variable unset?);"
                          " give a known checkpoint name or a weight file, or remove the key")
    known = checkpoints_of(factory)
    if pretrained not in {c.name for c in known} and "/" not in pretrained and "." not in pretrained \
            and not Path(pretrained).expanduser().exists():
        names = ", ".join(repr(c.name) for c in known) or "none (this backbone takes a path)"
        raise ConfigError(f"backbone.pretrained: {pretrained!r} is neither a known checkpoint of"
                          f" {factory.__name__} ({names}) nor an existing file")
    return resolve_pretrained(pretrained, known)


def to_model_names(state: Mapping[str, Any]) -> Tuple[Dict[str, Any], Dict[str, str]]:
    """``(state in conv1..fc8 names, {our name: the file's name})``: ``features.N``/``classifier.N`` keys
    of the Sports-1M port renamed; other keys kept as they are (unknown ones are reported)."""
    renamed: Dict[str, Any] = {}
    origin: Dict[str, str] = {}
    for key, value in state.items():
        module, _, param = key.rpartition(".")
        new = f"{SPORTS1M_LAYOUT[module]}.{param}" if module in SPORTS1M_LAYOUT else key
        if new in renamed:  # both layouts in one file: the second is unexpected
            new = key
        renamed[new] = value
        origin[new] = key
    return renamed, origin


def load_c3d_state(model: Any, state: Mapping[str, Any], where: str) -> Any:
    """Load ``state`` (conv1..fc8 names, or the Sports-1M port's, see :func:`to_model_names`) strictly;
    ``fc8`` is dropped unless the model kept one. CheckpointError listing missing / unexpected /
    mis-shaped keys in the file's names. A model on the meta device is materialised on the CPU first
    (returns the loaded model)."""
    state, origin = to_model_names(state)
    if model.fc8 is None:
        state = {k: v for k, v in state.items() if not k.startswith("fc8.")}
    expected = model.state_dict()
    sports1m = any(origin[k] != k for k in state)
    source_of = {ours: source for source, ours in SPORTS1M_LAYOUT.items()}

    def shown(key: str) -> str:
        if origin.get(key, key) != key:
            return f"{origin[key]} (= {key})"
        module, _, param = key.rpartition(".")
        if key not in state and sports1m and module in source_of:
            return f"{source_of[module]}.{param} (= {key})"
        return key

    missing = [shown(k) for k in expected if k not in state]
    unexpected = [shown(k) for k in state if k not in expected]
    mismatched = [f"{shown(k)} {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
                  for k in state if k in expected and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or mismatched:
        layout = " (Sports-1M port layout features.N/classifier.N)" if sports1m else ""
        raise CheckpointError(f"{where}{layout} does not fit c3d; " + "; ".join(
            key_listing(label, keys) for label, keys in (
                ("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched))
            if keys))
    if any(t.is_meta for t in expected.values()):
        model = model.to_empty(device="cpu")
    model.load_state_dict(state, strict=True)
    return model
