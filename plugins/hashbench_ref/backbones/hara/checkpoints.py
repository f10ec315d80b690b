"""Hara et al.'s published 3D-ResNet checkpoints and the input normalisations they were trained with.

Torch-free (read when the plugin registers its factories). Two generations of files exist:

- **CVPR2018 branch** (``resnet-{18,34,50,101,152,200}-kinetics.pth``, Kinetics-400, 400 classes): a dict
  ``{"epoch", "arch", "state_dict", "optimizer"}`` whose ``state_dict`` keys carry DataParallel's
  ``module.`` prefix; no BatchNorm ``num_batches_tracked`` (written by PyTorch < 0.4). Depths 18 and 34
  use shortcut A (parameter-free), 50 and deeper shortcut B (``downsample.0`` conv 1x1x1 + ``.1`` BN).
  Input: 0-255 pixels minus the ActivityNet mean, no std division (``mean.get_mean(1, "activitynet")``,
  the branch's default) -> normalisation ``"kinetics"``.
- **master branch** (``r3d{18..200}_{K,KM,...}_200ep.pth``, Kataoka et al. 2020): a dict ``{"epoch", "arch",
  "state_dict", "optimizer", "scheduler"}``, keys without prefix, shortcut B, conv1 7x7x7 (``conv1_t_size``
  7, stride 1), max pool kept. Input: 0-1 pixels normalised with the Kinetics mean/std of
  ``mean.get_mean_std(1, "kinetics")`` (the branch's default ``--mean_dataset``) -> ``"kinetics_master"``.

Both were trained on 16-frame 112x112 clips. The files are published on Google Drive folders (no direct
URL, so ``url`` is None and ``hashbench weights fetch`` says where to get them); their sha256 are not
published.

Loading (:func:`load_state`) is strict, on :func:`hashbench.contract.load_state_dict_strict`: a file that
does not fit is a CheckpointError listing the missing / unexpected / mis-shaped keys (never a silent
partial load, unlike the original loaders); the source classifier ``fc.*`` is dropped unless kept, and
BatchNorm ``num_batches_tracked`` counters may be absent (files written by PyTorch < 0.4).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from hashbench.contract import Checkpoint, load_state_dict_strict

from ..normalization import ACTIVITYNET, C3D_RETRIEVAL, KINETICS_MASTER, Normalization

__all__ = ["NORMALIZATIONS", "NORMALIZATION_NAMES", "CHECKPOINTS", "MASTER_DATASETS", "checkpoint_normalization",
           "owner_of", "load_state", "COUNTERS"]

log = logging.getLogger(__name__)
#: State-dict entries a file may lack (the module keeps its own value).
COUNTERS = ("num_batches_tracked",)

#: Input normalisations (constants in :mod:`..normalization`): the retrieval repos', the CVPR2018 branch's
#: (ActivityNet mean, no std) and the master branch's (Kinetics mean/std).
NORMALIZATIONS: Dict[str, Normalization] = {
    "c3d_retrieval": C3D_RETRIEVAL, "kinetics": ACTIVITYNET, "kinetics_master": KINETICS_MASTER}
NORMALIZATION_NAMES = tuple(NORMALIZATIONS)

_CVPR_SOURCE = ("kenshohara/3D-ResNets-PyTorch, CVPR2018 branch (README 'Pre-trained models':"
                " https://drive.google.com/drive/folders/1zvl89AgFAApbH0At-gMuZSeQB_LpNP-M)")
_MASTER_SOURCE = ("kenshohara/3D-ResNets-PyTorch, master branch (README 'Pre-trained models':"
                  " https://drive.google.com/open?id=1xbYbZ7rpyjftI_KCk6YuL-XrfQDz7Yd4)")

#: master-branch training sets: suffix -> (what, classes).
MASTER_DATASETS: Mapping[str, Tuple[str, int]] = {
    "K": ("Kinetics-700", 700),
    "KM": ("Kinetics-700 + Moments in Time", 1039),
    "KMS": ("Kinetics-700 + Moments in Time + STAIR-Actions", 1139),
    "KS": ("Kinetics-700 + STAIR-Actions", 800),
    "M": ("Moments in Time", 339),
    "MS": ("Moments in Time + STAIR-Actions", 439),
    "S": ("STAIR-Actions", 100),
}
_MASTER_FILES = {18: ("K", "KM"), 34: ("K", "KM"), 50: ("K", "KM", "KMS", "KS", "M", "MS", "S"),
                 101: ("K", "KM"), 152: ("K", "KM"), 200: ("K", "KM")}
_CVPR_SHORTCUT = {18: "A", 34: "A", 50: "B", 101: "B", 152: "B", 200: "B"}


def _cvpr(depth: int) -> Checkpoint:
    mean, std = NORMALIZATIONS["kinetics"]
    return Checkpoint(
        name=f"resnet-{depth}-kinetics", file=f"resnet-{depth}-kinetics.pth", url=None, sha256=None, classes=400,
        mean=mean, std=std, frames=16, size=112, options={"shortcut": _CVPR_SHORTCUT[depth]}, source=_CVPR_SOURCE,
        notes=(f"Kinetics-400, shortcut {_CVPR_SHORTCUT[depth]}; {{'state_dict': {{'module.'-prefixed keys}}, 'epoch',"
               " 'arch', 'optimizer'}, no num_batches_tracked; input 0-255 minus the ActivityNet mean, no std"))


def _master(depth: int, data: str) -> Checkpoint:
    what, classes = MASTER_DATASETS[data]
    mean, std = NORMALIZATIONS["kinetics_master"]
    return Checkpoint(
        name=f"r3d{depth}_{data}_200ep", file=f"r3d{depth}_{data}_200ep.pth", url=None, sha256=None, classes=classes,
        mean=mean, std=std, frames=16, size=112, options={"shortcut": "B"}, source=_MASTER_SOURCE,
        notes=(f"{what}, 200 epochs (Kataoka et al. 2020), shortcut B; {{'state_dict': {{unprefixed keys}}, 'epoch',"
               " 'arch', 'optimizer', 'scheduler'}; input 0-1 pixels, Kinetics mean/std (the branch's default"
               " --mean_dataset, assumed for every master file)"))


#: depth -> its known checkpoints (CVPR2018 first, then master); depth 10 has none.
CHECKPOINTS: Dict[int, Tuple[Checkpoint, ...]] = {
    depth: ((_cvpr(depth),) if depth in _CVPR_SHORTCUT else ())
    + tuple(_master(depth, data) for data in _MASTER_FILES.get(depth, ()))
    for depth in (10, 18, 34, 50, 101, 152, 200)
}


def checkpoint_normalization(checkpoint: Checkpoint) -> Optional[str]:
    """The name in :data:`NORMALIZATIONS` of a checkpoint's mean/std (None when it is none of them)."""
    for name, (mean, std) in NORMALIZATIONS.items():
        if tuple(checkpoint.mean) == mean and tuple(checkpoint.std) == std:
            return name
    return None


def owner_of(name: str) -> Optional[int]:
    """The depth whose factory declares the checkpoint called ``name`` (None when no Hara checkpoint is)."""
    for depth, known in CHECKPOINTS.items():
        if any(c.name == name for c in known):
            return depth
    return None


def load_state(model: Any, state: Mapping[str, Any], file: Any, *, drop_prefixes: Sequence[str] = ("fc.",),
               where: str = "backbone.pretrained") -> None:
    """Load ``state`` (read from ``file``) into ``model`` strictly; keys starting with one of
    ``drop_prefixes`` are ignored. CheckpointError naming ``where`` and the file, listing the keys."""
    prefixes = tuple(drop_prefixes)
    dropped = [k for k in state if prefixes and k.startswith(prefixes)]
    kept = {k: v for k, v in state.items() if not (prefixes and k.startswith(prefixes))}
    load_state_dict_strict(model, kept, f"{where}: {Path(file).expanduser()}", ignore_missing=COUNTERS)
    log.info("loaded %d tensors from %s (ignored %d: %s)", len(kept), file, len(dropped), ", ".join(dropped) or "none")
