"""HashNet (Cao, Long, Wang and Yu, ICCV 2017): weighted pairwise cross entropy with balanced pairs.

Paper: Z. Cao, M. Long, J. Wang, P. S. Yu, "HashNet: Deep Learning to Hash by Continuation", ICCV 2017.
Reference followed: swuxyj/DeepHash-pytorch ``HashNet.py`` at commit 6fe706c (the version with a
memory bank of the training set, ``memory = "bank"``, the default) and at ab14068 (HEAD: pairs within
the batch, ``memory = "batch"``); FIRe's ``functions/loss/hashnet.py`` agrees with both.

The codes ``u`` (B, bits) this loss receives are already ``tanh(beta * x)``: the ``scaled_tanh`` head
applies HashNet's continuation (beta = sqrt(1 + (epoch - 1) // 20), 1-based epochs; the reference's
``(epoch // 20 + 1) ** 0.5`` with 0-based epochs), so pair this loss with that head. With ``V`` the other
side of the pairs (the bank's codes after this batch was written into it, detached, or the batch itself
with the gradient through both sides) and ``s_ij`` = share a label::

    d_ij = alpha * u_i . V_j          e_ij = log(1 + exp(d_ij)) - s_ij * d_ij
    S1 = #{s_ij = 1}, S0 = #{s_ij = 0}, S = S0 + S1
    loss = ( sum_{s_ij=1} e_ij * S / S1 + sum_{s_ij=0} e_ij * S / S0 ) / S

Unseen bank rows (zeros) are negatives with d = 0, as in the reference. S1 or S0 = 0 leaves that group
empty (no division by zero). No deliberate difference (log(1 + exp(.)) is a stable softplus).
"""
from __future__ import annotations

import torch

from hashbench.contract import HashLoss, LossBatch, MemoryBank, choice

from . import MEMORIES

from .pairwise import balanced_pair_loss, bank_on_device

__all__ = ["HashNetLoss"]


class HashNetLoss(HashLoss):
    """``(codes (B, bits) in (-1, 1), labels[, indices (B,)]) -> scalar``; see the module docstring.

    ``memory = "bank"``: ``bank`` (a :class:`MemoryBank` of ``num_train`` rows, checkpointed) and
    ``needs_indices`` is True; ``memory = "batch"``: no bank, no indices.
    """

    needs_indices = True

    def __init__(self, bits: int, num_classes: int, multi_label: bool, num_train: int, alpha: float = 0.1,
                 memory: str = "bank") -> None:
        super().__init__(num_classes, multi_label)
        choice("memory", memory, MEMORIES)
        self.bits = int(bits)
        self.alpha = float(alpha)
        self.memory = memory
        self.needs_indices = memory == "bank"  # read by the engine on the instance
        self.bank = MemoryBank(int(num_train), self.bits, self.num_classes) if memory == "bank" else None

    def extra_repr(self) -> str:
        size = f", num_train={self.bank.size}" if self.bank is not None else ""
        return f"bits={self.bits}, alpha={self.alpha}, memory={self.memory!r}{size}"

    def compute_loss(self, batch: LossBatch) -> torch.Tensor:
        u = batch.codes  # (B, bits), already tanh(beta x)
        if self.bank is None:
            return balanced_pair_loss(self.alpha * (u @ u.T), batch.similarity)
        bank = bank_on_device(self.bank, u.device)
        bank.update(batch.indices, u, batch.onehot)  # before reading the bank, as the reference
        return balanced_pair_loss(self.alpha * (u @ bank.codes.T), bank.similarity(batch.onehot))
