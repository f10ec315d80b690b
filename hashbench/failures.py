"""Exceptions raised inside a run, explained as one-line :class:`~hashbench.errors.HashbenchError`.

A run calls plugin code (factories, ``forward``, dataset items) and the machine (files, memory).
:func:`explain` maps whatever escapes to the error a user can act on:

- an exception raised in a plugin's code -> :class:`PluginError` naming the component, its
  distribution and what it was doing (found by walking the traceback to the innermost frame that
  belongs to a built component's modules, or to a registered plugin package);
- ``OSError`` (no space left, permission denied, ...) -> :class:`ResourceError` naming the path;
- out of memory (CUDA or host) -> :class:`ResourceError` suggesting a smaller ``train.batch_size``;
- anything else is a bug in hashbench: ``explain`` returns None and the CLI shows the traceback.
"""
from __future__ import annotations

import contextlib
import errno
import sys
import types
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Optional, Sequence

from .errors import HashbenchError, PluginError, ResourceError

__all__ = ["ComponentRef", "explain", "explaining", "first_line", "component_refs", "plugin_refs", "oom_error",
           "os_error", "bug_report_line"]

#: Top-level packages whose frames never identify a plugin (the libraries plugins are built on).
_LIBRARY_PACKAGES = ("torch", "torchvision", "numpy", "builtins", "typing", "functools", "contextlib",
                     "abc", "collections", "importlib", "threading", "multiprocessing", "queue")


@dataclass(frozen=True)
class ComponentRef:
    """A built component (or a plugin's hooks): ``kind``/``name``, the distribution that registered it,
    and what identifies its code in a traceback: the ids of its objects (an ``nn.Module`` and its
    submodules, matched against a frame's ``self``), the ids of its functions' code objects (the
    factory, hook implementations) and its Python modules."""

    kind: str
    name: str
    dist: str
    version: str
    modules: frozenset = field(default_factory=frozenset)
    objects: frozenset = field(default_factory=frozenset)
    codes: frozenset = field(default_factory=frozenset)

    def describe(self) -> str:
        """``backbone 'r3d18' (hashbench 0.1.0)``."""
        version = f" {self.version}" if self.version else ""
        return f"{self.kind} {self.name!r} ({self.dist}{version})"


def first_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (no trailing colon when the message is empty)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _modules_of(obj: Any) -> set[str]:
    """Python modules whose code runs when ``obj`` is used: its class, every submodule's class."""
    found = {type(obj).__module__}
    submodules = getattr(obj, "modules", None)
    if callable(submodules):
        try:
            found |= {type(m).__module__ for m in submodules()}
        except TypeError:  # a ``modules`` attribute that is not nn.Module.modules
            pass
    return {m for m in found if m and m.split(".")[0] not in _LIBRARY_PACKAGES}


def _object_ids(obj: Any) -> frozenset:
    ids = {id(obj)}
    submodules = getattr(obj, "modules", None)
    if callable(submodules):
        try:
            ids |= {id(m) for m in submodules()}
        except TypeError:
            pass
    return frozenset(ids)


def _code_id(function: Any) -> set[int]:
    code = getattr(function, "__code__", None)
    return {id(code)} if code is not None else set()


def component_refs(registry: Any, built: Sequence[tuple[str, str, Any]]) -> list[ComponentRef]:
    """ComponentRefs for ``(kind, name, object)`` triples built from ``registry``."""
    refs = []
    for kind, name, obj in built:
        component = registry.get(kind, name)
        modules = _modules_of(obj) | {component.factory.__module__}
        refs.append(ComponentRef(kind, name, component.dist, component.version, frozenset(modules),
                                 _object_ids(obj), frozenset(_code_id(component.factory))))
    return refs


def plugin_refs(plugin_manager: Any) -> list[ComponentRef]:
    """A ComponentRef per registered plugin (kind ``plugin``): its hook functions and module."""
    if plugin_manager is None:
        return []
    from importlib import metadata

    refs = []
    for name, plugin in plugin_manager.list_name_plugin():
        dist, _, entry = str(name).partition(":") if ":" in str(name) else ("?", "", str(name))
        try:
            version = metadata.version(dist) if dist != "?" else ""
        except metadata.PackageNotFoundError:
            version = ""
        codes: set[int] = set()
        for impl in plugin_manager.get_hookcallers(plugin) or []:
            for hookimpl in impl.get_hookimpls():
                if hookimpl.plugin is plugin:
                    codes |= _code_id(hookimpl.function)
        module = getattr(plugin, "__name__", None) or type(plugin).__module__
        refs.append(ComponentRef("plugin", entry or str(name), dist, version, frozenset({str(module)}),
                                 _object_ids(plugin), frozenset(codes)))
    return refs


