"""FIRe's deep unsupervised hashing methods (bi-half, CIBHash, TBH, SSDH, GreedyHash-unsupervised, UH-BDNN)
as registered methods on frame features or vectors: torch-free factory functions whose keys (with FIRe's
settings as defaults) and docstrings are what ``hashbench plugins show NAME`` prints; each imports its
method's module when it builds.

The methods themselves live one per module beside this one (``methods/<name>.py``). ``bits``, ``seed``
and ``feature_dim`` come from the experiment (``[method] bits``, the top-level seed, the dataset).
"""
from __future__ import annotations

from typing import Any, Callable

from hashbench.contract import conformance_example

__all__ = ["FACTORIES"]

#: method name -> factory; each method's engineer adds its entry below its factory.
FACTORIES: dict[str, Callable[..., Any]] = {}


def _pooled_keys(hidden: int, standardise: bool) -> dict[str, Any]:
    """The validated keys of the pooled-feature methods' hash MLP and standardisation, as keyword arguments."""
    from hashbench.contract import integer

    if not isinstance(standardise, bool):
        raise ValueError(f"method.standardise: must be true or false, got {standardise!r}")
    return {"hidden": integer("method.hidden", hidden, 0), "standardise": standardise}


@conformance_example({"hidden": 8})
def greedyhash_u(bits: int, feature_dim: int, seed: int = 0, alpha: float = 1.0, pow: int = 3, hidden: int = 0,
                 standardise: bool = True) -> Any:
    """GreedyHash, unsupervised (NeurIPS 2018): sign (identity gradient) of a linear hash layer keeps the features' cosines.

    Keys (defaults = FIRe's template): alpha 1.0 (weight of the cubic quantisation term; FIRe's CIFAR-10 0.1);
    pow 3 (its exponent, a positive integer); hidden 0 (FIRe's single linear layer; > 0: an MLP with one
    ReLU hidden layer of that width); standardise true (fit standardises the frame-mean features)."""
    from hashbench.contract import number, positive_int

    from .greedyhash_u import GreedyHashUnsupervised

    return GreedyHashUnsupervised(bits, feature_dim, seed, alpha=number("method.alpha", alpha, 0),
                                  pow=positive_int("method.pow", pow), **_pooled_keys(hidden, standardise))


FACTORIES["greedyhash_u"] = greedyhash_u


@conformance_example({"hidden": 8})
def bihalf(bits: int, feature_dim: int, seed: int = 0, gamma: float = 6.0, hidden: int = 0,
           standardise: bool = True) -> Any:
    """Bi-half (AAAI 2021): each bit split half +1 / half -1 over the batch (optimal transport), keeping the features' cosines.

    Keys (defaults = FIRe's template): gamma 6 (the backward's pull of the real codes to the bi-half codes,
    scaled by 1 / (batch x bits)); hidden 0 (FIRe's single linear layer; > 0: an MLP with one ReLU hidden
    layer of that width); standardise true (fit standardises the frame-mean features)."""
    from hashbench.contract import number

    from .bihalf import BiHalf

    return BiHalf(bits, feature_dim, seed, gamma=number("method.gamma", gamma, 0),
                  **_pooled_keys(hidden, standardise))


FACTORIES["bihalf"] = bihalf


@conformance_example({"hidden": [8, 8], "itq_iterations": 3})
def uhbdnn(bits: int, feature_dim: int, seed: int = 0, quan: float = 1.0, independence: float = 1.0,
           balance: float = 1.0, hidden: list = [1024, 512], itq_iterations: int = 50, binary_targets: bool = False,
           standardise: bool = True) -> Any:
    """UH-BDNN (ECCV 2016): sigmoid MLP codes that reconstruct the features, stay near ITQ targets, balanced and independent.

    Keys (defaults: FIRe has no template; its only stated weights, the architecture's self-test): quan 1.0
    (weight of the MSE to the ITQ targets), independence 1.0 (of ||h^T h / B - I||^2), balance 1.0 (of the
    mean squared bit sums); hidden [1024, 512] (the sigmoid layers' widths); itq_iterations 50 (of fit's
    ITQ); binary_targets false (FIRe: ITQ's real projections; true: their signs, as the paper);
    standardise true (fit standardises the frame-mean features). bits at most feature_dim (ITQ's PCA)."""
    from hashbench.contract import integer, number, positive_int

    if positive_int("method.bits", bits) > feature_dim:
        raise ValueError(f"method.bits: UH-BDNN's ITQ targets need bits <= the features' {feature_dim} dimensions,"
                         f" got {bits}")
    if not isinstance(hidden, (list, tuple)) or not hidden:
        raise ValueError(f"method.hidden: must be a non-empty list of layer widths, got {hidden!r}")
    if not isinstance(binary_targets, bool):
        raise ValueError(f"method.binary_targets: must be true or false, got {binary_targets!r}")
    from .uhbdnn import UHBDNN

    return UHBDNN(bits, feature_dim, seed, quan=number("method.quan", quan, 0),
                  independence=number("method.independence", independence, 0),
                  balance=number("method.balance", balance, 0),
                  hidden=[positive_int("method.hidden", w) for w in hidden],
                  itq_iterations=integer("method.itq_iterations", itq_iterations, 0),
                  standardise=_pooled_keys(0, standardise)["standardise"], binary_targets=binary_targets)


