"""ADSH: Asymmetric Deep Supervised Hashing (Jiang and Li, AAAI 2018), as a loss with a database-code bank.

Paper: Q.-Y. Jiang, W.-J. Li, "Asymmetric Deep Supervised Hashing", AAAI 2018. Reference followed: the
authors' jiangqy/ADSH-AAAI2018 ``ADSH_pytorch`` (commit 2e95574: ``ADSH_CIFAR_10.py``,
``utils/adsh_loss.py``). Not FIRe: CISiPLab/cisip-FIRe's ``functions/loss/adsh.py`` is a different
method under the same name (*angular* deep supervised hashing: a cosine-margin classifier with
Hamming-distance terms on its centroids). Written from the authors' behaviour, no code copied.

The database codes ``V`` (N, bits), one per training clip, are variables, not network outputs: only
the queries go through the network. With ``u`` the batch's codes (B, bits) (the ``tanh`` head, as the
authors' networks end), ``c`` = bits, ``gamma`` the quantisation weight, and the soft similarity
``S = s * (1 + r) - r`` (``s`` = share a label, ``r`` = #similar / #dissimilar pairs)::

    loss = ( sum_{i, j} (u_i . V_j - c S_ij)^2 + gamma * sum_i ||V_{idx_i} - u_i||^2 ) / (N B)

and, between epochs (every ``every`` epochs, in ``on_epoch_start``), with ``U`` the latest code of every
clip (a memory bank) and ``S`` over all clips, one sweep of discrete cyclic coordinate descent::

    Q = -2 c S^T U - 2 gamma U
    for k in 1..bits:  V[:, k] = -sign(Q[:, k] + 2 V[:, -k] (U[:, -k]^T U[:, k]))

``V`` starts at zeros (as the authors'). State (buffers, so ``--resume`` restores it exactly): the bank
of codes and labels, ``V``, which clips were seen and the last epoch that updated ``V`` (a second call
for the same epoch, as after ``--resume``, does not update again).

Deliberate differences (the authors sample ``num_samples`` database points as the queries of an outer
iteration and train 3 epochs on them; here a training epoch is the outer iteration and every clip is a
query): ``r`` is computed per batch (the authors: once per outer iteration, over the sampled rows x
the database); the database ``j`` spans the clips seen so far (all of them after the first epoch; the
authors know every label in advance, and while ``V`` is zero the difference is a constant). At
evaluation hashbench encodes the database with the network too (the authors retrieve ``V``).
"""
from __future__ import annotations

import torch

from hashbench.contract import HashLoss, LossBatch, MemoryBank

from .pairwise import bank_on_device

__all__ = ["ADSHLoss", "soft_similarity"]


def soft_similarity(onehot: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The authors' soft similarity ``s (1 + r) - r`` of ``onehot`` (B, C) x ``labels`` (M, C): s = share a
    label, r = #similar / #dissimilar (0 when every pair is similar)."""
    similar = ((onehot @ labels.T) > 0).to(onehot.dtype)
    dissimilar = (1 - similar).sum()
    ratio = similar.sum() / dissimilar if float(dissimilar) > 0 else similar.new_zeros(())
    return similar * (1 + ratio) - ratio


class ADSHLoss(HashLoss):
    """``(codes (B, bits), labels, indices (B,)) -> scalar`` against the database codes ``V``, updated in
    closed form by :meth:`on_epoch_start`; see the module docstring."""

    needs_indices = True

    def __init__(self, bits: int, num_classes: int, multi_label: bool, num_train: int, gamma: float = 200.0,
                 every: int = 1) -> None:
        super().__init__(num_classes, multi_label)
        self.bits, self.gamma, self.every = int(bits), float(gamma), int(every)
        self.bank = MemoryBank(int(num_train), self.bits, self.num_classes)
        self.register_buffer("V", torch.zeros(int(num_train), self.bits))
        self.register_buffer("seen", torch.zeros(int(num_train), dtype=torch.bool))
        self.register_buffer("updated", torch.zeros((), dtype=torch.long))

    def extra_repr(self) -> str:
        return f"bits={self.bits}, num_train={self.bank.size}, gamma={self.gamma}, every={self.every}"

    def compute_loss(self, batch: LossBatch) -> torch.Tensor:
        u = batch.codes  # (B, bits)
        bank = bank_on_device(self.bank, u.device)
        if self.V.device != u.device:
            self.to(u.device)
        bank.update(batch.indices, u, batch.onehot)
        self.seen[batch.indices] = True
        rows = self.seen.nonzero().flatten()
        similarity = soft_similarity(batch.onehot, bank.labels[rows])  # (B, M)
        square = (u @ self.V[rows].T - self.bits * similarity).pow(2).sum()
        quantisation = (self.V[batch.indices] - u).pow(2).sum()
        return (square + self.gamma * quantisation) / (self.bank.size * batch.size)

    @torch.no_grad()
    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        """Update ``V`` of the clips seen so far (one DCC sweep) before epochs 1 + every, 1 + 2 every, ..."""
        if epoch < 2 or (epoch - 1) % self.every or epoch <= int(self.updated):
            return
        rows = self.seen.nonzero().flatten()
        if rows.numel() == 0:
            return
        codes = self.bank.codes[rows].double()  # (M, bits)
        labels = self.bank.labels[rows].double()
        q = -2 * self.bits * soft_similarity(labels, labels).T @ codes - 2 * self.gamma * codes
        v = self.V[rows].double()
        for k in range(self.bits):
            rest = [j for j in range(self.bits) if j != k]
            v[:, k] = -torch.sign(q[:, k] + 2 * v[:, rest] @ (codes[:, rest].T @ codes[:, k]))
        self.V[rows] = v.to(self.V.dtype)
        self.updated.fill_(epoch)
