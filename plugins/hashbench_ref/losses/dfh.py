"""DFH (Li, Pei, Zha and van Gemert, BMVC 2019): a margin likelihood over a memory bank, plus quantisation
towards codes pulled to discrete class centres learned by cyclic coordinate descent.

Paper: Y. Li, W. Pei, Y. Zha, J. van Gemert, "Push for Quantization: Deep Fisher Hashing", BMVC 2019.
Reference followed: CISiPLab/cisip-FIRe ``functions/loss/dfh.py`` (``DFHLoss``) at commit e8826c4,
template ``configs/templates/dfh.yaml`` (mu 1, vul 1, m 1, eta 0.5, ``keep_train_size``: a bank of the
whole training split; the ``dpn`` arch's bias-free linear hash layer). FIRe took it from
swuxyj/DeepHash-pytorch ``DFH.py``, which differs at 15429eb: there the centres are the sign of
real-valued centres moved by 200 gradient steps per batch (FIRe keeps that as the unused
``center_gradient``) and its defaults are m 3, mu 0.1. FIRe's discrete update is followed here, because
FIRe is the protocol this family is measured under; the authors' own code was not compared.

State: the bank (every training clip's latest code ``U_j`` and label ``Y_j``, zeros until seen) and the
class centres ``c_k`` (C, bits) in {-1, 0, +1}, zeros at the start (FIRe's ``sign`` of a zero matrix).
One batch, in FIRe's order, with ``y_i`` the label rows and ``u_i`` the codes::

    bank[ind] <- (u, y)                                          (detached)
    b_i  = sign(mu * sum_k y_ik c_k + u_i)                       (the centres before this batch; no gradient)
    for k = 1 .. C (each row uses the rows already updated):     (discrete cyclic coordinate descent)
        c_k = sign( sum_i y_ik b_i - sum_{l != k} (sum_i y_ik y_il) c_l - vul * sum_{l != k} c_l )
    theta_ij = clamp(u_i . U_j / 2, -100, 50)
    metric   = mean_{i, j} [ s_ij log(1 + exp(m - theta_ij)) + (1 - s_ij) log(1 + exp(m + theta_ij)) ]
    loss     = metric + eta * mean((b - u)^2)

``s_ij`` = share a class (unseen bank rows are negatives with theta = 0, as in FIRe). ``sign(0) = 0``
is kept, as in FIRe. FIRe's ``nta`` and its gradient-based centre update (``center_gradient``) are
unused in its training path and are left out. log(1 + exp(.)) is a stable softplus. One addition:
``weighting = "balanced"`` (not FIRe's, which takes the plain mean, the default) averages the similar
and the dissimilar pairs' terms separately and adds them, as HashNet weights pairs (``dpsh``/``dbdh``
offer the same): on many classes the plain mean is dominated by dissimilar pairs.

Head: ``linear``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from hashbench.contract import HashLoss, LossBatch, MemoryBank

from .dtsh import SCORE_CLAMP
from .pairwise import bank_on_device, pair_mean

__all__ = ["DFHLoss"]


class DFHLoss(HashLoss):
    """``(codes (B, bits), labels, indices (B,)) -> scalar``; see the module docstring. State: ``bank``
    (a :class:`MemoryBank` of ``num_train`` rows) and ``centres`` (C, bits), both checkpointed."""

    needs_indices = True

    def __init__(self, bits: int, num_classes: int, multi_label: bool, num_train: int, mu: float = 1.0,
                 vul: float = 1.0, m: float = 1.0, eta: float = 0.5, weighting: str = "mean") -> None:
        super().__init__(num_classes, multi_label)
        self.bits = int(bits)
        self.mu, self.vul, self.m, self.eta = float(mu), float(vul), float(m), float(eta)
        self.weighting = weighting
        self.bank = MemoryBank(int(num_train), self.bits, self.num_classes)
        self.register_buffer("centres", torch.zeros(self.num_classes, self.bits))

    def extra_repr(self) -> str:
        return (f"bits={self.bits}, mu={self.mu}, vul={self.vul}, m={self.m}, eta={self.eta},"
                f" num_train={self.bank.size}, weighting={self.weighting!r}")

    @torch.no_grad()
    def update_centres(self, onehot: torch.Tensor, targets: torch.Tensor) -> None:
        """One sweep of discrete cyclic coordinate descent over the centres, in place, from the labels
        ``onehot`` (B, C) and the batch's binary targets ``targets`` (B, bits)."""
        pulls = onehot.T @ targets   # (C, bits): sum of the targets of each class's clips
        overlap = onehot.T @ onehot  # (C, C): clips shared by two classes
        for k in range(self.num_classes):
            others = torch.ones(self.num_classes, dtype=self.centres.dtype, device=self.centres.device)
            others[k] = 0.0
            weights = (overlap[k] + self.vul) * others  # (C,): zero on k itself
            self.centres[k] = torch.sign(pulls[k] - weights @ self.centres)

    def compute_loss(self, batch: LossBatch) -> torch.Tensor:
        u, onehot = batch.codes, batch.onehot
        bank = bank_on_device(self.bank, u.device)
        if self.centres.device != u.device:
            self.centres = self.centres.to(u.device)
        bank.update(batch.indices, u, onehot)  # before reading the bank, as FIRe
        targets = torch.sign(self.mu * onehot @ self.centres + u.detach())  # (B, bits)
        self.update_centres(onehot, targets)
        theta = (0.5 * u @ bank.codes.T).clamp(*SCORE_CLAMP)  # (B, N)
        similar = bank.similarity(onehot).to(theta.dtype)
        errors = similar * F.softplus(self.m - theta) + (1.0 - similar) * F.softplus(self.m + theta)
        metric = pair_mean(errors, similar > 0, self.weighting)
        return metric + self.eta * ((targets - u) ** 2).mean()
