"""SSVH (Song et al., TIP 2018): a hierarchical binary LSTM autoencoder whose code fits a shared-neighbour
similarity of the training videos and reconstructs their frames forwards, backwards and on average.

Paper: J. Song, H. Zhang, X. Li, L. Gao, M. Wang, R. Hong, "Self-Supervised Video Hashing with Hierarchical
Binary Auto-encoder", IEEE TIP 2018. Reference followed: lixiangpengcs/Self-Supervised-Video-Hashing at
93b2d36 (Theano: ``SSVH/layers.py`` ``LSTM_Unit``/``LSTM_Dec``/``BatchNormalization``/``BinaryLayer``,
``SSVH/model.py`` ``compile``, ``SSVH/Pairwise-BLSTM.py`` defaults, ``SSVH/optimizer.py``,
``ConstructPairwiseLabels/ConstructKNN_fcv.py`` and ``ConstructPairwiseSim_fcv.py``).

Cells. Every LSTM is a peephole LSTM whose weights are shared over its steps while each step has its own
batch norm of the cell (``BN_t``: batch statistics in training, ``std = sqrt(mean((c - m)^2 + 1e-10))``,
``(c - m) / (std + 1e-10)``, running mean/std with momentum 0.99 used by ``encode``)::

    i = sig(x W_i + h U_i + b_i + c p_i)      f = sig(x W_f + h U_f + b_f + c p_f)   (b_f starts at 1)
    c' = BN_t(f c + i tanh(x W_c + h U_c + b_c))
    o = sig(x W_o + h U_o + b_o + c' p_o)      h' = o c' (encoder units)  or  o tanh(c') (``LSTM_Dec``)

Encoder: F = T - T mod 2 frames (24 of FCVID's 25, as ``v_length``). Level 1 (width ``hidden``) reads
the frames; level 2 (width ``bits``) reads level-1 states 1, 3, ..., F-1 and passes its hidden state to
its next step through ``binary_tanh_unit`` (:mod:`.ssl.binary`). The code ``H`` (B, bits) is level 2's
last real hidden state; ``encode`` returns it (code = sign). Decoders start from (binary(H), c_last):
backward and forward decoders are an ``LSTM_Dec`` of F/2 steps (width ``bits``, no input) under an
F-step ``LSTM_Unit`` (width ``hidden``) whose step t reads high state t // 2 and predicts a frame with
``h W_out + b_out``; the mean decoder is one step of each, predicting the frame mean. Losses (sums)::

    pairwise     = sum_{b,j} (H_b . H~_j / bits - S[idx_b, j])^2    H~ = the code bank with the batch's rows = H
    quantisation = sum (H - sgn H)^2                                 (sgn: no gradient)
    backward     = sum_t ||x_{F-1-t} - y^bwd_t||^2      forward = sum_t ||x_t - y^fwd_t||^2
    mean         = F ||mean_t x_t - y^mean||^2
    loss = pw (pairwise + lamb quantisation) + (1 - pw)(w_b backward + w_f forward + w_m mean)

The bank H~ (N, bits) holds each training video's latest code (zeros until seen), updated after each
batch. ``fit`` builds S (0/1, symmetric) as ``ConstructPairwiseSim``: cosine kNN of the frame-mean
features (all T frames), N_i = the first ``knn`` + 1 neighbours (self included), the ``shared`` videos j
with the most common neighbours |N_i & N_j|, and S[i, j] = S[j, i] = 1 for every j in their union.

Defaults = the released settings: hidden 256 (= ``dim_proj``, so ``bits`` 256 reproduces it exactly),
pairwise_weight 0.999, quantisation_weight 0.2 (``lamb``), reconstruction_weights 1/3 each, knn 10
(K1), shared 5 (K2), bn_momentum 0.99. Training: SGD, lr 1e-4, momentum 0.9, weight decay 1e-4 (the
``l2_decay / 2 ||p||^2`` regulariser), batch 256, 100 epochs (experiment [train]).

``variant``: "released" (default; it produced ``SSVH/map.txt``): the forward decoder's odd steps read
the BACKWARD decoder's high state (``net_ru_high`` in ``model.py``'s ``netrv`` loop); "paper": the forward
decoder reads its own high states, three independent decoders as the paper describes.

Deliberate differences: (1) the released SGD clips each velocity entry to +-1e-4 and decays lr by
0.9^(step / 10000); hashbench's SGD has neither. (2) The last, short batch is not zero-padded to 256
rows (padding entered the batch norm and the losses). (3) Output projections no loss reads (the
encoders' and ``LSTM_Dec``'s ``W_output``; they only decayed) are left out; ``hidden`` may differ from
``bits`` (the release ties both to ``dim_proj``). (4) Ties in the kNN and shared-neighbour rankings go to
the lower index (NumPy's unstable quicksort); a zero feature vector has cosine 0 to all (NaN there).
(5) Theano's ``Round3`` has no gradient mask at 0; the shared unit's (at x = -1 exactly) is kept.
(6) An exactly-zero code entry becomes 1e-30 in ``encode`` (sign 0 is no code). (7) Initialisation
follows the release's schemes (Glorot-uniform inputs, orthogonal x 1.1 recurrences, peepholes
U(-0.1, 0.1)) from ``torch`` draws, and ``orthogonal_`` by QR rather than Lasagne's SVD.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import nn

from hashbench.contract import HashMethod, MethodBatch, pooled_inputs
from hashbench.data import data_digest, memo
from hashbench.errors import ContractError

from .ssl.binary import binary_tanh_unit

__all__ = ["SSVH", "PeepholeLSTM", "StepNorm", "similarity_lists", "VARIANTS"]

VARIANTS = ("released", "paper")
EPS = 1e-10


class StepNorm(nn.Module):
    """The release's ``BatchNormalization`` of one step's cell (B, width): batch statistics when
    ``batch_stats`` (running ones updated in training mode), else the running mean and std."""

    def __init__(self, width: int, momentum: float) -> None:
        super().__init__()
        self.momentum = momentum
        self.gamma = nn.Parameter(torch.ones(width))
        self.beta = nn.Parameter(torch.zeros(width))
        self.register_buffer("running_mean", torch.zeros(width))
        self.register_buffer("running_std", torch.ones(width))

    def forward(self, x: torch.Tensor, batch_stats: bool) -> torch.Tensor:
        if batch_stats:
            mean = x.mean(dim=0)
            std = ((x - mean) ** 2 + EPS).mean(dim=0).sqrt()
            if self.training:
                with torch.no_grad():
                    self.running_mean.mul_(self.momentum).add_((1 - self.momentum) * mean)
                    self.running_std.mul_(self.momentum).add_((1 - self.momentum) * std)
        else:
            mean, std = self.running_mean, self.running_std
        return self.gamma * (x - mean) / (std + EPS) + self.beta


class PeepholeLSTM(nn.Module):
    """One of the release's LSTM chains: weights shared over ``steps``, a :class:`StepNorm` per step.
    ``in_dim`` 0: no input (``LSTM_Dec``); ``out_dim`` > 0: a frame projection ``h W_out + b_out``;
    ``tanh_hidden``: ``h = o tanh(c)`` (``LSTM_Dec``) instead of ``o c``. Gate order in the fused
    ``w_in`` (in_dim, 4 width), ``w_hid`` (width, 4 width), ``bias`` (4 width): in, forget, cell, out;
    ``peep`` (3, width): in, forget, out."""

    def __init__(self, in_dim: int, width: int, steps: int, momentum: float, out_dim: int = 0,
                 tanh_hidden: bool = False) -> None:
        super().__init__()
        self.width, self.tanh_hidden = width, tanh_hidden
        if in_dim:
            bound = (6.0 / (in_dim + width)) ** 0.5
            self.w_in = nn.Parameter(torch.empty(in_dim, 4 * width).uniform_(-bound, bound))
        else:
            self.register_parameter("w_in", None)
        self.w_hid = nn.Parameter(torch.cat([nn.init.orthogonal_(torch.empty(width, width)) * 1.1
                                             for _ in range(4)], dim=1))
        self.bias = nn.Parameter(torch.cat([torch.zeros(width), torch.ones(width), torch.zeros(2 * width)]))
        self.peep = nn.Parameter(torch.empty(3, width).uniform_(-0.1, 0.1))
        self.norms = nn.ModuleList(StepNorm(width, momentum) for _ in range(steps))
        if out_dim:
            bound = (6.0 / (width + out_dim)) ** 0.5
            self.w_out = nn.Parameter(torch.empty(width, out_dim).uniform_(-bound, bound))
            self.b_out = nn.Parameter(torch.zeros(out_dim))

    def step(self, t: int, x: Optional[torch.Tensor], h: torch.Tensor, c: torch.Tensor,
             batch_stats: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Step ``t``: input ``x`` (B, in_dim) or None, state (h, c) (B, width) -> the new (h, c)."""
        gates = h @ self.w_hid + self.bias
        if x is not None:
            gates = gates + x @ self.w_in
        g_i, g_f, g_c, g_o = gates.split(self.width, dim=1)
        i = torch.sigmoid(g_i + c * self.peep[0])
        f = torch.sigmoid(g_f + c * self.peep[1])
        cell = self.norms[t](f * c + i * torch.tanh(g_c), batch_stats)
        o = torch.sigmoid(g_o + cell * self.peep[2])
        return o * (torch.tanh(cell) if self.tanh_hidden else cell), cell

    def project(self, h: torch.Tensor) -> torch.Tensor:
        """The predicted frame (B, out_dim) of a hidden state."""
        return h @ self.w_out + self.b_out


