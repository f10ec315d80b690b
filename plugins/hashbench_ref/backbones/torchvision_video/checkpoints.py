"""Weight-file helpers shared by the torchvision-based backbones (video models and ``tv_frames``/``timm_frames``):
which file ``pretrained`` names, the sha256 prefix torchvision encodes in its file names, the normalisation,
and construction without a wasted random initialisation when the weights come from a file."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from hashbench.contract import Checkpoint, read_state_dict, resolve_pretrained
from hashbench.errors import CheckpointError, ConfigError
from hashbench.weights import digest_problem, sha256_of

Triple = Tuple[float, float, float]
WHERE = "backbone.pretrained"


def resolve_file(pretrained: str, checkpoints: Sequence[Checkpoint],
                 aliases: Optional[Mapping[str, str]] = None) -> Tuple[Path, Optional[Checkpoint]]:
    """``(file, checkpoint)`` for ``pretrained`` (a known name, an alias of one, or a path).

    DataError (from :func:`resolve_pretrained`) when a known name's file is not found; ConfigError for an
    empty value.
    """
    if not pretrained.strip():
        raise ConfigError(f"{WHERE}: empty value (was an environment variable unset?); give a weight file or a"
                          f" checkpoint name ({', '.join(c.name for c in checkpoints) or 'none known'})"
                          " or remove the key")
    name = (aliases or {}).get(pretrained, pretrained)
    return resolve_pretrained(name, checkpoints, where=WHERE)


def verify_hash_prefix(path: Path, checkpoint: Optional[Checkpoint]) -> None:
    """A file named like a published torchvision file (``r3d_18-b3b3357e.pth``) must have a sha256 that
    starts with the prefix in its name, as torch.hub checks (the full sha256 when the checkpoint declares
    one); CheckpointError otherwise."""
    if checkpoint is None or path.name != checkpoint.file:
        return
    problem = digest_problem(checkpoint, sha256_of(path))
    if problem:
        raise CheckpointError(f"{WHERE}: {path} is not the published {checkpoint.name}: {problem}; a corrupt or"
                              " different file: fetch it again, or rename your own file")


def read_weights(path: Path, checkpoint: Optional[Checkpoint]) -> Dict[str, torch.Tensor]:
    """The file's tensors (``weights_only``; ``module.`` prefixes and ``state_dict``/``model`` wrappers
    removed; ``.safetensors`` files too), after the hash-prefix check."""
    verify_hash_prefix(path, checkpoint)
    if path.suffix == ".safetensors":
        if not path.is_file():
            raise CheckpointError(f"{WHERE}: weight file not found: {path}")
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise CheckpointError(f"{WHERE}: {path} is a .safetensors file; `pip install safetensors` to read"
                                  " it") from None
        try:
            state = load_file(str(path), device="cpu")
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            raise CheckpointError(f"{WHERE}: cannot read {path} as safetensors ({type(exc).__name__}: {first})"
                                  ) from exc
        return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}
    return read_state_dict(path, where=WHERE)


def resolve_normalization(normalization: Optional[str], named: Mapping[str, Tuple[Triple, Triple]],
                          checkpoint: Optional[Checkpoint], default: Tuple[Triple, Triple],
                          default_label: str) -> Tuple[Triple, Triple, str]:
    """``(mean, std, label)`` in 0-255 units: an explicit name, else the checkpoint's, else the default."""
    if normalization is not None:
        if normalization not in named:
            raise ConfigError(f"backbone.normalization: unknown value {normalization!r}; use one of"
                              f" {', '.join(map(repr, named))} (or leave it out: the weights' own)")
        mean, std = named[normalization]
        return tuple(mean), tuple(std), normalization  # type: ignore[return-value]
    if checkpoint is not None:
        return tuple(checkpoint.mean), tuple(checkpoint.std), checkpoint.name  # type: ignore[return-value]
    return tuple(default[0]), tuple(default[1]), default_label  # type: ignore[return-value]


def construct(builder: Callable[[], nn.Module], empty: bool) -> nn.Module:
    """``builder()``; when ``empty`` (every tensor is about to be loaded from a file) it runs on the meta
    device and the module gets uninitialised CPU storage instead of a random initialisation (seconds for
    the transformers); BatchNorm counters, which old files may lack, start at 0."""
    if not empty:
        return builder()
    with torch.device("meta"):
        model = builder()
    persistent = set(model.state_dict())
    if any(name not in persistent for name, _ in model.named_buffers()) or any(
            isinstance(value, torch.Tensor) for module in model.modules() for key, value in vars(module).items()
            if key not in ("_parameters", "_buffers")):
        return builder()  # state outside the state dict: it must be computed, so build for real
    model = model.to_empty(device="cpu")
    with torch.no_grad():
        for name, buffer in model.named_buffers():
            if name.endswith("num_batches_tracked"):
                buffer.zero_()
    return model


def freeze(module: Optional[nn.Module]) -> None:
    """Parameters of a kept source classifier are carried, not trained (the features do not reach it)."""
    if module is not None:
        for parameter in module.parameters():
            parameter.requires_grad_(False)


def file_label(path: Path) -> str:
    return f"{WHERE} ({path.name})"
