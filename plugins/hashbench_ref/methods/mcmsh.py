"""MCMSH (Hao et al., ACM MM 2022): an MLP-Mixer over frame features with long/middle/short-range
re-weighting branches, trained by cluster-centre regression, neighbour similarity, quantisation and a
quadruplet loss on anchor-graph pairs.

Paper: Y. Hao, J. Duan, H. Zhang, B. Zhu, P. Zhou, X. He, "Unsupervised Video Hashing with Multi-granularity
Contextualization and Multi-structure Preservation", ACM MM 2022. Reference followed: haoyanbin918/MCMSH at
a483446 (``model/Model.py``, ``model/MC_MLP.py``, ``train.py``, ``data.py``, ``eval.py``, ``utils/args.py``,
``utils/{get_cluster_kmeans,dim_reduce,get_pseudo_label,get_sim_matrix}.py``).

Encoder (``MixerLayer``, hidden ``H`` = 256, ``T`` tokens): ``relu(preproj(x))``, a token mixer
``x + (L + M + S)(mlp_T(x^T))^T`` (r_min 4), a channel mixer ``x + (L + M + S)(mlp_H(x))`` (r_max 16), then
``e = (L + M + S)(x)`` (r_max 16); ``mlp`` = Linear(n, 2n), GELU, dropout, Linear(2n, n), dropout (0.5).
Each branch is ``fc2(x * gate(fc1(x)))`` with 1x1 convolutions ``fc1``, ``fc2`` over the tokens and a
sigmoid gate per channel: L (long) from the token mean through Linear/BN/ReLU/Linear/BN, M (middle) from
the tokens average-pooled to T // 3 through 3-tap convolutions with BN, pooled back to T, S (short) from
3-tap convolutions with BN on all tokens. Codes: ``h = mean_t tanh(alpha binary(e))`` (B, bits),
``b = sign(h)`` with the gradient ``clamp(grad, -1, 1)`` (``LBSign``), ``alpha = sqrt(epoch)`` (1-based;
the reference's ``sqrt(epoch + 1)`` 0-based). With the videos ``x1`` of a batch, their partners ``x2``
(target ``s`` +1 for a tag-1 neighbour, -1 for a tag-2 video), a tag-1 neighbour ``p``, two tag-2 videos
``n1``, ``n2`` (``n2`` drawn again once when tagged 1 with ``n1``), BERT-style corruption of ``x1`` and
``x2`` (:func:`~.ssl.masking.bert_corruption`) and ``c(i)`` the PCA'd centroid of video i's pseudo-label::

    cluster    = (sum_i ||mean_t e1_i - c(i)||^2 + ||mean_t e2_i - c(partner_i)||^2) / (H B)
    sim        = sum_i (s_i - <h1_i, h2_i> / bits)^2 / B
    quant      = (||h1 - b1||^2 + ||h2 - b2||^2) / (B bits)
    quadruplet = sum_i relu(bits/4 + d(h1, hp) - d(h1, hn1)) + relu(bits/64 + d(h1, hp) - d(hn1, hn2)) / B
    loss       = 0.8 cluster + 0.1 sim + 0.01 quant + 0.01 quadruplet

with ``d(a, b) = ||a - b + 1e-6||^2`` (``F.pairwise_distance``); five forward passes per step (x1, x2, p,
n1, n2, in this order, each with its own batch-norm statistics). ``fit`` (CPU, cached with
:func:`hashbench.data.memo`): k-means of the frame-mean features into ``clusters`` centroids (2,000),
``pseudo_labels`` = the nearest centroid, the anchor-graph ``adjacency`` tags on the centroids
(:mod:`~.ssl.anchors`), and ``targets`` = the centroids by PCA to H dimensions (``cluster_pca_256.h5``).

Defaults are the released settings (``utils/args.py``): hidden 256, expansion 2, dropout 0.5, r_max 16,
r_min 4, 2,000 clusters, weights 0.8 / 0.1 / 0.01 / 0.01, 64 bits; training (the TOMLs' [train]): Adam
lr 3e-4, x0.9 every 20 epochs (its floor 1e-4 is never reached), batch 256, 56 epochs (``num_epochs``
55; the loop stops once the epoch exceeds it), no weight decay (set in args.py, never given to Adam).

``variant``: ``"released"`` (default: it produced the published numbers) encodes with ``alpha = 1``:
``eval.py`` builds a fresh model (alpha 1) and loads the weights, so the trained alpha is never used at
test time; ``"paper"`` encodes with the last training epoch's alpha.

Deliberate differences: partners and quadruplets are drawn among the videos of the batch (the contract
hands ``training_loss`` one batch; the reference draws them from the whole training set), with BTH's
fallbacks (no tag-1 neighbour: the video itself; no tag-2: tag 0, else any other); the corruption's
random frame comes from the batch and does not persist (the reference corrupts its feature array in
place); dropout, pairs and corruption draw from the method's generator, reseeded per epoch from
``seed`` and the epoch (``--resume`` continues exactly); scikit-learn's seeded k-means replaces the
reference's 16-step Lloyd loop from random rows (which drops empty clusters); the PCA of the centroids
takes the top-variance directions (the reference takes the first columns of ``np.linalg.eig``, whose
order LAPACK does not sort) and pads with zeros when the centroids span fewer than H dimensions.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hashbench.contract import HashMethod, MethodBatch, pooled_inputs
from hashbench.data import data_digest, memo
from hashbench.errors import ContractError, DataError

from .classic import as_matrix, pca_fit, project
from .ssl.anchors import anchor_adjacency
from .ssl.clustering import kmeans
from .ssl.masking import bert_corruption

__all__ = ["MCMSH", "MixerNet", "VARIANTS", "TERMS"]

VARIANTS = ("released", "paper")
#: loss term -> the key of its weight.
TERMS = {"cluster": "w_cluster", "sim": "w_sim", "quant": "w_quant", "quadruplet": "w_quad"}
#: Buffers set by ``fit`` (sized by the training split).
FITTED = ("pseudo_labels", "adjacency")
CACHE_CODE = 1


def gen_dropout(x: torch.Tensor, p: float, gen: torch.Generator, training: bool) -> torch.Tensor:
    """Inverted dropout whose mask comes from ``gen`` (identity when not training or p = 0)."""
    if not training or p == 0.0:
        return x
    keep = (torch.rand(x.shape, generator=gen) >= p).to(x.device, x.dtype)
    return x * keep / (1.0 - p)


class _Gate(nn.Module):
    """``fc2(x * sigmoid gate)`` over ``x`` (B, n, c); ``kind`` "long", "middle" or "short" (module
    docstring); ``n`` = tokens (the 1x1 convolutions' channels), ``c`` = channels of the gate."""

    def __init__(self, n: int, c: int, cdiv: int, kind: str, grouped: bool) -> None:
        super().__init__()
        self.kind, self.n = kind, n
        self.fc1, self.fc2 = nn.Conv1d(n, n, 1), nn.Conv1d(n, n, 1)
        inner, groups = c // cdiv, (c // cdiv if grouped else 1)
        if kind == "long":
            self.conv, self.deconv = nn.Linear(c, inner, bias=False), nn.Linear(inner, c, bias=False)
            nn.init.normal_(self.conv.weight, 0, 0.001)
            nn.init.normal_(self.deconv.weight, 0, 0.001)
        else:
            self.conv = nn.Conv1d(c, inner, 3, padding=1, bias=False, groups=groups)
            self.deconv = nn.Conv1d(inner, c, 3, padding=1, bias=False, groups=groups)
            nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.xavier_normal_(self.deconv.weight)
        self.bn1, self.bn2 = nn.BatchNorm1d(inner), nn.BatchNorm1d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc1(x).transpose(1, 2)  # (B, c, n)
        if self.kind == "long":
            y = x.mean(dim=2)
        elif self.kind == "middle":
            y = F.adaptive_avg_pool1d(x, self.n // 3)
        else:
            y = x
        y = torch.sigmoid(self.bn2(self.deconv(F.relu(self.bn1(self.conv(y))))))
        y = y.unsqueeze(-1) if self.kind == "long" else y
        y = F.adaptive_avg_pool1d(y, self.n) if self.kind == "middle" else y
        return self.fc2((x * y).transpose(1, 2))


class _Branches(nn.Module):
    """``L(x) + M(x) + S(x)`` on ``x`` (B, n, c)."""

    def __init__(self, n: int, c: int, cdiv: int, grouped: bool) -> None:
        super().__init__()
        self.lrd = _Gate(n, c, cdiv, "long", grouped)
        self.mrd = _Gate(n, c, cdiv, "middle", grouped)
        self.srd = _Gate(n, c, cdiv, "short", grouped)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lrd(x) + self.mrd(x) + self.srd(x)


class _MLP(nn.Module):
    def __init__(self, n: int, expansion: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(n, n * expansion), nn.Linear(n * expansion, n)

    def forward(self, x: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
        x = gen_dropout(F.gelu(self.fc1(x)), p, gen, self.training)
        return gen_dropout(self.fc2(x), p, gen, self.training)


class MixerNet(nn.Module):
    """MCMSH's ``MC_MLP``: frame features (B, T, D) -> (b, h, e) (module docstring)."""

    def __init__(self, feature_dim: int, frames: int, bits: int, hidden: int, expansion: int, dropout: float,
                 r_max: int, r_min: int) -> None:
        super().__init__()
        self.p = dropout
        self.preproj = nn.Linear(feature_dim, hidden)
        self.token_mlp, self.token_mix = _MLP(frames, expansion), _Branches(hidden, frames, r_min, False)
        self.channel_mlp, self.channel_mix = _MLP(hidden, expansion), _Branches(frames, hidden, r_max, True)
        self.out = _Branches(frames, hidden, r_max, True)
        self.binary = nn.Linear(hidden, bits)

    def embed(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """``e`` (B, T, hidden)."""
        x = F.relu(self.preproj(x))
        x = x + self.token_mix(self.token_mlp(x.transpose(1, 2), self.p, gen)).transpose(1, 2)
        x = x + self.channel_mix(self.channel_mlp(x, self.p, gen))
        return self.out(x)

    def forward(self, x: torch.Tensor, alpha: float, gen: torch.Generator):
        e = self.embed(x, gen)
        h = torch.tanh(alpha * self.binary(e)).mean(dim=1)
        return _ClampedSign.apply(h), h, e


class _ClampedSign(torch.autograd.Function):
    """``sign(h)`` forward; ``clamp(grad, -1, 1)`` backward (the reference's ``LBSign``)."""

    @staticmethod
    def forward(ctx: Any, h: torch.Tensor) -> torch.Tensor:
        return torch.sign(h)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad.clamp(-1, 1)


class MCMSH(HashMethod):
    """MCMSH (module docstring): ``fit`` (k-means, pseudo-labels, adjacency, PCA'd centroids), ``encode``
    (B, T, D) -> (B, bits), ``draw`` / ``loss_terms`` / ``training_loss``, ``on_epoch_start`` (alpha, draws)."""

    consumes = ("frame_features",)

    def __init__(self, bits: int, feature_dim: int, num_frames: int, seed: int = 0, num_train: int = 0,
                 hidden: int = 256, expansion: int = 2, dropout: float = 0.5, r_max: int = 16, r_min: int = 4,
                 clusters: int = 2000, select: float = 0.15, w_cluster: float = 0.8, w_sim: float = 0.1,
                 w_quant: float = 0.01, w_quad: float = 0.01, variant: str = "released") -> None:
        super().__init__(bits, seed)
        self.hidden, self.clusters, self.select, self.variant = hidden, int(clusters), select, variant
        self.w_cluster, self.w_sim, self.w_quant, self.w_quad = w_cluster, w_sim, w_quant, w_quad
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.net = MixerNet(feature_dim, num_frames, bits, hidden, expansion, dropout, r_max, r_min)
        self.gen = torch.Generator().manual_seed(self.seed)
        self.alpha = 1.0
        self.register_buffer("pseudo_labels", torch.zeros(num_train, dtype=torch.int64))
        self.register_buffer("adjacency", torch.zeros(num_train, num_train, dtype=torch.int8))
        self.register_buffer("targets", torch.zeros(self.clusters, hidden))

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """Frame features (B, T, D) -> ``h`` (B, bits) (``variant`` "released": alpha 1, as ``eval.py``)."""
        return self.net(inputs.float(), 1.0 if self.variant == "released" else self.alpha, self.gen)[1]

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        """``alpha = sqrt(epoch)``; reseed the generator of pairs, corruption and dropout from (seed, epoch)."""
        self.alpha = math.sqrt(epoch)
        self.gen.manual_seed(self.seed * 1_000_003 + int(epoch))

    def _pick(self, allowed: torch.Tensor) -> torch.Tensor:
        """One random True column per row of ``allowed`` (B, B) (rows need one)."""
        weights = torch.rand(allowed.shape, generator=self.gen)
        return torch.where(allowed, weights, torch.full_like(weights, -1.0)).argmax(dim=1)

    def draw(self, batch: MethodBatch) -> dict[str, torch.Tensor]:
        """The batch's random part, positions in the batch: ``partner`` (B,) and ``target`` (B,) +-1,
        ``similar``, ``far1``, ``far2`` (B,), corrupted ``c1``, ``c2`` (B, T, D) (module docstring)."""
        if self.adjacency.shape[0] == 0 or self.targets.abs().sum() == 0:
            raise ContractError("MCMSH: call fit(train) before training (it makes the pseudo-labels and pairs)")
        rows = batch.indices.to(self.adjacency.device)
        tags = self.adjacency[rows][:, rows].long().cpu()
        b = tags.shape[0]
        eye = torch.eye(b, dtype=torch.bool)
        near = (tags == 1) & ~eye
        near = torch.where(near.any(1, keepdim=True), near, eye)
        far = (tags == 2) & ~eye
        far = torch.where(far.any(1, keepdim=True), far, (tags == 0) & ~eye)
        far = torch.where(far.any(1, keepdim=True), far, ~eye if b > 1 else eye)
        similar_pair = torch.rand(b, generator=self.gen) > 0.5
        partner = self._pick(torch.where(similar_pair.unsqueeze(1), near, far))
        similar, far1, far2 = self._pick(near), self._pick(far), self._pick(far)
        again = self._pick(far)
        far2 = torch.where(tags[far2, far1] == 1, again, far2)
        x = batch.inputs.float()
        c1, _ = bert_corruption(x, self.gen, self.select)
        c2, _ = bert_corruption(x[partner.to(x.device)], self.gen, self.select)
        out = {"partner": partner, "similar": similar, "far1": far1, "far2": far2,
               "target": torch.where(similar_pair, 1.0, -1.0)}
        return {**{k: v.to(x.device) for k, v in out.items()}, "c1": c1, "c2": c2}

    def loss_terms(self, batch: MethodBatch, draw: Optional[dict] = None) -> dict[str, torch.Tensor]:
        """The unweighted terms ``cluster``, ``sim``, ``quant``, ``quadruplet`` on ``draw`` (default: a new
        :meth:`draw`)."""
        d = self.draw(batch) if draw is None else draw
        x = batch.inputs.float()
        b1, h1, e1 = self.net(d["c1"], self.alpha, self.gen)
        b2, h2, e2 = self.net(d["c2"], self.alpha, self.gen)
        hp, hn1, hn2 = (self.net(x[d[k]], self.alpha, self.gen)[1] for k in ("similar", "far1", "far2"))
        n = x.shape[0]
        centre = self.targets[self.pseudo_labels[batch.indices.to(self.pseudo_labels.device)]].to(x.device)
        cluster = (((e1.mean(1) - centre) ** 2).sum() + ((e2.mean(1) - centre[d["partner"]]) ** 2).sum())
        pos, neg1, neg2 = (F.pairwise_distance(a, c) ** 2 for a, c in ((h1, hp), (h1, hn1), (hn1, hn2)))
        quad = F.relu(self.bits / 4.0 + pos - neg1) + F.relu(self.bits / 64.0 + pos - neg2)
        return {"cluster": cluster / (self.hidden * n),
                "sim": ((d["target"] - (h1 * h2).sum(1) / self.bits) ** 2).sum() / n,
                "quant": (((h1 - b1) ** 2).sum() + ((h2 - b2) ** 2).sum()) / (n * self.bits),
                "quadruplet": quad.sum() / n}

    def training_loss(self, batch: MethodBatch) -> torch.Tensor:
        """``0.8 cluster + 0.1 sim + 0.01 quant + 0.01 quadruplet`` (the weights' keys)."""
        terms = self.loss_terms(batch)
        return sum(getattr(self, weight) * terms[name] for name, weight in TERMS.items())  # type: ignore

    def fit(self, train: Any) -> None:
        """k-means of the frame-mean features, pseudo-labels, adjacency and PCA'd centroids (module
        docstring), through the fit cache; deterministic from ``seed``."""
        x = as_matrix(pooled_inputs(train), "train features")
        n = x.shape[0]
        if not 5 <= self.clusters <= n:
            raise DataError(f"method.clusters = {self.clusters}: the anchor graph needs 5 <= clusters <= the "
                            f"training videos ({n})")
        params = {"clusters": self.clusters, "hidden": self.hidden, "seed": self.seed, "code": CACHE_CODE}
        found = memo("mcmsh_clusters", params, data_digest(x), lambda: self._stages(x))
        device = self.targets.device
        self._buffers["pseudo_labels"] = torch.as_tensor(found["labels"], device=device)
        self._buffers["adjacency"] = torch.as_tensor(found["adjacency"], device=device)
        self._buffers["targets"] = torch.as_tensor(found["targets"], dtype=torch.float32, device=device)

    def _stages(self, x: np.ndarray) -> dict[str, np.ndarray]:
        result = kmeans(x, self.clusters, self.seed)
        dims = min(self.hidden, x.shape[1])
        mean, components = pca_fit(result.centroids, dims)
        targets = np.zeros((self.clusters, self.hidden))
        targets[:, :dims] = project(result.centroids, mean, components)
        return {"labels": result.labels, "adjacency": anchor_adjacency(x, result.centroids), "targets": targets}

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any) -> None:
        for name in FITTED:  # sized by the training split: take the saved size
            saved = state_dict.get(prefix + name)
            if saved is not None:
                self._buffers[name] = torch.zeros(saved.shape, dtype=saved.dtype, device=self.targets.device)
        super()._load_from_state_dict(state_dict, prefix, *args)
