"""An in-memory split: uint8 clips ``(N, 3, T, H, W)`` + labels + stable ids, as a torch Dataset."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DataError


class ClipArrayDataset(Dataset):
    """Items ``(clip, label)``: ``clip`` a uint8 tensor ``(3, T, H, W)`` (a view, no copy),
    ``label`` a python ``int`` for 1-D integer labels ``(N,)`` or a float32 multi-hot tensor ``(C,)``
    for 2-D labels ``(N, C)``.

    ``clips``: uint8 array or tensor ``(N, 3, T, H, W)``; ``ids``: one unique string per clip
    (default ``"000000"``, ``"000001"``, ...). Raises DataError when shapes or ids do not match.
    """

    def __init__(self, clips: Any, labels: Any, ids: Optional[Sequence[str]] = None) -> None:
        clips_t = torch.as_tensor(clips)
        if clips_t.dtype != torch.uint8 or clips_t.dim() != 5 or clips_t.shape[1] != 3:
            raise DataError(f"clips must be uint8 (N, 3, T, H, W), got {clips_t.dtype} {tuple(clips_t.shape)}")
        labels_np = np.asarray(labels)
        n = clips_t.shape[0]
        if labels_np.ndim not in (1, 2) or labels_np.shape[0] != n:
            raise DataError(f"labels must be (N,) or (N, C) with N={n}, got shape {labels_np.shape}")
        if labels_np.ndim == 1 and not np.issubdtype(labels_np.dtype, np.integer):
            raise DataError(f"single-label labels must be integers, got dtype {labels_np.dtype}")
        ids_list = [f"{i:06d}" for i in range(n)] if ids is None else [str(i) for i in ids]
        if len(ids_list) != n or len(set(ids_list)) != n:
            raise DataError(f"ids must be {n} unique strings, got {len(ids_list)} ({len(set(ids_list))} unique)")
        self.clips = clips_t
        self.labels = labels_np.astype(np.int64) if labels_np.ndim == 1 else labels_np.astype(np.float32)
        self.ids = ids_list
        self._label_t = None if labels_np.ndim == 1 else torch.from_numpy(self.labels)

    @property
    def multi_label(self) -> bool:
        """True when labels are multi-hot ``(N, C)``."""
        return self._label_t is not None

    def __len__(self) -> int:
        return self.clips.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Any]:
        clip = self.clips[index]
        if self._label_t is not None:
            return clip, self._label_t[index]
        return clip, int(self.labels[index])
