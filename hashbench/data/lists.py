"""Split list files: tolerant parsing, safe paths, and the checksum that identifies the lists used.

Real list files differ in small ways: CRLF line ends (UCF101), a trailing space on every line
(HMDB-51), a UTF-8 byte-order mark, blank lines. :func:`read_list` accepts all of these. Paths read
from a list must stay inside the dataset root (:func:`safe_relpath`).
"""
from __future__ import annotations

import hashlib
import logging
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence, Tuple

from ..errors import DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ListLine:
    """One non-empty line of a list file, split on whitespace."""

    file: Path
    lineno: int  # 1-based
    fields: Tuple[str, ...]

    @property
    def where(self) -> str:
        """``file:line`` for messages."""
        return f"{self.file}:{self.lineno}"


def read_text_lines(path: Path | str) -> list[str]:
    """Lines of a text file without line ends (LF, CRLF or CR) or surrounding whitespace.

    Decodes UTF-8 (a BOM is dropped), falling back to Latin-1. Raises DataError if unreadable.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: list file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read list file ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        log.warning("%s is not UTF-8; reading it as Latin-1", path)
        text = raw.decode("latin-1")
    return [line.strip() for line in text.splitlines()]


def read_list(path: Path | str) -> list[ListLine]:
    """Non-empty lines of a list file as whitespace-split fields, with their line numbers."""
    path = Path(path)
    return [ListLine(path, i, tuple(line.split()))
            for i, line in enumerate(read_text_lines(path), start=1) if line]


def path_and_label(line: ListLine, *, label_required: bool) -> tuple[str, Optional[int]]:
    """Split a ``path [label]`` line; the label is the last field when it is an integer.

    Raises DataError naming ``file:line`` when a required label is missing or not an integer.
    """
    fields = line.fields
    if len(fields) >= 2 and _is_int(fields[-1]):
        return " ".join(fields[:-1]), int(fields[-1])
    if label_required:
        raise DataError(f"{line.where}: expected `<path> <integer label>`, got {' '.join(fields)!r}")
    return " ".join(fields), None


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def safe_relpath(root: Path | str, listed: str, where: str = "") -> str:
    """The POSIX path of ``listed`` relative to ``root``; DataError if it escapes ``root``.

    ``listed`` may be relative to ``root`` or absolute (then it must lie under ``root``); backslashes
    are read as separators. The check is lexical (``..`` components), so symlinks the user placed
    inside the root are followed as usual.
    """
    prefix = f"{where}: " if where else ""
    text = listed.replace("\\", "/").strip()
    if not text:
        raise DataError(f"{prefix}empty path")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        root_abs = os.path.normpath(os.path.abspath(str(root)))
        absolute = os.path.normpath(text)
        if absolute != root_abs and absolute.startswith(root_abs.rstrip(os.sep) + os.sep):
            return Path(os.path.relpath(absolute, root_abs)).as_posix()
        raise DataError(f"{prefix}path {listed!r} lies outside the dataset root {root}; "
                        "list paths must be relative to the root or inside it")
    rel = posixpath.normpath(text)
    if rel in (".", "..") or rel.startswith("../"):
        raise DataError(f"{prefix}path {listed!r} escapes the dataset root {root}; "
                        "list paths must stay inside the root")
    return rel


def entries_checksum(splits: Mapping[str, Sequence[Tuple[str, object]]], extra: Iterable[str] = ()) -> str:
    """sha256 (hex) of the split lists actually used: ``split<TAB>video id<TAB>label`` lines.

    Independent of line ends, whitespace and file names, so the shipped lists and a user's copy of
    the same lists give the same checksum. ``extra`` strings (e.g. generation parameters) are mixed in.
    """
    digest = hashlib.sha256()
    for item in extra:
        digest.update(f"#{item}\n".encode())
    for name in sorted(splits):
        for vid, label in splits[name]:
            digest.update(f"{name}\t{vid}\t{label}\n".encode())
    return digest.hexdigest()
