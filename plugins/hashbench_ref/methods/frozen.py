"""A frozen backbone as a classic baseline's feature extractor: uint8 clips -> one float vector per clip.

``[method] backbone = { name = "r3d18", pretrained = "..." }`` (any backbone table, as in ``[backbone]``)
lets a baseline of :mod:`.classic` run on a clip dataset: :class:`FrozenFeatures` normalises the clips the
way the backbone declares (``input_mean`` / ``input_std``, 0-255 RGB units, as the engine's HashModel
does), runs the backbone in eval mode under ``torch.no_grad`` and keeps its pooled ``(B, feature_dim)``
output (a ``(B, T, D)`` output is averaged over T). The backbone is built once, from the method's seed
(a random init is the same in every build), and held outside the module tree: its weights are neither
the method's parameters nor its state. The state is the backbone's table (canonical JSON as a uint8
tensor, ``frozen.backbone``), so a checkpoint says which features it was fitted on and loading it into a
method with another backbone is an error. Imports torch.
"""
from __future__ import annotations

import json
from typing import Any, Mapping, Optional

import torch
from torch import nn

import hashbench
from hashbench.contract import iter_inputs, pooled_inputs
from hashbench.errors import ConfigError, DataError

__all__ = ["FrozenFeatures", "build_frozen", "CLIP_BATCH"]

#: Clips per forward pass while fitting (bounds the backbone's activations, not only the clips' bytes).
CLIP_BATCH = 32
_EXAMPLE = '{ name = "r3d18", pretrained = "..." }'


def _spec_tensor(spec: Mapping[str, Any]) -> torch.Tensor:
    return torch.tensor(list(json.dumps(dict(spec), sort_keys=True).encode("utf-8")), dtype=torch.uint8)


def _spec_text(tensor: torch.Tensor) -> str:
    return bytes(tensor.cpu().tolist()).decode("utf-8", errors="replace")


class FrozenFeatures(nn.Module):
    """uint8 clips ``(B, 3, T, H, W)`` in 0-255 -> ``(B, feature_dim)`` float32, through a frozen backbone."""

    def __init__(self, backbone: nn.Module, spec: Mapping[str, Any]) -> None:
        super().__init__()
        name = spec.get("name")
        mean, std = getattr(backbone, "input_mean", None), getattr(backbone, "input_std", None)
        if mean is None or std is None or len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"method.backbone: backbone {name!r} declares no input_mean / input_std (3 numbers"
                             " each, 0-255 units, std > 0); the clips cannot be normalised for it")
        self.feature_dim = int(getattr(backbone, "feature_dim", 0) or 0)
        self._held = (backbone.eval().requires_grad_(False),)  # a tuple: not a submodule, not in state_dict
        self.register_buffer("input_mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1, 1),
                             persistent=False)
        self.register_buffer("input_std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1, 1),
                             persistent=False)
        self.register_buffer("backbone", _spec_tensor(spec))

    @property
    def network(self) -> nn.Module:
        """The frozen backbone, on this module's device, in eval mode."""
        held = self._held[0].to(self.input_mean.device)
        return held.eval()

    @torch.no_grad()
    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """Clips ``(B, 3, T, H, W)`` (0-255, any dtype) -> pooled features ``(B, D)`` float32."""
        if clips.dim() != 5 or clips.shape[1] != 3:
            raise DataError(f"method.backbone: expected clips (B, 3, T, H, W), got shape {tuple(clips.shape)};"
                            " a frozen backbone reads a clip dataset")
        clips = clips.to(self.input_mean.device)
        features = self.network((clips.float() - self.input_mean) / self.input_std)
        if features.dim() == 3:
            features = features.mean(dim=1)
        if features.dim() != 2 or features.shape[0] != clips.shape[0]:
            raise DataError(f"method.backbone: the backbone returned {tuple(features.shape)} for"
                            f" {clips.shape[0]} clips; expected (B, feature_dim)")
        return features.float()

    def pooled(self, train: Any, batch_size: int = CLIP_BATCH) -> torch.Tensor:
        """One feature vector per item of ``train`` (a clip dataset, streamed, or a clip tensor): ``(N, D)``
        on the CPU; DataError when a feature is NaN or infinite."""
        parts = [self(inputs).cpu() for inputs, _ in iter_inputs(train, batch_size)]
        return pooled_inputs(torch.cat(parts) if parts else torch.empty(0, self.feature_dim))

    def _load_from_state_dict(self, state_dict: Any, prefix: str, local_metadata: Any, strict: bool,
                              missing_keys: list, unexpected_keys: list, error_msgs: list) -> None:
        theirs = state_dict.get(prefix + "backbone")
        if theirs is not None and not torch.equal(torch.as_tensor(theirs).cpu(), self.backbone.cpu()):
            error_msgs.append(f"the checkpoint was fitted on backbone {_spec_text(torch.as_tensor(theirs))},"
                              f" this method has {_spec_text(self.backbone)}; use the same [method] backbone")
            return
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def extra_repr(self) -> str:
        return f"backbone={_spec_text(self.backbone)}, feature_dim={self.feature_dim}"


def build_frozen(spec: Any, seed: int = 0, num_frames: Optional[int] = None) -> FrozenFeatures:
    """:class:`FrozenFeatures` from the method's ``backbone`` table (built through ``hashbench.registry()``
    with ``seed`` and ``num_frames`` as a run gives them; the random init seeded by ``seed``). Raises
    ConfigError (one line) for a table that is not one, has no ``name``, or has a bad key."""
    if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str) or not spec["name"]:
        raise ConfigError(f"method.backbone: expected an inline table naming a backbone, e.g. backbone = {_EXAMPLE}"
                          f" (hashbench plugins --kind backbone), got {spec!r}")
    context: dict[str, Any] = {"seed": int(seed)}
    if num_frames is not None:
        context["num_frames"] = int(num_frames)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        backbone = hashbench.registry().build("backbone", dict(spec), where="method.backbone", **context)
    if not isinstance(backbone, nn.Module):
        raise ValueError(f"method.backbone: {spec['name']!r} built {type(backbone).__name__}, not a torch module")
    return FrozenFeatures(backbone, spec)
