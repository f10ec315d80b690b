"""LSH: random Gaussian projections, the code is the sign of each projection.

Paper: M. S. Charikar, "Similarity Estimation Techniques from Rounding Algorithms", STOC 2002 (random
hyperplanes for the angle); the baseline of Gong & Lazebnik (CVPR 2011) and of every SSVH table.
Reference followed: CISiPLab/cisip-FIRe ``functions/loss/lsh.py`` at commit e8826c4 (``W = torch.randn(nbit,
D)``, ``v = x @ W.T``); dengcai78/MatlabFunc ``ANNS/Hashing/Unsupervised/LSH_learn.m`` at 97504df does the
same (``U = normrnd(0, 1, D, k)``, ``B = A*U > 0``). Neither centres the data. With ``mu`` the training
mean when ``center = True`` (else 0)::

    W ~ N(0, 1)^(bits x D)   drawn as torch.randn(bits, D, generator=torch.Generator().manual_seed(seed))
    encode(x) = (x - mu) @ W.T                         code = sign

Deliberate difference: the ``center`` option (default False, as both references); Gong & Lazebnik
zero-centre the data before every method, which makes LSH's bits balanced on non-negative (ReLU)
features. The projection is drawn in float32, as FIRe's, and applied in float64.
"""
from __future__ import annotations

import numpy as np
import torch

from . import ClassicHasher, project

__all__ = ["LSH"]


class LSH(ClassicHasher):
    """Random projections; ``center``: subtract the training mean first (default False, as FIRe)."""

    state_keys = ("projection", "mean")

    def __init__(self, bits: int, seed: int = 0, center: bool = False) -> None:
        super().__init__(bits, seed)
        self.center = bool(center)

    def _fit(self, x: np.ndarray) -> None:
        generator = torch.Generator().manual_seed(self.seed)
        projection = torch.randn(self.bits, x.shape[1], generator=generator).double().numpy()
        mean = x.mean(axis=0, dtype=np.float64) if self.center else np.zeros(x.shape[1])
        self._set(x, projection=projection, mean=mean)

    def _encode(self, x: np.ndarray) -> np.ndarray:
        return project(x, self.state["mean"], self.state["projection"])
