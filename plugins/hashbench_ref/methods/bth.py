"""BTH (Li, Li, Lu and Zhou, CVPR 2021): a one-layer bidirectional transformer over frame features,
trained by masked-frame reconstruction, anchor-graph neighbour pairs and cluster-centre regression.

Paper: S. Li, X. Li, J. Lu, J. Zhou, "Self-supervised Video Hashing via Bidirectional Transformers",
CVPR 2021. Reference followed: Lily1994/BTH at c97db40 (``BTH/train.py``, ``BTH/data.py``,
``BTH/model/*``, ``BTH/utils/{args,prepare,get_anchors,apro_adj,calculate_neighbors}.py``, ``eval.py``).

Encoder (``BERTLM``): ``frame_map = Linear(D, hidden)`` plus a fixed sinusoidal position table, dropout,
``layers`` pre-norm blocks ``x + drop(attn(norm(x)))``, ``x + drop(ffn(norm(x)))``, ``drop(x)`` (norm:
``a (x - mean) / (std + 1e-6) + b`` with the unbiased std; ffn: ``Linear(hidden, 4 hidden)``, tanh-GELU,
dropout, ``Linear(4 hidden, hidden)``; attention dropout on the probabilities), then per frame
``bb = binary_tanh_unit(binary(hid))`` (:mod:`.ssl.binary`) and ``frames = restore(bb)``. Code:
``frame_mean(bb)``, the sign is the code. With B videos ``x1``, their partners ``x2`` (target ``s`` =
+1 for a tag-1 neighbour, -1 for a tag-2 video, tag 0 when there is none), BERT-style corruption of both
(:func:`.ssl.masking.bert_corruption`), ``n(i)`` the anchor of video i's pseudo-label::

    mask = (||frames1 - y1||^2 + ||frames2 - y2||^2) / (2 T D B)          y: reconstruction targets
    nei  = sum_i (s_i - <mean_t bb1_i, mean_t bb2_i> / bits)^2 / B
    mu   = (sum_i ||mean_t hid1_i - n(i)||^2 + ||mean_t hid2_i - n(p(i))||^2) / (hidden B)
    loss = 0.92 mask + 0.08 nei + 0.8 mu

``fit`` runs the preprocessing stages, each deterministic from ``seed`` on CPU: (1) a fresh BTH net is
pre-trained with the mask loss alone (``pretrain_epochs``, Adam ``pretrain_lr``, batches of
``pretrain_batch``) and ``latents = mean_t hid`` of every training video (eval mode, uncorrupted: the
released ``save_nf``), cached (:func:`hashbench.data.memo`); (2) k-means ``anchors`` over the latents
(:mod:`.ssl.clustering`, cached); (3) ``pseudo_labels`` = the nearest anchor (``train_assit.h5``'s
``pos[:, 0]``); (4) the anchor-graph ``adjacency`` tags (:mod:`.ssl.anchors`, ``sim_matrix.h5``). The
anchors, pseudo-labels and adjacency are buffers (checkpoints and ``--resume`` keep them).

Defaults are the released settings: hidden 256, 1 layer, 1 head, dropout 0.1, 15% of frames corrupted,
2,000 anchors (``nnachors``), weights 0.92 / 0.08 / 0.8; training (the TOMLs' [train]): Adam lr 3e-4,
x0.9 every 20 epochs (``step``; its floor 1e-4 is never reached), batch 256, 56 epochs (``num_epochs``
55 and the loop stops once the epoch counter exceeds it), no weight decay (``weight_decay`` is set in
``args.py`` but never given to Adam).

``variant``: ``"released"`` (default: it produced the published numbers) reconstructs the corrupted
input. ``data.py`` corrupts the video in place (``t1 = self.video_feats[item]`` is a numpy view), so
``visual_word`` is the corrupted ``mask_input`` itself; ``"paper"`` reconstructs the original frames,
as the paper describes.

Deliberate differences: the contract hands ``training_loss`` one batch, not the training set, so each
video's partner is drawn among the videos of its batch (a tag-1 neighbour other than itself when there
is one, else itself; a tag-2 video, else tag-0, else any other), not from the whole set; the
corruption's random frame comes from the batch (:mod:`.ssl.masking`); the in-place corruption does not
persist across reads of the same video within an epoch; every draw (pairs, corruption, dropout) comes
from the method's own generator, reseeded per epoch from ``seed`` and the epoch (``--resume`` continues
exactly); the pre-training reads the training split in contiguous blocks of ``16 x pretrain_batch``
rows in a random order, shuffled within each block (random rows of a feature file are slow to read),
and uses one corrupted view per video (the released pre-training ran ``train.py`` on pairs with only
the mask loss: the same objective in expectation); k-means is scikit-learn's (the released code ran its
own 16-iteration Lloyd loop from random rows and dropped empty clusters: 1,949 of 2,000 anchors). On
even T the frame mean of the +-1 codes can be 0: that bit takes the sign of the mean pre-activation.
The adjacency is dense (N x N int8: 2.1 GB for FCVID's 45,585 training videos, as the released file).
"""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hashbench.contract import HashMethod, MethodBatch, iter_inputs
from hashbench.data import data_digest, memo

