"""Video_Retrieval's released objective: batch-hard triplet + 0.1 x cross entropy + 0.1 x a Smooth-AP loss.

Source: zhongzhou-code/Video_Retrieval (the C3D / 3D ResNet video hashing project among hashbench's seed
systems). Its README describes a triplet loss over "all possible triplets in a batch" (hashbench's
``batch_all_triplet``); its ``train.py`` (commit 7953344, unchanged at bf51c0c) optimises instead::

    loss = 1 * triplet(h, y) + 0.1 * cross_entropy(class_logits, y) + 0.1 * ap_loss(h, y)

Written from the behaviour of ``loss_function/triplet_loss.py``, ``loss_function/ap_loss.py`` (bf51c0c)
and ``model/C3D_Hash_Model.py``; no code copied. With ``h`` the codes (B, bits) (its ``tanh(fc8)``: use
the ``tanh`` head) and ``f`` the backbone's features (B, D) (its fc7)::

    triplet  (open-reid's batch-hard): d_ij = sqrt(max(||h_i - h_j||^2, 1e-12));
             mean_i relu(margin + max_{j: y_j = y_i} d_ij - min_{j: y_j != y_i} d_ij)
    cross entropy of relu(f @ W.T + c)          (its fc9 and the ReLU it applies to the class scores)
    Smooth-AP (Brown et al., ECCV 2020): s_ij = h_i . h_j, sg(t) = 1 / (1 + exp(clamp(-t / anneal, -50, 50))),
             R_i(j) = 1 + sum_{k != j} sg(s_ik - s_ij),  R+_i(j) = 1 + sum_{k != j, k in P_i} sg(s_ik - s_ij),
             P_i = {j : y_j = y_i} (i itself included), ap = 1 - mean_i mean_{j in P_i} R+_i(j) / R_i(j)
    loss = triplet_weight * triplet + ce_weight * ce + ap_weight * ap

``W``, ``c`` (``Linear(feature_dim, C)``) are the loss's own parameters (at ``lr * lr_multiplier``,
checkpointed); with ``ce = 0`` there is no classifier and no features are needed. Multi-label data:
positive = share a class, and the cross entropy is FIRe's label-smoothed form.

What the release leaves open, and what is done here:

- ``train.py`` builds ``AveragePrecisionLoss()`` and calls it on ``(h, labels)``; at 7953344 that class
  takes ``(margin, device)`` and its ``forward`` is an empty stub, at bf51c0c it is Smooth-AP, built with
  ``(anneal, batch_size, num_id, feat_dims)`` and called on ``h`` alone: the released script runs with
  neither. This follows bf51c0c's Smooth-AP with ``anneal = 0.01`` (its docstring's example and the
  Smooth-AP paper's default). Its scores are the raw inner products ``h h^T`` (not cosines), as written.
- Smooth-AP there needs a batch sorted by class in equal groups (it reshapes to (classes, per class,
  bits)); written per anchor as above, it is the same number on such a batch and is defined on any
  batch (hashbench's sampler does not sort by class).
- The batch-hard triplet of the release fails on an anchor without a negative (``min`` of nothing);
  here such anchors are left out of the mean (a one-class batch gives 0, connected to the graph).
  The distances are formed from differences, so a clip's distance to itself is exactly 0 (the release's
  ``|a|^2 + |b|^2 - 2 a.b`` may leave rounding noise there).
- Its ResNet models return no class scores (``train.py`` would fail to unpack them): only its C3D path
  defines the cross entropy; here it applies to any backbone's features.

On the method zoo's data the released pairing does not learn, and that is the objective's own behaviour,
not a bug here (issue 20; moving_digits with 15 classes, r3d18 width 12 from scratch, 32 bits, batch 36,
adam 1e-3, 48 epochs, seed 0; random codes map 0.083):

- ``tanh`` head, the release's weights: every clip gets the same code (map 0.079); so do the triplet
  alone (12 epochs), ``ce = 1`` (3 distinct codes, 0.089) and ``triplet = 0.1`` (5 codes, 0.109).
  Shrinking every distance brings relu(margin + d+ - d-) down to the margin, and hard mining finds
  that path when most anchors have an in-batch positive (36 of 300 clips over 15 classes: about 90% of
  them); saturated tanh units and the clamp of d at sqrt(1e-12) then hold the collapse. The release's
  own batches (8 clips of 101 classes) give about 7% of anchors a positive, so its triplet was mostly
  relu(margin - nearest negative distance), a spreading term beside its cross entropy.
- Smooth-AP alone barely moves (0.092 at 12 epochs): at ``anneal = 0.01`` the sigmoid of inner-product
  gaps (up to 2 x bits) is a step with no gradient.
- ``linear`` head, the release's weights: 0.187; ``bn``: 0.162. ``linear`` with ``ap = 1, anneal = 1``:
  0.344. ``linear`` with ``ce = 1``: 0.448 (5.4x random; 0.385 at seed 1), which
  ``experiments/zoo/video_retrieval.toml`` runs; the cross entropy alone on that head gives 0.179, so
  the triplet and Smooth-AP terms do the rest.
"""
from __future__ import annotations

import inspect
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from hashbench.contract import HashLoss, LossBatch
from hashbench.errors import ContractError

from .greedyhash import class_cross_entropy

__all__ = ["VideoRetrievalLoss", "ClassifyingVideoRetrievalLoss", "batch_hard_triplet", "smooth_ap_loss"]


