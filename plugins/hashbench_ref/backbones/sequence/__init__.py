"""Sequence encoders for frame features: backbones that consume ``frame_features``, torch-free factories.

They let the supervised losses of the zoo (CSQ, DPSH, ...) train on the same frame-feature files as the
self-supervised methods (``hashbench features extract``, the released FCVID / ActivityNet / UCF101
features, the embedded ``moving_digits_features``), under one protocol:

- ``frame_mlp``: the mean over the T frames, then an MLP (Linear + ReLU per entry of ``widths``); it
  also takes one vector per video (``vector`` datasets), which it does not pool.
- ``frame_transformer``: a linear projection of every frame to ``width``, plus learned position
  embeddings, through ``layers`` pre-norm transformer encoder layers (``heads`` heads, GELU), a final
  LayerNorm, then the mean over frames. Frame order matters to it (the mean-pool MLP sees none).

Input: float frame features ``(B, T, D_in)``, taken as they are (no pixel normalisation: the factories
declare ``consumes``, so no ``input_mean``/``input_std``); ``D_in`` is the dataset's ``feature_dim``
(context). Output ``(B, feature_dim)``. No known checkpoints: they train from scratch (``init_from``
loads a previous run's).
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

from hashbench.contract import conformance_example, number, positive_int

__all__ = ["FACTORIES", "frame_mlp", "frame_transformer"]


@conformance_example({"widths": [8, 6]})
def frame_mlp(feature_dim: int, widths: Sequence[int] = (512, 512), dropout: float = 0.0) -> Any:
    """Mean over frames, then ``Linear(D_in, w) + ReLU`` for each ``w`` of ``widths`` -> ``(B, widths[-1])``.

    Keys: ``widths`` (the hidden widths, at least one; the last is the output width, default
    ``[512, 512]``), ``dropout`` (after each ReLU in train mode, in [0, 1), default 0)."""
    sizes = _widths(widths)
    dropout = number("backbone.dropout", dropout, 0, 1, high_open=True)
    from .model import FrameMLP

    return FrameMLP(positive_int("feature_dim", feature_dim), sizes, dropout)


frame_mlp.consumes = ("frame_features", "vector")  # type: ignore[attr-defined]


@conformance_example({"width": 16, "layers": 1, "heads": 2})
def frame_transformer(feature_dim: int, num_frames: int, width: int = 256, layers: int = 2, heads: int = 4,
                      ff_width: Optional[int] = None, dropout: float = 0.1) -> Any:
    """Project frames to ``width``, add learned position embeddings (one per frame of the dataset's
    ``num_frames``), ``layers`` pre-norm transformer encoder layers, LayerNorm, mean over frames ->
    ``(B, width)``.

    Keys: ``width`` (model width, divisible by ``heads``; default 256), ``layers`` (default 2), ``heads``
    (default 4), ``ff_width`` (feed-forward width, default 4 x ``width``), ``dropout`` (attention,
    feed-forward and embedding dropout in train mode, default 0.1)."""
    width = positive_int("backbone.width", width)
    heads = positive_int("backbone.heads", heads)
    if width % heads:
        raise ValueError(f"backbone.width: must be divisible by backbone.heads = {heads}, got {width}")
    ff = positive_int("backbone.ff_width", 4 * width if ff_width is None else ff_width)
    dropout = number("backbone.dropout", dropout, 0, 1, high_open=True)
    from .model import FrameTransformer

    return FrameTransformer(positive_int("feature_dim", feature_dim), positive_int("num_frames", num_frames),
                            width, positive_int("backbone.layers", layers), heads, ff, dropout)


frame_transformer.consumes = ("frame_features",)  # type: ignore[attr-defined]


def _widths(widths: Any) -> list:
    """``backbone.widths``: a non-empty list of positive ints."""
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or not widths:
        raise ValueError(f"backbone.widths: must be a non-empty list of positive integers, got {widths!r}")
    return [positive_int("backbone.widths", w) for w in widths]


FACTORIES: dict = {"frame_mlp": frame_mlp, "frame_transformer": frame_transformer}