from .ssl.anchors import anchor_adjacency, nearest_anchors
from .ssl.binary import binary_tanh_unit, frame_mean
from .ssl.clustering import kmeans
from .ssl.masking import bert_corruption

__all__ = ["BertEncoder", "BTHNet", "BTH", "VARIANTS", "dropout", "read_rows"]

#: ``variant`` values: the released code's reconstruction target (the corrupted input), or the paper's.
VARIANTS = ("released", "paper")
#: Buffers set by ``fit`` (their shapes come from the data: a fresh build holds empty ones).
FITTED = ("anchors", "pseudo_labels", "adjacency")


def dropout(x: torch.Tensor, p: float, gen: torch.Generator, training: bool) -> torch.Tensor:
    """Inverted dropout with the mask drawn from ``gen`` (identity when not training or ``p`` = 0)."""
    if not training or p <= 0.0:
        return x
    keep = (torch.rand(x.shape, generator=gen) >= p).to(device=x.device, dtype=x.dtype)
    return x * keep / (1.0 - p)


class _Norm(nn.Module):
    """The reference's LayerNorm: ``weight (x - mean) / (std + eps) + bias``, unbiased std, eps 1e-6."""

    def __init__(self, size: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight, self.bias, self.eps = nn.Parameter(torch.ones(size)), nn.Parameter(torch.zeros(size)), eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True) + self.eps) + self.bias


