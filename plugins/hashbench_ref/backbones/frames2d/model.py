"""Frame-level backbones: a 2D image model over the frames of a clip as one ``(B*T, 3, H, W)`` batch, its
per-frame penultimate vectors pooled over time (mean or a learned temporal attention).

The 2D model is held as ``encoder`` with its own key names inside (``encoder.conv1.weight``...); weight files
are loaded into the encoder, so they are in the source library's layout (torchvision's or timm's).
"""
from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from hashbench.contract import Checkpoint, choice, load_state_dict_strict
from hashbench.errors import ConfigError, DataError, MissingExtraError

from ..classifier import SourceClassifier
from ..torchvision_video.checkpoints import (construct, file_label, freeze, read_weights, resolve_file,
                                         resolve_normalization)
from . import NORMALIZATIONS, POOLS

WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors", ".ckpt", ".tar")
TIMM_INSTALL = "pip install 'hashbench[timm]'"


class TemporalAttention(nn.Module):
    """Attention pooling over time: ``w = softmax_t(q . f_t / sqrt(D))``, output ``sum_t w_t f_t``; the query
    ``q`` starts at zero (= mean pooling)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.query = nn.Parameter(torch.zeros(dim))
        self.scale = 1.0 / math.sqrt(dim)

    def weights(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)`` -> the frame weights ``(B, T)`` (each row sums to 1)."""
        return torch.softmax(frames @ self.query * self.scale, dim=1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return (self.weights(frames).unsqueeze(-1) * frames).sum(dim=1)


class FramePooling(SourceClassifier, nn.Module):
    """Base of the frame-level backbones: frames through ``encode`` in one batch, pooled over time.

    A kept classifier stays inside ``encoder`` (``classify`` applies it to the pooled feature)."""

    repr_fields = ("model_name", "feature_dim", "pool", "normalization", "keep_classifier")

    def __init__(self, encoder: nn.Module, *, name: str, model: str, feature_dim: int, pool: str,
                 mean: Sequence[float], std: Sequence[float], normalization: str, keep_classifier: bool,
                 input_size: Optional[Tuple[int, int]], fixed_size: bool, checkpoint: Optional[str]) -> None:
        super().__init__()
        self.encoder = encoder
        self.attention = TemporalAttention(feature_dim) if pool == "attention" else None
        self.name, self.model_name, self.pool = name, model, pool
        self.feature_dim = int(feature_dim)
        self.input_mean = tuple(float(v) for v in mean)
        self.input_std = tuple(float(v) for v in std)
        self.normalization = normalization
        self.keep_classifier = keep_classifier
        self.input_size = input_size  # (H, W) the weights were trained on (a fixed-size model takes only that)
        self.fixed_size = fixed_size
        self.checkpoint = checkpoint

    def encode(self, frames: torch.Tensor) -> torch.Tensor:  # pragma: no cover - overridden
        """``(N, 3, H, W)`` -> ``(N, D)`` penultimate vectors."""
        raise NotImplementedError

    def frame_features(self, clips: torch.Tensor) -> torch.Tensor:
        """``(B, 3, T, H, W)`` -> per-frame features ``(B, T, D)``."""
        if clips.dim() != 5 or clips.shape[1] != 3:
            raise ConfigError(f"backbone {self.name}: expected clips (B, 3, T, H, W), got {tuple(clips.shape)}")
        b, c, t, h, w = (int(v) for v in clips.shape)
        if self.fixed_size and self.input_size is not None and (h, w) != tuple(self.input_size):
            eh, ew = self.input_size
            raise ConfigError(f"backbone {self.name}: {self.model_name} takes only {eh}x{ew} frames, got {h}x{w};"
                              f" use a {eh}x{ew} crop")
        frames = clips.transpose(1, 2).reshape(b * t, c, h, w)
        return self.encode(frames).reshape(b, t, -1)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        features = self.frame_features(clips)
        if self.attention is not None:
            return self.attention(features)
        return features.mean(dim=1)

    def has_classifier(self) -> bool:
        """With mean pooling, :meth:`logits` is the mean of the per-frame logits."""
        return self.keep_classifier


def _check_common(pool: str, normalization: Optional[str]) -> None:
    choice("backbone.pool", pool, POOLS)
    if normalization is not None and normalization not in NORMALIZATIONS:
        resolve_normalization(normalization, NORMALIZATIONS, None, NORMALIZATIONS["imagenet"], "imagenet")


def _suggest(name: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(names), n=3, cutoff=0.6)
    return f"; did you mean {', '.join(map(repr, close))}?" if close else ""


# -- torchvision image models ---------------------------------------------------------------------
class PassThroughLinear(nn.Linear):
    """A kept final classifier: its parameters stay under their name (``fc.weight``), forward is the identity
    (the model's output is then the penultimate vector); :meth:`TorchvisionFrames.classify` applies it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class TorchvisionFrames(FramePooling):
    """A torchvision image classifier whose final linear layer is removed (or kept as a pass-through)."""

    classifier_path = ""

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.encoder(frames), 1)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        layer = self.encoder.get_submodule(self.classifier_path)
        return F.linear(features, layer.weight, layer.bias)


#: Image models whose forward or weights need more than the last-linear rule (use timm_frames for them).
TV_UNSUPPORTED = {
    "googlenet": "its auxiliary classifiers and input transform are tied to its published weights",
    "inception_v3": "its auxiliary classifier and input transform are tied to its published weights",
    "squeezenet1_0": "its classifier is a convolution, there is no linear penultimate vector",
    "squeezenet1_1": "its classifier is a convolution, there is no linear penultimate vector",
}


def _last_linear(model: nn.Module) -> Tuple[str, nn.Linear]:
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ConfigError("backbone.model: this torchvision model has no linear classifier")
    return linears[-1]


def _set_submodule(root: nn.Module, path: str, module: nn.Module) -> None:
    parent_path, _, leaf = path.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    setattr(parent, leaf, module)


def build_torchvision(*, model: Optional[str], pretrained: Optional[str], pool: str, normalization: Optional[str],
                      keep_classifier: bool, checkpoints: Sequence[Checkpoint]) -> TorchvisionFrames:
    import torchvision.models as tvm

    _check_common(pool, normalization)
    state: Optional[Dict[str, torch.Tensor]] = None
    checkpoint: Optional[Checkpoint] = None
    where = "backbone.pretrained"
    if pretrained is not None:
        path, checkpoint = resolve_file(pretrained, checkpoints)
        implied = checkpoint.options.get("model") if checkpoint is not None else None
        if implied and model is not None and model != implied:
            raise ConfigError(f"backbone.model: {model!r}, but pretrained = {pretrained!r} holds {implied!r} weights;"
                              f" set model = {implied!r} or leave it out")
        model = model or implied
        state = read_weights(path, checkpoint)
        where = file_label(path)
    model = model or "resnet18"
    available = tvm.list_models(module=tvm)
    if model not in available:
        raise ConfigError(f"backbone.model: {model!r} is not a torchvision image classifier{_suggest(model, available)}"
                          " (torchvision.models.list_models(module=torchvision.models) lists them; timm_frames"
                          " takes timm's)")
    if model in TV_UNSUPPORTED:
        raise ConfigError(f"backbone.model: {model!r} is not supported by tv_frames ({TV_UNSUPPORTED[model]});"
                          " use timm_frames")
    default_mean, default_std, size = NORMALIZATIONS["imagenet"] + (224,)
    try:
        weights = tvm.get_model_weights(model).DEFAULT
        transforms = weights.transforms()
        default_mean = tuple(v * 255.0 for v in transforms.mean)
        default_std = tuple(v * 255.0 for v in transforms.std)
        size = int(transforms.crop_size[0])
    except Exception:  # a model without published weights keeps ImageNet's statistics
        pass
    mean, std, label = resolve_normalization(normalization, NORMALIZATIONS, checkpoint, (default_mean, default_std),
                                             f"torchvision {model}")
    if checkpoint is not None and checkpoint.size:
        size = int(checkpoint.size)
    encoder = construct(lambda: tvm.get_model(model, weights=None), empty=state is not None)
    path_name, linear = _last_linear(encoder)
    if linear.out_features != 1000:
        raise ConfigError(f"backbone.model: cannot find {model!r}'s classifier (its last linear layer"
                          f" {path_name} has {linear.out_features} outputs, not 1000); use timm_frames")
    dim = linear.in_features
    if keep_classifier:
        classes = linear.out_features
        if state is not None and f"{path_name}.weight" in state:
            classes = int(state[f"{path_name}.weight"].shape[0])  # e.g. a file fine-tuned on 101 classes
        kept = PassThroughLinear(dim, classes, bias=linear.bias is not None)
        if classes == linear.out_features:  # torchvision's own initialisation when there is no file
            kept.weight, kept.bias = linear.weight, linear.bias
        _set_submodule(encoder, path_name, kept)
        freeze(kept)
    else:
        _set_submodule(encoder, path_name, nn.Identity())
    backbone = TorchvisionFrames(encoder, name="tv_frames", model=model, feature_dim=dim, pool=pool, mean=mean,
                                 std=std, normalization=label, keep_classifier=keep_classifier,
                                 input_size=(size, size), fixed_size=False,
                                 checkpoint=checkpoint.name if checkpoint else None)
    backbone.classifier_path = path_name
    if state is not None:
        if not keep_classifier:
            state = {k: v for k, v in state.items() if not k.startswith(path_name + ".")}
        load_state_dict_strict(encoder, state, where, ignore_missing=("num_batches_tracked",))
    return backbone


# -- timm -------------------------------------------------------------------------------------------
class TimmFrames(FramePooling):
    """A timm model's pre-logits vector per frame (``forward_head(forward_features(x), pre_logits=True)``)."""

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        return self.encoder.forward_head(self.encoder.forward_features(frames), pre_logits=True)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.encoder.get_classifier()(features)


def _import_timm() -> Any:
    try:
        import timm
    except ImportError:
        raise MissingExtraError(f"backbone timm_frames needs the timm package; install it with: {TIMM_INSTALL}"
                                " (tv_frames needs no extra)") from None
    return timm


def _classifier_names(cfg: Dict[str, Any]) -> Tuple[str, ...]:
    names = cfg.get("classifier") or ()
    return (names,) if isinstance(names, str) else tuple(names)


def _looks_like_file(value: str) -> bool:
    return Path(value).expanduser().exists() or value.endswith(WEIGHT_SUFFIXES) or "/" in value or "\\" in value


def build_timm(*, model: str, pretrained: Union[str, bool, None], pool: str, normalization: Optional[str],
               keep_classifier: bool) -> TimmFrames:
    timm = _import_timm()
    from timm.data import resolve_data_config

    _check_common(pool, normalization)
    base = model.split(".", 1)[0]
    if not timm.is_model(base):
        raise ConfigError(f"backbone.model: {model!r} is not a timm model{_suggest(base, timm.list_models())}")
    if isinstance(pretrained, str) and pretrained.strip().lower() in ("true", "false"):
        pretrained = pretrained.strip().lower() == "true"
    if isinstance(pretrained, str) and not pretrained.strip():
        raise ConfigError("backbone.pretrained: empty value (was an environment variable unset?); give a weight"
                          " file, true, or one of the model's timm pretrained tags")
    tag_model: Optional[str] = None  # the "name.tag" timm loads its own weights for
    path: Optional[Path] = None
    if pretrained is True:
        tag_model = model
    elif isinstance(pretrained, str):
        tags = [n.split(".", 1)[1] for n in timm.list_pretrained(f"{base}.*")]
        if not _looks_like_file(pretrained) and pretrained in tags:
            tag_model = f"{base}.{pretrained}"
        elif _looks_like_file(pretrained):
            path = Path(pretrained).expanduser()
        else:
            shown = ", ".join(tags[:8]) + (" ..." if len(tags) > 8 else "") if tags else "none"
            raise ConfigError(f"backbone.pretrained: {pretrained!r} is neither a weight file nor a timm pretrained tag"
                              f" of {base} (its tags: {shown}); use true for timm's default weights")
    state: Optional[Dict[str, torch.Tensor]] = None
    where = "backbone.pretrained"
    if path is not None:
        state = read_weights(path, None)
        where = file_label(path)
    head_kwargs: Dict[str, Any] = {} if keep_classifier else {"num_classes": 0}
    if tag_model is not None:
        try:
            encoder = timm.create_model(tag_model, pretrained=True, **head_kwargs)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            raise DataError(f"backbone.pretrained: timm could not load the pretrained weights of {tag_model}"
                            f" ({type(exc).__name__}: {first}); timm reads them from its cache (the Hugging Face"
                            " hub cache) and downloads them when online") from exc
    else:
        encoder = timm.create_model(model, pretrained=False, **head_kwargs)
    cfg = dict(getattr(encoder, "pretrained_cfg", {}) or {})
    if state is not None and keep_classifier:  # the file's classifier size (e.g. fine-tuned on 101 classes)
        weight = next((state[f"{n}.weight"] for n in _classifier_names(cfg) if f"{n}.weight" in state), None)
        if weight is not None and int(weight.shape[0]) != encoder.num_classes:
            encoder.reset_classifier(int(weight.shape[0]))
    if state is not None:
        if not keep_classifier:
            prefixes = tuple(f"{n}." for n in _classifier_names(cfg))
            state = {k: v for k, v in state.items() if not (prefixes and k.startswith(prefixes))}
        load_state_dict_strict(encoder, state, where, ignore_missing=("num_batches_tracked",))
    data = resolve_data_config({}, model=encoder)
    default = (tuple(v * 255.0 for v in data["mean"]), tuple(v * 255.0 for v in data["std"]))
    mean, std, label = resolve_normalization(normalization, NORMALIZATIONS, None, default,  # type: ignore[arg-type]
                                             f"timm {cfg.get('architecture', base)}.{cfg.get('tag', '')}".rstrip("."))
    input_size = tuple(int(v) for v in data["input_size"][1:])
    dim = int(getattr(encoder, "head_hidden_size", None) or encoder.num_features)
    if keep_classifier:
        freeze(encoder.get_classifier())
    return TimmFrames(encoder, name="timm_frames", model=model, feature_dim=dim, pool=pool, mean=mean, std=std,
                      normalization=label, keep_classifier=keep_classifier, input_size=input_size,  # type: ignore
                      fixed_size=bool(cfg.get("fixed_input_size", False)),
                      checkpoint=tag_model if tag_model else None)
