"""The public toolkit for dataset plugins: list files, video decoding, the clip cache, torch Datasets.

A dataset plugin (see the dataset contract in :mod:`hashbench.contract.hookspecs`) imports from here
(``from hashbench.data import VideoDataset, ListedVideo, read_list``), and from
:mod:`hashbench.contract` and :mod:`hashbench.errors`; nothing else of hashbench. Every name below is
public and kept stable; the submodules are implementation.

Building a real dataset (``hashbench_ref``'s ucf101, hmdb51, jhmdb, frames, folder do exactly this):

``VideoDataset``      the dataset contract for a collection of videos or frame folders under a root:
                      give it the class names and the split lists as ``ListedVideo`` records; it serves
                      ``split()`` from the clip cache or decodes on demand, checksums the lists used,
                      reports missing videos, and tells ``hashbench data prepare/check`` what to do
``ListedVideo``       one list entry: relative path (the stable video id), label, where it was listed,
                      and a problem (a refused path) if any
``default_cache_root``where the clip cache of a root lives (``cache`` key, ``$HASHBENCH_CACHE``, or
                      ``<root>/.hashbench-cache``)

Reading split lists:

``read_list``         a list file as ``ListLine`` records (CRLF, BOM, trailing spaces, blank lines
                      tolerated); ``read_text_lines`` the same as plain lines
``ListLine``          one non-empty line: file, line number, whitespace-separated fields, ``where``
``path_and_label``    the ``path [label]`` of a line (label required or optional)
``safe_relpath``      a listed path as a path relative to the root; DataError if it leaves the root
``entries_checksum``  sha256 of ``{split: [(video id, label)]}`` (line ends and names do not change it)

Clips and files:

``read_video_clip``   ``num_frames`` frames of a video file, uniformly sampled, resized (PyAV)
``read_media``        the same from a video file or a folder of frame images
``is_video_file``     whether a path has a video extension (``VIDEO_EXTENSIONS``)
``sample_indices``    the original repo's frame choice ``round(i * n / T)``
``parse_size``        ``(H, W)`` from ``"128x171"``, ``[128, 171]`` or a single int (``DEFAULT_RESIZE``,
                      ``DEFAULT_CROP`` are the original repo's)
``ClipArrayDataset``  an in-memory split of uint8 clips ``(N, 3, T, H, W)`` with labels and ids, for
                      generated datasets (imports torch; loaded on first use)
``write_text_atomic`` write a text file atomically (drawn split lists, class files)

Frame-feature datasets (precomputed per-frame features ``(N, T, D)`` in HDF5, as the SSVH papers ship them):

``FrameFeatureDataset`` the dataset contract over HDF5 ``feats`` files (one file or shards per split) and
                      row-aligned labels; ``item_kind = "frame_features"``, ``feature_dim`` = D; streams
                      rows from disk (``FeatureSplit``: items ``(float32 (T, D), label)``, ``chunks(rows)``)
``FeatureStore``      one split's shards, read by row, rows or chunk (h5py, opened lazily per process)
``feature_files``     a table value (a path or a list of shards) as paths, kept inside a root if given
``read_labels``       a label file (.mat v5/v7.3, .npy, HDF5) as class ids ``(N,)`` or multi-hot ``(N, C)``
``FRAME_FEATURES``, ``UNLABELLED``  the item kind ``"frame_features"``; the label of an unlabelled item (-1)

The fit cache (preprocessing a method's ``fit`` computes once per training data and parameters):

``memo``              ``memo(stage, params, data_digest, compute)``: ``compute()``'s numpy arrays, stored
                      under the cache root and reloaded by a later call with the same key
``data_digest``       sha256 of a training matrix (dtype, shape, bytes): the data part of the key
``fit_cache_root``    the cache folder (``$HASHBENCH_FIT_CACHE``, ``off`` disables it; ``FIT_CACHE_ENV``)

For ``hashbench data prepare`` / ``check`` (used by the CLI):

``media_dataset``     build a dataset plugin for preparing or checking its clip cache
``check_dataset``     lists, disk and cache against the official counts
"""
from __future__ import annotations

from typing import Any

from ..atomic import write_text_atomic
from .build import media_dataset
from .check import CheckReport, check_dataset
from .feature_labels import read_labels
from .feature_store import FeatureStore
from .features import FRAME_FEATURES, UNLABELLED, FeatureSplit, FrameFeatureDataset, feature_files
from .fit_cache import FIT_CACHE_ENV, data_digest, fit_cache_root, memo
from .lists import ListLine, entries_checksum, path_and_label, read_list, read_text_lines, safe_relpath
from .media import read_media
from .sampling import sample_indices
from .transforms import DEFAULT_CROP, DEFAULT_RESIZE, parse_size
from .video import VIDEO_EXTENSIONS, ClipInfo, is_video_file, read_video_clip
from .video_dataset import ListedVideo, VideoDataset, default_cache_root

__all__ = [
    "VideoDataset", "ListedVideo", "default_cache_root",
    "read_list", "read_text_lines", "ListLine", "path_and_label", "safe_relpath", "entries_checksum",
    "read_video_clip", "read_media", "ClipInfo", "is_video_file", "VIDEO_EXTENSIONS", "sample_indices",
    "parse_size", "DEFAULT_RESIZE", "DEFAULT_CROP", "ClipArrayDataset", "write_text_atomic",
    "media_dataset", "check_dataset", "CheckReport",
    "FrameFeatureDataset", "FeatureSplit", "FeatureStore", "feature_files", "read_labels", "FRAME_FEATURES",
    "UNLABELLED", "memo", "data_digest", "fit_cache_root", "FIT_CACHE_ENV",
]

_LAZY = {"ClipArrayDataset": "memory"}  # torch-importing: loaded on first use


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
