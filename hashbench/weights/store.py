"""Where weight files are found: ``$HASHBENCH_WEIGHTS``, then torch's hub cache, and what
``pretrained = "..."`` names (a known checkpoint's file, or a path).

A missing file is told with the command that fetches it (``hashbench weights fetch NAME``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

from ..errors import CheckpointError, DataError

if TYPE_CHECKING:
    from ..contract.checkpoints import Checkpoint

__all__ = ["WEIGHTS_ENV", "search_paths", "locate", "resolve_pretrained", "missing_file_message"]

WEIGHTS_ENV = "HASHBENCH_WEIGHTS"


def search_paths() -> list[Path]:
    """Where named checkpoints are looked for: ``$HASHBENCH_WEIGHTS`` (when set), then torch's hub cache
    (``$TORCH_HOME/hub/checkpoints``, default ``~/.cache/torch/hub/checkpoints``)."""
    paths = []
    env = os.environ.get(WEIGHTS_ENV, "").strip()
    if env:
        paths.append(Path(env).expanduser())
    torch_home = os.environ.get("TORCH_HOME", "").strip() or os.path.join(
        os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.expanduser("~/.cache"), "torch")
    paths.append(Path(torch_home).expanduser() / "hub" / "checkpoints")
    return paths


def locate(checkpoint: "Checkpoint") -> Optional[Path]:
    """The first existing file named ``checkpoint.file`` in :func:`search_paths`, else None."""
    for folder in search_paths():
        candidate = folder / checkpoint.file
        if candidate.is_file():
            return candidate
    return None


def missing_file_message(where: str, file: Path, checkpoint: "Optional[Checkpoint]" = None) -> str:
    """``<where>: weight file not found: <file>; <the command that fixes it>``."""
    if checkpoint is not None and checkpoint.url:
        fix = f"run `hashbench weights fetch {checkpoint.name} --dest {file.parent}` (the file is {checkpoint.name})"
    elif checkpoint is not None:
        fix = f"get {checkpoint.file} from {checkpoint.source or 'its publisher'} and put it there"
    else:
        fix = ("give an existing file, or a known checkpoint name (`hashbench weights list`;"
               " `hashbench weights fetch NAME` downloads one)")
    return f"{where}: weight file not found: {file}; {fix}"


def resolve_pretrained(value: str, checkpoints: "Sequence[Checkpoint]",
                       where: str = "backbone.pretrained") -> "tuple[Path, Optional[Checkpoint]]":
    """``(file, checkpoint)`` for ``pretrained``: a known name (located; DataError saying how to fetch it
    when missing) or an existing path (its checkpoint when the file name is a known one's; CheckpointError
    naming the fetch command when the file does not exist)."""
    by_name = {c.name: c for c in checkpoints}
    if value in by_name:
        checkpoint = by_name[value]
        found = locate(checkpoint)
        if found is None:
            places = ", ".join(str(p) for p in search_paths())
            fetch_hint = f"`hashbench weights fetch {value}`" if checkpoint.url else "download it from its source"
            raise DataError(f"{where}: {value!r} ({checkpoint.file}) is not in {places}; run {fetch_hint}"
                            f" or set {WEIGHTS_ENV} to the folder holding it")
        return found, checkpoint
    path = Path(value).expanduser()
    known = {c.file: c for c in checkpoints}.get(path.name)
    if not path.exists():
        raise CheckpointError(missing_file_message(where, path, known))
    return path, known
