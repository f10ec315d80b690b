"""AutoSSVH (CVPR 2025): ConMH's masked transformer plus a prototype-contrastive (ProtoNCE) term over k-means
clusterings of the hash codes.

Paper: N. Lian, J. Li et al., "AutoSSVH: Exploring Automated Frame Sampling for Efficient Self-Supervised Video
Hashing", CVPR 2025. Reference followed: EliSpectre/CVPR25-AutoSSVH at bf07c35 (``model/AutoSSVH.py``,
``Loss/AutoSSVH_loss.py`` ``AutoSSVH_criterion`` / ``Loss_CVH``, ``utils/tools.py`` ``run_kmeans``,
``train.py``, ``configs/AutoSSVH_{fcv,act,ucf,hmdb}.py``). The model is :mod:`.conmh`'s (same terms, same
hash layer) with a learned, zero-initialised decoder position embedding. With ``c1``, ``c2`` the two views'
mean codes (B, bits), ``h = normalize(c)`` and, per clustering n of ``clusters`` (k_n centroids)::

    pos = cluster of each video (B,);  neg = min(B, #others) clusters not in pos, drawn at random
    logits = h . normalize(centroids)[pos ; neg]^T / density[pos ; neg]          (B, B + |neg|)
    L_n(h) = cross_entropy(logits, target = arange(B))
    prototype = (mean_n L_n(h1) + mean_n L_n(h2)) / 2            (0 until epoch warmup_epoch + 1)
    loss = reconstruction + a * contrastive + b * prototype

The clusterings are recomputed before every epoch after ``warmup_epoch`` (0-based ``epoch >=
warmup_epoch`` in the reference = 1-based ``epoch > warmup_epoch``) over every training video's
normalised frame-mean code (all frames visible: the reference's ``get_features``). Density of a cluster
with more than one member: ``mean(||x - c||) / log(members + 10)``; others get the largest; clipped to
its 10th-90th percentile and scaled to mean ``kmeans_temperature`` (all equal to it when every distance is 0).

Defaults = FCVID's: ConMH "small", ``mask_ratio`` 0.75, ``a`` 1.0, ``b`` 0.01, ``tau_plus`` 0.1,
``clusters`` [250, 500, 1000], ``warmup_epoch`` 100, ``kmeans_temperature`` 0.2 (ActivityNet 0.5, 0.2,
0.01, 0.05, [250, 400, 600], 100; UCF101 0.5, 1, 0.2, 0.1, [250, 400, 600], 50; HMDB51 0.7, 1, 0.2, 0.1,
[250, 400, 600], 50). Training (Adam, lr 1e-4, StepLR 20 x 0.9) is the experiment's [train] table.

``variant``: ``"released"`` (the default: it produced the published numbers) masks frames at random
(``RandomMaskingGenerator``), as the reference's training path does; its ``SampleNet`` runs only when no
mask is given, which the training loop never does. ``"paper"`` is the paper's automated frame sampling:
each of the two views keeps the ``int(T (1 - mask_ratio))`` frames chosen by the adversarial sampler
(:class:`~.ssl.sampler.FrameSampler`: importance MLP over the embedded frames, Gumbel + N(0, 10^2) noise,
straight-through top-k, gradient reversal), with its own noise per view; the encoder hashes the picked
tokens, the decoder reconstructs the other frames at their own positions, and the terms are as above::

    h = patch_embed(x) + sin_pos;  picked_v, visible_v = sampler(h, noise_v)        (v = 1, 2)
    codes_v = binary_tanh_unit(LN_bits(binary(encoder(picked_v))));  masked frames = ~visible_v
    loss = reconstruction + a * contrastive + b * prototype   (the sampler's parameters get -d loss)

Where paper and code disagree, the sampler module follows the released ``SampleNet`` and the wiring follows
the paper (two sampled views through the same terms, one adversarial training stage): the released
training loop never calls the sampler, and its unused ``mask=None`` path would decode all T frames with
positions in token order. The sampler keeps ``int(T (1 - mask_ratio))`` frames, as ``SampleNet`` (6 of 25
at 0.75; the random masks keep ``T - int(mask_ratio T)``, 7). Its noise comes from the method's generator
(in the masks' place in the draw order: view 1, view 2, then the negatives); ``encode`` uses all frames,
without the sampler, as the reference's ``inference``.

Deliberate differences: (1) the codes k-means clusters come from a bank (buffer ``bank``, kept in the
state dict) of each video's latest normalised full-frame code, written during the previous epoch's steps,
instead of a separate pass over the training set at the epoch's start (that pass would stream the whole
split from disk every epoch; the method gets no data in ``on_epoch_start``). (2) scikit-learn k-means
(k-means++, <= 20 Lloyd iterations, one start, seed = the clustering's index as the reference's) for
faiss-GPU's (20 iterations, 5 restarts). (3) Negatives are drawn from the method's generator (reseeded
per epoch), not Python's ``random``. (4) ``encode``, masks, dropout: as :mod:`.conmh`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from hashbench.contract import MethodBatch

from .conmh import ConMH
from .ssl.binary import binary_tanh_unit, frame_mean
from .ssl.clustering import kmeans
from .ssl.contrastive import debiased_contrastive_loss
from .ssl.masking import masked_frames
from .ssl.sampler import FrameSampler, kept_frames, sampler_noise

__all__ = ["AutoSSVH", "VARIANTS", "cluster_density", "prototype_loss"]

VARIANTS = ("released", "paper")


def cluster_density(features: np.ndarray, centroids: np.ndarray, labels: np.ndarray,
                    temperature: float) -> np.ndarray:
    """Per-cluster concentration (k,) of ``features`` (N, d) assigned ``labels`` to ``centroids`` (k, d):
    mean distance / log(members + 10) for clusters of two or more, the largest for the rest, clipped to the
    10th-90th percentile, scaled to mean ``temperature`` (the reference's ``run_kmeans``)."""
    k = centroids.shape[0]
    dist = np.sqrt(((features - centroids[labels]) ** 2).sum(axis=1))
    counts = np.bincount(labels, minlength=k)
    sums = np.bincount(labels, weights=dist, minlength=k)
    density = np.where(counts > 1, sums / np.maximum(counts, 1) / np.log(counts + 10), 0.0)
    density = np.where(counts > 1, density, density.max())
    density = density.clip(np.percentile(density, 10), np.percentile(density, 90))
    if density.mean() <= 0:  # every code identical (an untrained bank): no spread to scale, all equal
        return np.full(k, float(temperature))
    return temperature * density / density.mean()


def prototype_loss(h: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor, centroids: torch.Tensor,
                   density: torch.Tensor) -> torch.Tensor:
    """ProtoNCE of normalised codes ``h`` (B, bits) against their clusters ``positives`` (B,) and the
    sampled ``negatives`` (S,): cross entropy of ``h . centroids[ids]^T / density[ids]`` to ``arange(B)``."""
    ids = torch.cat([positives, negatives])
    logits = h @ centroids[ids].T / density[ids]
    return F.cross_entropy(logits, torch.arange(h.shape[0], device=h.device))


class AutoSSVH(ConMH):
    """AutoSSVH (module docstring): ConMH's terms plus ``prototype``; ``on_epoch_start`` reclusters."""

    def __init__(self, bits: int, feature_dim: int, num_frames: int, seed: int = 0, num_train: int = 1,
                 clusters: Sequence[int] = (250, 500, 1000), b: float = 0.01, warmup_epoch: int = 100,
                 kmeans_temperature: float = 0.2, variant: str = "released", **transformer: float) -> None:
        super().__init__(bits, feature_dim, num_frames, seed, learned_positions=True, **transformer)
        if variant not in VARIANTS:
            raise ValueError(f"method.variant: one of {', '.join(VARIANTS)}, got {variant!r}")
        if variant == "paper":
            keep = kept_frames(self.mask_ratio, num_frames)
            if not 1 <= keep < num_frames:
                raise ValueError(f"method.mask_ratio = {self.mask_ratio}: the sampler would keep {keep} of "
                                 f"{num_frames} frames; choose a ratio that keeps at least one and masks one")
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed + 1)
                self.sampler = FrameSampler(self.net.patch_embed.out_features, keep)
        self.clusters, self.b, self.warmup_epoch = tuple(int(k) for k in clusters), b, warmup_epoch
        self.kmeans_temperature, self.variant = kmeans_temperature, variant
        self.register_buffer("bank", torch.zeros(num_train, bits))
        self.register_buffer("clustered", torch.zeros((), dtype=torch.bool))
        for n, k in enumerate(self.clusters):
            self.register_buffer(f"im2cluster_{n}", torch.zeros(num_train, dtype=torch.int64))
            self.register_buffer(f"centroids_{n}", torch.zeros(k, bits))
            self.register_buffer(f"density_{n}", torch.ones(k))

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        """Reseed the generator; after ``warmup_epoch``, k-means of the bank into each clustering."""
        super().on_epoch_start(epoch, epochs)
        self.clustered.fill_(epoch > self.warmup_epoch)
        if not bool(self.clustered):
            return
        features = self.bank.detach().cpu().double().numpy()
        for n, k in enumerate(self.clusters):
            fitted = kmeans(features, k, seed=n, max_iter=20)
            density = cluster_density(features, fitted.centroids, fitted.labels, self.kmeans_temperature)
            centroids = F.normalize(torch.from_numpy(fitted.centroids).float(), dim=1)
            getattr(self, f"im2cluster_{n}").copy_(torch.from_numpy(fitted.labels))
            getattr(self, f"centroids_{n}").copy_(centroids)
            getattr(self, f"density_{n}").copy_(torch.from_numpy(density).float())

    def negatives(self, positives: torch.Tensor, k: int) -> torch.Tensor:
        """``min(B, #others)`` cluster ids of the ``k`` that no video of the batch belongs to, in random order."""
        others = torch.ones(k, dtype=torch.bool)
        others[positives.cpu()] = False
        ids = others.nonzero().squeeze(1)
        picked = ids[torch.randperm(ids.numel(), generator=self.generator)[:min(positives.numel(), ids.numel())]]
        return picked.to(positives.device)

    def prototype(self, codes: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """Mean over the clusterings of :func:`prototype_loss` of one view's mean codes (B, bits)."""
        h = F.normalize(codes, dim=1)
        total = h.new_zeros(())
        for n, k in enumerate(self.clusters):
            positives = getattr(self, f"im2cluster_{n}")[indices]
            total = total + prototype_loss(h, positives, self.negatives(positives, k),
                                           getattr(self, f"centroids_{n}"), getattr(self, f"density_{n}"))
        return total / len(self.clusters)

    def sampled_view(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One view whose visible frames the sampler picks from the embedded frames ``h`` (B, T, width):
        (its reconstruction loss, the frame mean of its codes (B, bits)); noise from the generator."""
        noise = sampler_noise(x.shape[0], x.shape[1], self.generator).to(x.device)
        picked, visible = self.sampler(h, noise)
        codes = binary_tanh_unit(self.net.hash_tokens(picked))
        masked = ~visible
        return F.mse_loss(self.net.reconstruct(codes, masked), masked_frames(x, masked)), frame_mean(codes)

    def sampled_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The "paper" variant's terms of frames ``x`` (B, T, D), as :meth:`terms_given` returns them."""
        h = self.net.embed(x)
        rec1, codes1 = self.sampled_view(x, h)
        rec2, codes2 = self.sampled_view(x, h)
        contrastive = debiased_contrastive_loss(codes1, codes2, self.temperature, self.tau_plus)
        return {"reconstruction": rec1 + rec2, "contrastive": contrastive, "codes1": codes1, "codes2": codes2}

    def loss_terms(self, batch: MethodBatch) -> dict[str, torch.Tensor]:
        """``reconstruction``, ``contrastive`` and ``prototype`` (unweighted; 0 before clustering); writes the
        batch's normalised full-frame codes into the bank."""
        x = batch.inputs.float()
        if self.variant == "paper":
            terms = self.sampled_terms(x)
        else:
            terms = self.terms_given(x, self.masks(x.shape[0], x.shape[1]).to(x.device))
        with torch.no_grad():
            full = frame_mean(binary_tanh_unit(self.net.prebinary(x)))
            self.bank[batch.indices.to(self.bank.device)] = F.normalize(full, dim=1).to(self.bank.dtype)
        prototype = x.new_zeros(())
        if bool(self.clustered):
            prototype = (self.prototype(terms["codes1"], batch.indices) +
                         self.prototype(terms["codes2"], batch.indices)) / 2
        return {"reconstruction": terms["reconstruction"], "contrastive": terms["contrastive"],
                "prototype": prototype}

    def training_loss(self, batch: MethodBatch) -> torch.Tensor:
        """``reconstruction + a * contrastive + b * prototype`` (a scalar)."""
        terms = self.loss_terms(batch)
        return terms["reconstruction"] + self.a * terms["contrastive"] + self.b * terms["prototype"]
