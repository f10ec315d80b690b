"""What a backbone declares about its pretrained checkpoints (like timm's pretrained configs).

A backbone factory declares the checkpoints it can load with :func:`known_checkpoints`; each
:class:`Checkpoint` carries the file name, its sha256 (when the publisher's file is known), the source
URL, the classifier size in the file, the normalisation the weights were trained with (0-255 RGB
mean/std) and the expected input. Finding, fetching and verifying the files is :mod:`hashbench.weights`
(``hashbench weights list|check|fetch``); turning ``pretrained = "..."`` into a file is
:func:`hashbench.weights.resolve_pretrained`, re-exported here for backbones.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional, Tuple, TypeVar

__all__ = ["Checkpoint", "known_checkpoints", "checkpoints_of", "iter_checkpoints", "CHECKPOINTS_ATTRIBUTE"]

#: The attribute :func:`known_checkpoints` sets on a backbone factory.
CHECKPOINTS_ATTRIBUTE = "__hashbench_checkpoints__"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Checkpoint:
    """One known weight file of a backbone.

    ``name``: what ``pretrained = "..."`` says (e.g. ``r3d50_K_200ep``); ``file``: its file name (a
    ``name-<hex>.ext`` name, torch.hub's convention, says its sha256 starts with ``<hex>``, and fetching
    and loading check it); ``sha256``: of the publisher's file (None when unpublished: then only the
    name's prefix, if any, is checked); ``url``: where it is published; ``classes``: the classifier size
    it holds (dropped or kept by the backbone); ``mean``/``std``: the normalisation its training used, in
    0-255 RGB units; ``frames``/``size``: the input it was trained on (T, square side); ``options``:
    backbone keys this checkpoint implies (e.g. ``{"shortcut": "B"}``); ``source`` and ``notes``:
    provenance for ``hashbench weights list``.
    """

    name: str
    file: str
    url: Optional[str] = None
    sha256: Optional[str] = None
    classes: Optional[int] = None
    mean: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: Tuple[float, float, float] = (1.0, 1.0, 1.0)
    frames: Optional[int] = None
    size: Optional[int] = None
    options: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""
    notes: str = ""


def known_checkpoints(*checkpoints: Checkpoint) -> Callable[[F], F]:
    """Declare the checkpoints a backbone factory can load (``hashbench weights list`` shows them)."""

    def mark(factory: F) -> F:
        setattr(factory, CHECKPOINTS_ATTRIBUTE, tuple(checkpoints))
        return factory

    return mark


def checkpoints_of(factory: Any) -> tuple[Checkpoint, ...]:
    """The checkpoints a factory declared (empty when none)."""
    return tuple(getattr(factory, CHECKPOINTS_ATTRIBUTE, ()))


def iter_checkpoints(components: Iterable[Any]) -> list[tuple[Any, Checkpoint]]:
    """``(component, checkpoint)`` for every declared checkpoint of the given registry components."""
    return [(component, checkpoint) for component in components for checkpoint in checkpoints_of(component.factory)]