def _frames(tb: Optional[types.TracebackType]) -> list[types.FrameType]:
    """The traceback's frames, innermost first."""
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    return frames[::-1]


def _match(frame: types.FrameType, components: Sequence[ComponentRef]) -> Optional[ComponentRef]:
    owner = frame.f_locals.get("self") if "self" in frame.f_code.co_varnames else None
    if owner is not None:
        for ref in components:
            if id(owner) in ref.objects:
                return ref
    for ref in components:
        if id(frame.f_code) in ref.codes:
            return ref
    module = str(frame.f_globals.get("__name__", ""))
    for ref in components:
        if module in ref.modules:
            return ref
    package = module.split(".")[0]
    if package and package != "hashbench" and package not in _LIBRARY_PACKAGES:
        for ref in components:
            if any(m.split(".")[0] == package for m in ref.modules):
                return ref
    return None


def _culprit(exc: BaseException, components: Sequence[ComponentRef]) -> Optional[ComponentRef]:
    """The component whose code raised ``exc`` (innermost matching frame; its chain too), else None."""
    seen: set[int] = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for frame in _frames(current.__traceback__):
            found = _match(frame, components)
            if found is not None:
                return found
        current = current.__cause__ or current.__context__
    return None


def oom_error(exc: BaseException, where: str, batch_size: Optional[int] = None) -> Optional[ResourceError]:
    """A ResourceError for an out-of-memory exception (CUDA or host), else None."""
    cuda_oom = type(exc).__name__ == "OutOfMemoryError"
    text = str(exc).lower()
    if not (cuda_oom or isinstance(exc, MemoryError) or "out of memory" in text
            or "can't allocate memory" in text):
        return None
    what = "GPU" if cuda_oom or "cuda" in text else "host"
    batch = f" (train.batch_size = {batch_size})" if batch_size else ""
    return ResourceError(f"out of {what} memory {where}{batch}: lower train.batch_size (or eval.batch_size"
                         " for encoding), use fewer frames or a smaller backbone")


def os_error(exc: OSError, where: str = "", path: Any = None) -> ResourceError:
    """A ResourceError naming the path (``exc.filename``, else ``path``) and what to do."""
    target = exc.filename if getattr(exc, "filename", None) else path
    reason = exc.strerror or first_line(exc)
    place = f" {where}" if where else ""
    hint = ""
    if exc.errno == errno.ENOSPC:
        hint = "; free some space or point --runs-dir / --results at another disk"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = "; check the permissions, or point --runs-dir / --results at a writable folder"
    subject = f"{target}: " if target else ""
    return ResourceError(f"{subject}{reason}{place}{hint}")


def explain(exc: BaseException, components: Iterable[ComponentRef] = (), where: str = "",
            batch_size: Optional[int] = None) -> Optional[HashbenchError]:
    """The one-line error for ``exc`` raised ``where`` (e.g. "at epoch 3, step 5"), or None for a bug.

    HashbenchErrors are returned unchanged. Plugin code is named before memory and file problems,
    except out-of-memory, which is the environment whoever allocated.
    """
    if isinstance(exc, HashbenchError):
        return exc
    if not isinstance(exc, Exception):
        return None
    components = list(components)
    place = f" {where}" if where else ""
    oom = oom_error(exc, where, batch_size)
    if oom is not None:
        return oom
    culprit = _culprit(exc, components)
    if culprit is not None:
        return PluginError(f"{culprit.describe()} raised{place}: {first_line(exc)}; fix the plugin or the"
                           f" keys of [{culprit.kind}] (HASHBENCH_DEBUG=1 shows the traceback)")
    if isinstance(exc, OSError):
        return os_error(exc, where)
    return None


@contextlib.contextmanager
def explaining(components: Iterable[ComponentRef] = (), where: str = "") -> Iterator[None]:
    """Run the block; an exception it raises is re-raised as :func:`explain`'s one-line error (chained),
    or unchanged when it is a HashbenchError already or a bug (``explain`` gives None)."""
    try:
        yield
    except HashbenchError:
        raise
    except Exception as exc:
        explained = explain(exc, components, where)
        if explained is None:
            raise
        raise explained from exc


def bug_report_line() -> str:
    """The line printed under the traceback of a genuine bug."""
    from . import __version__

    return (f"this is a bug in hashbench {__version__} (Python {sys.version.split()[0]}); please report it"
            " with the traceback above")
