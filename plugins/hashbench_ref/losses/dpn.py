"""Deep Polarized Network (Fan et al., "Deep Polarized Network for Supervised Learning of Accurate Binary
Hashing Codes", IJCAI 2020).

Every class owns a random ±1 target vector ``t`` with exactly ``int(bits * p)`` entries -1; every
code bit is pushed past the margin ``m`` on the side of its target's sign (the polarisation loss)::

    loss = mean over B x bits of max(0, m - u * t)

Multi-label data: ``t = sign(y @ targets)``, zeros broken by one fixed random {0, 1} vector (as CSQ).
DPN-A (``adaptive``): a memory bank keeps every training clip's latest code and label (written before
the loss, as the reference); before every epoch after the first, the bank's codes are ternarised in
place, ``U <- (|U| > m) * sign(U)``, and the targets become ``sign(Y^T U)`` (a class whose bits cancel
gets a 0 entry, which then carries no gradient — as the reference). The update is applied at most
once per epoch (a buffer remembers the epoch), so ``--resume`` continues exactly.

Reference followed: DeepHash-pytorch ``DPN.py`` (swuxyj/DeepHash-pytorch ab14068): ``get_target_vectors``
(the last of its 20 draws: one draw here), ``label2center``, ``update_target_vectors`` (called there
after every epoch; here in :meth:`DPNLoss.on_epoch_start` of the next epoch, which is the same
sequence). Not implemented: the ternary ``-T`` variants. Targets come from the experiment's seed.

Head: ``linear`` (DeepHash-pytorch's nets output linear codes; the margin m = 1 expects them unbounded).
"""
from __future__ import annotations

import torch

from hashbench.contract import HashLoss, LossBatch, MemoryBank
from hashbench.errors import ContractError

from .centres import balanced_signs, centroid_targets, generator, tie_vector

__all__ = ["DPNLoss"]


class DPNLoss(HashLoss):
    """``(codes (B, bits), labels[, indices]) -> scalar``: hinge of every bit against its class's target.

    ``m`` the margin, ``p`` the share of -1 entries of a target, ``adaptive`` DPN-A (needs ``indices``
    and ``num_train``: a :class:`~hashbench.contract.MemoryBank` ``bank``), ``seed`` draws the targets.
    Buffers: ``targets`` (C, bits), ``tie`` (bits,) {0, 1}; with ``adaptive`` also ``bank.codes``
    (N, bits), ``bank.labels`` (N, C) and ``updated_epoch`` (the epoch of the last target update).
    """

    def __init__(self, bits: int, num_classes: int, multi_label: bool = False, m: float = 1.0, p: float = 0.5,
                 adaptive: bool = False, seed: int = 0, num_train: int = 0) -> None:
        super().__init__(num_classes, multi_label)
        self.bits = int(bits)
        self.m = float(m)
        self.p = float(p)
        self.adaptive = bool(adaptive)
        # The engine passes indices only to a loss that asks for them: DPN-A does, plain DPN does not.
        self.needs_indices = self.adaptive
        gen = generator(seed)
        self.register_buffer("targets", balanced_signs(self.num_classes, self.bits, int(self.bits * self.p), gen))
        self.register_buffer("tie", tie_vector(self.bits, gen))
        if self.adaptive:
            self.bank = MemoryBank(int(num_train), self.bits, self.num_classes)
            self.register_buffer("updated_epoch", torch.zeros((), dtype=torch.long))

    def extra_repr(self) -> str:
        return (f"bits={self.bits}, num_classes={self.num_classes}, m={self.m}, p={self.p},"
                f" adaptive={self.adaptive}")

    def targets_of(self, onehot: torch.Tensor, multi_label: bool) -> torch.Tensor:
        """The target vector of each clip ``(B, bits)`` from its one-hot / multi-hot ``(B, C)`` labels."""
        return centroid_targets(onehot, self.targets, self.tie, multi_label)

    def compute_loss(self, batch: LossBatch) -> torch.Tensor:
        u = batch.codes
        if u.shape[1] != self.bits:
            raise ContractError(f"DPNLoss: codes have {u.shape[1]} bits, the targets {self.bits}")
        if self.adaptive:
            assert batch.indices is not None  # make_batch enforces it (needs_indices)
            self.bank.update(batch.indices, u, batch.onehot)
        t = self.targets_of(batch.onehot, batch.multi_label)
        return (self.m - u * t).clamp(min=0).mean()

    @torch.no_grad()
    def update_targets(self) -> None:
        """DPN-A: ternarise the bank's codes in place and set ``targets = sign(Y^T U)`` (C, bits)."""
        codes = self.bank.codes
        ternary = (codes.abs() > self.m).to(codes.dtype) * codes.sign()
        codes.copy_(ternary)
        self.targets.copy_((self.bank.labels.T @ ternary).sign())

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        """DPN-A: before epoch ``epoch`` > 1, update the targets from the bank (once per epoch)."""
        if not self.adaptive or epoch <= 1 or int(self.updated_epoch) >= epoch:
            return
        self.update_targets()
        self.updated_epoch.fill_(epoch)
