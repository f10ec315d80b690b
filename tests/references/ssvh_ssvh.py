"""An independent re-derivation of SSVH's released Theano code, for parity tests.

Written from lixiangpengcs/Self-Supervised-Video-Hashing at 93b2d36 (``SSVH/layers.py``: ``LSTM_Unit``,
``LSTM_Dec``, ``BatchNormalization``, ``Round3``/``binary_tanh_unit``, ``BinaryLayer``; ``SSVH/model.py``
``compile``: how the eight nets are wired and the losses; ``ConstructPairwiseLabels/*``: the similarity
matrix) and the TIP 2018 paper, in float64 with Python loops over steps, gates, batch rows and pairs. The
graph is laid out as the release's nets of per-step units (``lu``, ``hiera``, ``ru_high``, ``ru``,
``rv_high``, ``rv``, ``rm_high``, ``rm``); it shares no code with ``hashbench_ref.methods.ssvh``. Only
the weights are copied from a method (:func:`weights_of`), split per gate as the release stores them.
"""
from __future__ import annotations

import math

import numpy as np
import torch

GATES = ("in", "forget", "cell", "out")
#: method chain -> the release's net of it
NETS = {"enc1": "lu", "enc2": "hiera", "bwd_high": "ru_high", "bwd_low": "ru", "fwd_high": "rv_high",
        "fwd_low": "rv", "mean_high": "rm_high", "mean_low": "rm"}


def weights_of(method) -> dict:
    """``{net: {name: float64 leaf tensor}}``: per-gate W_in/W_hid/b, peepholes, per-step gamma/beta and
    running mean/std, W_output/b_output, copied from an SSVH method's chains."""
    out = {}
    for chain, net in NETS.items():
        module = getattr(method, chain)
        w = module.width
        p = {}
        for g, gate in enumerate(GATES):
            if module.w_in is not None:
                p[f"W_in_{gate}"] = module.w_in.detach()[:, g * w:(g + 1) * w]
            p[f"W_hid_{gate}"] = module.w_hid.detach()[:, g * w:(g + 1) * w]
            p[f"b_{gate}"] = module.bias.detach()[g * w:(g + 1) * w]
        for k, gate in enumerate(("in", "forget", "out")):
            p[f"W_cell_{gate}"] = module.peep.detach()[k]
        for t, norm in enumerate(module.norms):
            p[f"gamma_{t}"], p[f"beta_{t}"] = norm.gamma.detach(), norm.beta.detach()
            p[f"running_mean_{t}"], p[f"running_std_{t}"] = norm.running_mean, norm.running_std
        if hasattr(module, "w_out"):
            p["W_output"], p["b_output"] = module.w_out.detach(), module.b_out.detach()
        out[net] = {k: v.clone().double().requires_grad_(not k.startswith("running")) for k, v in p.items()}
    return out


def grads_as_method(weights: dict, net: str, width: int) -> dict:
    """The reference's gradients of one net, fused as the method's chain lays them out."""
    p = weights[net]
    g = {k: (v.grad if v.grad is not None else torch.zeros_like(v)) for k, v in p.items()}
    out = {"w_hid": torch.cat([g[f"W_hid_{x}"] for x in GATES], dim=1),
           "bias": torch.cat([g[f"b_{x}"] for x in GATES]),
           "peep": torch.stack([g[f"W_cell_{x}"] for x in ("in", "forget", "out")])}
    if "W_in_in" in p:
        out["w_in"] = torch.cat([g[f"W_in_{x}"] for x in GATES], dim=1)
    if "W_output" in p:
        out["w_out"], out["b_out"] = g["W_output"], g["b_output"]
    steps = sum(1 for k in p if k.startswith("gamma_"))
    for t in range(steps):
        out[f"norms.{t}.gamma"], out[f"norms.{t}.beta"] = g[f"gamma_{t}"], g[f"beta_{t}"]
    return out


def _sigmoid(v):
    return 1.0 / (1.0 + torch.exp(-v))