def _top_stable(scores: np.ndarray, k: int) -> np.ndarray:
    """Per row, the indices of the ``k`` largest scores, ties to the lower index (N, k)."""
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def similarity_lists(pooled: np.ndarray, knn: int = 10, shared: int = 5) -> dict[str, np.ndarray]:
    """S of the module docstring as CSR arrays ``indptr`` (N + 1,) and ``indices`` (nnz,) int64 (sorted
    per row) from frame-mean features (N, D)."""
    from scipy import sparse

    x = np.asarray(pooled, dtype=np.float64)
    n = x.shape[0]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit = x / np.where(norms > 0, norms, 1.0)
    k1 = min(knn + 1, n)
    neighbours = np.concatenate([_top_stable(unit[s:s + 1024] @ unit.T, k1) for s in range(0, n, 1024)])
    member = sparse.csr_matrix((np.ones(n * k1), neighbours.ravel(), np.arange(0, n * k1 + 1, k1)), shape=(n, n))
    counts = (member @ member.T).tocsr()
    rows, cols, k2 = [], [], min(shared, n)
    for i in range(n):
        found = counts.indices[counts.indptr[i]:counts.indptr[i + 1]]
        top = found[np.lexsort((found, -counts.data[counts.indptr[i]:counts.indptr[i + 1]]))[:k2]]
        if top.size < k2:  # then the videos sharing no neighbour, lowest index first
            top = np.concatenate([top, np.setdiff1d(np.arange(found.size + k2), found)[:k2 - top.size]])
        union = np.unique(neighbours[top])
        rows.append(np.full(union.size, i))
        cols.append(union)
    r, c = np.concatenate(rows), np.concatenate(cols)
    sim = sparse.csr_matrix((np.ones(2 * r.size, dtype=np.int8), (np.concatenate([r, c]), np.concatenate([c, r]))),
                            shape=(n, n))
    sim.sum_duplicates()
    sim.sort_indices()
    return {"indptr": sim.indptr.astype(np.int64), "indices": sim.indices.astype(np.int64)}


