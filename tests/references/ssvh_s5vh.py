"""Independent re-derivation of S5VH's forward and loss terms (gimpong/AAAI25-S5VH at 4926cb7,
``model/S5VH.py`` S5VH_Model / Block, ``Loss/S5VH_loss.py`` S5VH_criterion), for parity tests.

Written from the released code's behaviour, sharing no code with ``hashbench_ref.methods.s5vh``: float64,
one video at a time; the Mamba layer written out (projections, a causal depthwise convolution as a loop
over taps, the state-space recurrence of :func:`.ssl_blocks.selective_scan`); the bidirectional block as
``x + mamba(LN(x)) + flip(mamba'(LN'(flip(x))))`` (no drop path: the parity tests use rate 0); the
cluster cross-entropy and the soft-label update written out per video. Weights come in as the plain
``{name: tensor}`` dict of :func:`.ssvh_conmh.as_float64` (the method's names without ``net.``).
"""
from __future__ import annotations

import torch

from .ssl_blocks import dcl, selective_scan
from .ssvh_conmh import layer_norm, sin_table, ste


def silu(x: torch.Tensor) -> torch.Tensor:
    return x / (1.0 + torch.exp(-x))


def mamba(h: torch.Tensor, p: dict, pre: str) -> torch.Tensor:
    """mamba-ssm's Mamba.forward (v2.0.4, no CUDA kernel) on one sequence ``h`` (L, d_model)."""
    length = h.shape[0]
    xz = h @ p[pre + "in_proj.weight"].T
    inner = xz.shape[1] // 2
    x, z = xz[:, :inner], xz[:, inner:]
    w, bias = p[pre + "conv1d.weight"], p[pre + "conv1d.bias"]  # (inner, 1, K), (inner,)
    taps = w.shape[2]
    conv = []
    for t in range(length):
        acc = bias.clone()
        for k in range(taps):
            src = t - (taps - 1) + k
            if src >= 0:
                acc = acc + w[:, 0, k] * x[src]
        conv.append(silu(acc))
    x = torch.stack(conv)  # (L, inner)
    n = p[pre + "A_log"].shape[1]
    dbl = x @ p[pre + "x_proj.weight"].T
    rank = dbl.shape[1] - 2 * n
    dt = dbl[:, :rank] @ p[pre + "dt_proj.weight"].T  # (L, inner)
    b_in, c_in = dbl[:, rank:rank + n], dbl[:, rank + n:]
    y = selective_scan(x.T[None], dt.T[None], -torch.exp(p[pre + "A_log"]), b_in.T[None], c_in.T[None],
                       p[pre + "D"], z.T[None], p[pre + "dt_proj.bias"], True)[0]  # (inner, L)
    return y.T @ p[pre + "out_proj.weight"].T


def bimamba(h: torch.Tensor, p: dict, pre: str, eps: float = 1e-6) -> torch.Tensor:
    """The released Block: ``mamba2`` is ``mamba1`` unless the weights hold a second one (paper)."""
    second = pre + ("mamba2." if pre + "mamba2.in_proj.weight" in p else "mamba1.")
    up = mamba(layer_norm(h, p[pre + "norm1.weight"], p[pre + "norm1.bias"], eps), p, pre + "mamba1.")
    flipped = torch.flip(h, dims=[0])
    down = mamba(layer_norm(flipped, p[pre + "norm2.weight"], p[pre + "norm2.bias"], eps), p, second)
    return h + up + torch.flip(down, dims=[0])


def _depth(p: dict, prefix: str) -> int:
    return len({k.split(".")[1] for k in p if k.startswith(prefix + ".")})


def pre_binary(video: torch.Tensor, keep: list[int], p: dict) -> torch.Tensor:
    """``binary(head(norm(blocks(embed + pos)[keep])))`` (len(keep), bits) of one video, before ``ln``."""
    width = p["patch_embed.weight"].shape[0]
    h = (video @ p["patch_embed.weight"].T + p["patch_embed.bias"] + sin_table(video.shape[0], width))[keep]
    for i in range(_depth(p, "blocks")):
        h = bimamba(h, p, f"blocks.{i}.")
    h = layer_norm(h, p["norm.weight"], p["norm.bias"], 1e-6) @ p["head.weight"].T + p["head.bias"]
    return h @ p["binary.weight"].T + p["binary.bias"]


