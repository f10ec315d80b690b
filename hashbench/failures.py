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

import errno
import sys
import types
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence

from .errors import HashbenchError, PluginError, ResourceError

__all__ = ["ComponentRef", "explain", "first_line", "component_refs", "oom_error", "os_error"]

#: Top-level packages whose frames never identify a plugin (the libraries plugins are built on).
_LIBRARY_PACKAGES = ("torch", "torchvision", "numpy", "builtins", "typing", "functools", "contextlib",
                     "abc", "collections", "importlib", "threading", "multiprocessing", "queue")


@dataclass(frozen=True)
class ComponentRef:
    """A built component: ``kind``/``name``, the distribution that registered it, its Python modules."""

    kind: str
    name: str
    dist: str
    version: str
    modules: frozenset = field(default_factory=frozenset)

    def describe(self) -> str:
        """``backbone 'r3d18' (hashbench 0.1.0)``."""
        return f"{self.kind} {self.name!r} ({self.dist} {self.version})"


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


def component_refs(registry: Any, built: Sequence[tuple[str, str, Any]]) -> list[ComponentRef]:
    """ComponentRefs for ``(kind, name, object)`` triples built from ``registry``."""
    refs = []
    for kind, name, obj in built:
        component = registry.get(kind, name)
        modules = _modules_of(obj) | {component.factory.__module__}
        refs.append(ComponentRef(kind, name, component.dist, component.version, frozenset(modules)))
    return refs


def _frames(tb: Optional[types.TracebackType]) -> list[str]:
    """Module names of the traceback's frames, innermost first."""
    names = []
    while tb is not None:
        names.append(str(tb.tb_frame.f_globals.get("__name__", "")))
        tb = tb.tb_next
    return names[::-1]


def _culprit(exc: BaseException, components: Sequence[ComponentRef]) -> Optional[ComponentRef]:
    """The component whose code raised ``exc`` (innermost matching frame; its chain too), else None."""
    seen: set[int] = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for module in _frames(current.__traceback__):
            exact = [c for c in components if module in c.modules]
            if exact:
                return exact[0]
            package = module.split(".")[0]
            owners = [c for c in components if package != "hashbench"
                      and any(m.split(".")[0] == package for m in c.modules)]
            if owners:
                return owners[0]
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


def bug_report_line() -> str:
    """The line printed under the traceback of a genuine bug."""
    from . import __version__

    return (f"this is a bug in hashbench {__version__} (Python {sys.version.split()[0]}); please report it"
            " with the traceback above")
