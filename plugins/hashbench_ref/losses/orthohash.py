"""OrthoHash (Hoe et al., "One Loss for All: Deep Hashing with a Single Cosine Similarity based Learning
Objective", NeurIPS 2021).

Every class owns a random ±1 codeword (a near-orthogonal codebook ``W`` (C, bits), Bernoulli(0.5));
the logits are the cosines between the code and every codeword, and a cosine-margin cross entropy
(CosFace / ArcFace style) pulls the code to its class's codeword::

    cos_ic   = <u_i, w_c> / (|u_i| |w_c|)
    logits   = s * (cos - m * y)                                (margin_type = "cos")
             = s * cos(acos(clamp(cos, -0.99999, 0.99999)) + m * y)   (margin_type = "arc")
    loss     = CE(logits, class)   |  multi-label: -(y / sum y . log_softmax(logits)).sum(1).mean()
             + quan * Q,  Q = mean(1 - cos(u, sign u))  ("cs"), mean|u - sign u| ("l1"), mean (u - sign u)^2 ("l2")

(``sign u`` detached, as the authors). ``y`` is the one-hot or multi-hot row; multi-label data uses
the authors' default "label smoothing" form (the normalised multi-hot row as the target).

Reference followed: the authors' kamwoh/orthohash (94c4a03) ``functions/loss/orthohash.py``
(``OrthoHashLoss``), ``models/alexnet.py`` (``CosSim``, the hash layer Linear(bias=False, N(0, 0.01))
+ BatchNorm1d) and ``scripts/train_hashing.py`` (codebook ``B``: ``bernoulli(0.5) * 2 - 1``, fixed);
FIRe's ``orthocos``/``orthoarc`` agree. Deliberate differences: the codebook is drawn from the
experiment's seed with a local generator; a multi-label row with no class contributes 0 instead of NaN.
``learn_codebook`` makes the codebook a parameter (optimised at ``lr * lr_multiplier``; the authors keep
it fixed). The authors train the backbone at 0.1 x the head's lr (not reproduced here: hashbench has one
lr for backbone and head).

Head: ``bn`` (Linear without bias + BatchNorm1d, OrthoHash's ``hash_fc``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hashbench.contract import HashLoss, LossBatch, choice
from hashbench.errors import ContractError

from . import ORTHO_MARGINS, QUANTISATION_TYPES
from .centres import bernoulli_codebook, generator

__all__ = ["OrthoHashLoss"]

ARC_CLAMP = 0.99999


class OrthoHashLoss(HashLoss):
    """``(codes (B, bits), labels) -> scalar``: cosine-margin cross entropy against a ±1 codebook.

    ``s`` scale, ``m`` margin, ``margin_type`` "cos" / "arc", ``quan`` weight of the quantisation term of
    type ``quan_type`` ("cs", "l1", "l2"), ``learn_codebook`` train the codebook (a Parameter, at
    ``lr * lr_multiplier``), ``seed`` draws it. ``codebook`` (C, bits) is a buffer or a Parameter.
    """

    def __init__(self, bits: int, num_classes: int, multi_label: bool = False, s: float = 8.0, m: float = 0.2,
                 margin_type: str = "cos", quan: float = 0.0, quan_type: str = "cs", learn_codebook: bool = False,
                 lr_multiplier: float = 1.0, seed: int = 0) -> None:
        super().__init__(num_classes, multi_label, lr_multiplier)
        choice("margin_type", margin_type, ORTHO_MARGINS)
        choice("quan_type", quan_type, QUANTISATION_TYPES)
        self.bits = int(bits)
        self.s = float(s)
        self.m = float(m)
        self.margin_type = margin_type
        self.quan = float(quan)
        self.quan_type = quan_type
        self.learn_codebook = bool(learn_codebook)
        codebook = bernoulli_codebook(self.num_classes, self.bits, generator(seed))
        if self.learn_codebook:
            self.codebook = nn.Parameter(codebook)
        else:
            self.register_buffer("codebook", codebook)

    def extra_repr(self) -> str:
        return (f"bits={self.bits}, num_classes={self.num_classes}, s={self.s}, m={self.m},"
                f" margin_type={self.margin_type!r}, quan={self.quan}, quan_type={self.quan_type!r},"
                f" learn_codebook={self.learn_codebook}")

    def cosines(self, codes: torch.Tensor) -> torch.Tensor:
        """``(B, C)`` cosine similarity between each code ``(B, bits)`` and each codeword."""
        return F.normalize(codes, dim=1) @ F.normalize(self.codebook, dim=1).T

    def margin_logits(self, cos: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        """``(B, C)`` scaled logits with the margin ``m`` on the label entries of ``onehot`` ``(B, C)``."""
        margin = self.m * onehot
        if self.margin_type == "cos":
            return self.s * (cos - margin)
        return self.s * torch.cos(torch.acos(cos.clamp(-ARC_CLAMP, ARC_CLAMP)) + margin)

    def quantisation(self, codes: torch.Tensor) -> torch.Tensor:
        """The quantisation term of ``quan_type`` (a scalar); ``sign(codes)`` is detached."""
        target = codes.detach().sign()
        if self.quan_type == "cs":
            return (1.0 - F.cosine_similarity(codes, target, dim=1)).mean()
        if self.quan_type == "l1":
            return (codes - target).abs().mean()
        return ((codes - target) ** 2).mean()

    def compute_loss(self, batch: LossBatch) -> torch.Tensor:
        codes = batch.codes
        if codes.shape[1] != self.bits:
            raise ContractError(f"OrthoHashLoss: codes have {codes.shape[1]} bits, the codebook {self.bits}")
        logits = self.margin_logits(self.cosines(codes), batch.onehot)
        if batch.multi_label:
            weights = batch.onehot / batch.onehot.sum(dim=1, keepdim=True).clamp(min=1.0)
            loss = -(weights * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
        else:
            assert batch.class_ids is not None
            loss = F.cross_entropy(logits, batch.class_ids)
        if self.quan != 0.0:
            loss = loss + self.quan * self.quantisation(codes)
        return loss
