"""DKPH (Li, Li, Lu and Zhou, ECCV 2022): BTH's encoder with a second, hash stream over the flattened
sequence; reconstruction + centre regression + triplet + pair terms.

Paper: P. Li, H. Xie, J. Ge, L. Zhang, S. Min, Y. Zhang, "Dual-Stream Knowledge-Preserving Hashing for
Unsupervised Video Retrieval", ECCV 2022. Reference followed: IMCCretrieval/DKPH at 66fa2c0
(``model/model.py`` DKPH and BNet, ``train_dkph.py``, ``settings.py``, ``data.py``; its preprocessing
files are BTH's: ``train_assit.h5``, ``latent_feats.h5``, ``anchors.h5``, ``sim_matrix.h5``).

Network: BTH's one-layer BERT (:class:`~.bth.BertEncoder`) gives ``emb`` (B, T, hidden); a temporal
stream ``tt = temporal(emb)`` (per frame, ``Linear(hidden, bits)``) and a hash stream
``bb = binary_tanh_unit(hid_b(flatten(emb)))`` (``Linear(T hidden, bits)``: one code per video); the
decoder reconstructs every frame from the code plus the temporal stream,
``frames = decoder(bb + tt)`` (``Linear(bits, D)``). Code: ``bb``, the sign is the code. With BTH's
pairs, corruption and anchors (:mod:`.bth`; ``s`` = +1 similar, -1 not; ``w = (1 - s) / 2``)::

    recon   = (||frames1 - y1||^2 + ||frames2 - y2||^2) / (2 T D B)
    centre  = (sum_i ||mean_t emb1_i - n(i)||^2 + ||mean_t emb2_i - n(p(i))||^2) / (hidden B)
    triplet = mean_i max(0, ||h_i - w_i n(i) + eps|| - ||h_i - w_i n(p(i)) + eps|| + 0.5)  (h = mean_t emb1,
              eps 1e-6: torch's TripletMarginLoss(margin=0.5))
    bsim    = sum_i (s_i - <bb1_i, bb2_i> / bits)^2 / B
    loss    = recon + 0.9 (centre + 0.1 triplet) + 0.11 bsim

For a similar pair ``w = 0`` and the triplet term is the constant margin (no gradient), as released.
Defaults are the released settings: BTH's encoder (hidden 256, 1 layer, 1 head, dropout 0.1), 2,000
anchors, the weights above; ``settings.py``'s ``nbits`` is 16; training (the TOMLs' [train]): Adam lr
3e-4, x0.9 every 20 epochs, batch 256, 49 epochs (``num_epochs`` 48; the loop stops once the epoch
counter exceeds it). ``fit``: BTH's stages (a BTH net pre-trained with the mask loss alone, latents,
k-means anchors, pseudo-labels, adjacency), as DKPH reads BTH's files. ``variant`` and every deliberate
difference are BTH's (:mod:`.bth`: the in-place corruption makes the released target the corrupted
input; partners drawn within the batch; own generator). The released code hard-codes 25 frames
(``hidden_size*25``, ``repeat(1,25,1)``); here T is the dataset's ``num_frames``.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from hashbench.contract import MethodBatch

from .bth import BTH, BertEncoder, mask_loss
from .ssl.binary import binary_tanh_unit

__all__ = ["DKPHNet", "DKPH"]


class DKPHNet(nn.Module):
    """(B, T, D) -> (codes bb (B, bits) in {-1, +1}, reconstructed frames (B, T, D), emb (B, T, hidden))."""

    def __init__(self, feature_dim: int, num_frames: int, bits: int, hidden: int, layers: int, heads: int,
                 p: float) -> None:
        super().__init__()
        self.num_frames = num_frames
        self.bert = BertEncoder(feature_dim, hidden, layers, heads, p)
        self.hid_b = nn.Linear(hidden * num_frames, bits)
        self.temporal = nn.Linear(hidden, bits)
        self.decoder = nn.Linear(bits, feature_dim)

    def forward(self, x: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if x.shape[1] != self.num_frames:
            raise ValueError(f"DKPH was built for {self.num_frames} frames per video, got {x.shape[1]}")
        emb = self.bert(x, gen)
        bb = binary_tanh_unit(self.hid_b(emb.flatten(1)))
        return bb, self.decoder(bb.unsqueeze(1) + self.temporal(emb)), emb

    def code(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """The video's code ``bb`` (B, bits), +-1 (never 0)."""
        return self(x, gen)[0]


class DKPH(BTH):
    """DKPH (module docstring). ``loss_terms(batch)`` -> ``{"recon", "centre", "triplet", "bsim"}``."""

    TERMS = {"recon": "w_recon", "centre": "w_tsim", "triplet": "w_triplet", "bsim": "w_bsim"}

    def __init__(self, bits: int, feature_dim: int, num_frames: int, seed: int = 0, w_recon: float = 1.0,
                 w_tsim: float = 0.9, w_triplet: float = 0.1, w_bsim: float = 0.11, margin: float = 0.5,
                 **bth: Any) -> None:
        self.num_frames = num_frames
        super().__init__(bits, feature_dim, seed, **bth)
        self.w_recon, self.w_tsim, self.w_bsim, self.margin = w_recon, w_tsim, w_bsim, margin
        self.w_triplet = w_tsim * w_triplet  # the triplet sits inside tsim: 0.9 * 0.1

    def build_net(self) -> nn.Module:
        return DKPHNet(self.feature_dim, self.num_frames, self.bits, self.hidden, self.layers, self.heads, self.p)

    def loss_terms(self, batch: MethodBatch, draw: Optional[dict] = None) -> dict[str, torch.Tensor]:
        """The unweighted terms (module docstring) on ``draw`` (default: a new :meth:`draw`)."""
        d = self.draw(batch) if draw is None else draw
        bb1, f1, e1 = self.net(d["c1"], self.gen)
        bb2, f2, e2 = self.net(d["c2"], self.gen)
        n1, n2 = self.centres(batch, d["partner"])
        b = bb1.shape[0]
        h1, h2 = e1.mean(1), e2.mean(1)
        w = (0.5 * (1.0 - d["target"])).unsqueeze(1)
        triplet = F.triplet_margin_loss(h1, w * n1, w * n2, margin=self.margin, p=2.0, eps=1e-6)
        return {"recon": mask_loss((f1, f2), (d["y1"], d["y2"])),
                "centre": (((h1 - n1) ** 2).sum() + ((h2 - n2) ** 2).sum()) / (self.hidden * b),
                "triplet": triplet,
                "bsim": ((d["target"] - (bb1 * bb2).sum(1) / self.bits) ** 2).sum() / b}
