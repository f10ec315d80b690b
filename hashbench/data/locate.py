"""Find a listed video under a dataset root, tolerant of the real datasets' naming quirks.

A list names ``Class/v_Name.avi``; on disk the media may be

- exactly that file;
- a folder of frames named like the video without its extension (``Class/v_Name/00001.jpg``), as the
  original repo and JHMDB's ``Rename_Images`` ship them;
- the same path differing in letter case (UCF101's ``HandstandPushups`` folder holds
  ``v_HandStandPushups_*`` files, and copies of the dataset disagree) or in ``@`` vs ``#``
  (JHMDB's lists write ``@`` where HMDB-51's file names have ``#``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from .video import VIDEO_EXTENSIONS


def normalize_name(name: str) -> str:
    """Comparison form of a path component: lower case, ``@`` read as ``#``."""
    return name.lower().replace("@", "#")


def strip_video_ext(name: str) -> str:
    """``name`` without a known video extension (unchanged otherwise)."""
    base, ext = os.path.splitext(name)
    return base if ext.lower() in VIDEO_EXTENSIONS else name


def media_key(rel: str) -> str:
    """Lookup key of a relative media path: normalised components, video extension dropped."""
    parts = rel.replace("\\", "/").split("/")
    parts[-1] = strip_video_ext(parts[-1])
    return "/".join(normalize_name(p) for p in parts)


class MediaLocator:
    """Resolves relative paths (already checked by ``safe_relpath``) to media under ``root``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._listings: dict[Path, dict[str, str]] = {}

    def locate(self, rel: str) -> Optional[Path]:
        """The video file or frame folder for ``rel``, or None when nothing matches."""
        exact = self.root / rel
        if exact.is_file() or exact.is_dir():
            return exact
        stem = strip_video_ext(rel)
        if stem != rel and (self.root / stem).is_dir():
            return self.root / stem
        current = self.root
        parts = rel.split("/")
        for i, part in enumerate(parts):
            names = self._listing(current)
            actual = names.get(normalize_name(part))
            if actual is None and i == len(parts) - 1:
                actual = names.get(normalize_name(strip_video_ext(part)))
            if actual is None:
                return None
            current = current / actual
        return current

    def relative(self, path: Path) -> str:
        """POSIX path of ``path`` relative to the root (the cache key of located media)."""
        return path.relative_to(self.root).as_posix()

    def _listing(self, folder: Path) -> dict[str, str]:
        listing = self._listings.get(folder)
        if listing is None:
            listing = {}
            try:
                with os.scandir(folder) as it:
                    for entry in it:
                        listing.setdefault(normalize_name(entry.name), entry.name)
            except OSError:
                pass
            self._listings[folder] = listing
        return listing
