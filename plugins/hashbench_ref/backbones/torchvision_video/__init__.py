"""torchvision's video models with local weight files: torch-free factories.

``tv_r3d_18``, ``tv_mc3_18``, ``tv_r2plus1d_18`` (VideoResNet), ``tv_s3d``, ``tv_mvit_v1_b``,
``tv_mvit_v2_s``, ``tv_swin3d_t``, ``tv_swin3d_s`` and ``tv_swin3d_b`` are built by torchvision's own
constructors (``weights=None``: nothing is ever downloaded) and return the penultimate vector: the
classification head (``fc`` of VideoResNet, ``classifier`` of S3D, ``head`` of MViT and Swin3d) is removed.

Feature dims: VideoResNet 512, S3D 1024, MViT v1-B / v2-S 768, Swin3d-T / -S 768, Swin3d-B 1024.

Input constraints (a clip the model cannot take is refused in one line: from the factory by
``dataset.num_frames``, from forward by the frame size):

- VideoResNet: any T, H, W >= 1 (trained on 16x112x112).
- S3D: at least 13 frames of 209x209 (computed from its strides: its (2, 7, 7) average pool needs a
  2x7x7 final map; torchvision's metadata states 14 and 224); trained on 64x224x224.
- MViT v1-B / v2-S: exactly 16 frames of 224x224 (torchvision's constructors fix the positional
  embeddings / relative-position tables to that geometry).
- Swin3d: any T, H, W >= 1 (zero-padded at the end to multiples of the (2, 4, 4) patch; attention
  windows of (8, 7, 7) shrink to smaller feature maps); trained on 32x224x224.

Weights: ``pretrained`` is a path or a known checkpoint name (``tv_r3d_18.kinetics400_v1``, also
torchvision's spelling ``R3D_18_Weights.KINETICS400_V1`` or ``DEFAULT``), looked up in
``$HASHBENCH_WEIGHTS`` then torch's hub cache, where torchvision itself keeps them. The file holds
torchvision's ``model.state_dict()`` of the full classifier (as the published ``.pth`` files do);
``module.`` prefixes and a ``state_dict``/``model`` wrapper are accepted. A file named like a published
one must carry the sha256 prefix torchvision encodes in its name (``r3d_18-b3b3357e.pth``).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

from hashbench.contract import Checkpoint, conformance_example, identity_keys, known_checkpoints

from ..normalization import IMAGENET, MVIT_KINETICS, TORCHVISION_KINETICS, Normalization

#: Named normalisations (constants in :mod:`..normalization`): R3D / MC3 / R(2+1)D / S3D use torchvision's
#: Kinetics-400 statistics, MViT PyTorchVideo's, Swin3d ImageNet's.
NORMALIZATIONS: Dict[str, Normalization] = {
    "torchvision_kinetics": TORCHVISION_KINETICS, "mvit_kinetics": MVIT_KINETICS, "imagenet": IMAGENET}

_TV = "https://download.pytorch.org/models/"
_TV_SOURCE = "torchvision (torchvision.models.video.{enum})"


def _checkpoint(name: str, enum: str, file: str, norm: str, frames: int, size: int, notes: str) -> Checkpoint:
    mean, std = NORMALIZATIONS[norm]
    prefix = file.rsplit("-", 1)[1].split(".", 1)[0]
    return Checkpoint(name=name, file=file, url=_TV + file, sha256=None, classes=400, mean=mean, std=std,
                      frames=frames, size=size,
                      source=_TV_SOURCE.format(enum=enum),
                      notes=f"sha256 starts with {prefix} (torch.hub's check, done on load); {notes}")


CHECKPOINTS: Dict[str, Tuple[Checkpoint, ...]] = {
    "tv_r3d_18": (_checkpoint(
        "tv_r3d_18.kinetics400_v1", "R3D_18_Weights.KINETICS400_V1", "r3d_18-b3b3357e.pth", "torchvision_kinetics",
        16, 112, "Kinetics-400 acc@1 63.20 (video-level, 5 clips of 16 frames at 15 fps); resize 128x171"),),
    "tv_mc3_18": (_checkpoint(
        "tv_mc3_18.kinetics400_v1", "MC3_18_Weights.KINETICS400_V1", "mc3_18-a90a0ba3.pth", "torchvision_kinetics",
        16, 112, "Kinetics-400 acc@1 63.96 (video-level, 5 clips of 16 frames at 15 fps); resize 128x171"),),
    "tv_r2plus1d_18": (_checkpoint(
        "tv_r2plus1d_18.kinetics400_v1", "R2Plus1D_18_Weights.KINETICS400_V1", "r2plus1d_18-91a641e6.pth",
        "torchvision_kinetics", 16, 112,
        "Kinetics-400 acc@1 67.46 (video-level, 5 clips of 16 frames at 15 fps); resize 128x171"),),
    "tv_s3d": (_checkpoint(
        "tv_s3d.kinetics400_v1", "S3D_Weights.KINETICS400_V1", "s3d-d76dad2f.pth", "torchvision_kinetics",
        64, 224, "trained on 64-frame clips, Kinetics-400 acc@1 68.37 (clip-level, 128 frames); resize 256x256;"
        " takes at least 13x209x209"),),
    "tv_mvit_v1_b": (_checkpoint(
        "tv_mvit_v1_b.kinetics400_v1", "MViT_V1_B_Weights.KINETICS400_V1", "mvit_v1_b-dbeb1030.pth",
        "mvit_kinetics", 16, 224, "ported from PyTorchVideo; Kinetics-400 acc@1 78.48 (5 clips of 16 frames at"
        " 7.5 fps); exactly 16x224x224; resize 256"),),
    "tv_mvit_v2_s": (_checkpoint(
        "tv_mvit_v2_s.kinetics400_v1", "MViT_V2_S_Weights.KINETICS400_V1", "mvit_v2_s-ae3be167.pth",
        "mvit_kinetics", 16, 224, "ported from SlowFast; Kinetics-400 acc@1 80.76 (5 clips of 16 frames at"
        " 7.5 fps); exactly 16x224x224; resize 256"),),
    "tv_swin3d_t": (_checkpoint(
        "tv_swin3d_t.kinetics400_v1", "Swin3D_T_Weights.KINETICS400_V1", "swin3d_t-7615ae03.pth", "imagenet",
        32, 224, "ported from Video-Swin-Transformer; Kinetics-400 acc@1 77.72 (12 clips of 32 frames at"
        " 15 fps); resize 256"),),
    "tv_swin3d_s": (_checkpoint(
        "tv_swin3d_s.kinetics400_v1", "Swin3D_S_Weights.KINETICS400_V1", "swin3d_s-da41c237.pth", "imagenet",
        32, 224, "ported from Video-Swin-Transformer; Kinetics-400 acc@1 79.52 (12 clips of 32 frames at"
        " 15 fps); resize 256"),),
    "tv_swin3d_b": (
        _checkpoint("tv_swin3d_b.kinetics400_v1", "Swin3D_B_Weights.KINETICS400_V1", "swin3d_b_1k-24f7c7c6.pth",
                    "imagenet", 32, 224, "ported from Video-Swin-Transformer (ImageNet-1k init); Kinetics-400"
                    " acc@1 79.43 (12 clips of 32 frames at 15 fps); resize 256"),
        _checkpoint("tv_swin3d_b.kinetics400_imagenet22k_v1", "Swin3D_B_Weights.KINETICS400_IMAGENET22K_V1",
                    "swin3d_b_22k-7c6ae6fa.pth", "imagenet", 32, 224, "ported from Video-Swin-Transformer"
                    " (ImageNet-22k init); Kinetics-400 acc@1 81.64 (12 clips of 32 frames at 15 fps); resize 256"),
    ),
}

#: name -> (torchvision constructor, architecture, default normalisation, torchvision weights enum,
#: feature dim, one-line description)
MODELS: Dict[str, Tuple[str, str, str, str, int, str]] = {
    "tv_r3d_18": ("r3d_18", "video_resnet", "torchvision_kinetics", "R3D_18_Weights", 512,
                  "ResNet3D-18 (3x3x3 convolutions throughout)"),
    "tv_mc3_18": ("mc3_18", "video_resnet", "torchvision_kinetics", "MC3_18_Weights", 512,
                  "Mixed Convolution 3D-18 (3D convolutions in the stem and layer1, 2D after)"),
    "tv_r2plus1d_18": ("r2plus1d_18", "video_resnet", "torchvision_kinetics", "R2Plus1D_18_Weights", 512,
                       "R(2+1)D-18 (each 3x3x3 factorised as 1x3x3 then 3x1x1)"),
    "tv_s3d": ("s3d", "s3d", "torchvision_kinetics", "S3D_Weights", 1024, "S3D (separable Inception-3D)"),
    "tv_mvit_v1_b": ("mvit_v1_b", "mvit", "mvit_kinetics", "MViT_V1_B_Weights", 768,
                     "Multiscale Vision Transformer v1-B (class token)"),
    "tv_mvit_v2_s": ("mvit_v2_s", "mvit", "mvit_kinetics", "MViT_V2_S_Weights", 768,
                     "Multiscale Vision Transformer v2-S (class token, relative positions)"),
    "tv_swin3d_t": ("swin3d_t", "swin3d", "imagenet", "Swin3D_T_Weights", 768, "Video Swin Transformer-T"),
    "tv_swin3d_s": ("swin3d_s", "swin3d", "imagenet", "Swin3D_S_Weights", 768, "Video Swin Transformer-S"),
    "tv_swin3d_b": ("swin3d_b", "swin3d", "imagenet", "Swin3D_B_Weights", 1024, "Video Swin Transformer-B"),
}

#: The clip (T, H, W) the conformance kit checks a model on when it refuses the kit's default (4, 32, 32).
_CONFORMANCE_CLIP = {"s3d": (13, 209, 209), "mvit": (16, 224, 224)}
CLASSIFIER_MODULES = {"video_resnet": "fc", "s3d": "classifier", "mvit": "head", "swin3d": "head"}
_INPUT = {
    "video_resnet": "any T, H, W >= 1 (trained on 16x112x112)",
    "s3d": "at least 13 frames of 209x209 (a smaller clip is refused); trained on 64x224x224",
    "mvit": "exactly 16 frames of 224x224 (torchvision fixes its positional embeddings to that geometry;"
            " another clip shape is refused)",
    "swin3d": "any T, H, W >= 1 (zero-padded at the end to multiples of the 2x4x4 patch; 8x7x7 windows shrink"
              " to smaller maps); trained on 32x224x224",
}


def _make_factory(name: str) -> Callable[..., Any]:
    constructor, arch, default_norm, enum, dim, title = MODELS[name]
    checkpoints = CHECKPOINTS[name]

    def factory(pretrained: Optional[str] = None, normalization: Optional[str] = None,
                keep_classifier: bool = False, num_frames: Optional[int] = None) -> Any:
        from .model import build

        return build(name, pretrained=pretrained, normalization=normalization, keep_classifier=keep_classifier,
                     num_frames=num_frames, checkpoints=checkpoints)

    names = ", ".join(f"``{c.name}``" for c in checkpoints)
    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = f"""{title}, torchvision's ``{constructor}`` -> ``(B, {dim})`` (the penultimate vector).

    Input: {_INPUT[arch]}. Keys:

    - ``pretrained``: a weight file in torchvision's key layout (the full classifier's
      ``state_dict()``), or a known checkpoint name: {names} (``{enum}.<NAME>`` and ``DEFAULT`` also
      work). Loaded strictly (missing / unexpected / mis-shaped keys are listed). Default: torchvision's
      random initialisation.
    - ``normalization``: None (the checkpoint's, else ``{default_norm}``: what torchvision's weights for
      this model expect) or one of ``torchvision_kinetics``, ``mvit_kinetics``, ``imagenet``.
    - ``keep_classifier``: keep the source classifier ``{CLASSIFIER_MODULES[arch]}`` (its weights loaded, frozen, its
      size read from the file, default 400); the output stays the penultimate vector and
      ``model.logits(clips)`` gives the source-class scores. Default: removed.
    """
    factory = identity_keys(weights=("pretrained",))(known_checkpoints(*checkpoints)(factory))
    if arch in _CONFORMANCE_CLIP:  # models refusing the kit's tiny (4, 32, 32) clip: the smallest they take
        factory = conformance_example({}, clip=_CONFORMANCE_CLIP[arch])(factory)
    return factory


FACTORIES: dict = {name: _make_factory(name) for name in MODELS}
