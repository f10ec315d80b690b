"""A classic baseline of :mod:`.classic` as a :class:`~hashbench.contract.HashMethod` (imports torch).

:class:`ClassicMethod` wraps one ``ClassicHasher``: ``fit(train)`` mean-pools each training video's
frame features (or takes its vector) while streaming the split, then fits the hasher on the pooled
matrix; ``encode`` pools the same way. The hasher's fitted arrays are the module's state, under
``fitted.<name>`` keys, so checkpoints hold them and a strict ``load_state_dict`` restores them.
Given a :class:`~.frozen.FrozenFeatures` (the ``[method] backbone`` key), the instance consumes clips
instead: fit and encode read the frozen backbone's pooled features of each clip.
"""
from __future__ import annotations

from typing import Any, Optional

import torch

from hashbench.contract import HashMethod, pooled_inputs
from hashbench.errors import CheckpointError

__all__ = ["ClassicMethod"]

_PREFIX = "fitted."


class ClassicMethod(HashMethod):
    """A closed-form baseline: ``fit`` on pooled training features, no training epochs.

    ``frozen``: a frozen backbone (:class:`~.frozen.FrozenFeatures`) turning clips into those features;
    with it, this instance's ``consumes`` is ``("clips",)`` and its state also holds the backbone's table."""

    consumes: tuple[str, ...] = ("frame_features", "vector")

    def __init__(self, hasher: Any, frozen: Optional[torch.nn.Module] = None) -> None:
        super().__init__(hasher.bits, hasher.seed)
        self.hasher = hasher
        self.frozen = frozen
        if frozen is not None:
            self.consumes = ("clips",)

    def fit(self, train: Any) -> None:
        """Fit the hasher on one pooled vector per training item (streamed from a dataset)."""
        pooled = self.frozen.pooled(train) if self.frozen is not None else pooled_inputs(train)
        self.hasher.fit(pooled.cpu().numpy())

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """Frame features or vectors (clips, with a frozen backbone) -> real codes; the sign is the code."""
        if self.frozen is not None:
            pooled = self.frozen(inputs)
        else:
            pooled = inputs.float().mean(dim=1) if inputs.dim() == 3 else inputs.float()
        return self.hasher.encode(pooled.detach().cpu()).to(inputs.device)

    def extra_repr(self) -> str:
        return f"{type(self.hasher).__name__}, bits={self.bits}, seed={self.seed}"

    def _save_to_state_dict(self, destination: Any, prefix: str, keep_vars: bool) -> None:
        super()._save_to_state_dict(destination, prefix, keep_vars)
        for key, value in self.hasher.state_dict().items():
            destination[prefix + _PREFIX + key] = value

    def _load_from_state_dict(self, state_dict: Any, prefix: str, local_metadata: Any, strict: bool,
                              missing_keys: list, unexpected_keys: list, error_msgs: list) -> None:
        mine = {k[len(prefix + _PREFIX):]: v for k, v in state_dict.items() if k.startswith(prefix + _PREFIX)}
        if mine:
            try:
                self.hasher.load_state_dict(mine)
            except CheckpointError as exc:
                error_msgs.append(str(exc))
        elif self.hasher.state:
            missing_keys.append(prefix + _PREFIX + "*")
        rest = {k: v for k, v in state_dict.items() if not k.startswith(prefix + _PREFIX)}
        super()._load_from_state_dict(rest, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
