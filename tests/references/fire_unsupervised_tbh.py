"""Independent float64 re-derivation of FIRe's TBH (CISiPLab/cisip-FIRe at e8826c4):
``models/architectures/arch_tbh.py`` ArchTBH (encoder, twin bottleneck, GCN layer, decoder,
discriminators), ``functions/loss/tbh.py`` TBHLoss and ``scripts/train_adversarial.py``'s split
backward (actor into the hashing parameters, critic into the discriminators); for the parity tests of
``hashbench_ref.methods.tbh``.

Written from the released code's behaviour, sharing no code with the method: one item (and one pair) at a
time in Python loops, float64; weights come in as a ``{name: tensor}`` dict (see
:func:`references.fire_unsupervised.as_float64`), so autograd through the loops gives the gradients.
"""
from __future__ import annotations

import torch

from .fire_unsupervised import linear

#: parameter-name prefixes of the discriminators (the critic's optimiser); the rest is the actor's
DISCRIMINATORS = ("disc_binary.", "disc_continuous.")


def sigmoid(z: torch.Tensor) -> torch.Tensor:
    """1 / (1 + exp(-z)), elementwise."""
    return 1.0 / (1.0 + torch.exp(-z))


def threshold_code(logits: torch.Tensor) -> torch.Tensor:
    """JMLHBinaryActivation with eps 0.5: 1 where sigmoid(l) > 0.5 else 0; the code's gradient reaches the
    logits times sigmoid'(l) (written as a straight-through on the probability)."""
    prob = sigmoid(logits)
    step = torch.where(prob > 0.5, torch.ones_like(prob), torch.zeros_like(prob))
    return prob + (step - prob).detach()


def bce(p: torch.Tensor, target: float) -> torch.Tensor:
    """Mean over the rows of -[t log p + (1 - t) log(1 - p)], p (B, 1)."""
    total = torch.zeros((), dtype=torch.float64)
    for i in range(p.shape[0]):
        total = total - (torch.log(p[i, 0]) if target == 1.0 else torch.log(1 - p[i, 0]))
    return total / p.shape[0]


def tbh_losses(x: torch.Tensor, p: dict, fake_b: torch.Tensor, fake_c: torch.Tensor, adv: float = 1.0,
               divisor: float = 1.0) -> dict:
    """ArchTBH forward + TBHLoss on features x (B, D) with the given fake samples: ``rec``, ``adversarial``,
    ``actor``, ``critic``, and ``b`` the codes."""
    f = torch.relu(linear(x, p["encoder.0.weight"], p["encoder.0.bias"]))
    b = threshold_code(linear(f, p["binary_fc.weight"], p["binary_fc.bias"]))
    c = linear(f, p["continuous_fc.weight"], p["continuous_fc.bias"])
    n, bits = b.shape
    adjacency = [[(1 - torch.abs(torch.dot(b[i], b[j] - 1) + torch.dot(b[i] - 1, b[j])) / bits) ** 1.4
                  for j in range(n)] for i in range(n)]
    degree = [sum(adjacency[i]) + 1e-8 for i in range(n)]
    fc = linear(c, p["gcn.weight"], p["gcn.bias"])
    rows = []
    for i in range(n):
        rows.append(sum(adjacency[i][j] / torch.sqrt(degree[i] * degree[j]) * fc[j] for j in range(n)))
    g = sigmoid(torch.stack(rows))
    rec_x = linear(torch.relu(linear(g, p["decoder.0.weight"], p["decoder.0.bias"])),
                   p["decoder.2.weight"], p["decoder.2.bias"])
    rec = 0.5 * sum(((rec_x[i, k] - x[i, k]) ** 2 for i in range(n) for k in range(x.shape[1]))) / divisor

    def disc(name: str, v: torch.Tensor) -> torch.Tensor:
        return sigmoid(linear(v, p[f"{name}.weight"], p[f"{name}.bias"]))

    adversarial = (bce(disc("disc_binary", b), 1.0) + bce(disc("disc_binary", fake_b), 0.0)
                   + bce(disc("disc_continuous", g), 1.0) + bce(disc("disc_continuous", fake_c), 0.0))
    return {"rec": rec, "adversarial": adversarial, "actor": rec - adv * adversarial, "critic": adv * adversarial,
            "b": b}


def split_backward(losses: dict, p: dict) -> None:
    """train_adversarial's backward: actor into every non-discriminator parameter, critic into the
    discriminators' (floating leaves of ``p`` only)."""
    leaves = {k: v for k, v in p.items() if v.requires_grad and k not in ("feature_mean", "feature_std")}
    actor = [v for k, v in leaves.items() if not k.startswith(DISCRIMINATORS)]
    critic = [v for k, v in leaves.items() if k.startswith(DISCRIMINATORS)]
    losses["actor"].backward(retain_graph=True, inputs=actor)
    losses["critic"].backward(inputs=critic)
