"""CIBHash (Qiu et al., IJCAI 2021): contrastive information bottleneck hashing. Two views of each video
go through one encoder to bit probabilities; their straight-through signs are pulled together (and away
from the batch's other views) by NT-Xent, and a symmetric KL between the two views' Bernoulli bit
probabilities is the bottleneck.

Paper: Z. Qiu, Q. Su, Z. Ou, J. Yu, C. Chen, "Unsupervised Hashing with Contrastive Information
Bottleneck", IJCAI 2021. FIRe followed: CISiPLab/cisip-FIRe at e8826c4 (``functions/loss/cibhash.py``
``CIBHashLoss`` / ``NtXentLoss``, ``models/architectures/arch_cibhash.py`` ``ArchCIBHash``,
``configs/templates/cibhash.yaml``: beta 0.001, temperature 0.3, ``hash_layer = signhash``, frozen
backbone, batch 64, lr 1e-3). The authors' code (qiuzx2/CIBHash) samples the training codes as
Bernoulli draws of the probabilities (straight-through); FIRe takes their sign (no draw), and FIRe is
followed: its codes are deterministic given the views. With the two views' features x1, x2 (B, D)::

    p_v = sigmoid(MLP(x_v))                   MLP = Linear(D, hidden) - ReLU - Linear(hidden, bits)
    z_v = sign(p_v - 0.5)                     (straight through: identity gradient)
    contrast = NT-Xent(z_1, z_2; temperature)  = 1/(2B) sum_i -log softmax_{j != i}(cos(z_i, z_j) / t)[pos(i)]
                                                 over the 2B codes, pos(i) the other view of i
    kl = (KL(p_1 || p_2.detach()) + KL(p_2 || p_1.detach())) / 2,
         KL(p || q) = mean_rows sum_bits p log((p + 1e-8)/(q + 1e-8)) + (1-p) log((1-p + 1e-8)/(1-q + 1e-8))
    loss = contrast + beta * kl

Defaults = FIRe's template and architecture: ``temperature`` 0.3, ``beta`` 0.001, ``hidden`` 1024 (0: one
linear layer). ``encode`` returns ``p - 0.5`` (FIRe's evaluation output); the code is its sign.

Video adaptation, the two views: FIRe's two image augmentations become two frame samplings of the
frame-feature sequence: :func:`~.ssl.masking.complementary_masks` with ``mask_ratio`` (default 0.5) masks
that share of the T frames in each view (view 1 keeps the first visible frames of a random order, view 2
the last), and each view is the mean of its visible frames, standardised as in
:class:`~.greedyhash_u.PooledHashMethod`. A vector input (B, D) has no frames: each view keeps a random
``1 - mask_ratio`` share of the dimensions (dropout, rescaled). The draws come from the method's own
generator, reseeded from (seed, epoch) in ``on_epoch_start``, so ``--resume`` draws the same views.
Deliberate difference: ``fit`` standardises the features (``standardise``; FIRe feeds raw fc7).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from hashbench.contract import MethodBatch

from ..heads.linear import sign_straight_through
from .greedyhash_u import PooledHashMethod, hash_mlp
from .ssl.masking import complementary_masks

__all__ = ["CIBHash", "bernoulli_kl", "nt_xent"]


def bernoulli_kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """FIRe's ``compute_kl``: mean over rows of the summed per-bit KL(p || q.detach()), eps 1e-8; p, q (B, bits)."""
    q = q.detach()
    kl = p * (torch.log(p + 1e-8) - torch.log(q + 1e-8)) + (1 - p) * (torch.log(1 - p + 1e-8) - torch.log(1 - q + 1e-8))
    return kl.sum(dim=1).mean()


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent over the 2B codes (B, bits) each: cross entropy of the positive against the 2B - 2 others."""
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1, eps=1e-8)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(sim, positives)


class CIBHash(PooledHashMethod):
    """CIBHash (module docstring): ``encode`` -> p - 0.5 (B, bits); ``loss_terms`` / ``training_loss``."""

    def __init__(self, bits: int, feature_dim: int, seed: int = 0, temperature: float = 0.3, beta: float = 0.001,
                 hidden: int = 1024, mask_ratio: float = 0.5, standardise: bool = True) -> None:
        super().__init__(bits, feature_dim, seed, standardise)
        self.temperature, self.beta, self.mask_ratio = float(temperature), float(beta), float(mask_ratio)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.encoder = hash_mlp(feature_dim, bits, hidden)
        self.generator = torch.Generator().manual_seed(self.seed)

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        """Reseed the view generator from (seed, epoch): a resumed run draws the same views."""
        self.generator.manual_seed(self.seed * 1_000_003 + int(epoch))

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """``sigmoid(MLP(x)) - 0.5`` (B, bits) of the pooled standardised features; the code is its sign."""
        return torch.sigmoid(self.encoder(self.features(inputs))) - 0.5

    def views(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Two standardised views (B, D) of frame features (B, T, D) or vectors (B, D) (module docstring)."""
        x = inputs.float()
        if x.dim() == 2:
            keep = 1.0 - self.mask_ratio
            drop = torch.rand(2, *x.shape, generator=self.generator).to(x.device) < keep
            pooled = [x * drop[v] / keep for v in range(2)]
        else:
            visible = ~complementary_masks(x.shape[0], x.shape[1], self.mask_ratio, self.generator).to(x.device)
            pooled = [(x * visible[:, v, :, None]).sum(1) / visible[:, v].sum(1, keepdim=True) for v in range(2)]
        return tuple((v - self.feature_mean) / self.feature_std for v in pooled)  # type: ignore[return-value]

    def terms_given(self, x1: torch.Tensor, x2: torch.Tensor) -> dict[str, torch.Tensor]:
        """``contrast`` and ``kl`` (unweighted) of two standardised views (B, D)."""
        p1, p2 = torch.sigmoid(self.encoder(x1)), torch.sigmoid(self.encoder(x2))
        z1, z2 = sign_straight_through(p1 - 0.5), sign_straight_through(p2 - 0.5)
        return {"contrast": nt_xent(z1, z2, self.temperature),
                "kl": (bernoulli_kl(p1, p2) + bernoulli_kl(p2, p1)) / 2}

    def loss_terms(self, batch: MethodBatch) -> dict[str, torch.Tensor]:
        """The terms of a batch, its two views drawn from the method's generator."""
        return self.terms_given(*self.views(batch.inputs))

    def training_loss(self, batch: MethodBatch) -> torch.Tensor:
        """``contrast + beta * kl`` (a scalar)."""
        terms = self.loss_terms(batch)
        return terms["contrast"] + self.beta * terms["kl"]
