"""torchvision's video classifiers as feature extractors (see the package docstring for the models, their
feature dims and the clip shapes each takes).

The backbone module adopts the torchvision model's top-level children under their own names, leaving the
classifier out unless it is kept, so its ``state_dict`` keys are torchvision's (``stem.0.weight``,
``layer1.0.conv1.0.weight``, ``blocks.3.attn.qkv.weight``...) and a published file loads into it by name. Its
forward is the torchvision forward up to the classifier's input: the penultimate vector.
"""
from __future__ import annotations

import functools
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
from torch import nn

from hashbench.contract import Checkpoint, load_state_dict_strict
from hashbench.errors import ConfigError

from ..classifier import SourceClassifier
from . import CHECKPOINTS, MODELS, NORMALIZATIONS, CLASSIFIER_MODULES
from .checkpoints import construct, file_label, freeze, read_weights, resolve_file, resolve_normalization

#: The one clip shape MViT takes with torchvision's constructors: (T, H, W).
MVIT_INPUT = (16, 224, 224)
#: Where each architecture's classifier weight is (its rows = the number of classes in a file).
CLASSIFIER_WEIGHT = {"video_resnet": "fc.weight", "s3d": "classifier.1.weight", "mvit": "head.1.weight",
                     "swin3d": "head.weight"}


class TorchvisionVideo(SourceClassifier, nn.Module):
    """Base: adopts the torchvision model's children, declares the contract attributes, checks clip shapes."""

    arch = ""
    repr_fields = ("feature_dim", "normalization", "keep_classifier")

    def __init__(self, model: nn.Module, *, name: str, keep_classifier: bool, feature_dim: int,
                 mean: Sequence[float], std: Sequence[float], normalization: str,
                 checkpoint: Optional[str]) -> None:
        super().__init__()
        if model._parameters or model._buffers:  # never the case in torchvision 0.16-0.29
            raise RuntimeError(f"{name}: torchvision's model holds tensors outside its submodules;"
                               " hashbench's adapter does not know this version's layout")
        classifier = CLASSIFIER_MODULES[self.arch]
        for child_name, child in model.named_children():
            if child_name == classifier and not keep_classifier:
                continue
            self.add_module(child_name, child)
        self.name = name
        self.classifier_name = classifier
        self.keep_classifier = keep_classifier
        self.feature_dim = int(feature_dim)
        self.input_mean = tuple(float(v) for v in mean)
        self.input_std = tuple(float(v) for v in std)
        self.normalization = normalization
        self.checkpoint = checkpoint
        if keep_classifier:
            freeze(getattr(self, classifier))

    def check_clip(self, clips: torch.Tensor) -> None:
        if clips.dim() != 5 or clips.shape[1] != 3:
            raise ConfigError(f"backbone {self.name}: expected clips (B, 3, T, H, W), got {tuple(clips.shape)}")

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        self.check_clip(clips)
        return self.extract(clips)

    def extract(self, clips: torch.Tensor) -> torch.Tensor:  # pragma: no cover - overridden
        raise NotImplementedError



class VideoResNetFeatures(TorchvisionVideo):
    """R3D-18 / MC3-18 / R(2+1)D-18: stem, layer1-4, global average pool -> 512."""

    arch = "video_resnet"

    def extract(self, clips: torch.Tensor) -> torch.Tensor:
        x = self.stem(clips)
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
        return torch.flatten(self.avgpool(x), 1)


class S3DFeatures(TorchvisionVideo):
    """S3D: features, the (2, 7, 7) stride-1 average pool, mean over what remains -> 1024.

    torchvision's classifier is a 1x1x1 convolution applied before that mean; being linear, it commutes with
    the mean, so ``classify`` on this vector gives exactly torchvision's logits (in eval mode).
    """

    arch = "s3d"

    def __init__(self, model: nn.Module, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        frames, side = s3d_min_input()
        self.min_input = (frames, side, side)

    def check_clip(self, clips: torch.Tensor) -> None:
        super().check_clip(clips)
        t, h, w = (int(v) for v in clips.shape[2:])
        frames, side, _ = self.min_input
        if t < frames or h < side or w < side:
            raise ConfigError(f"backbone {self.name}: clips of {t}x{h}x{w} (TxHxW) are smaller than S3D takes:"
                              f" at least {frames}x{side}x{side} (its 2x7x7 final average pool); use more frames"
                              " (dataset.num_frames) or a larger crop")

    def extract(self, clips: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(clips))
        return x.mean(dim=(2, 3, 4))

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.classifier(features[:, :, None, None, None]), 1)


class MViTFeatures(TorchvisionVideo):
    """MViT v1-B / v2-S: patchify, positional encoding, the multiscale blocks, norm, the class token -> 768."""

    arch = "mvit"

    def check_clip(self, clips: torch.Tensor) -> None:
        super().check_clip(clips)
        shape = tuple(int(v) for v in clips.shape[2:])
        if shape != MVIT_INPUT:
            t, h, w = MVIT_INPUT
            raise ConfigError(f"backbone {self.name}: takes exactly {t}x{h}x{w} clips (TxHxW; torchvision fixes"
                              f" its positional embeddings to that shape), got {'x'.join(map(str, shape))};"
                              f" set dataset.num_frames = {t} and a {h}x{w} crop")

    def extract(self, clips: torch.Tensor) -> torch.Tensor:
        x = self.conv_proj(clips)
        x = self.pos_encoding(x.flatten(2).transpose(1, 2))
        thw = (self.pos_encoding.temporal_size,) + tuple(self.pos_encoding.spatial_size)
        for block in self.blocks:
            x, thw = block(x, thw)
        return self.norm(x)[:, 0]


