"""The plugin contract — what a plugin author reads.

- :mod:`~hashbench.contract.hookspecs`: THE statement of the contract: the pluggy hooks (registration
  and lifecycle), the shapes, dtypes and context names of every component kind, and what each kind
  may declare. Every other module (and the docs) links to it instead of restating it;
- :mod:`~hashbench.contract.keys`: :func:`identity_keys`, how a factory's table keys enter the
  experiment identity;
- :mod:`~hashbench.contract.names`: component kinds, context names (what hashbench injects by
  parameter name), the ``name@k`` / ``name@r`` metric spec syntax;
- :mod:`~hashbench.contract.binding`: how a table and the context become a factory's arguments;
- :mod:`~hashbench.contract.registry`: plugin loading (one entry point at a time) and the component
  tables;
- :mod:`~hashbench.contract.protocols`: typed protocols of backbone, head, dataset, metric, and
  :class:`RunInfo`, what lifecycle hooks receive;
- :mod:`~hashbench.contract.methods`: :class:`HashMethod`, the base class of methods (``fit``,
  ``training_loss``, ``encode``), :class:`MethodBatch`, and the helpers that read a training split
  (imports torch; loaded on first use);
- :mod:`~hashbench.contract.losses`: :class:`HashLoss`, the base class of losses (one override point,
  ``compute_loss``), :class:`LossBatch` and :class:`MemoryBank` (imports torch; loaded on first use);
- :mod:`~hashbench.contract.rules`: the contract's rules as checks, each written once (the run-time
  checks and the conformance kit both apply them);
- :mod:`~hashbench.contract.checks`: the contract checked on a real batch, one component at a time
  (imports torch; loaded on first use of :func:`check_batch` / :class:`BatchReport`);
- :mod:`~hashbench.contract.checkpoints`: the known pretrained checkpoints a backbone declares
  (:class:`Checkpoint`, :func:`known_checkpoints`); :func:`resolve_pretrained` (``pretrained`` -> file)
  is re-exported from :mod:`hashbench.weights`, which finds, fetches and verifies the files;
- :mod:`~hashbench.contract.state_dicts`: the weights-only reader and the strict state-dict loader
  every backbone plugin uses;
- :mod:`~hashbench.contract.validators`: :func:`positive_int`, :func:`integer`, :func:`number`,
  :func:`choice`, the checks of a factory's key values, each with one message (torch-free);
- :mod:`~hashbench.contract.conformance`: the conformance kit, every registered component checked
  against this contract (``hashbench check-plugins``), one module per kind; :func:`conformance_example`
  attaches the example table a factory is checked with (torch-free; the kit's checks import torch when
  they run). Its per-kind functions (``check_loss``...) are imported from
  ``hashbench.contract.conformance`` itself.

Every public name is re-exported here; import them from ``hashbench.contract``.
"""
from __future__ import annotations

from typing import Any

from .binding import bind_parameters
from .hookspecs import PROJECT, Factories, hookimpl, hookspec
from .keys import IDENTITY_ATTRIBUTE, identity_keys, identity_resolver, key_modes
from .names import (CONTEXT_NAMES, CONTEXT_ORIGINS, CORE_DEFAULTS, CORE_KEYS, ITEM_KINDS, KINDS, TABLE_OWNED, MetricSpec,
                    parse_metric_spec)
from .protocols import Backbone, Dataset, EpochAware, Head, Metric, RunInfo
from .registry import DISABLE_ENV, REFERENCE_DIST, BrokenPlugin, Component, Registry, load_registry
from .conformance import conformance_example
from .validators import choice, integer, number, positive_int
from ..weights.store import resolve_pretrained
from .checkpoints import Checkpoint, checkpoints_of, known_checkpoints
from .state_dicts import key_listing, load_state_dict_strict, read_state_dict

__all__ = [
    "PROJECT", "hookimpl", "hookspec", "Factories",
    "identity_keys", "identity_resolver", "key_modes", "IDENTITY_ATTRIBUTE",
    "KINDS", "ITEM_KINDS", "CONTEXT_NAMES", "CONTEXT_ORIGINS", "TABLE_OWNED", "CORE_KEYS", "CORE_DEFAULTS", "MetricSpec", "parse_metric_spec",
    "bind_parameters",
    "Registry", "Component", "BrokenPlugin", "load_registry", "DISABLE_ENV", "REFERENCE_DIST",
    "Backbone", "Head", "Dataset", "Metric", "EpochAware", "RunInfo",
    "HashMethod", "MethodBatch", "iter_inputs", "pooled_inputs", "HashLoss", "LossBatch", "MemoryBank", "one_hot_labels", "call_loss", "classifies",
    "check_batch", "BatchReport",
    "conformance_example", "CheckResult", "check_component", "check_registered", "select_components",
    "assert_conforms",
    "choice", "integer", "number", "positive_int",
    "Checkpoint", "known_checkpoints", "checkpoints_of", "resolve_pretrained", "read_state_dict",
    "load_state_dict_strict", "key_listing",
]

_LAZY = {"check_batch": "checks", "BatchReport": "checks",  # torch-importing: loaded on first use
         "HashMethod": "methods", "MethodBatch": "methods", "iter_inputs": "methods", "pooled_inputs": "methods",
         "HashLoss": "losses", "LossBatch": "losses", "MemoryBank": "losses", "one_hot_labels": "losses",
         "call_loss": "losses", "classifies": "losses",
         # the conformance kit (its module is torch-free; loaded already for conformance_example)
         "CheckResult": "conformance", "check_component": "conformance", "check_registered": "conformance",
         "select_components": "conformance", "assert_conforms": "conformance"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
