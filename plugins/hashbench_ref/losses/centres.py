"""Hash centres and codebooks shared by CSQ, DPN and OrthoHash (all drawn from a local generator).

- :func:`sylvester_hadamard`: the ``n x n`` Hadamard matrix of Sylvester's construction (``n`` a power
  of 2; the matrix ``scipy.linalg.hadamard`` returns, which the CSQ authors and DeepHash-pytorch use).
- :func:`balanced_signs`: ``C`` random ±1 rows with exactly ``k`` entries -1 each, at uniformly random
  positions (the references' ``random.sample(range(bits), k)``).
- :func:`csq_centres`: CSQ's centre rule (Yuan et al., CVPR 2020): the first ``C`` rows of ``[H; -H]``
  when ``bits`` is a power of 2 and ``C <= 2 * bits``; otherwise balanced random rows (``bits // 2``
  entries -1) drawn up to 20 times until the minimum pairwise Hamming distance exceeds ``bits / 4``
  and the mean reaches ``bits / 2`` (DeepHash-pytorch ``CSQ.py``).
- :func:`tie_vector` and :func:`centroid_targets`: the multi-label rule of DeepHash-pytorch's CSQ and
  DPN, ``c = sign(y @ centres)`` with every zero of the sum replaced by the entry of one fixed random
  {0, 1} vector (0 -> -1, 1 -> +1).
- :func:`bernoulli_codebook`: OrthoHash's codebook, ``Bernoulli(0.5) * 2 - 1`` per entry.

Deliberate differences: when ``C > 2 * bits`` all centres are random (the CSQ authors' notebook;
DeepHash-pytorch keeps the Hadamard rows and draws only the others, and has no rule for ``bits`` that
is not a power of 2); when no draw meets the distance rule the best draw is kept (largest minimum,
then largest mean distance) rather than the last one. Everything is drawn from a
``torch.Generator`` seeded by the experiment's seed, never the global RNG.
"""
from __future__ import annotations

import torch

__all__ = ["sylvester_hadamard", "is_power_of_two", "balanced_signs", "pairwise_hamming", "csq_centres",
           "tie_vector", "centroid_targets", "bernoulli_codebook", "generator", "CENTRE_TRIES"]

#: Draws of random centres tried before keeping the best one (DeepHash-pytorch's 20).
CENTRE_TRIES = 20


def generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded by ``seed`` (the experiment's seed; any Python int)."""
    return torch.Generator().manual_seed(int(seed) % (2 ** 63))


def is_power_of_two(n: int) -> bool:
    """Whether ``n`` is 1, 2, 4, 8, ..."""
    return n >= 1 and (n & (n - 1)) == 0


def sylvester_hadamard(n: int) -> torch.Tensor:
    """``(n, n)`` float32 ±1 Hadamard matrix, ``H_2k = [[H_k, H_k], [H_k, -H_k]]``; ``n`` a power of 2."""
    if not is_power_of_two(n):
        raise ValueError(f"Sylvester's Hadamard matrix needs a power of 2, got {n}")
    h = torch.ones(1, 1)
    while h.shape[0] < n:  # log2(n) doublings
        h = torch.cat([torch.cat([h, h], dim=1), torch.cat([h, -h], dim=1)], dim=0)
    return h


def balanced_signs(rows: int, bits: int, negatives: int, gen: torch.Generator) -> torch.Tensor:
    """``(rows, bits)`` float32 ±1, each row with exactly ``negatives`` entries -1 at random positions."""
    if not 0 <= negatives <= bits:
        raise ValueError(f"a row of {bits} bits cannot have {negatives} entries -1")
    order = torch.rand(rows, bits, generator=gen).argsort(dim=1)  # a uniform random permutation per row
    out = torch.ones(rows, bits)
    out.scatter_(1, order[:, :negatives], -1.0)
    return out


def pairwise_hamming(codes: torch.Tensor) -> torch.Tensor:
    """Hamming distances ``(P,)`` between every pair ``i < j`` of the ±1 rows of ``codes`` ``(C, bits)``."""
    bits = codes.shape[1]
    dist = 0.5 * (bits - codes @ codes.T)
    upper = torch.triu(torch.ones_like(dist, dtype=torch.bool), diagonal=1)
    return dist[upper]


def csq_centres(num_classes: int, bits: int, gen: torch.Generator, tries: int = CENTRE_TRIES) -> torch.Tensor:
    """CSQ's hash centres ``(C, bits)`` float32 ±1 (see the module docstring for the rule)."""
    if is_power_of_two(bits) and num_classes <= 2 * bits:
        h = sylvester_hadamard(bits)
        return torch.cat([h, -h], dim=0)[:num_classes].contiguous()
    best, best_key = None, None
    for _ in range(tries):
        draw = balanced_signs(num_classes, bits, bits // 2, gen)
        if num_classes < 2:
            return draw
        dist = pairwise_hamming(draw)
        low, mean = float(dist.min()), float(dist.mean())
        if low > bits / 4 and mean >= bits / 2:
            return draw
        if best_key is None or (low, mean) > best_key:
            best, best_key = draw, (low, mean)
    assert best is not None
    return best


def tie_vector(bits: int, gen: torch.Generator) -> torch.Tensor:
    """``(bits,)`` float32 random {0, 1}: the fixed tie-breaker of the multi-label centroid rule."""
    return torch.randint(0, 2, (bits,), generator=gen).float()


def centroid_targets(onehot: torch.Tensor, centres: torch.Tensor, ties: torch.Tensor,
                     multi_label: bool) -> torch.Tensor:
    """The target of each clip ``(B, bits)``: its class's centre, or for multi-label data
    ``sign(y @ centres)`` with zeros replaced by ``ties`` ({0, 1}: 0 -> -1, 1 -> +1).

    ``onehot`` (B, C) float, ``centres`` (C, bits), ``ties`` (bits,).
    """
    if not multi_label:
        return centres[onehot.argmax(dim=1)]
    total = onehot @ centres
    total = torch.where(total == 0, ties.to(total.dtype).expand_as(total), total)
    return 2.0 * (total > 0).to(total.dtype) - 1.0


def bernoulli_codebook(num_classes: int, bits: int, gen: torch.Generator) -> torch.Tensor:
    """``(C, bits)`` float32: every entry +1 or -1 with probability 1/2 (OrthoHash's ``B`` codebook)."""
    return torch.bernoulli(torch.full((num_classes, bits), 0.5), generator=gen) * 2.0 - 1.0
