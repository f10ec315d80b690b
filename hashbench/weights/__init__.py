"""Pretrained weight files: where they are found, how they are fetched and verified, and checking one.

What a backbone declares (:class:`~hashbench.contract.Checkpoint`, ``known_checkpoints``) and the
strict state-dict loader are contract (:mod:`hashbench.contract`); this package is what the
``hashbench weights list|check|fetch`` commands and backbone plugins use to get at the files:

- :mod:`~hashbench.weights.store`: the search paths (``$HASHBENCH_WEIGHTS``, then torch's hub cache),
  :func:`locate`, :func:`resolve_pretrained` (``pretrained = "name or path"`` -> file; re-exported by
  the contract for backbones);
- :mod:`~hashbench.weights.digest`: :func:`sha256_of`, the hash prefix of torch.hub-style names, and
  whether a digest is the published file's;
- :mod:`~hashbench.weights.fetch`: :func:`fetch`, a verified download (nothing kept on a failed check);
- :mod:`~hashbench.weights.check`: :func:`check_file`, a file matched to the known checkpoints and
  loaded strictly.

Nothing here downloads unless :func:`fetch` is called. Torch-free.
"""
from __future__ import annotations

from .check import WeightCheck, check_file
from .digest import digest_problem, digest_verdict, name_prefix, sha256_of
from .fetch import fetch
from .store import WEIGHTS_ENV, locate, missing_file_message, resolve_pretrained, search_paths

__all__ = ["WEIGHTS_ENV", "search_paths", "locate", "resolve_pretrained", "missing_file_message", "sha256_of",
           "name_prefix", "digest_problem", "digest_verdict", "fetch", "WeightCheck", "check_file"]
