"""ConMH (Wang et al., AAAI 2023): a masked-frame transformer autoencoder whose per-frame binary codes
reconstruct the masked frames, with a debiased contrastive loss between two complementary masked views.

Paper: Y. Wang, J. Wang, B. Chen, Z. Zeng, S.-T. Xia, "Contrastive Masked Autoencoders for Self-Supervised
Video Hashing", AAAI 2023. Reference followed: huangmozhi9527/ConMH at d6dd5b5 (``model/conmh.py``
``Transformer`` "small", ``Loss/conmh_loss.py`` ``conmh_criterion``, ``dataset/conmh_dataset.py``
masks, ``configs/conmh_{fcv,act,yfcc}.py``). With frames ``x`` (B, T, D) and, per video, two complementary
masks (:func:`~.ssl.masking.complementary_masks`, ``mask_ratio`` of the T frames masked in each view)::

    encoder(x, m) = head(LN(blocks(patch_embed(x) + sin_pos)[visible frames of m]))    (B, V, width)
    codes(x, m)   = binary_tanh_unit(LN_bits(binary(encoder(x, m))))                   (B, V, bits), +-1
    recon(x, m)   = dec_head(LN(dec_blocks([e2d(codes) + pos_vis ; mask_token + pos_masked])[-M:]))
    reconstruction = MSE(recon(x, m1), x[m1]) + MSE(recon(x, m2), x[m2])     (mean over the M masked frames, D)
    contrastive    = DCL(mean_t codes(x, m1), mean_t codes(x, m2); temperature, tau_plus)
    loss           = reconstruction + a * contrastive

Blocks are pre-norm ViT blocks (LayerNorm eps 1e-6, MLP ratio 4, GELU, q and v biases, k bias 0, heads
of width // heads channels: 6 x 42 = 252 of the 256 in "small");
the encoder's and decoder's linears are Xavier-uniform with zero biases, the mask token a normal of std
0.02 truncated at +-0.02; ``binary``, its LayerNorm and ``e2d`` (no bias) keep PyTorch's default
initialisation, as in the reference (its ``Transformer`` never applies ``_init_weights``). Inference
encodes all frames unmasked; the code is ``sign(mean_t codes)``.

Defaults = the paper's "small" model and FCVID settings: depth 12, width 256, heads 6, decoder depth 2,
width 192, heads 3, ``mask_ratio`` 0.75, ``a`` 1.0, ``temperature`` 0.5, ``tau_plus`` 0.1 (ActivityNet:
0.5, 0.2, 0.05). Training (Adam, lr 1e-4, StepLR 20 epochs x 0.9, batch 512, 805 epochs) is the
experiment's [train] table. No ``variant`` key: the released code does what the paper describes.

Deliberate differences: (1) ``encode`` returns ``mean_t codes + tanh(mean_t LN_bits(...)) / (2T)``: the
second term (smaller than the 2/T step of the first) only breaks exact ties (an even T can average +1 and
-1 to 0, whose sign is no code), so every non-zero sign is the reference's. (2) Masks come from the
method's own generator, reseeded from (seed, epoch) in ``on_epoch_start`` (the reference draws them with
NumPy in the data loader). (3) Dropout and drop-path are left out: the reference's rates are 0. (4) The
reference's ``min_lr`` floor (1e-5) has no [train] key; StepLR reaches it after epoch 440 of 805.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hashbench.contract import HashMethod, MethodBatch

from .ssl.binary import binary_tanh_unit, frame_mean
from .ssl.contrastive import debiased_contrastive_loss
from .ssl.masking import complementary_masks, masked_frames

__all__ = ["ConMH", "MaskedHashTransformer", "sinusoid_table"]


def sinusoid_table(frames: int, width: int) -> torch.Tensor:
    """The fixed position embedding (1, frames, width): sin on even, cos on odd channels, angle
    ``pos / 10000^(2 floor(j / 2) / width)`` (computed in float64, stored float32)."""
    pos = np.arange(frames, dtype=np.float64)[:, None]
    angle = pos / np.power(10000.0, 2 * (np.arange(width) // 2) / width)[None, :]
    angle[:, 0::2], angle[:, 1::2] = np.sin(angle[:, 0::2]), np.cos(angle[:, 1::2])
    return torch.from_numpy(angle).float().unsqueeze(0)


class _Attention(nn.Module):
    """Multi-head self-attention with q and v biases (the k bias is 0); each head is ``width // heads``
    wide, so the heads span ``heads * (width // heads)`` channels (252 for the "small" 256-d, 6 heads)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads, inner = heads, heads * (width // heads)
        self.qkv = nn.Linear(width, 3 * inner, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(inner))
        self.v_bias = nn.Parameter(torch.zeros(inner))
        self.proj = nn.Linear(inner, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        bias = torch.cat([self.q_bias, torch.zeros_like(self.v_bias), self.v_bias])
        q, k, v = F.linear(x, self.qkv.weight, bias).reshape(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        attn = ((q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, -1))


class _Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(LN(x))``, then ``x + mlp(LN(x))`` (MLP ratio 4, GELU)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=1e-6)
        self.attn = _Attention(width, heads)
        self.norm2 = nn.LayerNorm(width, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def _xavier(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class MaskedHashTransformer(nn.Module):
    """ConMH's encoder, hash layer and decoder (module docstring); ``learned_positions``: the decoder's
    position embedding is a zero-initialised parameter (AutoSSVH) instead of the fixed sinusoid table."""

    def __init__(self, feature_dim: int, frames: int, bits: int, depth: int, width: int, heads: int,
                 decoder_depth: int, decoder_width: int, decoder_heads: int, learned_positions: bool = False) -> None:
        super().__init__()
        self.patch_embed = nn.Linear(feature_dim, width)
        self.register_buffer("pos", sinusoid_table(frames, width), persistent=False)
        self.blocks = nn.Sequential(*[_Block(width, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.head = nn.Linear(width, width)
        self.decoder = nn.Sequential(*[_Block(decoder_width, decoder_heads) for _ in range(decoder_depth)])
        self.decoder_norm = nn.LayerNorm(decoder_width, eps=1e-6)
        self.decoder_head = nn.Linear(decoder_width, feature_dim)
        _xavier(self)  # before the layers the reference leaves at PyTorch's defaults
        self.binary = nn.Linear(width, bits)
        self.ln = nn.LayerNorm(bits)
        self.e2d = nn.Linear(bits, decoder_width, bias=False)
        self.mask_token = nn.Parameter(nn.init.trunc_normal_(torch.zeros(1, 1, decoder_width), std=0.02,
                                                             a=-0.02, b=0.02))
        table = sinusoid_table(frames, decoder_width)
        if learned_positions:
            self.decoder_pos = nn.Parameter(torch.zeros_like(table))
        else:
            self.register_buffer("decoder_pos", table, persistent=False)

    def prebinary(self, x: torch.Tensor, visible: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``LN_bits(binary(encoder(x)))`` of the visible frames (B, T) bool (all when None) -> (B, V, bits)."""
        h = self.embed(x)
        if visible is not None:
            h = h[visible].reshape(x.shape[0], -1, h.shape[-1])
        return self.hash_tokens(h)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Frames (B, T, D) -> encoder tokens (B, T, width): ``patch_embed(x)`` plus the fixed positions."""
        return self.patch_embed(x) + self.pos[:, :x.shape[1]]

    def hash_tokens(self, h: torch.Tensor) -> torch.Tensor:
        """Encoder tokens (B, V, width) -> ``LN_bits(binary(head(LN(blocks(h)))))`` (B, V, bits)."""
        return self.ln(self.binary(self.head(self.norm(self.blocks(h)))))

    def reconstruct(self, codes: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The masked frames (B, M, D) predicted from the visible frames' codes (B, V, bits); ``mask`` (B, T)
        True = masked; decoder tokens: visible codes then mask tokens, each with its frame's position."""
        b = codes.shape[0]
        pos = self.decoder_pos[:, :mask.shape[1]].expand(b, -1, -1)
        width = pos.shape[-1]
        tokens = torch.cat([self.e2d(codes) + pos[~mask].reshape(b, -1, width),
                            self.mask_token + pos[mask].reshape(b, -1, width)], dim=1)
        masked = int(mask[0].sum())
        return self.decoder_head(self.decoder_norm(self.decoder(tokens)[:, -masked:]))


class ConMH(HashMethod):
    """ConMH (module docstring): ``encode`` (B, T, D) -> (B, bits); ``loss_terms`` / ``training_loss``."""

    consumes = ("frame_features",)

    def __init__(self, bits: int, feature_dim: int, num_frames: int, seed: int = 0, depth: int = 12,
                 width: int = 256, heads: int = 6, decoder_depth: int = 2, decoder_width: int = 192,
                 decoder_heads: int = 3, mask_ratio: float = 0.75, a: float = 1.0, temperature: float = 0.5,
                 tau_plus: float = 0.1, learned_positions: bool = False) -> None:
        super().__init__(bits, seed)
        if not 1 <= int(mask_ratio * num_frames) < num_frames:
            raise ValueError(f"method.mask_ratio = {mask_ratio} masks {int(mask_ratio * num_frames)} of "
                             f"{num_frames} frames; choose a ratio that masks at least one and keeps one")
        self.mask_ratio, self.a, self.temperature, self.tau_plus = mask_ratio, a, temperature, tau_plus
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.net = MaskedHashTransformer(feature_dim, num_frames, bits, depth, width, heads, decoder_depth,
                                             decoder_width, decoder_heads, learned_positions)
        self.generator = torch.Generator().manual_seed(self.seed)

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        """Reseed the mask generator from (seed, epoch): a resumed run draws the same masks."""
        self.generator.manual_seed(self.seed * 1_000_003 + int(epoch))

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """Frame features (B, T, D) -> real codes (B, bits): the frame mean of the +-1 frame codes, ties
        broken by the frame mean of the pre-binary values (module docstring, difference 1)."""
        pre = self.net.prebinary(inputs.float())
        return frame_mean(binary_tanh_unit(pre)) + torch.tanh(frame_mean(pre)) / (2 * pre.shape[1])

    def masks(self, batch: int, frames: int) -> torch.Tensor:
        """Two complementary masks per video (batch, 2, frames), True = masked, from the method's generator."""
        return complementary_masks(batch, frames, self.mask_ratio, self.generator)

    def view(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One masked view: (its reconstruction loss, the frame mean of its visible frames' codes (B, bits))."""
        codes = binary_tanh_unit(self.net.prebinary(x, ~mask))
        return F.mse_loss(self.net.reconstruct(codes, mask), masked_frames(x, mask)), frame_mean(codes)

    def terms_given(self, x: torch.Tensor, masks: torch.Tensor) -> dict[str, torch.Tensor]:
        """The loss terms of frames ``x`` (B, T, D) under given masks (B, 2, T); also the two views' mean
        codes (``codes1``, ``codes2``, not terms) for subclasses."""
        rec1, codes1 = self.view(x, masks[:, 0])
        rec2, codes2 = self.view(x, masks[:, 1])
        contrastive = debiased_contrastive_loss(codes1, codes2, self.temperature, self.tau_plus)
        return {"reconstruction": rec1 + rec2, "contrastive": contrastive, "codes1": codes1, "codes2": codes2}

    def loss_terms(self, batch: MethodBatch) -> dict[str, torch.Tensor]:
        """``reconstruction`` and ``contrastive`` (unweighted) of a batch, masks drawn from the generator."""
        x = batch.inputs.float()
        terms = self.terms_given(x, self.masks(x.shape[0], x.shape[1]).to(x.device))
        return {k: terms[k] for k in ("reconstruction", "contrastive")}

    def training_loss(self, batch: MethodBatch) -> torch.Tensor:
        """``reconstruction + a * contrastive`` (a scalar)."""
        terms = self.loss_terms(batch)
        return terms["reconstruction"] + self.a * terms["contrastive"]
