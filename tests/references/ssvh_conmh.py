"""Independent re-derivation of ConMH's forward and loss terms (huangmozhi9527/ConMH at d6dd5b5,
``model/conmh.py`` Transformer, ``Loss/conmh_loss.py`` conmh_criterion), for parity tests.

Written from the released code's behaviour, sharing no code with ``hashbench_ref.methods.conmh``: float64,
one video at a time, attention one head at a time, layer norms and GELU written out, masked frames picked
by index lists; weights come in as a plain ``{name: tensor}`` dict copied from the method's state dict
(names as :class:`~hashbench_ref.methods.conmh.MaskedHashTransformer` spells them). Gradients come from
autograd through these loops; the binary unit's derivative is written out
(:func:`tests.references.ssl_blocks.binary_unit`).
"""
from __future__ import annotations

import math

import torch

from .ssl_blocks import binary_unit, dcl


def sin_table(frames: int, width: int) -> torch.Tensor:
    """(frames, width) sinusoid positions, element by element."""
    out = torch.zeros(frames, width, dtype=torch.float64)
    for p in range(frames):
        for j in range(width):
            angle = p / 10000.0 ** (2 * (j // 2) / width)
            out[p, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    return out


def layer_norm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, eps: float) -> torch.Tensor:
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w + b


def gelu(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def block(x: torch.Tensor, p: dict, pre: str, heads: int) -> torch.Tensor:
    """One pre-norm block on one video's tokens (n, c)."""
    c = p[pre + "attn.q_bias"].shape[0]  # heads * (width // heads)
    h = layer_norm(x, p[pre + "norm1.weight"], p[pre + "norm1.bias"], 1e-6)
    w = p[pre + "attn.qkv.weight"]
    q = h @ w[:c].T + p[pre + "attn.q_bias"]
    k = h @ w[c:2 * c].T
    v = h @ w[2 * c:].T + p[pre + "attn.v_bias"]
    d = c // heads
    outs = []
    for head in range(heads):
        sl = slice(head * d, (head + 1) * d)
        scores = (q[:, sl] / math.sqrt(d)) @ k[:, sl].T
        weights = torch.exp(scores - scores.max(dim=1, keepdim=True).values)
        outs.append((weights / weights.sum(dim=1, keepdim=True)) @ v[:, sl])
    x = x + torch.cat(outs, dim=1) @ p[pre + "attn.proj.weight"].T + p[pre + "attn.proj.bias"]
    h = layer_norm(x, p[pre + "norm2.weight"], p[pre + "norm2.bias"], 1e-6)
    h = gelu(h @ p[pre + "mlp.0.weight"].T + p[pre + "mlp.0.bias"])
    return x + h @ p[pre + "mlp.2.weight"].T + p[pre + "mlp.2.bias"]


def _depth(p: dict, prefix: str) -> int:
    return len({k.split(".")[1] for k in p if k.startswith(prefix + ".")})


def ste(x: torch.Tensor) -> torch.Tensor:
    """binary_tanh_unit with Round3's straight-through derivative."""
    value, grad = binary_unit(x)
    return value + (x - x.detach()) * grad


def frame_codes(video: torch.Tensor, keep: list[int], p: dict, heads: int) -> torch.Tensor:
    """The +-1 codes (len(keep), bits) of one video's kept frames."""
    return token_codes(embed(video, p)[keep], p, heads)


def embed(video: torch.Tensor, p: dict) -> torch.Tensor:
    """One video's encoder tokens (T, width): patch_embed plus the sinusoid positions."""
    width = p["patch_embed.weight"].shape[0]
    return video @ p["patch_embed.weight"].T + p["patch_embed.bias"] + sin_table(video.shape[0], width)


def token_codes(h: torch.Tensor, p: dict, heads: int) -> torch.Tensor:
    """The +-1 codes (n, bits) of one video's encoder tokens (n, width)."""
    for i in range(_depth(p, "blocks")):
        h = block(h, p, f"blocks.{i}.", heads)
    h = layer_norm(h, p["norm.weight"], p["norm.bias"], 1e-6) @ p["head.weight"].T + p["head.bias"]
    h = h @ p["binary.weight"].T + p["binary.bias"]
    return ste(layer_norm(h, p["ln.weight"], p["ln.bias"], 1e-5))


def reconstruct(codes: torch.Tensor, keep: list[int], drop: list[int], p: dict, heads: int,
                positions: torch.Tensor) -> torch.Tensor:
    """The predicted masked frames (len(drop), D) of one video."""
    tokens = [codes[i] @ p["e2d.weight"].T + positions[t] for i, t in enumerate(keep)]
    tokens += [p["mask_token"][0, 0] + positions[t] for t in drop]
    h = torch.stack(tokens)
    for i in range(_depth(p, "decoder")):
        h = block(h, p, f"decoder.{i}.", heads)
    h = layer_norm(h[len(keep):], p["decoder_norm.weight"], p["decoder_norm.bias"], 1e-6)
    return h @ p["decoder_head.weight"].T + p["decoder_head.bias"]


def decoder_positions(p: dict, frames: int) -> torch.Tensor:
    if "decoder_pos" in p:  # learned (AutoSSVH)
        return p["decoder_pos"][0, :frames]
    return sin_table(frames, p["e2d.weight"].shape[0])


def view(x: torch.Tensor, mask: torch.Tensor, p: dict, heads: tuple[int, int]):
    """(reconstruction MSE of one view, its mean codes (B, bits)) with masks (B, T) True = masked."""
    errors, means = [], []
    positions = decoder_positions(p, x.shape[1])
    for v in range(x.shape[0]):
        keep = [t for t in range(x.shape[1]) if not bool(mask[v, t])]
        drop = [t for t in range(x.shape[1]) if bool(mask[v, t])]
        codes = frame_codes(x[v], keep, p, heads[0])
        pred = reconstruct(codes, keep, drop, p, heads[1], positions)
        errors.append(((pred - x[v][drop]) ** 2).sum() / pred.numel())
        means.append(codes.sum(dim=0) / len(keep))
    return sum(errors) / len(errors), torch.stack(means)


def conmh_terms(x: torch.Tensor, masks: torch.Tensor, p: dict, heads: tuple[int, int], temperature: float,
                tau_plus: float) -> dict:
    """``reconstruction`` and ``contrastive`` of ``x`` (B, T, D) under masks (B, 2, T), and the two views'
    mean codes (``codes1``, ``codes2``)."""
    rec1, c1 = view(x, masks[:, 0], p, heads)
    rec2, c2 = view(x, masks[:, 1], p, heads)
    return {"reconstruction": rec1 + rec2, "contrastive": dcl(c1, c2, temperature, tau_plus), "codes1": c1,
            "codes2": c2}


def inference_codes(x: torch.Tensor, p: dict, heads: int) -> torch.Tensor:
    """The reference's test codes: mean over all frames of the +-1 codes (B, bits); its sign is the code."""
    return torch.stack([frame_codes(x[v], list(range(x.shape[1])), p, heads).mean(dim=0)
                        for v in range(x.shape[0])])


def as_float64(state: dict) -> dict:
    """The method's state dict as float64 leaves requiring grad (keys without the ``net.`` prefix)."""
    return {k.removeprefix("net."): v.detach().double().clone().requires_grad_(v.is_floating_point())
            for k, v in state.items()}


#: The plain epoch loop of the resume tests lives in tests/support/methods.py (a test helper, not an oracle);
#: re-exported here for the method tests that import it from this module.
from support.methods import train_direct  # noqa: E402

__all__ = ["conmh_terms", "inference_codes", "as_float64", "sin_table", "block", "view", "train_direct"]
