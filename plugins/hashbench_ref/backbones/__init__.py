"""Reference backbones: torch-free factory functions (see hashbench.contract)."""
from __future__ import annotations

from typing import Any, Optional

from hashbench.errors import ConfigError
from hashbench.contract import conformance_example, identity_keys

NORMALIZATION_NAMES = ("c3d_retrieval", "kinetics")


@conformance_example({"width": 8})
@identity_keys(weights=("pretrained",))
def r3d18(pretrained: Optional[str] = None, normalization: str = "c3d_retrieval", width: int = 64,
          shortcut_grad: bool = False) -> Any:
    """3D ResNet-18 of Hara et al. (shortcut A), averaged over time and space to 512-d.

    Input float clips ``(B, 3, T, H, W)``, any T, H, W (112x112 as in the original); output ``(B, 512)``
    (``8 * width``). Keys:

    - ``pretrained``: path to Hara's ``resnet-18-kinetics.pth`` (or any state dict with the same names);
      loaded strictly (``fc.*`` dropped; missing/unexpected keys are an error). Default: Hara's random init.
    - ``normalization``: ``"c3d_retrieval"`` (default; the original repo's mean/std
      (0.434, 0.405, 0.378)/(0.152, 0.149, 0.157) of 0-1 pixels) or ``"kinetics"`` (0-255 minus the
      ActivityNet mean (114.7748, 107.7354, 99.4750), std 1: what Hara's weights were trained on).
      Exposed as ``input_mean``/``input_std`` in 0-255 units.
    - ``width``: base width (64 = the real model; smaller only for quick tests, not loadable from Hara).
    - ``shortcut_grad``: let gradients flow through the type-A shortcuts (Hara's code detached them).
    """
    if normalization not in NORMALIZATION_NAMES:
        raise ConfigError(f"backbone.normalization: unknown value {normalization!r};"
                          f" use one of {', '.join(map(repr, NORMALIZATION_NAMES))}")
    if width < 1:
        raise ConfigError(f"backbone.width: must be a positive integer, got {width!r}")
    from .r3d import resnet3d18

    model = resnet3d18(width=width, normalization=normalization, shortcut_grad=shortcut_grad)
    if pretrained is not None:
        if not pretrained.strip():
            raise ConfigError("backbone.pretrained: empty path (was an environment variable unset?);"
                              " give the weight file or remove the key")
        from .weights import load_strict

        load_strict(model, pretrained)
    return model


FACTORIES: dict = {"r3d18": r3d18}