def batch_norm(p: dict, t: int, cell: torch.Tensor, train: bool) -> torch.Tensor:
    """``BatchNormalization.set_output`` of step ``t`` (batch statistics in train, running ones else)."""
    rows = cell.shape[0]
    if train:
        m = sum(cell[r] for r in range(rows)) / rows
        std = torch.sqrt(sum((cell[r] - m) ** 2 + 1e-10 for r in range(rows)) / rows)
    else:
        m, std = p[f"running_mean_{t}"].double(), p[f"running_std_{t}"].double()
    return p[f"gamma_{t}"] * ((cell - m) / (std + 1e-10)) + p[f"beta_{t}"]


def lstm_step(p: dict, t: int, x, hid, cell, train: bool, use_th: bool):
    """``LSTM_Unit.step`` (x given, ``use_th`` False) or ``LSTM_Dec.step`` (x None, ``use_th`` True) -> (hid, cell)."""
    pre = {}
    for gate in GATES:
        v = hid @ p[f"W_hid_{gate}"] + p[f"b_{gate}"]
        if x is not None:
            v = v + x @ p[f"W_in_{gate}"]
        pre[gate] = v
    ingate = _sigmoid(pre["in"] + cell * p["W_cell_in"])
    forgetgate = _sigmoid(pre["forget"] + cell * p["W_cell_forget"])
    new_cell = batch_norm(p, t, forgetgate * cell + ingate * torch.tanh(pre["cell"]), train)
    outgate = _sigmoid(pre["out"] + new_cell * p["W_cell_out"])
    return outgate * (torch.tanh(new_cell) if use_th else new_cell), new_cell


def binary_tanh_unit(x: torch.Tensor) -> torch.Tensor:
    """Theano's ``2 round3(clip((x+1)/2, 0, 1)) - 1``: C ``round`` (half away from zero) and ``Round3.grad``
    passing the gradient straight through the rounding (the clip's own gradient kept)."""
    y = torch.clamp((x + 1.0) / 2.0, 0.0, 1.0)
    rounded = torch.floor(y + 0.5)
    return 2.0 * (y + (rounded - y).detach()) - 1.0