class _Block(nn.Module):
    """One pre-norm transformer block (module docstring); ``gen`` draws its dropout masks."""

    def __init__(self, hidden: int, heads: int, p: float) -> None:
        super().__init__()
        self.heads, self.p = heads, p
        self.qkv = nn.ModuleList([nn.Linear(hidden, hidden) for _ in range(3)])
        self.out = nn.Linear(hidden, hidden)
        self.ffn_in, self.ffn_out = nn.Linear(hidden, 4 * hidden), nn.Linear(4 * hidden, hidden)
        self.norm1, self.norm2 = _Norm(hidden), _Norm(hidden)

    def attend(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        b, t, h = x.shape
        q, k, v = (layer(x).view(b, t, self.heads, h // self.heads).transpose(1, 2) for layer in self.qkv)
        probs = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(h // self.heads), dim=-1)
        mixed = dropout(probs, self.p, gen, self.training) @ v
        return self.out(mixed.transpose(1, 2).reshape(b, t, h))

    def forward(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        x = x + dropout(self.attend(self.norm1(x), gen), self.p, gen, self.training)
        inner = dropout(F.gelu(self.ffn_in(self.norm2(x)), approximate="tanh"), self.p, gen, self.training)
        x = x + dropout(self.ffn_out(inner), self.p, gen, self.training)
        return dropout(x, self.p, gen, self.training)


class BertEncoder(nn.Module):
    """BTH's BERT: frame features (B, T, D) -> hidden states (B, T, hidden) (module docstring)."""

    def __init__(self, feature_dim: int, hidden: int = 256, layers: int = 1, heads: int = 1, p: float = 0.1,
                 max_len: int = 512) -> None:
        super().__init__()
        if hidden % heads or hidden % 2:
            raise ValueError(f"hidden ({hidden}) must be even and divide by heads ({heads})")
        self.p = p
        self.frame_map = nn.Linear(feature_dim, hidden)
        position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
        rate = torch.exp(torch.arange(0, hidden, 2, dtype=torch.float32) * -(math.log(10000.0) / hidden))
        table = torch.zeros(max_len, hidden)
        table[:, 0::2], table[:, 1::2] = torch.sin(position * rate), torch.cos(position * rate)
        self.register_buffer("position", table, persistent=False)
        self.blocks = nn.ModuleList([_Block(hidden, heads, p) for _ in range(layers)])

    def forward(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        h = dropout(self.frame_map(x) + self.position[: x.shape[1]], self.p, gen, self.training)
        for block in self.blocks:
            h = block(h, gen)
        return h


class BTHNet(nn.Module):
    """``BERTLM``: (B, T, D) -> (per-frame codes bb (B, T, bits) in {-1, +1}, reconstructed frames
    (B, T, D), hidden states (B, T, hidden))."""

    def __init__(self, feature_dim: int, bits: int, hidden: int, layers: int, heads: int, p: float) -> None:
        super().__init__()
        self.bert = BertEncoder(feature_dim, hidden, layers, heads, p)
        self.binary = nn.Linear(hidden, bits)
        self.restore = nn.Linear(bits, feature_dim)

    def forward(self, x: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hid = self.bert(x, gen)
        bb = binary_tanh_unit(self.binary(hid))
        return bb, self.restore(bb), hid

    def code(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """``frame_mean(bb)`` (B, bits); a 0 (even T) takes the sign of the mean pre-activation."""
        z = self.binary(self.bert(x, gen))
        mean = frame_mean(binary_tanh_unit(z))
        tie = torch.where(z.mean(dim=1) >= 0, 1e-6, -1e-6).to(mean.dtype)
        return torch.where(mean == 0, tie, mean)


def mask_loss(frames: tuple[torch.Tensor, ...], targets: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """``sum_v ||frames_v - targets_v||^2 / (views T D B)`` over the views given."""
    total = sum(((f - y) ** 2).sum() for f, y in zip(frames, targets))
    b, t, d = frames[0].shape
    return total / (len(frames) * t * d * b)  # type: ignore[return-value]


def read_rows(train: Any, rows: list[int]) -> torch.Tensor:
    """Items ``rows`` of a training split (dataset or tensor), stacked as float32 (one batched read)."""
    if isinstance(train, (torch.Tensor, np.ndarray)):
        return torch.as_tensor(train)[rows].float()
    getitems = getattr(train, "__getitems__", None)
    items = getitems(rows) if callable(getitems) else [train[i] for i in rows]
    return torch.stack([torch.as_tensor(item) for item, _ in items]).float()


def _sketch(train: Any) -> tuple[np.ndarray, int, int]:
    """The data part of the fit-cache key: per video the frame mean and a frame-order-weighted mean
    (N, 2 D), and (N, T)."""
    parts, frames = [], 0
    for inputs, _ in iter_inputs(train):
        frames = inputs.shape[1]
        weight = torch.arange(1, frames + 1, dtype=torch.float64).view(1, -1, 1)
        parts.append(torch.cat([inputs.double().mean(1), (inputs.double() * weight).mean(1)], 1))
    sketch = torch.cat(parts).numpy()
    return sketch, sketch.shape[0], frames


class BTH(HashMethod):
    """BTH (module docstring). ``loss_terms(batch)`` -> ``{"mask", "nei", "mu"}``; ``draw(batch)`` makes
    the batch's random pairs and corruption; ``fit(train)`` the preprocessing stages."""

    consumes = ("frame_features",)
    #: The named terms of ``training_loss`` and their weight attributes.
    TERMS = {"mask": "w_mask", "nei": "w_nei", "mu": "w_mu"}

    def __init__(self, bits: int, feature_dim: int, seed: int = 0, hidden: int = 256, layers: int = 1,
                 heads: int = 1, dropout: float = 0.1, select: float = 0.15, anchors: int = 2000,
                 w_mask: float = 0.92, w_nei: float = 0.08, w_mu: float = 0.8, pretrain_epochs: int = 56,
                 pretrain_batch: int = 256, pretrain_lr: float = 3e-4, variant: str = "released") -> None:
        super().__init__(bits, seed)
        self.feature_dim, self.hidden, self.layers, self.heads, self.p = feature_dim, hidden, layers, heads, dropout
        self.select, self.num_anchors, self.variant = select, anchors, variant
        self.w_mask, self.w_nei, self.w_mu = w_mask, w_nei, w_mu
        self.pretrain = {"epochs": pretrain_epochs, "batch": pretrain_batch, "lr": pretrain_lr}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = self.build_net()
        self.register_buffer("anchors", torch.zeros(0, hidden))
        self.register_buffer("pseudo_labels", torch.zeros(0, dtype=torch.int64))
        self.register_buffer("adjacency", torch.zeros(0, 0, dtype=torch.int8))
        self.gen = torch.Generator().manual_seed(seed)

    def build_net(self) -> nn.Module:
        """The trained network (DKPH overrides it)."""
        return BTHNet(self.feature_dim, self.bits, self.hidden, self.layers, self.heads, self.p)

    # -- codes ----------------------------------------------------------------------------------------
    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """Frame features (B, T, D) -> real codes (B, bits): the frame mean of the per-frame codes."""
        return self.net.code(inputs.float(), self.gen)

    # -- training -------------------------------------------------------------------------------------
    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        """Reseed the generator of pairs, corruption and dropout from ``seed`` and ``epoch``."""
        self.gen.manual_seed(self.seed * 1_000_003 + epoch)

    def partners(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """For each video of a batch: its partner's position in the batch (B,) and target s (B,) +-1."""
        rows = indices.to(self.adjacency.device)
        tags = self.adjacency[rows][:, rows].long().cpu()  # (B, B)
        b = tags.shape[0]
        others = ~torch.eye(b, dtype=torch.bool)
        similar = torch.rand(b, generator=self.gen) > 0.5
        pick = torch.rand(b, b, generator=self.gen)
        near = (tags == 1) & others
        near = torch.where(near.any(1, keepdim=True), near, torch.eye(b, dtype=torch.bool))
        far = (tags == 2) & others
        far = torch.where(far.any(1, keepdim=True), far, (tags == 0) & others)
        far = torch.where(far.any(1, keepdim=True), far, others if b > 1 else ~others)
        allowed = torch.where(similar.unsqueeze(1), near, far)
        partner = torch.where(allowed, pick, torch.full_like(pick, -1.0)).argmax(dim=1)
        return partner.to(indices.device), torch.where(similar, 1.0, -1.0).to(indices.device)

    def draw(self, batch: MethodBatch) -> dict[str, torch.Tensor]:
        """The batch's random part: ``partner`` (B,), ``target`` (B,), corrupted views ``c1``, ``c2``
        (B, T, D) and reconstruction targets ``y1``, ``y2`` (``variant``)."""
        if self.adjacency.numel() == 0:
            raise RuntimeError("BTH: fit(train) must run before training_loss (it makes the anchors and pairs)")
        x1 = batch.inputs.float()
        partner, target = self.partners(batch.indices)
        x2 = x1[partner]
        c1, c2 = (bert_corruption(x.cpu(), self.gen, self.select)[0].to(x.device) for x in (x1, x2))  # CPU draws
        y1, y2 = (c1, c2) if self.variant == "released" else (x1, x2)
        return {"partner": partner, "target": target, "c1": c1, "c2": c2, "y1": y1, "y2": y2}

    def centres(self, batch: MethodBatch, partner: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The anchors of the pseudo-labels of the batch's videos and of their partners (B, hidden) each."""
        n1 = self.anchors[self.pseudo_labels[batch.indices.to(self.pseudo_labels.device)]]
        return n1, n1[partner]

    def loss_terms(self, batch: MethodBatch, draw: Optional[dict] = None) -> dict[str, torch.Tensor]:
        """The unweighted terms (module docstring) on ``draw`` (default: a new :meth:`draw`)."""
        d = self.draw(batch) if draw is None else draw
        bb1, f1, h1 = self.net(d["c1"], self.gen)
        bb2, f2, h2 = self.net(d["c2"], self.gen)
        inner = (bb1.mean(1) * bb2.mean(1)).sum(1) / self.bits
        n1, n2 = self.centres(batch, d["partner"])
        b = bb1.shape[0]
        mu = (((h1.mean(1) - n1) ** 2).sum() + ((h2.mean(1) - n2) ** 2).sum()) / (self.hidden * b)
        return {"mask": mask_loss((f1, f2), (d["y1"], d["y2"])), "nei": ((d["target"] - inner) ** 2).sum() / b,
                "mu": mu}

    def training_loss(self, batch: MethodBatch) -> torch.Tensor:
        """The weighted sum of :meth:`loss_terms`."""
        terms = self.loss_terms(batch)
        return sum(getattr(self, weight) * terms[name] for name, weight in self.TERMS.items())  # type: ignore

    # -- preprocessing --------------------------------------------------------------------------------
    def fit(self, train: Any) -> None:
        """Pre-training -> latents -> k-means anchors -> pseudo-labels and adjacency (module docstring)."""
        sketch, n, frames = _sketch(train)
        settings = {"feature_dim": self.feature_dim, "bits": self.bits, "hidden": self.hidden, "layers": self.layers,
                    "heads": self.heads, "dropout": self.p, "select": self.select, "variant": self.variant,
                    "seed": self.seed, "frames": frames, **self.pretrain}
        latents = memo("bth.latents", {"version": 1, **settings}, data_digest(sketch),
                       lambda: {"latents": pretrained_latents(train, n, settings)})["latents"]
        clusters = min(self.num_anchors, n)
        found = memo("bth.anchors", {"version": 1, "clusters": clusters, "seed": self.seed}, data_digest(latents),
                     lambda: {"anchors": kmeans(latents, clusters, self.seed).centroids})["anchors"]
        device = self.anchors.device
        self.anchors = torch.as_tensor(found, dtype=torch.float32, device=device)
        self.pseudo_labels = torch.as_tensor(nearest_anchors(latents, found, 1)[:, 0], device=device)
        self.adjacency = torch.as_tensor(anchor_adjacency(latents, found), device=device)

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any) -> None:
        for name in FITTED:  # fitted buffers take the checkpoint's shapes
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name], device=getattr(self, name).device))
        super()._load_from_state_dict(state_dict, prefix, *args)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, hidden={self.hidden}, layers={self.layers}, variant={self.variant!r}"


def _blocks(n: int, size: int, gen: torch.Generator) -> list[list[int]]:
    """Contiguous blocks of ``size`` rows in a random order, each shuffled (module docstring)."""
    starts = [s for s in range(0, n, size)]
    out = []
    for i in torch.randperm(len(starts), generator=gen).tolist():
        rows = torch.arange(starts[i], min(n, starts[i] + size))
        out.append(rows[torch.randperm(len(rows), generator=gen)].tolist())
    return out


def pretrained_latents(train: Any, n: int, s: dict) -> np.ndarray:
    """Stage 1: a fresh BTH net pre-trained with the mask loss alone, then ``mean_t hid`` of every
    training video (N, hidden) float32, eval mode. ``s``: the settings of :meth:`BTH.fit`."""
    gen = torch.Generator().manual_seed(s["seed"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(s["seed"] + 1)
        net = BTHNet(s["feature_dim"], s["bits"], s["hidden"], s["layers"], s["heads"], s["dropout"])
    optimizer = torch.optim.Adam(net.parameters(), lr=s["lr"])
    net.train()
    for _ in range(s["epochs"]):
        for block in _blocks(n, 16 * s["batch"], gen):
            data = read_rows(train, sorted(block))[torch.as_tensor(block).argsort().argsort()]
            for start in range(0, len(block), s["batch"]):
                x = data[start:start + s["batch"]]
                corrupted, _ = bert_corruption(x, gen, s["select"])
                _, frames, _ = net(corrupted, gen)
                loss = mask_loss((frames,), (corrupted if s["variant"] == "released" else x,))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    net.eval()
    with torch.no_grad():
        return torch.cat([net(inputs.float(), gen)[2].mean(1) for inputs, _ in iter_inputs(train)]).numpy()
