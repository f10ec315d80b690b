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
    """SSVH (TIP 2018): hierarchical binary LSTM autoencoder; neighbourhood pairwise loss against a
    shared-neighbour kNN similarity of frame-mean features + backward/forward/mean frame reconstruction.

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


@conformance_example({"depth": 1, "width": 16, "decoder_width": 8, "d_state": 4, "clusters": 3, "pca_dim": 4,
                      "centre_sweeps": 0, "warm_up_epoch": 1})
def s5vh(bits: int, feature_dim: int, num_frames: int, seed: int = 0, num_train: int = 0, depth: int = 6,
         width: int = 256, decoder_depth: int = 1, decoder_width: int = 192, d_state: int = 16,
         drop_path: float = 0.5, mask_ratio: float = 0.75, alpha: float = 2.5, temperature: float = 0.5,
         tau_plus: float = 0.1, a_cluster: float = 0.01, temperature_cluster: float = 0.5, clusters: int = 450,
         pca_dim: int = 512, warm_up_epoch: int = 50, smoothing: float = 0.01, centre_sweeps: int = 20,
         variant: str = "released") -> Any:
    """S5VH (AAAI 2025): bidirectional-Mamba masked autoencoder + DCL of two views + CE to k-means pseudo-labels.

    Keys (defaults = the paper's "small" model, FCVID): depth 6, width 256 (encoder blocks); decoder_depth 1,
    decoder_width 192; d_state 16 (Mamba); drop_path 0.5 (top rate of each stack); mask_ratio 0.75
    (others 0.5); alpha 2.5 (contrastive weight; ActivityNet 0.2, UCF101/HMDB51 1.0); temperature 0.5;
    tau_plus 0.1 (ActivityNet/HMDB51 0.05); a_cluster 0.01 (cluster weight; ActivityNet 0.001, UCF101/HMDB51
    0.1); temperature_cluster 0.5; clusters 450 (ActivityNet/HMDB51 100, UCF101 101); pca_dim 512 (HMDB51
    1024); warm_up_epoch 50 (one-hot labels, then smoothed by smoothing 0.01); centre_sweeps 20 (hash-centre
    refinement sweeps of fit, 0 = the Hadamard start); variant "released" (shared Mamba per block, centres
    unused) or "paper" (two Mambas, classifier initialised from the centres). bits a power of 2."""
    from hashbench.contract import choice, integer, number, positive_int

    if positive_int("method.bits", bits) & (bits - 1):
        raise ValueError(f"method.bits: S5VH's Hadamard hash centres need a power of 2, got {bits}")
    keys = {k: positive_int(f"method.{k}", v) for k, v in (
        ("depth", depth), ("width", width), ("decoder_depth", decoder_depth), ("decoder_width", decoder_width),
        ("d_state", d_state), ("clusters", clusters), ("pca_dim", pca_dim))}
    keys.update({k: number(f"method.{k}", v, 0) for k, v in (("alpha", alpha), ("a_cluster", a_cluster))})
    keys.update({k: number(f"method.{k}", v, 0, low_open=True) for k, v in (
        ("temperature", temperature), ("temperature_cluster", temperature_cluster))})
    keys.update({k: number(f"method.{k}", v, 0, 1, high_open=True) for k, v in (
        ("drop_path", drop_path), ("mask_ratio", mask_ratio), ("tau_plus", tau_plus))})
    keys.update({"smoothing": number("method.smoothing", smoothing, 0, 1),
                 "warm_up_epoch": integer("method.warm_up_epoch", warm_up_epoch, 0),
                 "centre_sweeps": integer("method.centre_sweeps", centre_sweeps, 0),
                 "variant": choice("method.variant", variant, ("released", "paper"))})
    from .s5vh import S5VH

    return S5VH(bits, feature_dim, num_frames, seed, num_train, **keys)


FACTORIES["s5vh"] = s5vh


@conformance_example({"hidden": 16, "clusters": 6})
def mcmsh(bits: int, feature_dim: int, num_frames: int, seed: int = 0, num_train: int = 0, hidden: int = 256,
          expansion: int = 2, dropout: float = 0.5, r_max: int = 16, r_min: int = 4, clusters: int = 2000,
          select: float = 0.15, w_cluster: float = 0.8, w_sim: float = 0.1, w_quant: float = 0.01,
          w_quad: float = 0.01, variant: str = "released") -> Any:
    """MCMSH (ACM MM 2022): MLP-Mixer with multi-range gates; cluster + similarity + quantisation + quadruplet terms.

    Keys (defaults = the released code, haoyanbin918/MCMSH a483446): hidden 256, expansion 2, dropout 0.5
    (the mixer MLPs); r_max 16 (channel gates' reduction; hidden must divide by it), r_min 4 (token gates';
    needs num_frames >= r_min); clusters 2000 (k-means of frame-mean features: pseudo-labels, anchor
    graph); select 0.15 (frames BERT-corrupted); w_cluster 0.8, w_sim 0.1, w_quant 0.01, w_quad 0.01;
    variant "released" (codes with alpha 1, as eval.py) or "paper" (the last epoch's alpha). Frame
    features only."""
    from hashbench.contract import choice, number, positive_int

    keys = {k: positive_int(f"method.{k}", v) for k, v in (
        ("hidden", hidden), ("expansion", expansion), ("r_max", r_max), ("r_min", r_min), ("clusters", clusters))}
    if hidden % r_max:
        raise ValueError(f"method.hidden: must divide by r_max ({r_max}), got {hidden}")
    if num_frames < r_min:
        raise ValueError(f"method.r_min: at most the frames per clip ({num_frames}), got {r_min}")
    keys.update({k: number(f"method.{k}", v, 0) for k, v in (
        ("w_cluster", w_cluster), ("w_sim", w_sim), ("w_quant", w_quant), ("w_quad", w_quad))})
    keys.update({"dropout": number("method.dropout", dropout, 0, 1, high_open=True),
                 "select": number("method.select", select, 0, 1),
                 "variant": choice("method.variant", variant, ("released", "paper"))})
    from .mcmsh import MCMSH

    return MCMSH(bits, feature_dim, num_frames, seed, num_train, **keys)


FACTORIES["mcmsh"] = mcmsh


def _masked_transformer(prefix: str, depth: int, width: int, heads: int, decoder_depth: int, decoder_width: int,
                        decoder_heads: int, mask_ratio: float, a: float, temperature: float,
                        tau_plus: float) -> dict[str, Any]:
    """The validated keys of ConMH's masked transformer (shared by conmh and autossvh), as keyword arguments."""
    from hashbench.contract import number, positive_int

    for key, value, per in (("width", width, heads), ("decoder_width", decoder_width, decoder_heads)):
        positive_int(f"{prefix}.{key}", value)
        if positive_int(f"{prefix}.{key.replace('width', 'heads')}", per) > value:
            raise ValueError(f"{prefix}.{key.replace('width', 'heads')}: at most {key} ({value}) heads, got {per}")
    return {"depth": positive_int(f"{prefix}.depth", depth), "width": width, "heads": heads,
            "decoder_depth": positive_int(f"{prefix}.decoder_depth", decoder_depth),
            "decoder_width": decoder_width, "decoder_heads": decoder_heads,
            "mask_ratio": number(f"{prefix}.mask_ratio", mask_ratio, 0, 1, low_open=True, high_open=True),
            "a": number(f"{prefix}.a", a, 0), "temperature": number(f"{prefix}.temperature", temperature, 0,
                                                                    low_open=True),
            "tau_plus": number(f"{prefix}.tau_plus", tau_plus, 0, 1, high_open=True)}


@conformance_example({"depth": 1, "width": 16, "heads": 2, "decoder_width": 8, "decoder_heads": 2})
def conmh(bits: int, feature_dim: int, num_frames: int, seed: int = 0, depth: int = 12, width: int = 256,
          heads: int = 6, decoder_depth: int = 2, decoder_width: int = 192, decoder_heads: int = 3,
          mask_ratio: float = 0.75, a: float = 1.0, temperature: float = 0.5, tau_plus: float = 0.1) -> Any:
    """ConMH (AAAI 2023): masked-frame transformer autoencoder + debiased contrastive loss of two views.

    Keys (defaults = the paper's "small" model, FCVID): depth 12, width 256, heads 6 (encoder blocks);
    decoder_depth 2, decoder_width 192, decoder_heads 3; mask_ratio 0.75 (each view masks int(ratio T)
    frames; ActivityNet 0.5); a 1.0 (contrastive weight; ActivityNet 0.2); temperature 0.5; tau_plus 0.1
    (DCL class prior; ActivityNet 0.05). Frame features only."""
    from .conmh import ConMH

    keys = _masked_transformer("method", depth, width, heads, decoder_depth, decoder_width, decoder_heads,
                               mask_ratio, a, temperature, tau_plus)
    return ConMH(bits, feature_dim, num_frames, seed, **keys)


FACTORIES["conmh"] = conmh


def _bth_keys(prefix: str, hidden: int, layers: int, heads: int, dropout: float, select: float, anchors: int,
              pretrain_epochs: int, pretrain_batch: int, pretrain_lr: float, variant: str) -> dict[str, Any]:
    """The validated keys of BTH's encoder and preprocessing stages (shared by bth and dkph)."""
    from hashbench.contract import choice, number, positive_int

    if positive_int(f"{prefix}.hidden", hidden) % 2 or hidden % positive_int(f"{prefix}.heads", heads):
        raise ValueError(f"{prefix}.hidden: must be even and divide by heads ({heads}), got {hidden}")
    if positive_int(f"{prefix}.anchors", anchors) < 5:
        raise ValueError(f"{prefix}.anchors: the anchor graph needs at least 5 anchors, got {anchors}")
    return {"hidden": hidden, "layers": positive_int(f"{prefix}.layers", layers), "heads": heads,
            "dropout": number(f"{prefix}.dropout", dropout, 0, 1, high_open=True),
            "select": number(f"{prefix}.select", select, 0, 1), "anchors": anchors,
            "pretrain_epochs": positive_int(f"{prefix}.pretrain_epochs", pretrain_epochs),
            "pretrain_batch": positive_int(f"{prefix}.pretrain_batch", pretrain_batch),
            "pretrain_lr": number(f"{prefix}.pretrain_lr", pretrain_lr, 0, low_open=True),
            "variant": choice(f"{prefix}.variant", variant, ("released", "paper"))}


#: Small settings the conformance kit checks bth and dkph with (32 items of 4 frames x 16 values).
_BTH_EXAMPLE = {"hidden": 16, "anchors": 8, "pretrain_epochs": 1, "pretrain_batch": 16}


@conformance_example(_BTH_EXAMPLE)
def bth(bits: int, feature_dim: int, seed: int = 0, hidden: int = 256, layers: int = 1, heads: int = 1,
        dropout: float = 0.1, select: float = 0.15, anchors: int = 2000, w_mask: float = 0.92, w_nei: float = 0.08,
        w_mu: float = 0.8, pretrain_epochs: int = 56, pretrain_batch: int = 256, pretrain_lr: float = 3e-4,
        variant: str = "released") -> Any:
    """BTH (CVPR 2021): one-layer BERT over frames; masked-frame reconstruction + anchor-graph pairs + centres.

    Keys (defaults = the released code, Lily1994/BTH c97db40): hidden 256, layers 1, heads 1 (FFN 4 hidden),
    dropout 0.1; select 0.15 (frames BERT-corrupted: 80% zeroed, 10% swapped, 10% kept); anchors 2000
    (k-means over pre-trained latents); w_mask 0.92, w_nei 0.08, w_mu 0.8 (loss weights); pretrain_epochs
    56, pretrain_batch 256, pretrain_lr 3e-4 (the mask-only pre-training of fit, Adam); variant "released"
    (reconstructs the corrupted input, as the released code does) or "paper" (the original frames)."""
    from hashbench.contract import number

    from .bth import BTH

    keys = _bth_keys("method", hidden, layers, heads, dropout, select, anchors, pretrain_epochs, pretrain_batch,
                     pretrain_lr, variant)
    weights = {k: number(f"method.{k}", v, 0) for k, v in (("w_mask", w_mask), ("w_nei", w_nei), ("w_mu", w_mu))}
    return BTH(bits, feature_dim, seed, **keys, **weights)


FACTORIES["bth"] = bth


@conformance_example(_BTH_EXAMPLE)
def dkph(bits: int, feature_dim: int, num_frames: int, seed: int = 0, hidden: int = 256, layers: int = 1,
         heads: int = 1, dropout: float = 0.1, select: float = 0.15, anchors: int = 2000, w_recon: float = 1.0,
         w_tsim: float = 0.9, w_triplet: float = 0.1, w_bsim: float = 0.11, margin: float = 0.5,
         pretrain_epochs: int = 56, pretrain_batch: int = 256, pretrain_lr: float = 3e-4,
         variant: str = "released") -> Any:
    """DKPH (ECCV 2022): BTH's encoder + a hash stream over the whole sequence; recon + centre + triplet + pairs.

    Keys (defaults = the released code, IMCCretrieval/DKPH 66fa2c0): BTH's encoder and preprocessing keys
    (hidden 256, layers 1, heads 1, dropout 0.1, select 0.15, anchors 2000, pretrain_epochs 56,
    pretrain_batch 256, pretrain_lr 3e-4, variant "released" / "paper": see bth); w_recon 1.0, w_tsim 0.9
    (centre regression + triplet), w_triplet 0.1 (inside tsim), w_bsim 0.11 (pair term), margin 0.5
    (TripletMarginLoss). Frame features with the dataset's num_frames (the released code: 25)."""
    from hashbench.contract import number

    from .dkph import DKPH

    keys = _bth_keys("method", hidden, layers, heads, dropout, select, anchors, pretrain_epochs, pretrain_batch,
                     pretrain_lr, variant)
    weights = {k: number(f"method.{k}", v, 0) for k, v in (("w_recon", w_recon), ("w_tsim", w_tsim),
                                                           ("w_triplet", w_triplet), ("w_bsim", w_bsim))}
    return DKPH(bits, feature_dim, num_frames, seed, margin=number("method.margin", margin, 0), **weights, **keys)


FACTORIES["dkph"] = dkph


@conformance_example({"depth": 1, "width": 16, "heads": 2, "decoder_width": 8, "decoder_heads": 2,
                      "clusters": [3, 4], "warmup_epoch": 1})
def autossvh(bits: int, feature_dim: int, num_frames: int, seed: int = 0, num_train: int = 0, depth: int = 12,
             width: int = 256, heads: int = 6, decoder_depth: int = 2, decoder_width: int = 192,
             decoder_heads: int = 3, mask_ratio: float = 0.75, a: float = 1.0, b: float = 0.01,
             temperature: float = 0.5, tau_plus: float = 0.1, clusters: tuple = (250, 500, 1000),
             warmup_epoch: int = 100, kmeans_temperature: float = 0.2, variant: str = "released") -> Any:
    """AutoSSVH (CVPR 2025): ConMH's masked transformer + a ProtoNCE term over k-means of the hash codes.

    Keys (defaults = the released FCVID config): the conmh keys (depth 12, width 256, heads 6,
    decoder_depth 2, decoder_width 192, decoder_heads 3, mask_ratio 0.75, a 1.0, temperature 0.5,
    tau_plus 0.1); b 0.01 (prototype weight; UCF101/HMDB51 0.2); clusters [250, 500, 1000] (k of each
    clustering, at most the training videos; others [250, 400, 600]); warmup_epoch 100 (epochs before
    the first clustering; UCF101/HMDB51 50); kmeans_temperature 0.2 (mean cluster density); variant
    "released" (random masks, as the released training path) or "paper" (the adversarial frame sampler)."""
    from hashbench.contract import choice, number, positive_int

    keys = _masked_transformer("method", depth, width, heads, decoder_depth, decoder_width, decoder_heads,
                               mask_ratio, a, temperature, tau_plus)
    if isinstance(clusters, (str, bytes)) or not isinstance(clusters, (list, tuple)) or not clusters:
        raise ValueError(f"method.clusters: expected a list of cluster counts, got {clusters!r}")
    for k in clusters:
        if positive_int("method.clusters", k) > num_train:
            raise ValueError(f"method.clusters: {k} clusters but only {num_train} training videos; use at most"
                             f" {num_train}")
    if warmup_epoch != int(warmup_epoch) or warmup_epoch < 0:
        raise ValueError(f"method.warmup_epoch: must be an integer >= 0, got {warmup_epoch!r}")
    from .autossvh import AutoSSVH

    return AutoSSVH(bits, feature_dim, num_frames, seed, num_train, clusters=tuple(clusters),
                    b=number("method.b", b, 0), warmup_epoch=int(warmup_epoch),
                    kmeans_temperature=number("method.kmeans_temperature", kmeans_temperature, 0, low_open=True),
                    variant=choice("method.variant", variant, ("released", "paper")), **keys)


FACTORIES["autossvh"] = autossvh