class Swin3dFeatures(TorchvisionVideo):
    """Video Swin-T/S/B: patch embedding, the four stages, norm, global average pool -> 768 / 768 / 1024."""

    arch = "swin3d"

    def extract(self, clips: torch.Tensor) -> torch.Tensor:
        x = self.features(self.pos_drop(self.patch_embed(clips)))  # (B, T', H', W', C)
        x = self.norm(x).permute(0, 4, 1, 2, 3)
        return torch.flatten(self.avgpool(x), 1)


WRAPPERS = {"video_resnet": VideoResNetFeatures, "s3d": S3DFeatures, "mvit": MViTFeatures,
            "swin3d": Swin3dFeatures}


def _out_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _triple(value: Any) -> Tuple[int, int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value, value)  # type: ignore[return-value]


@functools.lru_cache(maxsize=None)
def s3d_min_input() -> Tuple[int, int]:
    """The fewest frames and the smallest square side S3D takes: walked through the strides of its layers
    (on the meta device) until the final map covers its (2, 7, 7) average pool. (13, 209)."""
    from torchvision.models import video

    with torch.device("meta"):
        model = video.s3d(weights=None)
    layers = [m for m in model.features.modules() if isinstance(m, (nn.Conv3d, nn.MaxPool3d))]

    def final(size: int, axis: int) -> int:
        for layer in layers:
            kernel, stride = _triple(layer.kernel_size)[axis], _triple(layer.stride)[axis]
            padding, dilation = _triple(layer.padding)[axis], _triple(layer.dilation)[axis]
            size = _out_size(size, kernel, stride, padding, dilation)
            if size < 1:
                return 0
        return size

    pool = _triple(model.avgpool.kernel_size)
    frames = next(t for t in range(1, 4096) if final(t, 0) >= pool[0])
    side = next(s for s in range(1, 4096) if final(s, 1) >= pool[1] and final(s, 2) >= pool[2])
    return frames, side


def check_frames(name: str, num_frames: Optional[int]) -> None:
    """Refuse, in one line, a ``dataset.num_frames`` the model cannot take (S3D's minimum, MViT's 16)."""
    if num_frames is None:
        return
    arch = MODELS[name][1]
    if arch == "mvit" and num_frames != MVIT_INPUT[0]:
        t, h, w = MVIT_INPUT
        raise ConfigError(f"backbone {name}: takes exactly {t} frames of {h}x{w} (torchvision fixes its positional"
                          f" embeddings to that clip shape); dataset.num_frames is {num_frames}: set it to {t}")
    if arch == "s3d":
        frames, side = s3d_min_input()
        if num_frames < frames:
            raise ConfigError(f"backbone {name}: takes at least {frames} frames of {side}x{side} (its 2x7x7 final"
                              f" average pool); dataset.num_frames is {num_frames}: set it to {frames} or more")


def _aliases(name: str, checkpoints: Sequence[Checkpoint]) -> Dict[str, str]:
    """torchvision's spellings of the checkpoint names: ``R3D_18_Weights.KINETICS400_V1``, ``DEFAULT``..."""
    enum = MODELS[name][3]
    out = {"DEFAULT": checkpoints[0].name, f"{enum}.DEFAULT": checkpoints[0].name}
    for checkpoint in checkpoints:
        tag = checkpoint.name.split(".", 1)[1].upper()
        out[f"{enum}.{tag}"] = checkpoint.name
        out[tag] = checkpoint.name
    return out


def build(name: str, *, pretrained: Optional[str], normalization: Optional[str], keep_classifier: bool,
          num_frames: Optional[int], checkpoints: Sequence[Checkpoint] = ()) -> TorchvisionVideo:
    """The backbone ``name`` of :data:`MODELS`, with its weights from ``pretrained`` when given."""
    constructor, arch, default_norm, _, dim, _ = MODELS[name]
    checkpoints = tuple(checkpoints) or CHECKPOINTS[name]
    resolve_normalization(normalization, NORMALIZATIONS, None, NORMALIZATIONS[default_norm], default_norm)  # early
    check_frames(name, num_frames)
    state: Optional[Dict[str, torch.Tensor]] = None
    checkpoint: Optional[Checkpoint] = None
    where = "backbone.pretrained"
    if pretrained is not None:
        path, checkpoint = resolve_file(pretrained, checkpoints, _aliases(name, checkpoints))
        state = read_weights(path, checkpoint)
        where = file_label(path)
    mean, std, label = resolve_normalization(normalization, NORMALIZATIONS, checkpoint,
                                             NORMALIZATIONS[default_norm], default_norm)
    classes = 400
    weight_key = CLASSIFIER_WEIGHT[arch]
    if keep_classifier and state is not None and weight_key in state:
        classes = int(state[weight_key].shape[0])
    from torchvision.models import video

    builder = getattr(video, constructor)
    model = construct(lambda: builder(weights=None, num_classes=classes), empty=state is not None)
    head = getattr(model, CLASSIFIER_MODULES[arch])
    last = head[-1] if isinstance(head, nn.Sequential) else head
    feature_dim = int(getattr(last, "in_features", None) or last.in_channels)  # the penultimate width
    if feature_dim != dim:
        raise RuntimeError(f"{name}: torchvision's model has {feature_dim} features, hashbench expected {dim}")
    backbone = WRAPPERS[arch](model, name=name, keep_classifier=keep_classifier, feature_dim=feature_dim, mean=mean,
                              std=std, normalization=label, checkpoint=checkpoint.name if checkpoint else None)
    if state is not None:
        if not keep_classifier:
            prefix = CLASSIFIER_MODULES[arch] + "."
            state = {k: v for k, v in state.items() if not k.startswith(prefix)}
        load_state_dict_strict(backbone, state, where, ignore_missing=("num_batches_tracked",))
    return backbone
