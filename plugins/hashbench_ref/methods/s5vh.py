"""S5VH (Wang et al., AAAI 2025): ConMH's masked-frame autoencoder with bidirectional Mamba blocks, and a
cross-entropy of the views' mean codes to k-means pseudo-labels through a cluster classifier whose rows
are meant to be hash centres optimised up front.

Paper: J. Wang, Y. Wang, Z. Zeng, B. Chen, S.-T. Xia, "Efficient Self-Supervised Video Hashing with
Selective State Spaces" (S5VH), AAAI 2025. Reference followed: gimpong/AAAI25-S5VH at 4926cb7
(``model/S5VH.py`` ``S5VH_Model`` "small", ``Loss/S5VH_loss.py`` ``S5VH_criterion``,
``dataset/S5VH_dataset.py``, ``preprocess.py``, ``utils/tools.py``, ``configs/S5VH/{fcv,act,ucf,hmdb}.py``).
With frames ``x`` (B, T, D) and two complementary masks per video (``mask_ratio``)::

    encoder(x, m) = head(LN(bimamba_blocks(patch_embed(x) + sin_pos)[visible frames of m]))
    codes(x, m)   = binary_tanh_unit(LN_bits(binary(encoder(x, m))))          (B, V, bits), +-1
    reconstruction = MSE(recon(x, m1), x[m1]) + MSE(recon(x, m2), x[m2])     (ConMH's decoder, Mamba blocks)
    contrastive    = DCL(mean_t codes(x, m1), mean_t codes(x, m2); temperature, tau_plus)
    cluster        = 1/2 sum_v CE(classifier(mean_t codes(x, m_v)) / (bits * temperature_cluster), y)
    loss           = reconstruction + alpha * contrastive + a_cluster * cluster

A block is ``x + drop_path(mamba(LN(x)) + flip(mamba'(LN'(flip(x)))))`` (LayerNorm eps 1e-6)
(:class:`~.ssl.mamba.BiMambaBlock`, d_state 16, d_conv 4, expand 2), drop-path rates
``linspace(0, drop_path, depth)`` per stack (the decoder's single block: 0). ``y`` (the ``cluster_labels``
bank, one row per training video) starts as the one-hot of each video's nearest k-means centroid; for
epochs after ``warm_up_epoch`` (1-based here; the reference's ``epoch < 50`` is 0-based) each batch first
updates its rows, ``y <- (1 - smoothing) y + smoothing softmax(classifier(mean_t code(x)))``, with the code of
all frames (train mode, no gradient), and the cross-entropy uses the updated rows.

Preprocessing (``fit``, CPU, cached with :func:`hashbench.data.memo`): frame-mean features -> PCA to
``pca_dim`` -> k-means into ``clusters`` (:func:`~.ssl.clustering.kmeans`) -> pseudo-labels (nearest
centroid) and hash centres (:mod:`~.ssl.centres`: CSQ Hadamard start refined against the centroids,
``centre_sweeps`` sweeps), kept as buffers ``pseudo_labels``, ``cluster_labels``, ``hash_centres``.

``variant`` (the released code differs from the paper): ``"released"`` (default: it produced the
published numbers) shares one Mamba between the two directions of every block (``Block.forward`` assigns
``mamba2 = mamba1``), leaves the classifier at PyTorch's default initialisation (``classifier.data =
hash_center`` sets a plain attribute, so the centres have no effect) and predicts the soft labels without
the code LayerNorm (``get_label_pred`` skips ``ln``); ``"paper"`` keeps two Mambas, initialises the
classifier's rows with the hash centres and predicts through ``ln``. Initialisation as the reference:
every Linear of the encoder and decoder stacks (the Mambas' projections included, so the dt bias starts
at 0) is Xavier-uniform with zero bias; ``binary``, ``ln``, ``e2d`` and the classifier keep PyTorch's
defaults; the mask token is a normal of std 0.02 truncated at +-0.02.

Defaults = the paper's "small" model and FCVID settings: depth 6, width 256, decoder depth 1, width 192,
``drop_path`` 0.5, ``mask_ratio`` 0.75, ``alpha`` 2.5, ``a_cluster`` 0.01, ``clusters`` 450, ``tau_plus``
0.1, ``temperature`` 0.5, ``temperature_cluster`` 0.5, ``warm_up_epoch`` 50, ``smoothing`` 0.01,
``pca_dim`` 512 (ActivityNet: 0.5, 0.2, 0.001, 100, 0.05; UCF101: 0.5, 1.0, 0.1, 101, 0.1; HMDB51: 0.5,
1.0, 0.1, 100, 0.05, ``pca_dim`` 1024). Training (AdamW, lr 5e-4, betas (0.9, 0.999), weight decay 1e-4,
cosine to 1e-5 over the epochs; batch 512 / 500 epochs FCVID, 128 / 350 the others) is the experiment's
[train] table.

Deliberate differences: (1) one seeded scikit-learn k-means gives both the pseudo-labels and the semantic
centroids of the hash centres (the reference runs its own 16-step Lloyd k-means for the labels and a
faiss-GPU k-means for the centroids, so its centre i need not belong to cluster i); the PCA is exact
(covariance eigenvectors) and ``pca_dim`` is capped at min(N, D). (2) Masks and drop-path draws come from
the method's generator, reseeded from (seed, epoch) in ``on_epoch_start``. (3) The bank is float32 (the
reference: float64 in its dataset). (4) ``encode`` breaks exact ties as ConMH's does. (5) The Mamba scan
is the pure-PyTorch one (:mod:`~.ssl.scan`), never the CUDA kernel; the unused ``get_token_probs`` and
the ablation back-ends are left out. (6) The reference's dropout rate is unused by its blocks; no key.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from hashbench.contract import MethodBatch, pooled_inputs
from hashbench.data import data_digest, memo
from hashbench.errors import ContractError, DataError

from .classic import as_matrix, pca_fit, project
from .conmh import ConMH
from .ssl.binary import binary_tanh_unit, frame_mean
from .ssl.centres import hadamard_start, optimise_centres
from .ssl.clustering import kmeans
from .ssl.mamba import BiMambaBlock

__all__ = ["S5VH", "VARIANTS"]

VARIANTS = ("released", "paper")
#: Part of the fit cache's keys: bump when a stage's computation changes.
CACHE_CODE = 1


class S5VH(ConMH):
    """S5VH (module docstring): ``fit`` (PCA, k-means, hash centres), ``encode`` (B, T, D) -> (B, bits),
    ``loss_terms`` / ``training_loss``, ``on_epoch_start`` (masks, drop path, warm-up)."""

    def __init__(self, bits: int, feature_dim: int, num_frames: int, seed: int = 0, num_train: int = 0,
                 depth: int = 6, width: int = 256, decoder_depth: int = 1, decoder_width: int = 192,
                 d_state: int = 16, drop_path: float = 0.5, mask_ratio: float = 0.75, alpha: float = 2.5,
                 temperature: float = 0.5, tau_plus: float = 0.1, a_cluster: float = 0.01,
                 temperature_cluster: float = 0.5, clusters: int = 450, pca_dim: int = 512,
                 warm_up_epoch: int = 50, smoothing: float = 0.01, centre_sweeps: int = 20,
                 variant: str = "released", scan: str = "fused") -> None:
        super().__init__(bits, feature_dim, num_frames, seed, depth=0, width=width, heads=1, decoder_depth=0,
                         decoder_width=decoder_width, decoder_heads=1, mask_ratio=mask_ratio, a=alpha,
                         temperature=temperature, tau_plus=tau_plus)
        self.variant, self.clusters, self.pca_dim = variant, int(clusters), int(pca_dim)
        self.a_cluster, self.temperature_cluster = a_cluster, temperature_cluster
        self.warm_up_epoch, self.smoothing, self.centre_sweeps = int(warm_up_epoch), smoothing, int(centre_sweeps)
        self.epoch = 1
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + 1)
            self.net.blocks = self._stack(width, depth, drop_path, d_state, scan)
            self.net.decoder = self._stack(decoder_width, decoder_depth, drop_path, d_state, scan)
            self.classifier = nn.Linear(bits, self.clusters, bias=False)
        self.register_buffer("pseudo_labels", torch.zeros(num_train, dtype=torch.int64))
        self.register_buffer("cluster_labels", torch.zeros(num_train, self.clusters))
        self.register_buffer("hash_centres", torch.zeros(self.clusters, bits))

    def _stack(self, dim: int, depth: int, drop_path: float, d_state: int, scan: str) -> nn.Sequential:
        """``depth`` bidirectional Mamba blocks, drop-path rates ``linspace(0, drop_path, depth)``,
        Xavier-initialised; their drop-path draws come from the method's generator."""
        rates = [float(r) for r in torch.linspace(0, drop_path, depth)]
        stack = nn.Sequential(*[BiMambaBlock(dim, self.variant == "released", r, d_state, scan, 1e-6)
                               for r in rates])
        for m in stack.modules():  # the reference's _init_weights over its encoder and decoder
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        for block in stack:
            block.generator = self.generator
        return stack

    def fit(self, train: Any) -> None:
        """PCA, k-means (pseudo-labels, one-hot bank) and hash centres of the frame-mean training features
        (module docstring), each through the fit cache; deterministic from ``seed``."""
        x = as_matrix(pooled_inputs(train), "train features")
        n, d = x.shape
        if not 1 <= self.clusters <= n:
            raise DataError(f"method.clusters = {self.clusters}: the training split has {n} videos; use at most {n}")
        dim = min(self.pca_dim, n, d)
        digest = data_digest(x)
        params = {"pca_dim": dim, "clusters": self.clusters, "seed": self.seed, "code": CACHE_CODE}
        clusters = memo("s5vh_clusters", params, digest, lambda: self._clusters(x, dim))
        start = hadamard_start(self.clusters, self.bits, self.seed)
        centres = memo("s5vh_centres", {**params, "bits": self.bits, "sweeps": self.centre_sweeps}, digest,
                       lambda: {"centres": optimise_centres(start, clusters["centroids"], self.seed,
                                                            self.centre_sweeps)})
        device = self.hash_centres.device
        labels = torch.from_numpy(clusters["labels"]).long().to(device)
        self._buffers["pseudo_labels"] = labels
        self._buffers["cluster_labels"] = F.one_hot(labels, self.clusters).float()
        self._buffers["hash_centres"] = torch.from_numpy(centres["centres"]).float().to(device)
        if self.variant == "paper":
            with torch.no_grad():
                self.classifier.weight.copy_(self.hash_centres)

    def _clusters(self, x: Any, dim: int) -> dict[str, Any]:
        """``{"centroids" (K, dim), "labels" (N,)}``: k-means of the PCA projection of ``x`` (N, D)."""
        mean, components = pca_fit(x, dim)
        result = kmeans(project(x, mean, components), self.clusters, self.seed)
        return {"centroids": result.centroids, "labels": result.labels}

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any) -> None:
        for name in ("pseudo_labels", "cluster_labels"):  # sized by the training split: take the saved size
            saved = state_dict.get(prefix + name)
            if saved is not None:
                self._buffers[name] = torch.zeros(saved.shape, dtype=self._buffers[name].dtype,
                                                  device=self._buffers[name].device)
        super()._load_from_state_dict(state_dict, prefix, *args)

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        """Reseed masks and drop path from (seed, epoch); the epoch decides the warm-up."""
        super().on_epoch_start(epoch, epochs)
        self.epoch = int(epoch)

    def label_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The classifier's logits (B, K) of the code of all frames of ``x`` (B, T, D), as the reference's
        ``get_label_pred`` (``variant`` "released": without the code LayerNorm)."""
        net = self.net
        pre = net.binary(net.head(net.norm(net.blocks(net.patch_embed(x) + net.pos[:, :x.shape[1]]))))
        pre = net.ln(pre) if self.variant == "paper" else pre
        return self.classifier(frame_mean(binary_tanh_unit(pre)))

    def cluster_targets(self, x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """The bank rows of ``indices`` (B, K); after the warm-up, smoothed towards the prediction and
        written back first (module docstring)."""
        if self.cluster_labels.shape[0] == 0:
            raise ContractError("S5VH: call fit(train) before training (the cluster labels are empty)")
        rows = self.cluster_labels[indices]
        if self.epoch <= self.warm_up_epoch:
            return rows
        with torch.no_grad():
            rows = (1.0 - self.smoothing) * rows + self.smoothing * torch.softmax(self.label_logits(x), dim=-1)
            self.cluster_labels[indices] = rows
        return rows

    def terms_given(self, x: torch.Tensor, masks: torch.Tensor,
                    indices: Optional[torch.Tensor] = None) -> dict[str, torch.Tensor]:
        """``reconstruction``, ``contrastive``, ``cluster`` (unweighted) under given masks (B, 2, T) for the
        training videos ``indices`` (B,); also ``codes1``, ``codes2`` (not terms)."""
        terms = super().terms_given(x, masks)
        if indices is None:
            raise ContractError("S5VH: the cluster term needs the batch's indices in the training split")
        targets = self.cluster_targets(x, indices)
        scale = self.bits * self.temperature_cluster
        terms["cluster"] = 0.5 * sum(F.cross_entropy(self.classifier(terms[k]) / scale, targets)
                                     for k in ("codes1", "codes2"))
        return terms

    def loss_terms(self, batch: MethodBatch) -> dict[str, torch.Tensor]:
        """``reconstruction``, ``contrastive`` and ``cluster`` of a batch, masks drawn from the generator
        (after the warm-up this also updates the batch's bank rows)."""
        x = batch.inputs.float()
        masks = self.masks(x.shape[0], x.shape[1]).to(x.device)
        terms = self.terms_given(x, masks, batch.indices.to(x.device))
        return {k: terms[k] for k in ("reconstruction", "contrastive", "cluster")}

    def training_loss(self, batch: MethodBatch) -> torch.Tensor:
        """``reconstruction + alpha * contrastive + a_cluster * cluster`` (a scalar)."""
        terms = self.loss_terms(batch)
        return terms["reconstruction"] + self.a * terms["contrastive"] + self.a_cluster * terms["cluster"]

