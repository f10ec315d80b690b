"""Known pretrained checkpoints of backbones (like timm's pretrained configs), where to find them, and
how to fetch and verify them.

A backbone factory declares the checkpoints it can load with :func:`known_checkpoints`; each
:class:`Checkpoint` carries the file name, its sha256 (when the publisher's file is known), the source
URL, the classifier size in the file, the normalisation the weights were trained with (0-255 RGB
mean/std) and the expected input. ``pretrained = "r3d50_K_200ep"`` (a name) is looked up in
``$HASHBENCH_WEIGHTS`` and then torch's hub cache (:func:`search_paths`); a path is used as it is.
``hashbench weights list|check|fetch`` are built on this module. Nothing here downloads unless
:func:`fetch` is called.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Tuple, TypeVar

from ..errors import CheckpointError, DataError

__all__ = ["Checkpoint", "known_checkpoints", "checkpoints_of", "search_paths", "locate", "resolve_pretrained",
           "sha256_of", "fetch", "iter_checkpoints", "read_state_dict", "load_state_dict_strict", "key_listing",
           "WeightCheck", "check_file", "WEIGHTS_ENV", "CHECKPOINTS_ATTRIBUTE"]

WEIGHTS_ENV = "HASHBENCH_WEIGHTS"
#: The attribute :func:`known_checkpoints` sets on a backbone factory.
CHECKPOINTS_ATTRIBUTE = "__hashbench_checkpoints__"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Checkpoint:
    """One known weight file of a backbone.

    ``name``: what ``pretrained = "..."`` says (e.g. ``r3d50_K_200ep``); ``file``: its file name;
    ``sha256``: of the publisher's file (None when unknown: then it is not verified); ``url``: where it is
    published; ``classes``: the classifier size it holds (dropped or kept by the backbone);
    ``mean``/``std``: the normalisation its training used, in 0-255 RGB units; ``frames``/``size``: the
    input it was trained on (T, square side); ``options``: backbone keys this checkpoint implies (e.g.
    ``{"shortcut": "B"}``); ``source`` and ``notes``: provenance for ``hashbench weights list``.
    """

    name: str
    file: str
    url: Optional[str] = None
    sha256: Optional[str] = None
    classes: Optional[int] = None
    mean: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: Tuple[float, float, float] = (1.0, 1.0, 1.0)
    frames: Optional[int] = None
    size: Optional[int] = None
    options: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""
    notes: str = ""


def known_checkpoints(*checkpoints: Checkpoint) -> Callable[[F], F]:
    """Declare the checkpoints a backbone factory can load (``hashbench weights list`` shows them)."""

    def mark(factory: F) -> F:
        setattr(factory, CHECKPOINTS_ATTRIBUTE, tuple(checkpoints))
        return factory

    return mark


def checkpoints_of(factory: Any) -> tuple[Checkpoint, ...]:
    """The checkpoints a factory declared (empty when none)."""
    return tuple(getattr(factory, CHECKPOINTS_ATTRIBUTE, ()))


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


def locate(checkpoint: Checkpoint) -> Optional[Path]:
    """The first existing file named ``checkpoint.file`` in :func:`search_paths`, else None."""
    for folder in search_paths():
        candidate = folder / checkpoint.file
        if candidate.is_file():
            return candidate
    return None


def resolve_pretrained(value: str, checkpoints: Sequence[Checkpoint],
                       where: str = "backbone.pretrained") -> tuple[Path, Optional[Checkpoint]]:
    """``(file, checkpoint)`` for ``pretrained``: a known name (located, DataError saying how to fetch it
    when missing) or a path (its checkpoint when the file name is a known one's)."""
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
    by_file = {c.file: c for c in checkpoints}
    return path, by_file.get(path.name)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """The sha256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(checkpoint: Checkpoint, dest: Optional[Path] = None,
          progress: Optional[Callable[[int, Optional[int]], None]] = None, mirror: Optional[str] = None) -> Path:
    """Download ``checkpoint.url`` into ``dest`` (default: the first search path), verify its sha256 when
    known, and move it in place atomically; ``progress(bytes_so_far, total_or_None)`` is called as it goes.

    ``mirror``: a base URL holding the same files (``<mirror>/<file>``), e.g. a cluster's shared copy.
    Any URL urllib opens works (``https://``, ``file://``). DataError when there is no URL, the download
    fails or the hash differs (nothing is left behind).
    """
    url = f"{mirror.rstrip('/')}/{checkpoint.file}" if mirror else checkpoint.url
    if not url:
        raise DataError(f"{checkpoint.name}: no download URL is known; get {checkpoint.file} from"
                        f" {checkpoint.source or 'its publisher'} and put it in {search_paths()[0]}")
    folder = Path(dest) if dest is not None else search_paths()[0]
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / checkpoint.file
    fd, tmp_name = tempfile.mkstemp(prefix=f".{checkpoint.file}.", suffix=".part", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url) as response:  # noqa: S310
            total = response.headers.get("Content-Length")
            total_bytes = int(total) if total and total.isdigit() else None
            done = 0
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                done += len(block)
                if progress is not None:
                    progress(done, total_bytes)
        if checkpoint.sha256:
            actual = sha256_of(tmp)
            if actual != checkpoint.sha256:
                raise DataError(f"{checkpoint.name}: the downloaded file's sha256 is {actual}, expected"
                                f" {checkpoint.sha256}; nothing was saved")
        shutil.move(str(tmp), str(target))
    except OSError as exc:
        raise DataError(f"{checkpoint.name}: cannot download {url}: {exc}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def iter_checkpoints(components: Iterable[Any]) -> list[tuple[Any, Checkpoint]]:
    """``(component, checkpoint)`` for every declared checkpoint of the given registry components."""
    return [(component, checkpoint) for component in components for checkpoint in checkpoints_of(component.factory)]


def key_listing(label: str, keys: Sequence[str], limit: int = 12) -> str:
    """``missing keys (3): a, b, c`` with at most ``limit`` names shown."""
    keys = list(keys)
    more = f" ... and {len(keys) - limit} more" if len(keys) > limit else ""
    return f"{label} ({len(keys)}): {', '.join(keys[:limit])}{more}"


def read_state_dict(path: Any, where: str = "backbone.pretrained",
                    strip_prefixes: Sequence[str] = ("module.",)) -> dict[str, Any]:
    """A checkpoint file's tensors as a plain state dict (``torch.load(..., weights_only=True)``).

    Accepts a bare state dict or a dict holding one under ``state_dict`` / ``model`` (Hara's and most
    training scripts' format); ``strip_prefixes`` (default ``module.``, DataParallel's) are removed
    from the key names. CheckpointError naming the file when it is missing, unreadable or holds no
    tensors.
    """
    import torch

    file = Path(path).expanduser()
    if not file.is_file():
        raise CheckpointError(f"{where}: weight file not found: {file}")
    try:
        obj: Any = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt file, or pickled objects that weights_only refuses
        first = (str(exc).strip().splitlines() or [""])[0]
        raise CheckpointError(f"{where}: cannot read {file} as a weights-only torch checkpoint"
                              f" ({type(exc).__name__}: {first})") from exc
    state = obj
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                state = obj[key]
                break
    if not isinstance(state, Mapping) or not state or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise CheckpointError(f"{where}: {file} holds no state dict (expected a dict of tensors, or a dict with"
                              " a 'state_dict' entry)")
    out = {}
    for key, value in state.items():
        for prefix in strip_prefixes:
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        out[key] = value
    return out


def load_state_dict_strict(module: Any, state: Any, where: str, *, ignore_missing: Sequence[str] = ()) -> None:
    """Load ``state`` into ``module`` strictly; CheckpointError listing the missing, unexpected and
    mis-shaped keys (at most 12 of each) when it does not fit. Missing keys ending in one of
    ``ignore_missing`` (e.g. ``num_batches_tracked`` of checkpoints from PyTorch < 0.4) are allowed."""
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{where}: holds no state dict for the model")
    expected = module.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith(tuple(ignore_missing))]
    unexpected = [k for k in state if k not in expected]
    mismatched = [f"{k} {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
                  for k in state if k in expected and hasattr(state[k], "shape")
                  and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or mismatched:
        raise CheckpointError(f"{where}: does not fit this model; " + "; ".join(
            key_listing(label, keys) for label, keys in (
                ("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched))
            if keys))
    full = dict(state)
    for key in expected:  # allowed missing keys keep the module's own value
        full.setdefault(key, expected[key])
    module.load_state_dict(full, strict=True)


@dataclass
class WeightCheck:
    """What ``hashbench weights check FILE`` found: the file's sha256, the known checkpoint it is (by
    file name or hash) and whether its hash matches, and which backbones loaded it strictly."""

    path: Path
    sha256: str
    known: list[tuple[str, Checkpoint]] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        hashes_ok = all(c.sha256 in (None, self.sha256) for _, c in self.known)
        return hashes_ok and bool(self.loaded) and not self.failures


def check_file(registry: Any, path: Path, backbone: Optional[str] = None) -> WeightCheck:
    """Hash ``path``, match it to the known checkpoints of the registered backbones, and load it strictly
    into ``backbone`` (or into every backbone that declares a checkpoint of that file name or hash)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such weight file")
    digest = sha256_of(path)
    backbones = [c for c in registry.all() if c.kind == "backbone"]
    result = WeightCheck(path, digest)
    for component, checkpoint in iter_checkpoints(backbones):
        if checkpoint.file == path.name or checkpoint.sha256 == digest:
            result.known.append((component.name, checkpoint))
    targets = [backbone] if backbone else sorted({name for name, _ in result.known})
    if not targets:
        raise DataError(f"{path.name} is not a known checkpoint of any installed backbone; name the backbone"
                        " that should load it with --backbone")
    for name in targets:
        try:
            registry.build("backbone", {"name": name, "pretrained": str(path)}, where="backbone")
        except Exception as exc:  # a refused load is the answer, not a crash
            text = " ".join(str(exc).split())
            result.failures.append(f"{name}: {text}")
        else:
            result.loaded.append(name)
    return result
