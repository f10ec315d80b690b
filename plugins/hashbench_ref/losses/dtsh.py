"""DTSH (Wang, Shi and Kitani, ACCV 2016): the likelihood of triplet labels over code inner products.

Paper: X. Wang, Y. Shi, K. M. Kitani, "Deep Supervised Hashing with Triplet Labels", ACCV 2016.
Reference followed: CISiPLab/cisip-FIRe ``functions/loss/dtsh.py`` (``DTSHLoss``) at commit e8826c4
(taken by FIRe from swuxyj/DeepHash-pytorch ``DTSH.py``, which agrees at 15429eb), with FIRe's template
``configs/templates/dtsh.yaml`` (alpha 5, lmbd 1, the ``dpn`` arch: a bias-free linear hash layer).

For every anchor ``i`` of the batch that has at least one positive ``p`` (shares a class; the anchor
itself is one) and one negative ``n``, over all its ``P_i x N_i`` (positive, negative) pairs::

    t_ipn = clamp(u_i . u_p - u_i . u_n - alpha, -100, 50)
    L_i   = mean_{p, n} -(t_ipn - log(1 + exp(t_ipn)))          (= softplus(-t), -log sigmoid(t))
    loss  = mean over the anchors that have both of L_i  +  lmbd * mean((u - sign u)^2)

The inner products are the full ``u_i . u_j`` (the paper writes Theta = u_i . u_j / 2; FIRe and
DeepHash-pytorch drop the 1/2, and so does this module, with FIRe's margin 5 to match). The clamp is
FIRe's: outside [-100, 50] a triplet has no gradient. A batch without any such anchor gives only the
quantisation term (FIRe returns a constant 0 for the likelihood). Multi-label data: positive = share a
class, as FIRe's ``y @ y.T > 0``. No deliberate difference.

Head: ``linear`` (FIRe's ``dpn`` arch has a bias-free linear hash layer, no activation).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from hashbench.contract import HashLoss, LossBatch

__all__ = ["DTSHLoss", "SCORE_CLAMP"]

#: FIRe's clamp of a likelihood score (below, above), in DTSH and DFH.
SCORE_CLAMP = (-100.0, 50.0)


class DTSHLoss(HashLoss):
    """``(codes (B, bits), labels) -> scalar``: the triplet-label likelihood with margin ``alpha`` plus
    ``lmbd`` times the quantisation error; see the module docstring."""

    def __init__(self, num_classes: int, multi_label: bool = False, alpha: float = 5.0, lmbd: float = 1.0) -> None:
        super().__init__(num_classes, multi_label)
        self.alpha = float(alpha)
        self.lmbd = float(lmbd)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, lmbd={self.lmbd}"

    def likelihood(self, codes: torch.Tensor, similar: torch.Tensor) -> torch.Tensor:
        """The mean triplet negative log-likelihood of ``codes`` (B, bits) given ``similar`` (B, B) bool."""
        inner = codes @ codes.T  # (B, B)
        positive = similar.to(inner.dtype)
        negative = 1.0 - positive
        anchors = (positive.sum(dim=1) > 0) & (negative.sum(dim=1) > 0)  # (B,)
        if not bool(anchors.any()):
            return codes.sum() * 0.0  # nothing to learn from, still on the graph
        triple = (inner.unsqueeze(2) - inner.unsqueeze(1) - self.alpha).clamp(*SCORE_CLAMP)  # (B, P, N)
        mask = positive.unsqueeze(2) * negative.unsqueeze(1)  # (B, B, B): p positive and n negative of i
        per_anchor = (F.softplus(-triple) * mask).sum(dim=(1, 2)) / mask.sum(dim=(1, 2)).clamp(min=1.0)
        return per_anchor[anchors].mean()

    def compute_loss(self, batch: LossBatch) -> torch.Tensor:
        u = batch.codes
        quantisation = ((u - u.detach().sign()) ** 2).mean()
        return self.likelihood(u, batch.similarity) + self.lmbd * quantisation
