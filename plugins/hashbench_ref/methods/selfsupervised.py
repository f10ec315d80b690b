"""The self-supervised video hashing methods (SSVH, BTH, DKPH, MCMSH, ConMH, S5VH, AutoSSVH) as registered
methods: torch-free factory functions whose keys (with the paper's settings as defaults) and docstrings
are what ``hashbench plugins show NAME`` prints; each imports its method's module when it builds.

The methods themselves live one per module beside this one (``methods/<name>.py``), built on the shared
blocks of :mod:`.ssl`. ``bits`` and ``seed`` come from the experiment (``[method] bits``, top-level seed).
"""
from __future__ import annotations

from typing import Any, Callable

from hashbench.contract import conformance_example

__all__ = ["FACTORIES"]

#: method name -> factory; each method's engineer adds its entry below its factory.
FACTORIES: dict[str, Callable[..., Any]] = {}


@conformance_example({"hidden": 8, "knn": 3, "shared": 2})
def ssvh(bits: int, feature_dim: int, num_frames: int, seed: int = 0, hidden: int = 256,
         pairwise_weight: float = 0.999, quantisation_weight: float = 0.2, backward_weight: float = 1 / 3,
         forward_weight: float = 1 / 3, mean_weight: float = 1 / 3, knn: int = 10, shared: int = 5,
         bn_momentum: float = 0.99, variant: str = "released") -> Any:
    """SSVH (TIP 2018): hierarchical binary LSTM autoencoder; neighbourhood pairwise loss against a shared-
    neighbour kNN similarity of frame-mean features + backward/forward/mean frame reconstruction.

    Keys (defaults = the released Theano code, FCVID): hidden 256 (level-1 and frame-decoder LSTM width;
    the code LSTMs are ``bits`` wide; the release has both = 256); pairwise_weight 0.999 (the rest weights
    the reconstruction); quantisation_weight 0.2 (``lamb``: ||H - sgn H||^2 inside the pairwise part);
    backward_weight, forward_weight, mean_weight 1/3 each; knn 10 (K1: neighbours per video), shared 5
    (K2: videos with most common neighbours whose neighbour lists are similar); bn_momentum 0.99 (running
    statistics of the per-step batch norms, used when encoding); variant "released" (the forward decoder
    reads the backward decoder's high states on odd steps, as the release does) or "paper". Frame
    features only; uses the first T - T mod 2 frames."""
    from hashbench.contract import choice, number, positive_int

    from .ssvh import SSVH, VARIANTS

    weights = tuple(number(f"method.{k}", v, 0) for k, v in (("backward_weight", backward_weight),
                                                               ("forward_weight", forward_weight),
                                                               ("mean_weight", mean_weight)))
    return SSVH(bits, feature_dim, num_frames, seed, hidden=positive_int("method.hidden", hidden),
                pairwise_weight=number("method.pairwise_weight", pairwise_weight, 0, 1),
                quantisation_weight=number("method.quantisation_weight", quantisation_weight, 0),
                reconstruction_weights=weights, knn=positive_int("method.knn", knn),
                shared=positive_int("method.shared", shared),
                bn_momentum=number("method.bn_momentum", bn_momentum, 0, 1, high_open=True),
                variant=choice("method.variant", variant, VARIANTS))


FACTORIES["ssvh"] = ssvh