FACTORIES["uhbdnn"] = uhbdnn


@conformance_example({"hidden": 8})
def cibhash(bits: int, feature_dim: int, seed: int = 0, temperature: float = 0.3, beta: float = 0.001,
            hidden: int = 1024, mask_ratio: float = 0.5, standardise: bool = True) -> Any:
    """CIBHash (IJCAI 2021): NT-Xent between the sign codes of two frame samplings + beta x their bits' symmetric KL.

    Keys (defaults = FIRe's template and architecture): temperature 0.3 (of NT-Xent, > 0); beta 0.001
    (weight of the KL bottleneck); hidden 1024 (the encoder's ReLU layer; 0: one linear layer);
    mask_ratio 0.5 (share of the frames each view masks, in [0, 1); on vectors: of the dimensions
    dropped); standardise true (fit standardises the frame-mean features)."""
    from hashbench.contract import number

    from .cibhash import CIBHash

    return CIBHash(bits, feature_dim, seed, temperature=number("method.temperature", temperature, 0, low_open=True),
                   beta=number("method.beta", beta, 0),
                   mask_ratio=number("method.mask_ratio", mask_ratio, 0, 1, high_open=True),
                   **_pooled_keys(hidden, standardise))


FACTORIES["cibhash"] = cibhash



@conformance_example({"hidden": 8})
def ssdh(bits: int, feature_dim: int, seed: int = 0, alpha: float = 2.0, beta: float = 2.0, hidden: int = 0,
         standardise: bool = True) -> Any:
    """SSDH (IJCAI 2018): tanh codes regress +1/-1 pseudo-similarities from the tails of the features' cosine distances.

    Keys (defaults = FIRe's template): alpha 2 (a pair is similar below mu_l - alpha sigma_l of the
    distance distribution's left Gaussian), beta 2 (dissimilar above mu_r + beta sigma_r of the right);
    hidden 0 (FIRe's single linear layer; > 0: an MLP with one ReLU hidden layer of that width);
    standardise true (fit standardises the frame-mean features). fit keeps an N x N int8 matrix."""
    from hashbench.contract import number

    from .ssdh import SSDH

    return SSDH(bits, feature_dim, seed, alpha=number("method.alpha", alpha, 0),
                beta=number("method.beta", beta, 0), **_pooled_keys(hidden, standardise))


FACTORIES["ssdh"] = ssdh


@conformance_example({"hidden": 8, "continuous": 6})
def tbh(bits: int, feature_dim: int, seed: int = 0, adv: float = 1.0, rec_method: str = "element", hidden: int = 1024,
        continuous: int = 512, standardise: bool = True) -> Any:
    """TBH (CVPR 2020): the codes' Hamming graph convolves a continuous bottleneck that reconstructs the features.

    Keys (defaults = FIRe's architecture and template): adv 1 (weight of the two discriminators' adversarial
    terms; the discriminators get the critic's gradient, the rest the actor's); rec_method element (the
    reconstruction sum / 1; batch: / B; all: / (B D)); hidden 1024 (encoder and decoder ReLU width);
    continuous 512 (the continuous bottleneck's width); standardise true (fit standardises the frame-mean
    features)."""
    from hashbench.contract import choice, number, positive_int

    from .tbh import REC_METHODS, TBH

    return TBH(bits, feature_dim, seed, adv=number("method.adv", adv, 0),
               rec_method=choice("method.rec_method", rec_method, REC_METHODS),
               hidden=positive_int("method.hidden", hidden), continuous=positive_int("method.continuous", continuous),
               standardise=_pooled_keys(0, standardise)["standardise"])


FACTORIES["tbh"] = tbh
