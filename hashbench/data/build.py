"""A dataset plugin built for ``hashbench data prepare`` / ``hashbench data check``.

Those commands take a dataset name, its ``--root`` and the clip geometry of the cache to prepare or
check (``--frames``, ``--size``); this turns them into the plugin's table with the keys every
:class:`~hashbench.data.video_dataset.VideoDataset` plugin accepts (``root``, ``num_frames``,
``resize``, ``crop``, ``cache``, ``lists``) plus any other keys given, and builds it.
"""
from __future__ import annotations

import os
from typing import Any, Mapping, Optional, Sequence, Union

from ..errors import DataError
from .transforms import parse_size

__all__ = ["media_dataset"]


def media_dataset(registry: Any, name: str, root: Union[str, os.PathLike[str]], *, num_frames: int,
                  size: Union[str, Sequence[int]], cache: Optional[Union[str, os.PathLike[str]]] = None,
                  lists: Optional[Union[str, os.PathLike[str]]] = None,
                  options: Mapping[str, Any] = {}, features: bool = False) -> Any:
    """Build dataset plugin ``name`` through ``registry`` to prepare or check its clip cache.

    The cache stores uncropped frames (``crop = 0``) resized to ``size`` (``"HxW"`` or ``[H, W]``);
    ``options`` are further keys of the plugin's table (``{"protocol": "official"}``). DataError when
    the dataset is not read from video files (a generated dataset has nothing to prepare).
    ``features``: a dataset whose factory takes no clip geometry (``resize``) is built from ``root``
    and ``options`` alone, for ``hashbench data check`` of frame-feature files.
    """
    import inspect

    if "resize" not in inspect.signature(registry.get("dataset", name).factory).parameters:
        if features:
            return registry.build("dataset", {"name": name, "root": str(root), **options}, where="dataset")
        raise DataError(f"dataset {name!r} takes no clip geometry (unknown key resize): it is not read from video "
                        "files, so there is nothing to prepare")
    table: dict[str, Any] = {"name": name, "root": str(root), "num_frames": num_frames,
                             "resize": list(parse_size(size, "--size")), "crop": 0}  # crop: not stored
    if cache is not None:
        table["cache"] = str(cache)
    if lists is not None:
        table["lists"] = str(lists)
    table.update(options)
    dataset = registry.build("dataset", table, where="dataset")
    if not hasattr(dataset, "media_plan"):
        raise DataError(f"dataset {name!r} is not read from video files; there is nothing to prepare or check")
    return dataset
