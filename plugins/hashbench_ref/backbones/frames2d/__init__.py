"""Frame-level image backbones pooled over time (the TSN-style setting, and the one the self-supervised
video-hashing literature uses: frame features of VGG / ResNet): torch-free factories.

A clip ``(B, 3, T, H, W)`` goes through the 2D model as ONE batch of frames ``(B*T, 3, H, W)``; its
penultimate vector per frame ``(B, T, D)`` is pooled over time:

- ``pool = "mean"``: the average over the T frames (TSN's consensus);
- ``pool = "attention"``: a small temporal attention layer: each frame gets a score ``s_t = q . f_t /
  sqrt(D)`` with one learned query vector ``q`` (D parameters, in the state dict as ``attention.query``),
  the weights are ``softmax_t(s)``, the output is ``sum_t w_t f_t``. ``q`` starts at zero, so training
  starts from mean pooling.

``timm_frames``: any timm image model (``pip install 'hashbench[timm]'``); ``tv_frames``: torchvision's
image classifiers, which need no optional extra. The feature is the input of the model's final linear
classifier (VGG's fc7 after its ReLU, ResNet's pooled vector).
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Union

from hashbench.contract import identity_keys, known_checkpoints

from ..normalization import IMAGENET, INCEPTION, OPENAI_CLIP, Normalization
from .checkpoints import TV_CHECKPOINTS


#: Named normalisations for frame models (constants in :mod:`..normalization`).
NORMALIZATIONS: Dict[str, Normalization] = {"imagenet": IMAGENET, "inception": INCEPTION, "openai_clip": OPENAI_CLIP}
POOLS = ("mean", "attention")

@identity_keys(weights=("pretrained",))
def timm_frames(model: str = "resnet18", pretrained: Union[str, bool, None] = None, pool: str = "mean",
                normalization: Optional[str] = None, keep_classifier: bool = False) -> Any:
    """Any timm image model applied to every frame, pooled over time -> ``(B, D)``; needs timm.

    Install it with ``pip install 'hashbench[timm]'``; without timm this raises MissingExtraError.

    Input: whatever the timm model takes per frame (CNNs: any size; a fixed-size model such as a ViT refuses
    other frame sizes in one line); the model's pretrained config states the size it was trained on
    (``input_size`` attribute). D: the model's pre-logits width (``resnet18`` 512, ``resnet50`` 2048). Keys:

    - ``model``: a timm model name (``resnet18``, ``vit_small_patch16_224``, ``resnet50.a1_in1k``...).
    - ``pretrained``: a local weight file in timm's key layout (``.pth``/``.bin``/``.safetensors``: what
      ``timm.create_model(model).state_dict()`` and the timm files on the Hugging Face hub hold), loaded
      strictly; or ``true`` / one of the model's pretrained tags (``"a1_in1k"``): timm loads its own
      weights from its cache (and downloads them when missing and online). Default: random init.
    - ``pool``: ``"mean"`` or ``"attention"`` (see the package docstring).
    - ``normalization``: None (the timm model's pretrained config: ``resolve_data_config``) or one of
      ``imagenet``, ``inception``, ``openai_clip``.
    - ``keep_classifier``: keep the model's classifier (frozen; its size from the file); the output stays
      the pooled pre-logits vector and ``model.logits(clips)`` applies the classifier to it.
    """
    from .model import build_timm

    return build_timm(model=model, pretrained=pretrained, pool=pool, normalization=normalization,
                      keep_classifier=keep_classifier)


@known_checkpoints(*TV_CHECKPOINTS)
@identity_keys(weights=("pretrained",))
def tv_frames(model: Optional[str] = None, pretrained: Optional[str] = None, pool: str = "mean",
              normalization: Optional[str] = None, keep_classifier: bool = False) -> Any:
    """A torchvision image classifier applied to every frame, pooled over time -> ``(B, D)``; no extra needed.

    D = the input width of the model's last linear layer (``resnet18`` 512, ``resnet50`` 2048, ``vgg16``
    4096 = fc7 after its ReLU and dropout). Frames of any size the model takes (ResNet/VGG: >= 32x32; ViT:
    exactly 224). Keys:

    - ``model``: a torchvision classification model name (``resnet18``, ``resnet50``, ``vgg16``,
      ``mobilenet_v3_large``...; not googlenet / inception_v3 / squeezenet). Default: the named checkpoint's
      model, else ``resnet18``.
    - ``pretrained``: a weight file in torchvision's key layout (its ``state_dict()`` with the classifier,
      as the published files), or a known name: ``tv_resnet18.imagenet1k_v1``, ``tv_resnet50.imagenet1k_v2``,
      ``tv_vgg16.imagenet1k_v1``... (``hashbench weights list``). Loaded strictly.
    - ``pool``: ``"mean"`` or ``"attention"`` (see the package docstring).
    - ``normalization``: None (the checkpoint's, else the model's torchvision weights': ImageNet) or one of
      ``imagenet``, ``inception``, ``openai_clip``.
    - ``keep_classifier``: keep the last linear layer (frozen; its size from the file) under its own name;
      the output stays the pooled penultimate vector and ``model.logits(clips)`` applies it.
    """
    from .model import build_torchvision

    return build_torchvision(model=model, pretrained=pretrained, pool=pool, normalization=normalization,
                             keep_classifier=keep_classifier, checkpoints=TV_CHECKPOINTS)


FACTORIES: dict = {"timm_frames": timm_frames, "tv_frames": tv_frames}