def encode(weights: dict, x: torch.Tensor, frames: int, train: bool):
    """The encoder nets ``lu`` and ``hiera`` (with ``BinaryLayer`` s between hiera's units) on ``x``'s
    first ``frames`` frames -> (my_H, BinaryLayer output of the last unit, last cell)."""
    x = x.double()
    rows = x.shape[0]
    width1, width2 = weights["lu"]["W_hid_in"].shape[0], weights["hiera"]["W_hid_in"].shape[0]
    h, c = torch.zeros(rows, width1, dtype=torch.float64), torch.zeros(rows, width1, dtype=torch.float64)
    lu_out = []
    for t in range(frames):
        h, c = lstm_step(weights["lu"], t, x[:, t, :], h, c, train, use_th=False)
        lu_out.append(h)
    h2 = torch.zeros(rows, width2, dtype=torch.float64)
    c2 = torch.zeros(rows, width2, dtype=torch.float64)
    previous = h2
    for k in range(frames // 2):  # hiera unit k reads lu unit (k + 1) * hiera_step - 1
        h2, c2 = lstm_step(weights["hiera"], k, lu_out[(k + 1) * 2 - 1], previous, c2, train, use_th=False)
        previous = binary_tanh_unit(h2)
    return h2, previous, c2


def losses(weights: dict, x: torch.Tensor, idx: list, bank: torch.Tensor, sim: np.ndarray, frames: int,
           lamb: float, variant: str = "released") -> dict:
    """``compile``'s loss terms on a batch: pairwise (with H_ = the bank with the batch's rows set),
    quantisation, backward, forward, mean; also ``H``."""
    x = x.double()[:, :frames]
    rows, bits = x.shape[0], weights["hiera"]["W_hid_in"].shape[0]
    my_h, code_state, cell = encode(weights, x, frames, True)
    bank_rows = [bank[j].double() for j in range(bank.shape[0])]
    for r, i in enumerate(idx):
        bank_rows[i] = my_h[r]
    pairwise = 0.0
    for r, i in enumerate(idx):
        for j in range(len(bank_rows)):
            pairwise = pairwise + (torch.dot(my_h[r], bank_rows[j]) / bits - float(sim[i, j])) ** 2
    quantisation = sum(((my_h[r, k] - math.copysign(1.0, float(my_h[r, k].detach())) if float(my_h[r, k].detach()) != 0 else
                         my_h[r, k]) ** 2 for r in range(rows) for k in range(bits)))

    def high(net, steps):
        h, c, out = code_state, cell, []
        for k in range(steps):
            h, c = lstm_step(weights[net], k, None, h, c, True, use_th=True)
            out.append(h)
        return out

    def low(net, inputs):
        width = weights[net]["W_hid_in"].shape[0]
        h, c = torch.zeros(rows, width, dtype=torch.float64), torch.zeros(rows, width, dtype=torch.float64)
        preds = []
        for t, inp in enumerate(inputs):
            h, c = lstm_step(weights[net], t, inp, h, c, True, use_th=False)
            preds.append(h @ weights[net]["W_output"] + weights[net]["b_output"])
        return preds

    ru_high, rv_high = high("ru_high", frames // 2), high("rv_high", frames // 2)
    y_pred = low("ru", [ru_high[t // 2] for t in range(frames)])
    odd_source = ru_high if variant == "released" else rv_high  # model.py's netrv loop reads net_ru_high
    y_pred2 = low("rv", [rv_high[t // 2] if t % 2 == 0 else odd_source[t // 2] for t in range(frames)])
    y_mean = low("rm", high("rm_high", 1))
    backward = sum(((x[:, -1 - t, :] - y_pred[t]) ** 2).sum() for t in range(frames))
    forward = sum(((x[:, t, :] - y_pred2[t]) ** 2).sum() for t in range(frames))
    mean = frames * ((x.mean(dim=1) - y_mean[0]) ** 2).sum()
    return {"pairwise": pairwise, "quantisation": quantisation, "backward": backward, "forward": forward,
            "mean": mean, "H": my_h}


def total(terms: dict, lamb: float, pairwise_weight: float, weights3) -> torch.Tensor:
    """``loss_pairwise * pw + reconstruction * (1 - pw)`` with ``loss_pairwise`` including ``lamb``."""
    rec = weights3[0] * terms["backward"] + weights3[1] * terms["forward"] + weights3[2] * terms["mean"]
    return (terms["pairwise"] + lamb * terms["quantisation"]) * pairwise_weight + rec * (1 - pairwise_weight)


def similarity(feats: np.ndarray, k1: int = 10, k2: int = 5) -> np.ndarray:
    """``ConstructKNN_fcv`` + ``ConstructPairwiseSim_fcv`` with loops: cosine of frame means, the first
    k1 + 1 neighbours, the k2 videos sharing most of them, the union of their lists marked both ways.
    Sorting ties go to the lower index (the release's quicksort leaves them unspecified)."""
    pooled = np.asarray(feats, dtype=np.float64).mean(axis=1)
    n = pooled.shape[0]
    knn = []
    for i in range(n):
        sims = []
        for j in range(n):
            denom = math.sqrt(float(np.sum(pooled[i] ** 2))) * math.sqrt(float(np.sum(pooled[j] ** 2)))
            sims.append(float(np.sum(pooled[i] * pooled[j])) / denom)
        order = sorted(range(n), key=lambda j: (-sims[j], j))
        knn.append(order[:k1 + 1])
    s = np.zeros((n, n), dtype=bool)
    for i in range(n):
        si = set(knn[i])
        nums = [len(si & set(knn[j])) for j in range(n)]
        top = sorted(range(n), key=lambda j: (-nums[j], j))[:k2]
        sp = set()
        for j in top:
            sp |= set(knn[j])
        for j in sp:
            s[i, j] = s[j, i] = True
    return s
