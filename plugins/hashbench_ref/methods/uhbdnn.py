"""UH-BDNN (Do, Doan & Cheung, ECCV 2016): an unsupervised binary deep network whose codes reconstruct the
features through a linear decoder, stay close to fixed ITQ targets, and are balanced and independent.

Paper: T.-T. Do, A.-D. Doan, N.-M. Cheung, "Learning to Hash with Binary Deep Neural Network", ECCV 2016.
FIRe followed: CISiPLab/cisip-FIRe at e8826c4 (``functions/loss/uhbdnn.py`` ``UHBDNNLoss`` and
``prepare_dataset_from_model``, ``models/architectures/arch_uhbdnn.py`` ``ArchUHBDNN``). With x (B, D) the
features, ``h = L3(sig(L2(sig(L1 x))))`` (B, bits; widths D -> 1024 -> 512 -> bits, sigmoids), the
reconstruction ``r = W_rec h + c_rec`` (B, D), and ``T`` (N, bits) ITQ's real projections of the training
features (FIRe's ``self.B = itq(train_features)[0]``: PCA to ``bits`` dimensions times the learned
rotation, computed once before training), for the rows ``idx`` of the batch::

    reconstruction = MSE(r, x)                                     (mean over B x D)
    quantisation   = MSE(h, T[idx])                                (mean over B x bits)
    independence   = sum_kl ((h^T h / B) - I)_kl^2                 (summed over bits x bits)
    balance        = mean_k (sum_i h_ik)^2
    loss = reconstruction + quan * quantisation + independence * independence + balance * balance

The paper alternates between the network and binary targets ``B = sign(...)`` updated in closed form;
FIRe keeps the targets fixed at ITQ's real-valued projections (not their signs). FIRe is followed
(``binary_targets = true`` takes the signs instead). ITQ is the classic baseline's
(:class:`~.classic.itq.ITQ`, ``itq_iterations`` 50 as FIRe's call; its PCA goes through the fit cache),
which follows the authors' Procrustes update where FIRe's ``ITQLoss`` uses the transposed rotation
(said in :mod:`.classic.itq`); its rotation starts from the method's seed.

Defaults: FIRe has no template for UH-BDNN; its only stated weights are the architecture file's self-test,
``UHBDNNLoss(1, 1, 1)``: ``quan`` 1, ``independence`` 1, ``balance`` 1; ``hidden`` [1024, 512] as
``ArchUHBDNN``. Video adaptation: the frozen backbone's feature is the frame mean of the frame features
(or the vector). Deliberate difference: ``fit`` standardises the features first (``standardise``; both the
ITQ targets and the reconstruction see the standardised features). State: the targets are the buffer
``targets`` (N, bits), sized by fit and restored at that size by ``load_state_dict``; no random draws in
training. ``encode`` returns ``h``; the code is its sign.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hashbench.contract import MethodBatch, pooled_inputs

from .greedyhash_u import PooledHashMethod

__all__ = ["UHBDNN"]


class UHBDNN(PooledHashMethod):
    """UH-BDNN (module docstring): ``encode`` -> h (B, bits); ``loss_terms`` / ``training_loss``."""

    fit_sized = ("targets",)

    def __init__(self, bits: int, feature_dim: int, seed: int = 0, quan: float = 1.0, independence: float = 1.0,
                 balance: float = 1.0, hidden: Sequence[int] = (1024, 512), itq_iterations: int = 50,
                 binary_targets: bool = False, standardise: bool = True) -> None:
        super().__init__(bits, feature_dim, seed, standardise)
        self.quan, self.independence, self.balance = float(quan), float(independence), float(balance)
        self.itq_iterations, self.binary_targets = int(itq_iterations), bool(binary_targets)
        widths = [feature_dim, *[int(w) for w in hidden]]
        layers: list[nn.Module] = []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            for width_in, width_out in zip(widths, widths[1:]):
                layers += [nn.Linear(width_in, width_out), nn.Sigmoid()]
            self.hash_fc = nn.Sequential(*layers, nn.Linear(widths[-1], bits))
            self.rec_fc = nn.Linear(bits, feature_dim)
        self.register_buffer("targets", torch.zeros(0, bits))

    def fit(self, train: Any) -> None:
        """Standardisation (the base's), then ITQ on the standardised frame-mean features: the targets
        (N, bits), ITQ's real projections (or their signs with ``binary_targets``)."""
        from .classic.itq import ITQ

        super().fit(train)
        x = self.features(pooled_inputs(train)).double().numpy()
        itq = ITQ(self.bits, self.seed, iterations=self.itq_iterations)
        itq.fit(x)
        targets = itq.encode(x)
        self.targets = (targets.sign() if self.binary_targets else targets).to(self.targets.device)

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """Real codes h (B, bits); the binary code is sign(h)."""
        return self.hash_fc(self.features(inputs))

    def terms_given(self, x: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """The four terms (unweighted) of standardised features x (B, D) and their targets (B, bits)."""
        h = self.hash_fc(x)
        eye = torch.eye(self.bits, dtype=h.dtype, device=h.device)
        return {"reconstruction": F.mse_loss(self.rec_fc(h), x),
                "quantisation": F.mse_loss(h, targets),
                "independence": F.mse_loss(h.T @ h / h.shape[0], eye, reduction="sum"),
                "balance": h.sum(dim=0).pow(2).mean()}

    def loss_terms(self, batch: MethodBatch) -> dict[str, torch.Tensor]:
        """The terms of a batch; its ``indices`` pick the ITQ targets (fit must have run)."""
        if self.targets.shape[0] == 0:
            raise RuntimeError("UH-BDNN: fit(train) sets the ITQ targets; call it before training")
        return self.terms_given(self.features(batch.inputs), self.targets[batch.indices.to(self.targets.device)])

    def training_loss(self, batch: MethodBatch) -> torch.Tensor:
        """``reconstruction + quan quantisation + independence independence + balance balance`` (a scalar)."""
        t = self.loss_terms(batch)
        return (t["reconstruction"] + self.quan * t["quantisation"] + self.independence * t["independence"]
                + self.balance * t["balance"])
