"""Where computation runs: device names, their resolution, and how many CPU workers to use.

The one owner of device logic. Two resolvers, because two questions are asked:

- :func:`resolve_device` — the experiment's ``device`` (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``):
  ``auto`` is CUDA whenever torch sees a GPU; an explicit CUDA device must exist. ConfigError names
  the ``device`` key. :func:`torch_device` is the same as a ``torch.device``.
- :func:`compute_device` — where a Hamming ranking pass runs (``hashbench score --device``, the metric
  code): ``auto`` picks CUDA only for jobs of at least :data:`AUTO_CUDA_MIN_PAIRS` query x database
  pairs (smaller ones are faster on the CPU than the transfer). DataError, as the codes are the input.

CPU workers: :func:`usable_cpus` (the CPUs this process may run on), :func:`decode_workers`
(``hashbench data prepare``'s processes) and :func:`ranking_threads` (the CPU ranking pass,
``$HASHBENCH_THREADS``).

A top-level module rather than part of ``train/``: the experiment config validates device names,
the codes and metrics pick a device for large jobs, and training places the model, so every layer
asks it; it imports nothing of hashbench but the errors, and torch only inside functions.
"""
from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, DataError

if TYPE_CHECKING:
    import torch

__all__ = ["DEVICE_PATTERN", "DEVICE_CHOICES", "AUTO_CUDA_MIN_PAIRS", "THREADS_ENV", "is_device_name",
           "resolve_device", "torch_device", "compute_device", "device_description", "usable_cpus",
           "decode_workers", "ranking_threads"]

#: What an experiment's ``device`` may say.
DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")
#: The allowed forms, as error messages spell them.
DEVICE_CHOICES = "\"auto\", \"cpu\", \"cuda\" or \"cuda:N\""
#: ``compute_device("auto")`` only considers CUDA when query x database pairs reach this many.
AUTO_CUDA_MIN_PAIRS = 50_000_000
#: Threads of the CPU ranking pass (default 1).
THREADS_ENV = "HASHBENCH_THREADS"
#: ``hashbench data prepare`` never starts more decoding processes than this by default.
MAX_DECODE_WORKERS = 16


def is_device_name(device: Any) -> bool:
    """Whether ``device`` is a string an experiment may give (see :data:`DEVICE_PATTERN`)."""
    return isinstance(device, str) and bool(DEVICE_PATTERN.match(device))


def resolve_device(device: str = "auto") -> str:
    """``"auto"`` -> ``"cuda"`` when torch sees a GPU, else ``"cpu"``; checks explicit CUDA devices exist."""
    if not is_device_name(device):
        raise ConfigError(f"device: must be {DEVICE_CHOICES}, got {device!r}")
    if device == "cpu":
        return device
    import torch

    available = torch.cuda.is_available()
    if device == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise ConfigError(f"device: {device!r} requested but CUDA is not available to torch"
                          f" {torch.__version__}; use device = \"auto\" or \"cpu\"")
    index = int(device.split(":")[1]) if ":" in device else 0
    count = torch.cuda.device_count()
    if index >= count:
        raise ConfigError(f"device: {device!r} requested but only {count} CUDA device(s) are visible"
                          f" (cuda:0..cuda:{count - 1})")
    return device


def torch_device(device: str = "auto") -> "torch.device":
    """:func:`resolve_device` as a ``torch.device``."""
    import torch

    return torch.device(resolve_device(device))


def compute_device(device: Any = "auto", pairs: int = 0) -> str:
    """``"cpu"`` or a CUDA device string; ``"auto"`` = CUDA when torch sees a GPU and ``pairs`` is large."""
    name = str(device) if device is not None else "auto"
    if name == "auto":
        if pairs < AUTO_CUDA_MIN_PAIRS:
            return "cpu"
        try:
            import torch
        except ImportError:  # pragma: no cover - torch is a dependency
            return "cpu"
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise DataError(f"device {name!r} requested but torch sees no CUDA GPU; use device 'cpu'")
    elif name != "cpu":
        raise DataError(f"unknown device {name!r}; use auto, cpu or cuda[:N]")
    return name


def device_description(device: "torch.device") -> str:
    """``cpu`` or ``cuda:<name>`` for the results table."""
    if device.type == "cuda":
        import torch

        return f"cuda:{torch.cuda.get_device_name(device)}"
    return device.type


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def decode_workers() -> int:
    """Decoding processes of ``hashbench data prepare`` by default: the usable CPUs, at most 16."""
    return max(1, min(MAX_DECODE_WORKERS, usable_cpus()))


def ranking_threads() -> int:
    """Threads for the CPU ranking pass: ``$HASHBENCH_THREADS``, else 1.

    Only the distance part of the numpy path releases the GIL (numpy's bincount does not), so threads
    gain little there; the option is there for machines where they do.
    """
    env = os.environ.get(THREADS_ENV, "").strip()
    if not env:
        return 1
    try:
        return max(1, int(env))
    except ValueError:
        raise DataError(f"{THREADS_ENV}={env!r}: expected a positive integer") from None
