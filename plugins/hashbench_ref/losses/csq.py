"""Central Similarity Quantization (Yuan et al., "Central Similarity Quantization for Efficient Image and
Video Retrieval", CVPR 2020).

Every class owns a hash centre ``c`` (±1, ``bits``); codes are pulled to the centre of their label by a
bitwise binary cross entropy, plus a small quantisation term. With ``u = tanh(codes)`` (``apply_tanh``)::

    loss = BCE((u + 1) / 2, (c + 1) / 2)  [mean over B x bits]  +  lam * mean((|u| - 1)^2)

Centres (:func:`~hashbench_ref.losses.centres.csq_centres`): the first C rows of ``[H; -H]`` (H the
Sylvester Hadamard matrix of order ``bits``) when ``bits`` is a power of 2 and C <= 2 * bits; otherwise
balanced random rows (bits / 2 entries -1), the first of 20 draws whose minimum pairwise Hamming
distance exceeds bits / 4 with mean >= bits / 2 (else the best draw), from the experiment's seed.
Multi-label data: ``c = sign(y @ centres)``, ties broken by one fixed random {0, 1} vector.

Reference followed: DeepHash-pytorch ``CSQ.py`` (swuxyj/DeepHash-pytorch ab14068): ``u.tanh()``,
``BCELoss`` (its log clamped at -100), ``lambda = 1e-4``, ``label2center``; the centre rule of the CSQ
authors' notebook (yuanli2333/Hadamard-Matrix-for-hashing, ``Tutorial_ hash_center_generation.ipynb``).
Deliberate differences: when C > 2 * bits (or ``bits`` is not a power of 2) all centres are random
(the authors' notebook; DeepHash-pytorch keeps the Hadamard rows and cannot handle e.g. 48 bits) and an
unattainable distance rule keeps the best of the 20 draws instead of the last.

Head: ``linear`` (this loss applies the tanh, as DeepHash-pytorch's nets output linear codes); with
``apply_tanh = false`` use a head whose codes already lie in [-1, 1] (``tanh``, ``scaled_tanh``).
Centres and the tie vector are registered buffers (checkpointed, restored by ``--resume``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from hashbench.contract import HashLoss, LossBatch
from hashbench.errors import ContractError

from .centres import centroid_targets, csq_centres, generator, tie_vector

__all__ = ["CSQLoss"]


class CSQLoss(HashLoss):
    """``(codes (B, bits), labels) -> scalar``: BCE to the class's hash centre + ``lam`` * quantisation.

    ``bits``, ``num_classes``, ``multi_label``: the run's context; ``lam`` the quantisation weight;
    ``apply_tanh`` squash the codes first; ``seed`` draws random centres and the tie vector.
    Buffers: ``centers`` (C, bits) ±1, ``tie`` (bits,) {0, 1}.
    """

    def __init__(self, bits: int, num_classes: int, multi_label: bool = False, lam: float = 1e-4,
                 apply_tanh: bool = True, seed: int = 0) -> None:
        super().__init__(num_classes, multi_label)
        self.bits = int(bits)
        self.lam = float(lam)
        self.apply_tanh = bool(apply_tanh)
        gen = generator(seed)
        self.register_buffer("centers", csq_centres(self.num_classes, self.bits, gen))
        self.register_buffer("tie", tie_vector(self.bits, gen))

    def extra_repr(self) -> str:
        return f"bits={self.bits}, num_classes={self.num_classes}, lam={self.lam}, apply_tanh={self.apply_tanh}"

    def targets_of(self, onehot: torch.Tensor, multi_label: bool) -> torch.Tensor:
        """The hash centre of each clip ``(B, bits)`` ±1 from its one-hot / multi-hot ``(B, C)`` labels."""
        return centroid_targets(onehot, self.centers, self.tie, multi_label)

    def compute_loss(self, batch: LossBatch) -> torch.Tensor:
        codes = batch.codes
        if codes.shape[1] != self.bits:
            raise ContractError(f"CSQLoss: codes have {codes.shape[1]} bits, the centres {self.bits}")
        if self.apply_tanh:
            u = torch.tanh(codes)
        else:
            if codes.numel() and float(codes.detach().abs().max()) > 1.0:
                raise ContractError("CSQLoss with apply_tanh = false needs codes in [-1, 1] (a tanh or"
                                    " scaled_tanh head); set loss.apply_tanh = true after a linear head")
            u = codes
        centre = self.targets_of(batch.onehot, batch.multi_label)
        centre_loss = F.binary_cross_entropy(0.5 * (u + 1.0), 0.5 * (centre + 1.0))
        quantisation = ((u.abs() - 1.0) ** 2).mean()
        return centre_loss + self.lam * quantisation
