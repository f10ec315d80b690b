"""OrthoArc: OrthoHash's codebook loss with an additive angular (ArcFace) margin, as FIRe defines it.

Paper: J. T. Hoe, K. W. Ng, T. Zhang, C. S. Chan, Y.-Z. Song, T. Xiang, "One Loss for All: Deep Hashing
with a Single Cosine Similarity based Learning Objective", NeurIPS 2021 (the arc-margin variant).
Reference followed: CISiPLab/cisip-FIRe ``functions/loss/orthoarc.py`` (``OrthoArcLoss``) at commit
e8826c4, with its ``orthohash`` arch (``models/layers/cossim.py``: cosines to the class codewords) and
template ``configs/templates/orthoarc.yaml`` (s 8, m 0.2, quan 0, codebook ``cent_init: B`` signed and
fixed, ``hash_fc_output: bn``, label smoothing for multi-label data)::

    cos_ic = <u_i, w_c> / (|u_i| |w_c|)                       (w_c: class c's ±1 codeword)
    logits = s * cos(acos(clamp(cos, -0.99999, 0.99999)) + m * y)
    loss   = CE(logits, class)  |  multi-label: -(y / sum y . log_softmax(logits)).sum(1).mean()
           + quan * Q   (Q of ``quan_type``: "cs" 1 - cos(u, sign u), "l1", "l2"; sign u detached)

This is :class:`~hashbench_ref.losses.orthohash.OrthoHashLoss` with ``margin_type = "arc"`` and FIRe's
scale: the codebook (``centres.bernoulli_codebook``, seeded), the cosines, the margin and the
quantisation are OrthoHash's, not copied. FIRe's ``ce`` weight (1 in every template) is left out.
Deliberate differences are OrthoHash's (the seeded local generator; a multi-label row without a class
contributes 0 instead of NaN). FIRe trains the backbone at 0.1 x the head's lr (not reproduced:
hashbench has one lr for backbone and head).

Head: ``bn`` (Linear without bias + BatchNorm1d, FIRe's ``hash_fc_output: bn``).
"""
from __future__ import annotations

from .orthohash import OrthoHashLoss

__all__ = ["OrthoArcLoss"]


class OrthoArcLoss(OrthoHashLoss):
    """``(codes (B, bits), labels) -> scalar``: OrthoHash's loss with the additive angular margin ``m``
    (``margin_type = "arc"``), scale ``s``; the codebook is OrthoHash's (``codebook`` buffer or Parameter)."""

    def __init__(self, bits: int, num_classes: int, multi_label: bool = False, s: float = 8.0, m: float = 0.2,
                 quan: float = 0.0, quan_type: str = "cs", learn_codebook: bool = False, lr_multiplier: float = 1.0,
                 seed: int = 0) -> None:
        super().__init__(bits, num_classes, multi_label, s=s, m=m, margin_type="arc", quan=quan, quan_type=quan_type,
                         learn_codebook=learn_codebook, lr_multiplier=lr_multiplier, seed=seed)
