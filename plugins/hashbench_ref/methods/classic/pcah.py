"""PCAH: project on the top ``bits`` principal components of the training data, then take the sign.

Paper: the PCA baseline of Y. Gong and S. Lazebnik, "Iterative Quantization: A Procrustes Approach to
Learning Binary Codes", CVPR 2011 (section 3.1: ITQ without the rotation); also J. Wang, S. Kumar, S.-F.
Chang, "Semi-supervised hashing for scalable image retrieval", CVPR 2010.
Reference followed: CISiPLab/cisip-FIRe ``functions/loss/pca.py`` at commit e8826c4 (scikit-learn
``PCA(n_components=nbit)``, ``encode = (x - mean_) @ components_.T``, no whitening). With ``mu`` the
training mean and ``W`` (bits, D) the eigenvectors of the training covariance with the largest
eigenvalues, in decreasing order::

    encode(x) = (x - mu) @ W.T                          code = sign

Deliberate difference: the PCA is always exact (covariance route, :func:`~.pca_fit`); scikit-learn's
default ``svd_solver="auto"``, which FIRe uses, switches to a randomized SVD with an unseeded state on
large inputs. Component signs follow scikit-learn's convention (largest entry positive), so codes
equal FIRe's where its PCA is exact.
"""
from __future__ import annotations

import numpy as np

from . import ClassicHasher, project

__all__ = ["PCAH"]


class PCAH(ClassicHasher):
    """PCA then sign; ``seed`` is unused (PCA is deterministic) but kept for the common surface."""

    state_keys = ("mean", "components")

    def _fit(self, x: np.ndarray) -> None:
        mean, components = self.pca(x, self.bits)
        self._set(x, mean=mean, components=components)

    def _encode(self, x: np.ndarray) -> np.ndarray:
        return project(x, self.state["mean"], self.state["components"])
