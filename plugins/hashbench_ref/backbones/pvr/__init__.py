"""R(2+1)D and R3D of pytorch-video-recognition, with that project's module names: torch-free factories.

``network/R2Plus1D_model.py`` and ``network/R3D_model.py`` of jfzhang95/pytorch-video-recognition
(``model.py`` here): a ResNet of ``SpatioTemporalResLayer`` stages ``conv2``..``conv5`` (64, 128, 256,
512 channels; ``block1`` then ``blocks``) after a stem ``conv1``, global average pooling to 512, and a
``linear`` classifier. The R(2+1)D convolution is a ``spatial_conv`` (1 x k x k) with ``bn1`` + ReLU and
a ``temporal_conv`` (k x 1 x 1) with ``bn2`` + ReLU (M intermediate channels as in the paper, 45 in the
stem); the R3D convolution a ``temporal_spatial_conv`` with ``bn`` + ReLU. Both repeat BN + ReLU in the
block (``bn1``, ``bn2``) and downsample the shortcut with such a convolution of kernel 1, stride 2,
then ``downsamplebn``. The names match the state dicts that repo's ``train.py`` saves
(``{'epoch', 'state_dict', 'opt_dict'}``), which load strictly.

The repo publishes no weights for them (it trains them from scratch on UCF101 / HMDB51), so no
checkpoint is declared; ``pretrained`` takes such a file by path. Normalisation: the repo's loader
(OpenCV BGR frames minus (90, 98, 102), no std) as for C3D: ``input_mean = (102, 98, 90)`` in RGB,
std 1, and the model reverses RGB to BGR inside forward.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

from hashbench.contract import conformance_example, identity_keys
from hashbench.errors import ConfigError

from ..c3d import normalization_of
from ..c3d.checkpoints import pretrained_path

#: ``layer_sizes`` of the repo's ``train.py`` (an 18-layer network).
DEFAULT_LAYERS = (2, 2, 2, 2)
#: The kept classifier's size when no file says otherwise (``train.py``'s default dataset, UCF101).
DEFAULT_CLASSES = 101


def _layers(layers: Optional[Sequence[int]]) -> tuple[int, int, int, int]:
    if layers is None:
        return DEFAULT_LAYERS
    if (not isinstance(layers, (list, tuple)) or len(layers) != 4
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in layers)):
        raise ConfigError(f"backbone.layers: expected 4 positive integers (blocks per stage conv2..conv5,"
                          f" e.g. [2, 2, 2, 2]), got {layers!r}")
    return tuple(layers)  # type: ignore[return-value]


def _build(arch: str, factory: Any, pretrained: Optional[str], normalization: Optional[str], keep_classifier: bool,
           layers: Optional[Sequence[int]]) -> Any:
    sizes = _layers(layers)
    path, checkpoint = pretrained_path(pretrained, factory)
    name, mean, std = normalization_of(normalization, checkpoint)
    from .model import build_pvr

    return build_pvr(arch, path, layers=sizes, keep_classifier=keep_classifier, normalization=name, mean=mean,
                     std=std)


@conformance_example({"layers": [1, 1, 1, 1]})  # the kit's tiny clip on a shallower net: quick on a CPU
@identity_keys(weights=("pretrained",))
def pvr_r2plus1d_18(pretrained: Optional[str] = None, normalization: Optional[str] = None,
                    keep_classifier: bool = False, layers: Optional[Sequence[int]] = None) -> Any:
    """R(2+1)D of pytorch-video-recognition (its module names, train.py checkpoints load); 512-d pooled feature.

    Input float RGB clips ``(B, 3, T, H, W)``, any size (16x112x112 in the source); output ``(B, 512)``,
    the global average of ``res2plus1d.conv5``. Keys:

    - ``pretrained``: path to a state dict in the repo's names (``res2plus1d.*``, ``linear.*``), e.g. the
      ``{'epoch', 'state_dict', 'opt_dict'}`` file its ``train.py`` saves; loaded strictly (no published
      weights exist, so there is no checkpoint name).
    - ``normalization``: ``"pvr"`` (default: RGB mean (102, 98, 90), std 1, the repo's BGR mean
      subtraction) or ``"c3d_retrieval"``; the model always reverses RGB to BGR inside forward.
    - ``keep_classifier``: keep the file's ``linear`` layer (its class count; 101 without a file) as
      ``model.linear``; ``model.logits(clips)`` gives its scores. The features stay the pooled 512
      (``linear`` is not part of forward, so a hashing loss gives it no gradient).
    - ``layers``: blocks per stage ``conv2..conv5`` (default ``[2, 2, 2, 2]``, the repo's ``layer_sizes``).
    """
    return _build("r2plus1d", pvr_r2plus1d_18, pretrained, normalization, keep_classifier, layers)


@conformance_example({"layers": [1, 1, 1, 1]})
@identity_keys(weights=("pretrained",))
def pvr_r3d_18(pretrained: Optional[str] = None, normalization: Optional[str] = None, keep_classifier: bool = False,
               layers: Optional[Sequence[int]] = None) -> Any:
    """R3D of pytorch-video-recognition (its module names, train.py checkpoints load); 512-d pooled feature.

    Input float RGB clips ``(B, 3, T, H, W)``, any size (16x112x112 in the source); output ``(B, 512)``,
    the global average of ``res3d.conv5``. Keys as ``pvr_r2plus1d_18`` (state dict names ``res3d.*``,
    ``linear.*``): ``pretrained`` (a path), ``normalization`` (``"pvr"`` default, or
    ``"c3d_retrieval"``; RGB -> BGR inside forward), ``keep_classifier`` (``model.linear``,
    ``model.logits``), ``layers`` (default ``[2, 2, 2, 2]``).
    """
    return _build("r3d", pvr_r3d_18, pretrained, normalization, keep_classifier, layers)


FACTORIES: dict = {"pvr_r2plus1d_18": pvr_r2plus1d_18, "pvr_r3d_18": pvr_r3d_18}