def frame_codes(video: torch.Tensor, keep: list[int], p: dict) -> torch.Tensor:
    return ste(layer_norm(pre_binary(video, keep, p), p["ln.weight"], p["ln.bias"], 1e-5))


def reconstruct(codes: torch.Tensor, keep: list[int], drop: list[int], p: dict) -> torch.Tensor:
    positions = sin_table(len(keep) + len(drop), p["e2d.weight"].shape[0])
    tokens = [codes[i] @ p["e2d.weight"].T + positions[t] for i, t in enumerate(keep)]
    h = torch.stack(tokens + [p["mask_token"][0, 0] + positions[t] for t in drop])
    for i in range(_depth(p, "decoder")):
        h = bimamba(h, p, f"decoder.{i}.")
    h = layer_norm(h[len(keep):], p["decoder_norm.weight"], p["decoder_norm.bias"], 1e-6)
    return h @ p["decoder_head.weight"].T + p["decoder_head.bias"]


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """nn.CrossEntropyLoss with probability targets: mean over rows of -sum_k t_k log softmax(logits)_k."""
    total = 0.0
    for i in range(logits.shape[0]):
        log_norm = torch.log(sum(torch.exp(v) for v in logits[i]))
        total = total - sum(target[i, k] * (logits[i, k] - log_norm) for k in range(logits.shape[1]))
    return total / logits.shape[0]


def targets(x: torch.Tensor, rows: torch.Tensor, p: dict, smoothing: float, warm: bool, ln: bool) -> torch.Tensor:
    """The cluster targets: the bank rows during the warm-up, else ``(1 - s) rows + s softmax(pred)`` with
    ``pred = classifier(mean_t code)`` of all frames (``get_label_pred``: no ``ln`` when ``ln`` is False)."""
    if warm:
        return rows
    out = []
    for v in range(x.shape[0]):
        pre = pre_binary(x[v], list(range(x.shape[1])), p).detach()
        if ln:
            pre = layer_norm(pre, p["ln.weight"].detach(), p["ln.bias"].detach(), 1e-5)
        logits = ste(pre).mean(dim=0) @ p["classifier.weight"].detach().T
        probs = torch.exp(logits) / torch.exp(logits).sum()
        out.append((1.0 - smoothing) * rows[v] + smoothing * probs)
    return torch.stack(out)


def s5vh_terms(x: torch.Tensor, masks: torch.Tensor, p: dict, rows: torch.Tensor, settings: dict) -> dict:
    """``reconstruction``, ``contrastive``, ``cluster`` and ``targets`` of ``x`` (B, T, D) under masks
    (B, 2, T) with bank rows ``rows`` (B, K); ``settings``: bits, temperature, tau_plus,
    temperature_cluster, smoothing, warm (bool), ln (bool)."""
    recs, means = [], []
    for view in (0, 1):
        errors, codes_mean = [], []
        for v in range(x.shape[0]):
            keep = [t for t in range(x.shape[1]) if not bool(masks[v, view, t])]
            drop = [t for t in range(x.shape[1]) if bool(masks[v, view, t])]
            codes = frame_codes(x[v], keep, p)
            pred = reconstruct(codes, keep, drop, p)
            errors.append(((pred - x[v][drop]) ** 2).mean(dim=-1).mean())  # torch.mean(mean(mse, -1))
            codes_mean.append(codes.sum(dim=0) / len(keep))
        recs.append(sum(errors) / len(errors))
        means.append(torch.stack(codes_mean))
    target = targets(x, rows, p, settings["smoothing"], settings["warm"], settings["ln"])
    scale = settings["bits"] * settings["temperature_cluster"]
    cluster = sum(0.5 * soft_cross_entropy(m @ p["classifier.weight"].T / scale, target) for m in means)
    return {"reconstruction": recs[0] + recs[1], "cluster": cluster, "targets": target,
            "contrastive": dcl(means[0], means[1], settings["temperature"], settings["tau_plus"]),
            "codes1": means[0], "codes2": means[1]}


def inference_codes(x: torch.Tensor, p: dict) -> torch.Tensor:
    """S5VH_inference: mean over all frames of the +-1 codes (B, bits); its sign is the code."""
    return torch.stack([frame_codes(x[v], list(range(x.shape[1])), p).mean(dim=0) for v in range(x.shape[0])])


__all__ = ["mamba", "bimamba", "s5vh_terms", "inference_codes", "soft_cross_entropy"]
