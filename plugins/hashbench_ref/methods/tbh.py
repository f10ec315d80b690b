"""TBH (Shen et al., CVPR 2020): auto-encoding twin-bottleneck hashing. An encoder gives a binary bottleneck
(the code) and a continuous one; a graph built from the codes' Hamming distances in the batch (adaptive:
it changes as the codes learn) propagates the continuous bottleneck through one graph convolution, and
the decoder reconstructs the features from it. Two discriminators regularise the bottlenecks
adversarially towards Bernoulli(0.5) codes and uniform continuous values.

Paper: Y. Shen, J. Qin, J. Chen, M. Yu, L. Liu, F. Zhu, F. Shen, L. Shao, "Auto-Encoding Twin-Bottleneck
Hashing", CVPR 2020. FIRe followed: CISiPLab/cisip-FIRe at e8826c4 (``functions/loss/tbh.py``
``TBHLoss``, ``models/architectures/arch_tbh.py`` ``ArchTBH``, ``scripts/train_adversarial.py``,
``configs/templates/tbh.yaml``: adv 1, rec_method element, ``hash_layer = stochasticbin``, frozen
backbone). With x (B, D) the features::

    f = ReLU(W1 x);  l = W21 f (B, bits);  c = W22 f (B, continuous)
    b = step(sigmoid(l) - 0.5) in {0, 1}     (FIRe's stochasticbin with eps fixed at 0.5: no draw;
                                              gradient: sigmoid'(l) times the code's gradient)
    A_ij = (1 - |b_i (b_j - 1)^T + (b_i - 1) b_j^T| / bits)^1.4                     (1 - Hamming / bits)^1.4
    L = D^-1/2 A D^-1/2, D = diag(A 1 + 1e-8);  g = sigmoid(L (Wg c + cg));  x' = W4 ReLU(W3 g)
    reconstruction = 0.5 sum (x' - x)^2 / divisor        (rec_method: element 1, batch B, all B D)
    adversarial    = BCE(d1(b), 1) + BCE(d1(bernoulli(0.5)), 0) + BCE(d2(g), 1) + BCE(d2(uniform), 0)
    actor  = reconstruction - adv * adversarial          (FIRe: backward into encoder, graph, decoder only)
    critic = adv * adversarial                           (FIRe: backward into the discriminators only)

FIRe steps two Adam optimisers, one per loss; here ``training_loss`` is one scalar whose gradient is
exactly that split: ``reconstruction - adv * A(frozen discriminators) + adv * A(detached inputs)`` (its
value is FIRe's ``actor + critic`` = reconstruction), stepped by the run's one optimiser (the same update
when both optimisers are the same, as FIRe's one ``lr``). d1, d2 are one Linear + sigmoid each (FIRe's and
the authors' code; the paper has a hidden layer). The authors' code (ymcidence/TBH, TensorFlow) draws
the code threshold uniformly per bit; FIRe fixes it at 0.5, and FIRe is followed. ``encode`` returns
``sigmoid(l) - 0.5`` (FIRe's evaluation output is sigmoid(l)); the code is its sign.

Defaults = FIRe's architecture and template: ``hidden`` 1024, ``continuous`` 512, ``adv`` 1,
``rec_method`` element. The graph is rebuilt from each batch's codes (no state between batches, as in
FIRe); the state is the weights and fit's standardisation. Video adaptation: the frozen backbone's
feature is the frame mean of the frame features, standardised (``standardise``; as
:class:`~.greedyhash_u.PooledHashMethod`), and it is what the decoder reconstructs. The discriminators'
fake samples come from the method's own generator, reseeded from (seed, epoch) in ``on_epoch_start``
(``--resume`` draws the same ones).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hashbench.contract import MethodBatch

from .greedyhash_u import PooledHashMethod

__all__ = ["TBH", "hamming_adjacency", "normalised_adjacency"]

#: the divisor of the reconstruction sum per ``rec_method``
REC_METHODS = ("element", "batch", "all")


class _ThresholdBinary(torch.autograd.Function):
    """``step(sigmoid(l) - 0.5)`` forward (0 or 1), ``sigmoid'(l) * grad`` backward (FIRe's stochasticbin)."""

    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        prob = torch.sigmoid(logits)
        ctx.save_for_backward(prob)
        return (torch.sign(prob - 0.5) + 1.0) / 2.0

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        prob, = ctx.saved_tensors
        return prob * (1 - prob) * grad


def hamming_adjacency(b: torch.Tensor) -> torch.Tensor:
    """``(1 - |b (b - 1)^T + (b - 1) b^T| / bits)^1.4`` (B, B) of {0, 1} codes b (B, bits): self-connected."""
    m = b - 1.0
    return (1.0 - (b @ m.T + m @ b.T).abs() / b.shape[1]).pow(1.4)


def normalised_adjacency(adjacency: torch.Tensor) -> torch.Tensor:
    """``D^-1/2 A D^-1/2`` with ``D = diag(A 1 + 1e-8)`` (B, B)."""
    d = (adjacency.sum(dim=1, keepdim=True) + 1e-8).pow(-0.5)
    return d * adjacency * d.T


def _adversarial(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    """Sum over the discriminators of ``BCE(real, 1) + BCE(fake, 0)`` (each a batch mean)."""
    return sum(F.binary_cross_entropy(r, torch.ones_like(r)) + F.binary_cross_entropy(f, torch.zeros_like(f))
               for r, f in zip(real, fake))  # type: ignore[return-value]


class TBH(PooledHashMethod):
    """TBH (module docstring): ``encode`` -> sigmoid(l) - 0.5 (B, bits); ``loss_terms`` / ``training_loss``."""

    def __init__(self, bits: int, feature_dim: int, seed: int = 0, adv: float = 1.0, rec_method: str = "element",
                 hidden: int = 1024, continuous: int = 512, standardise: bool = True) -> None:
        super().__init__(bits, feature_dim, seed, standardise)
        if rec_method not in REC_METHODS:
            raise ValueError(f"rec_method: one of {', '.join(REC_METHODS)}, got {rec_method!r}")
        self.adv, self.rec_method = float(adv), rec_method
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.encoder = nn.Sequential(nn.Linear(feature_dim, hidden), nn.ReLU())
            self.binary_fc = nn.Linear(hidden, bits)
            self.continuous_fc = nn.Linear(hidden, continuous)
            self.gcn = nn.Linear(continuous, continuous)
            self.decoder = nn.Sequential(nn.Linear(continuous, hidden), nn.ReLU(), nn.Linear(hidden, feature_dim))
            self.disc_binary = nn.Linear(bits, 1)
            self.disc_continuous = nn.Linear(continuous, 1)
        self.generator = torch.Generator().manual_seed(self.seed)

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        """Reseed the fake-sample generator from (seed, epoch): a resumed run draws the same samples."""
        self.generator.manual_seed(self.seed * 1_000_003 + int(epoch))

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """``sigmoid(l) - 0.5`` (B, bits); the binary code is its sign."""
        return torch.sigmoid(self.binary_fc(self.encoder(self.features(inputs)))) - 0.5

    def fakes(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The discriminators' fake samples: Bernoulli(0.5) codes (batch, bits), then uniform (batch, continuous)."""
        codes = torch.bernoulli(torch.full((batch, self.bits), 0.5), generator=self.generator)
        return codes, torch.rand(batch, self.gcn.in_features, generator=self.generator)

    def _parts(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor], list, list]:
        f = self.encoder(x)
        b = _ThresholdBinary.apply(self.binary_fc(f))
        g = torch.sigmoid(normalised_adjacency(hamming_adjacency(b)) @ self.gcn(self.continuous_fc(f)))
        divisor = {"element": 1, "batch": x.shape[0], "all": x.numel()}[self.rec_method]
        reconstruction = 0.5 * (self.decoder(g) - x).pow(2).sum() / divisor
        fake_b, fake_c = (t.to(x.device) for t in self.fakes(x.shape[0]))
        discs = (self.disc_binary, self.disc_continuous)
        frozen = [torch.sigmoid(F.linear(v, d.weight.detach(), d.bias.detach())) for v, d in zip((b, g), discs)]
        critic = [torch.sigmoid(d(v.detach())) for v, d in zip((b, g), discs)]
        fake = [torch.sigmoid(d(v)) for v, d in zip((fake_b, fake_c), discs)]
        terms = {"reconstruction": reconstruction, "adversarial": _adversarial(critic, fake)}
        return reconstruction, terms, frozen, fake

    def loss_terms(self, batch: MethodBatch) -> dict[str, torch.Tensor]:
        """``reconstruction`` and ``adversarial`` (unweighted; the discriminators' fakes drawn from the generator)."""
        return self._parts(self.features(batch.inputs))[1]

    def training_loss(self, batch: MethodBatch) -> torch.Tensor:
        """``actor + critic`` with FIRe's gradient split (module docstring); its value is the reconstruction."""
        reconstruction, terms, frozen, fake = self._parts(self.features(batch.inputs))
        actor = reconstruction - self.adv * _adversarial(frozen, [f.detach() for f in fake])
        return actor + self.adv * terms["adversarial"]
