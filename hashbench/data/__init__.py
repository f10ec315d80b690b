"""Real video data: list files, frame sampling, the uint8 clip cache, prepare/check, torch Datasets.

Modules (torch is imported only by ``torch_dataset`` and ``VideoDataset.split``):

- ``sampling``       ``sample_indices(n, T)``: the original ``round(i * n / T)`` frame choice
- ``lists``          tolerant list-file parsing, ``safe_relpath`` (paths stay inside the root), checksums
- ``locate``         finds listed media on disk despite case / ``@``-``#`` / frames-vs-video differences
- ``media``          ``read_media``: one clip ``(T, H, W, 3)`` from a video file or a frame folder
- ``cache``          the memory-mappable clip cache (``ClipCache`` to read, ``CacheWriter`` to write)
- ``prepare``        decode a dataset into the cache in worker processes, resumable, with a report
- ``check``          lists / disk / cache against the official counts
- ``transforms``     size parsing and crops of uint8 clips (normalisation happens on the device)
- ``torch_dataset``  ``ClipDataset``: items ``(uint8 (3, T, h, w), label)``
- ``video_dataset``  ``VideoDataset``: the dataset contract for real datasets (used by plugins)
- ``memory``         ``ClipArrayDataset``: an in-memory split (generated datasets)
"""
from __future__ import annotations

from .sampling import sample_indices

__all__ = ["sample_indices"]
