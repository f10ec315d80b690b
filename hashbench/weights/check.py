"""``hashbench weights check FILE``: is a file a known checkpoint (by name or hash), is it the published
one, and which backbones load it strictly."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Sequence

from ..errors import DataError
from .digest import digest_problem, sha256_of

if TYPE_CHECKING:
    from ..contract.checkpoints import Checkpoint

__all__ = ["WeightCheck", "check_file"]


@dataclass
class WeightCheck:
    """What ``hashbench weights check FILE`` found: the file's sha256, the known checkpoints it is (by file
    name or hash), which backbones loaded it strictly and which refused it (with why)."""

    path: Path
    sha256: str
    known: "list[tuple[str, Checkpoint]]" = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """The file is the published one where that can be told, and loads into every backbone tried."""
        digests_ok = not any(digest_problem(c, self.sha256) for _, c in self.known)
        return digests_ok and bool(self.loaded) and not self.failures


def check_file(path: Path, declared: "Sequence[tuple[str, Checkpoint]]", load: Callable[[str, Path], None],
               backbone: Optional[str] = None) -> WeightCheck:
    """Hash ``path``, match it to ``declared`` ``(backbone name, checkpoint)`` pairs (by file name or
    sha256), and ``load(name, path)`` it (raises when refused) into ``backbone``, or into every backbone
    that declares a checkpoint of that file name or hash. DataError for a missing file, or an unknown
    one without ``backbone``."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such weight file; `hashbench weights fetch NAME` downloads a known one"
                        " (names: `hashbench weights list`)")
    digest = sha256_of(path)
    result = WeightCheck(path, digest)
    result.known = [(name, c) for name, c in declared if c.file == path.name or c.sha256 == digest]
    targets = [backbone] if backbone else sorted({name for name, _ in result.known})
    if not targets:
        raise DataError(f"{path.name} is not a known checkpoint of any installed backbone; name the backbone"
                        " that should load it with --backbone")
    for name in targets:
        try:
            load(name, path)
        except Exception as exc:  # a refused load is the answer, not a crash
            result.failures.append(f"{name}: {' '.join(str(exc).split())}")
        else:
            result.loaded.append(name)
    return result
