"""hashbench: a plugin-based experiment registry for learned video hashing.

Public Python interface::

    hashbench.registry()                      -> Registry (``.names(kind)``, ``.build(kind, table, **ctx)``)
    hashbench.build_model(backbone, head)     -> nn.Module, float clips (B,3,T,H,W) -> (B,bits) in [-1,1]
    hashbench.build_deep_hashing(backbone, head, loss, bits=..., seed=...) -> the built-in method
    hashbench.score(qc, ql, dc, dl, metrics)  -> {metric: value}
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .contract import hookimpl
from .errors import (CheckpointError, ConfigError, DataError, HashbenchError, PluginError,
                     ResultsError)

if TYPE_CHECKING:
    import torch

    from .contract import Registry

__version__ = "0.1.0"
__all__ = [
    "__version__", "hookimpl", "registry", "build_model", "build_deep_hashing", "score",
    "HashbenchError", "ConfigError", "PluginError", "DataError", "CheckpointError", "ResultsError",
]

_REGISTRY: "Registry | None" = None


def registry(reload: bool = False) -> "Registry":
    """The process-wide plugin registry (loaded on first use; ``reload=True`` rescans entry points)."""
    global _REGISTRY
    if _REGISTRY is None or reload:
        from .contract import load_registry

        _REGISTRY = load_registry()
    return _REGISTRY


def build_model(backbone_table: Mapping[str, Any], head_table: Mapping[str, Any]) -> "torch.nn.Module":
    """Backbone + hash head from their TOML tables: float clips (B,3,T,H,W) -> (B,bits) in [-1, 1]."""
    from .train.model import build_hash_model

    return build_hash_model(registry(), backbone_table, head_table)


def build_deep_hashing(backbone_table: Mapping[str, Any], head_table: Mapping[str, Any],
                       loss_table: Mapping[str, Any], **context: Any) -> "torch.nn.Module":
    """The built-in ``deep_hashing`` method (backbone + head + loss; the ``method`` a [backbone]/[head]/
    [loss] TOML runs) from their TOML tables and context values (``bits``, ``seed``, ``num_classes``, ...)."""
    from .train.deep_method import build_deep_hashing as build

    return build(registry(), backbone_table, head_table, loss_table, **context)


def score(query_codes: Any, query_labels: Any, db_codes: Any, db_labels: Any,
          metrics: Sequence[str | Mapping[str, Any]] | None = None) -> dict[str, float]:
    """Score codes (±1, 0/1, real-valued -> sign, or packed) with named metrics, e.g. ``["map@100"]``
    (default: ``["map"]``, :data:`hashbench.config.DEFAULT_METRIC`)."""
    from .config import DEFAULT_METRIC
    from .eval.evaluation import score_codes

    chosen = [DEFAULT_METRIC] if metrics is None else metrics
    return score_codes(registry(), query_codes, query_labels, db_codes, db_labels, chosen)
