"""JMLH: "just maximise likelihood" hashing (Shen, Qin, Chen, Liu, Zhu and Shen, ICCV workshops 2019).

Paper: Y. Shen, J. Qin, J. Chen, L. Liu, F. Zhu, Z. Shen, "Embarrassingly Simple Binary Representation
Learning", ICCV 2019 workshops. Reference followed: CISiPLab/cisip-FIRe ``functions/loss/jmlh.py`` with
the network it is trained with, ``models/architectures/arch_jmlh.py`` and the ``stochasticbin`` layer of
``models/layers/activation.py`` (commit e8826c4; template ``lmbd = 0.1``, ``stochastic_eps = true``).
Written from their behaviour, no code copied.

The head's real-valued codes ``x`` (B, bits) are code logits. With ``q = sigmoid(x)`` and ``eps``
(B, bits) uniform in [0, 1) while training (0.5 at evaluation, or with ``stochastic = false``)::

    b = (sign(q - eps) + 1) / 2              in {0, 1} (1/2 on a tie); backward: d b / d x = q (1 - q)
    logits = b @ W.T + c                                                          (B, C)
    ce = cross entropy of logits (multi-label: against the normalised multi-hot row, FIRe's form)
    kl = mean_i sum_k KL(Bernoulli(q_ik) || Bernoulli(1/2))   (FIRe's form, each log with + 1e-7)
    loss = ce + lmbd * kl

``W``, ``c`` (FIRe's ``ce_fc``, ``Linear(bits, C)`` with bias) are the loss's own parameters (at
``lr * lr_multiplier``, checkpointed). The retrieval code is ``sign(q - 1/2) = sign(x)``, as FIRe's
``jmlh-dist``, so the ``linear`` head is the one to use.

Randomness: ``eps`` is drawn from the loss's own generator (on the CPU, then moved to the codes'
device), reseeded at the start of every epoch from the experiment's seed and the epoch
(:func:`epoch_seed`): a run is deterministic given its seed, and ``--resume`` (which calls
``on_epoch_start``) draws what the uninterrupted run drew. Deliberate differences: FIRe draws
``eps`` from the global generator (``torch.rand_like``); a multi-label row without any class
contributes 0 to the cross entropy (FIRe gives NaN).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from hashbench.contract import HashLoss, LossBatch

from .greedyhash import class_cross_entropy

__all__ = ["JMLHLoss", "epoch_seed", "bernoulli_kl"]

#: FIRe's epsilon inside every log of the KL term.
KL_EPS = 1e-7


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of the generator that draws ``eps`` during (1-based) ``epoch`` of a run seeded ``seed``."""
    return (int(seed) * 1_000_003 + int(epoch)) % (2**63)


def bernoulli_kl(q: torch.Tensor, p: float = 0.5) -> torch.Tensor:
    """``mean_i sum_k KL(Bernoulli(q_ik) || Bernoulli(p))`` of probabilities ``q`` (B, bits), FIRe's form."""
    kl = (q * torch.log(q + KL_EPS) - q * torch.log(torch.tensor(p + KL_EPS))
          + (1 - q) * torch.log(1 - q + KL_EPS) - (1 - q) * torch.log(torch.tensor(1 - p + KL_EPS)))
    return kl.sum(dim=1).mean()


class JMLHLoss(HashLoss):
    """``(codes (B, bits), labels) -> scalar``: cross entropy of ``Linear(bits, C)`` on stochastic binary
    codes + ``lmbd`` * KL to a fair coin; see the module docstring."""

    def __init__(self, bits: int, num_classes: int, multi_label: bool = False, lmbd: float = 0.1,
                 stochastic: bool = True, lr_multiplier: float = 1.0, seed: int = 0) -> None:
        super().__init__(num_classes, multi_label, lr_multiplier)
        self.bits = int(bits)
        self.lmbd = float(lmbd)
        self.stochastic = bool(stochastic)
        self.seed = int(seed)
        self.classifier = nn.Linear(self.bits, self.num_classes)
        self.generator = torch.Generator().manual_seed(epoch_seed(self.seed, 1))

    def extra_repr(self) -> str:
        return (f"bits={self.bits}, num_classes={self.num_classes}, lmbd={self.lmbd},"
                f" stochastic={self.stochastic}, seed={self.seed}, lr_multiplier={self.lr_multiplier}")

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        """Reseed the ``eps`` generator for ``epoch`` (see :func:`epoch_seed`)."""
        self.generator.manual_seed(epoch_seed(self.seed, epoch))

    def thresholds(self, codes: torch.Tensor) -> torch.Tensor:
        """``eps`` (B, bits) for these codes: uniform draws while training and stochastic, else 1/2."""
        if self.training and self.stochastic:
            return torch.rand(codes.shape, generator=self.generator).to(codes.device, codes.dtype)
        return torch.full_like(codes, 0.5)

    def _logits(self, binary: torch.Tensor) -> torch.Tensor:
        return F.linear(binary, self.classifier.weight.float(), self.classifier.bias.float())

    def compute_loss(self, batch: LossBatch) -> torch.Tensor:
        q = torch.sigmoid(batch.codes)  # (B, bits)
        hard = (torch.sign(q - self.thresholds(q)) + 1.0) / 2.0
        binary = hard + (q - q.detach())  # forward: hard; backward: q (1 - q) per bit
        logits = self._logits(binary)  # (B, C)
        return class_cross_entropy(logits, batch) + self.lmbd * bernoulli_kl(q)

    def classify(self, codes: torch.Tensor, features: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Class logits ``(B, C)`` of the classifier on the deterministic code ``(sign(codes) + 1) / 2``
        (``codes`` (B, bits) logits or their sign); ``features`` is not used."""
        return self._logits((torch.sign(codes.float()) + 1.0) / 2.0)