def batch_hard_triplet(codes: torch.Tensor, similar: torch.Tensor, margin: float) -> torch.Tensor:
    """open-reid's batch-hard triplet loss of ``codes`` (B, bits) given ``similar`` (B, B) bool (the
    diagonal True): mean over anchors with a negative of relu(margin + hardest positive distance -
    hardest negative distance), Euclidean distances; 0 (with a graph) when no anchor has a negative."""
    diff = codes.unsqueeze(1) - codes.unsqueeze(0)  # (B, B, bits)
    dist = diff.pow(2).sum(dim=2).clamp(min=1e-12).sqrt()  # (B, B)
    hardest_positive = dist.masked_fill(~similar, float("-inf")).max(dim=1).values
    hardest_negative = dist.masked_fill(similar, float("inf")).min(dim=1).values
    valid = (~similar).any(dim=1)
    if not bool(valid.any()):
        return codes.sum() * 0.0
    return F.relu(margin + hardest_positive[valid] - hardest_negative[valid]).mean()


def smooth_ap_loss(codes: torch.Tensor, similar: torch.Tensor, anneal: float) -> torch.Tensor:
    """1 - mean Smooth-AP of every clip of ``codes`` (B, bits) as a query against the batch, scores the
    inner products, positives ``similar`` (B, B) bool (the query itself included); see the module docstring."""
    size = codes.shape[0]
    scores = codes @ codes.T  # (B, B)
    gap = scores.unsqueeze(1) - scores.unsqueeze(2)  # gap[i, j, k] = s_ik - s_ij
    smooth = 1.0 / (1.0 + torch.exp(torch.clamp(-gap / anneal, min=-50.0, max=50.0)))
    others = ~torch.eye(size, dtype=torch.bool, device=codes.device)  # k != j
    smooth = smooth * others.unsqueeze(0)
    rank_all = 1.0 + smooth.sum(dim=2)  # (B, B): R_i(j)
    rank_positive = 1.0 + (smooth * similar.unsqueeze(1)).sum(dim=2)  # R+_i(j)
    positives = similar.to(codes.dtype)
    precision = (positives * rank_positive / rank_all).sum(dim=1) / positives.sum(dim=1).clamp(min=1.0)
    return 1.0 - precision.mean()


class VideoRetrievalLoss(HashLoss):
    """``(codes (B, bits), labels[, features (B, D)]) -> scalar``: weighted batch-hard triplet + cross
    entropy of a classifier on the features + Smooth-AP; see the module docstring. Built with ``ce > 0``
    it is a :class:`ClassifyingVideoRetrievalLoss` (the only kind with ``classify``, so the evaluator asks
    a ``ce = 0`` loss for no class scores)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> "VideoRetrievalLoss":
        if cls is VideoRetrievalLoss and (args or kwargs):
            bound = inspect.signature(VideoRetrievalLoss.__init__).bind(None, *args, **kwargs)
            bound.apply_defaults()
            if float(bound.arguments["ce"]) > 0:
                cls = ClassifyingVideoRetrievalLoss
        return super().__new__(cls)

    def __init__(self, bits: int, num_classes: int, multi_label: bool = False, feature_dim: int = 0,
                 margin: float = 0.3, triplet: float = 1.0, ce: float = 0.1, ap: float = 0.1,
                 anneal: float = 0.01, lr_multiplier: float = 1.0) -> None:
        super().__init__(num_classes, multi_label, lr_multiplier)
        self.bits = int(bits)
        self.margin, self.anneal = float(margin), float(anneal)
        self.weights = {"triplet": float(triplet), "ce": float(ce), "ap": float(ap)}
        self.needs_features = self.weights["ce"] > 0  # instance attribute: read by the engine and make_batch
        self.classifier: Optional[nn.Linear] = None
        if self.needs_features:
            if isinstance(feature_dim, bool) or not isinstance(feature_dim, int) or feature_dim < 1:
                raise ValueError(f"loss.ce > 0 classifies the backbone's features and needs their feature_dim"
                                 f" (a positive integer), got {feature_dim!r}; or set ce = 0")
            self.classifier = nn.Linear(int(feature_dim), self.num_classes)

    def extra_repr(self) -> str:
        weights = ", ".join(f"{k}={v}" for k, v in self.weights.items())
        return f"bits={self.bits}, margin={self.margin}, anneal={self.anneal}, {weights}"

    def compute_loss(self, batch: LossBatch) -> torch.Tensor:
        h = batch.codes
        total = self.weights["triplet"] * batch_hard_triplet(h, batch.similarity, self.margin)
        total = total + self.weights["ap"] * smooth_ap_loss(h, batch.similarity, self.anneal)
        if self.classifier is not None:
            assert batch.features is not None
            if batch.features.shape != (batch.size, self.classifier.in_features):
                raise ContractError(f"video_retrieval: the classifier reads features ({batch.size},"
                                    f" {self.classifier.in_features}), got {tuple(batch.features.shape)}")
            total = total + self.weights["ce"] * class_cross_entropy(_scores(self.classifier, batch.features), batch)
        return total


class ClassifyingVideoRetrievalLoss(VideoRetrievalLoss):
    """:class:`VideoRetrievalLoss` with ``ce > 0``: it trains a classifier on the features and gives its
    class scores to the evaluator."""

    def classify(self, codes: torch.Tensor, features: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Class scores ``(B, C)`` = relu(classifier(features)) (``features`` (B, feature_dim)), as the
        release's C3D gives them. ``codes`` are not used."""
        assert self.classifier is not None
        if features is None:
            raise ValueError("video_retrieval classifies the backbone's features; pass features (B, feature_dim)")
        return _scores(self.classifier, features)


def _scores(classifier: nn.Linear, features: torch.Tensor) -> torch.Tensor:
    """relu(classifier(features)) in float32: (B, D) -> (B, C), the release's C3D class scores."""
    return F.relu(F.linear(features.float(), classifier.weight.float(), classifier.bias.float()))