class SSVH(HashMethod):
    """SSVH (module docstring): ``fit`` builds S and the bank; ``encode`` (B, T, D) -> (B, bits);
    ``loss_terms`` / ``training_loss``."""

    consumes = ("frame_features",)

    def __init__(self, bits: int, feature_dim: int, num_frames: int, seed: int = 0, hidden: int = 256,
                 pairwise_weight: float = 0.999, quantisation_weight: float = 0.2,
                 reconstruction_weights: Sequence[float] = (1 / 3, 1 / 3, 1 / 3), knn: int = 10, shared: int = 5,
                 bn_momentum: float = 0.99, variant: str = "released") -> None:
        super().__init__(bits, seed)
        if num_frames < 2:
            raise ValueError(f"num_frames = {num_frames}: SSVH's two-level encoder needs at least 2 frames")
        self.frames = num_frames - num_frames % 2
        self.pairwise_weight, self.quantisation_weight = float(pairwise_weight), float(quantisation_weight)
        self.reconstruction_weights = tuple(float(w) for w in reconstruction_weights)
        self.knn, self.shared, self.variant = int(knn), int(shared), variant
        f, half, m = self.frames, self.frames // 2, bn_momentum
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.enc1 = PeepholeLSTM(feature_dim, hidden, f, m)
            self.enc2 = PeepholeLSTM(hidden, bits, half, m)
            self.bwd_high = PeepholeLSTM(0, bits, half, m, tanh_hidden=True)
            self.bwd_low = PeepholeLSTM(bits, hidden, f, m, out_dim=feature_dim)
            self.fwd_high = PeepholeLSTM(0, bits, half, m, tanh_hidden=True)
            self.fwd_low = PeepholeLSTM(bits, hidden, f, m, out_dim=feature_dim)
            self.mean_high = PeepholeLSTM(0, bits, 1, m, tanh_hidden=True)
            self.mean_low = PeepholeLSTM(bits, hidden, 1, m, out_dim=feature_dim)
        for name in ("sim_indptr", "sim_indices"):
            self.register_buffer(name, torch.zeros(0, dtype=torch.int64))
        self.register_buffer("bank", torch.zeros(0, bits))

    # -- preprocessing -------------------------------------------------------------------------------
    def fit(self, train: Any) -> None:
        """S from the frame-mean training features (cached: :func:`hashbench.data.memo`); the bank zeroed."""
        pooled = pooled_inputs(train).double().numpy()
        params = {"version": 1, "knn": self.knn, "shared": self.shared}
        arrays = memo("ssvh_similarity", params, data_digest(pooled),
                      lambda: similarity_lists(pooled, self.knn, self.shared))
        device = self.bank.device
        self.sim_indptr = torch.as_tensor(arrays["indptr"], dtype=torch.int64, device=device)
        self.sim_indices = torch.as_tensor(arrays["indices"], dtype=torch.int64, device=device)
        self.bank = torch.zeros(pooled.shape[0], self.bits, device=device)

    def similarity_rows(self, indices: torch.Tensor) -> torch.Tensor:
        """Dense rows S[indices] (B, N) float, 0/1."""
        starts, ends = self.sim_indptr[indices], self.sim_indptr[indices + 1]
        counts = ends - starts
        rows = torch.repeat_interleave(torch.arange(indices.shape[0], device=indices.device), counts)
        offsets = torch.cumsum(counts, 0) - counts
        positions = torch.arange(int(counts.sum()), device=indices.device) - offsets.repeat_interleave(counts)
        out = torch.zeros(indices.shape[0], self.bank.shape[0], device=self.bank.device)
        out[rows, self.sim_indices[starts.repeat_interleave(counts) + positions]] = 1.0
        return out

    # -- model ---------------------------------------------------------------------------------------
    def encoder(self, x: torch.Tensor, batch_stats: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Frames (B, F, D) -> (H (B, bits) the real code, binary(H), level 2's last cell)."""
        zeros = x.new_zeros(x.shape[0], self.enc1.width)
        h, c, level1 = zeros, zeros, []
        for t in range(self.frames):
            h, c = self.enc1.step(t, x[:, t], h, c, batch_stats)
            level1.append(h)
        hb = c2 = x.new_zeros(x.shape[0], self.bits)
        for s in range(self.frames // 2):
            h2, c2 = self.enc2.step(s, level1[2 * s + 1], hb, c2, batch_stats)
            hb = binary_tanh_unit(h2)
        return h2, hb, c2

    def _decode(self, high: PeepholeLSTM, low: PeepholeLSTM, hb: torch.Tensor, c: torch.Tensor,
                other: Optional[list[torch.Tensor]] = None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """One sequence decoder: (its high states, its F predicted frames); ``other``: high states that odd
        steps read instead (the released forward decoder)."""
        highs = []
        for s in range(len(high.norms)):
            hb, c = high.step(s, None, hb, c, True)
            highs.append(hb)
        h = c = hb.new_zeros(hb.shape[0], low.width)
        frames = []
        for t in range(self.frames):
            source = other if other is not None and t % 2 else highs
            h, c = low.step(t, source[t // 2], h, c, True)
            frames.append(low.project(h))
        return highs, frames

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """Frame features (B, T, D) -> H (B, bits) with the running batch-norm statistics; code = sign."""
        h, _, _ = self.encoder(inputs.float()[:, :self.frames], batch_stats=False)
        return torch.where(h == 0, torch.full_like(h, 1e-30), h)

    # -- losses --------------------------------------------------------------------------------------
    def terms_given(self, x: torch.Tensor, indices: torch.Tensor, bank: torch.Tensor) -> dict[str, torch.Tensor]:
        """The unweighted terms of frames ``x`` (B, T, D) at training ``indices`` against ``bank``
        (N, bits); also ``codes`` (H, not a term)."""
        x = x[:, :self.frames]
        h, hb, c = self.encoder(x, batch_stats=True)
        memory = bank.index_copy(0, indices, h)
        pairwise = ((h @ memory.T / self.bits - self.similarity_rows(indices)) ** 2).sum()
        quantisation = ((h - torch.sign(h).detach()) ** 2).sum()
        bwd_highs, backward = self._decode(self.bwd_high, self.bwd_low, hb, c)
        _, forward = self._decode(self.fwd_high, self.fwd_low, hb, c,
                                  bwd_highs if self.variant == "released" else None)
        mh, mc = self.mean_high.step(0, None, hb, c, True)
        zeros = x.new_zeros(x.shape[0], self.mean_low.width)
        ml, _ = self.mean_low.step(0, mh, zeros, zeros, True)
        f = self.frames
        return {"pairwise": pairwise, "quantisation": quantisation,
                "backward": sum(((x[:, f - 1 - t] - y) ** 2).sum() for t, y in enumerate(backward)),
                "forward": sum(((x[:, t] - y) ** 2).sum() for t, y in enumerate(forward)),
                "mean": f * ((x.mean(dim=1) - self.mean_low.project(ml)) ** 2).sum(), "codes": h}

    def _check_fitted(self, indices: torch.Tensor) -> None:
        if self.bank.shape[0] == 0:
            raise ContractError("SSVH.training_loss before fit(train): the similarity matrix S is not built")
        if int(indices.max()) >= self.bank.shape[0]:
            raise ContractError(f"SSVH: training index {int(indices.max())} outside the {self.bank.shape[0]}"
                                " videos fit() saw")

    def loss_terms(self, batch: MethodBatch) -> dict[str, torch.Tensor]:
        """``pairwise``, ``quantisation``, ``backward``, ``forward``, ``mean`` (unweighted; the bank unchanged)."""
        self._check_fitted(batch.indices)
        terms = self.terms_given(batch.inputs.float(), batch.indices, self.bank)
        terms.pop("codes")
        return terms

    def weighted(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """The total loss of the module docstring from the unweighted terms."""
        w_b, w_f, w_m = self.reconstruction_weights
        rec = w_b * terms["backward"] + w_f * terms["forward"] + w_m * terms["mean"]
        pair = terms["pairwise"] + self.quantisation_weight * terms["quantisation"]
        return self.pairwise_weight * pair + (1 - self.pairwise_weight) * rec

    def training_loss(self, batch: MethodBatch) -> torch.Tensor:
        """The weighted loss of a batch; then the batch's codes are written into the bank."""
        self._check_fitted(batch.indices)
        terms = self.terms_given(batch.inputs.float(), batch.indices, self.bank)
        with torch.no_grad():
            self.bank[batch.indices] = terms["codes"].detach()
        return self.weighted(terms)

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any) -> None:
        for name in ("sim_indptr", "sim_indices", "bank"):  # fit-sized buffers take the saved shapes
            saved = state_dict.get(prefix + name)
            if saved is not None:
                setattr(self, name, torch.empty_like(saved, device=getattr(self, name).device))
        super()._load_from_state_dict(state_dict, prefix, *args)
