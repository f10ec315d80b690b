"""C3D (Tran et al. 2015), the full network with the layer names of the Sports-1M port: torch-free factories.

The network (``model.py``) is pytorch-video-recognition's ``C3D_model.py`` layout: ``conv1`` (3->64),
pool1 (1,2,2), ``conv2`` (128), pool2, ``conv3a``/``conv3b`` (256), pool3, ``conv4a``/``conv4b`` (512),
pool4, ``conv5a``/``conv5b`` (512), pool5 (2, padding (0,1,1)), ``fc6`` (8192->4096), ``fc7``
(4096->4096) and, when kept, ``fc8``; ReLU after every layer, dropout 0.5 after fc6 and fc7.

Normalisation: pytorch-video-recognition reads frames with OpenCV (BGR) and subtracts (90, 98, 102)
from (B, G, R), with no std division. hashbench clips are RGB, so the model declares
``input_mean = (102, 98, 90)``, ``input_std = (1, 1, 1)`` (RGB order) and reverses the channel order
to BGR inside ``forward``: conv1's input channel 0 is blue, as in the Sports-1M weights.
"""
from __future__ import annotations

from typing import Any, Optional

from hashbench.contract import Checkpoint, choice, conformance_example, identity_keys, known_checkpoints, number
from hashbench.errors import ConfigError

from ..normalization import C3D_RETRIEVAL, PVR_BGR
from .checkpoints import SPORTS1M, pretrained_path

#: Input normalisations (constants in :mod:`..normalization`): pytorch-video-recognition's BGR mean
#: subtraction (in RGB order), or Video-Retrieval-C3D's mean/std, kept for parity.
NORMALIZATIONS = {"pvr": PVR_BGR, "c3d_retrieval": C3D_RETRIEVAL}
#: The family's normalisation when neither ``normalization`` nor a known checkpoint says otherwise.
DEFAULT_NORMALIZATION = "pvr"
#: Clip sizes the original network takes: fc6's 8192 inputs are pool5's 512 x 1 x 4 x 4.
FRAMES = (16, 31)
SIDE = (96, 127)


def normalization_of(normalization: Optional[str], checkpoint: Optional[Checkpoint],
                     default: str = DEFAULT_NORMALIZATION) -> tuple[str, tuple, tuple]:
    """``(name, mean, std)``: the explicit ``normalization``, else the known checkpoint's, else ``default``."""
    if normalization is None:
        if checkpoint is not None:
            return f"checkpoint:{checkpoint.name}", tuple(checkpoint.mean), tuple(checkpoint.std)
        normalization = default
    choice("backbone.normalization", normalization, NORMALIZATIONS)
    mean, std = NORMALIZATIONS[normalization]
    return normalization, tuple(mean), tuple(std)


@conformance_example({"adaptive_pool": True})
@known_checkpoints(SPORTS1M)
@identity_keys(weights=("pretrained",))
def c3d(pretrained: Optional[str] = None, normalization: Optional[str] = None, keep_classifier: bool = False,
        dropout: float = 0.5, adaptive_pool: bool = False, num_frames: Optional[int] = None) -> Any:
    """C3D of Tran et al. (the full network, Sports-1M port names conv1..fc8); fc7 feature (4096).

    Input float clips ``(B, 3, T, H, W)`` in RGB, 16x112x112 as trained (fc6's 8192 inputs take
    16-31 frames of 96-127 px; other clips are refused in one line unless ``adaptive_pool``); output
    ``(B, 4096)``: fc7 after ReLU, and in train mode after dropout too (the source applies dropout 0.5
    after fc6 and after fc7, before fc8; eval mode has none). Keys:

    - ``pretrained``: ``"c3d_sports1m"`` (``c3d-pretrained.pth`` of pytorch-video-recognition, found in
      ``$HASHBENCH_WEIGHTS`` or torch's hub cache) or a path: that file (keys ``features.N`` /
      ``classifier.N``), or a state dict in conv1..fc8 names (e.g. pytorch-video-recognition's
      ``train.py`` checkpoint ``{'epoch', 'state_dict', 'opt_dict'}``), loaded strictly.
    - ``normalization``: unset = the checkpoint's (``pvr``); ``"pvr"`` (RGB mean (102, 98, 90), std 1:
      the source's BGR mean subtraction) or ``"c3d_retrieval"`` (Video-Retrieval-C3D's mean/std).
      Either way the model reverses RGB to BGR inside forward, the channel order of the weights.
    - ``keep_classifier``: keep the file's ``fc8`` (its class count; 487 without a file) as
      ``model.fc8``; ``model.logits(clips)`` gives the source's class scores. The features stay fc7's
      (fc8 is not part of forward, so a hashing loss gives it no gradient).
    - ``dropout``: after fc6 and fc7 in train mode (0.5 as in C3D).
    - ``adaptive_pool``: pools in ceil mode and an adaptive max-pool to pool5's 1x4x4 output, so that
      any clip size fits fc6; identical to the original at 16x112x112.
    """
    dropout = number("backbone.dropout", dropout, 0, 1, high_open=True)
    if num_frames is not None and not adaptive_pool and not FRAMES[0] <= num_frames <= FRAMES[1]:
        raise ConfigError(f"backbone c3d: the dataset gives {num_frames}-frame clips, but C3D's fc6 takes"
                          f" {FRAMES[0]}-{FRAMES[1]} frames of {SIDE[0]}-{SIDE[1]} px (trained on 16x112x112);"
                          " use 16-frame clips or set backbone.adaptive_pool = true")
    path, checkpoint = pretrained_path(pretrained, c3d)
    name, mean, std = normalization_of(normalization, checkpoint)
    from .model import build_c3d

    return build_c3d(path, keep_classifier=keep_classifier, dropout=dropout, adaptive_pool=adaptive_pool,
                     normalization=name, mean=mean, std=std)


FACTORIES: dict = {"c3d": c3d}
