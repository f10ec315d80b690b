"""Is a weight file the published one? Its sha256 against the declared digest, or against the prefix
that torch.hub's file names carry (``r3d_18-b3b3357e.pth``: the sha256 starts with ``b3b3357e``)."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from ..contract.checkpoints import Checkpoint

__all__ = ["sha256_of", "name_prefix", "digest_problem", "digest_verdict", "looks_like_web_page"]

#: torch.hub's convention: ``name-<sha256 prefix>.ext`` (what ``check_hash=True`` verifies).
HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,})\.[A-Za-z0-9]+$")


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """The sha256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def name_prefix(file_name: str) -> Optional[str]:
    """The sha256 prefix a torch.hub-style file name carries (``r3d_18-b3b3357e.pth`` -> ``b3b3357e``)."""
    match = HASH_IN_NAME.search(file_name)
    return match.group(1) if match else None


def digest_problem(checkpoint: "Checkpoint", digest: str) -> Optional[str]:
    """Why a file of sha256 ``digest`` is not ``checkpoint``'s published file (None when it may be): the
    declared sha256 differs, or the prefix in the published file name does."""
    if checkpoint.sha256:
        if digest != checkpoint.sha256:
            return f"its sha256 is {digest}, expected {checkpoint.sha256} (published for {checkpoint.name})"
        return None
    prefix = name_prefix(checkpoint.file)
    if prefix and not digest.startswith(prefix):
        return (f"its sha256 is {digest[:16]}..., but its published file name says it starts with {prefix}"
                f" ({checkpoint.file})")
    return None


def digest_verdict(checkpoint: "Checkpoint", digest: str) -> str:
    """One phrase for ``hashbench weights check``: matches, differs, or nothing published to compare."""
    problem = digest_problem(checkpoint, digest)
    if problem:
        return f"DIFFERS: {problem}"
    if checkpoint.sha256:
        return "sha256 matches"
    prefix = name_prefix(checkpoint.file)
    return f"sha256 starts with {prefix}, as its name says" if prefix else "no published sha256 to compare"


def looks_like_web_page(path: Path) -> bool:
    """Whether a file starts like HTML (an error or "confirm download" page saved instead of the file)."""
    with open(path, "rb") as handle:
        head = handle.read(512).lstrip().lower()
    return head.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body"))
