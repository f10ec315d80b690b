"""Each leaderboard row's family (supervised / unsupervised) and evaluation protocol, the two facts the
rows are grouped by (the rules are :mod:`hashbench.results.leaderboard`'s "Sections").

Family: what the method's plugin declares. A method needs labels when its registered factory says so,
``needs_labels`` (:attr:`hashbench.contract.HashMethod.needs_labels`, default False): a factory that is a
class carries its class attribute; a factory function that builds a method which trains on labels sets
the same attribute on itself (``factory.needs_labels = True``), so the family is read without building
the method (no torch, no data). A local row's method is its identity's ``method.name``, or the built-in
``deep_hashing`` for a backbone + head + loss triple (and for rows of hashbench 0.1 tables, which only ran
triples). A published row takes its CSV's optional ``family`` column; when that is empty, its ``method``
if it names a registered method (case-insensitive: ``BTH`` is ``bth``), or a registered loss (the loss of
``deep_hashing``: ``CSQ`` is ``csq``); else ``unknown``.

Protocol: the evaluation facts that make two numbers of one column comparable, as one short text: which
checkpoint is reported (the results' ``selection`` column: ``last``, ``best_val:<metric>``,
``best_test:<metric>``; a published free-text selection starting with ``last`` is ``select=last``, any other
is kept as ``selection: <text>``) and the identity's other ``eval.*`` keys (``val_fraction``, ``clips``).
The query/database split and whether a query's own entry counts (``include_self``) belong to the dataset
and its settings, hence to the column, not to the row.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterable, Mapping

from ..config import BUILTIN_METHOD
from .compare import format_value
from .published import TEST_SELECTED

__all__ = ["SUPERVISED", "UNSUPERVISED", "UNKNOWN", "FAMILIES", "method_family", "identity_family",
           "published_family", "protocol_text", "family_rank"]

SUPERVISED = "supervised"
UNSUPERVISED = "unsupervised"
UNKNOWN = "unknown"
#: The families in the order the sections are shown.
FAMILIES: tuple[str, ...] = (SUPERVISED, UNSUPERVISED, UNKNOWN)
#: ``eval.*`` identity keys the ``selection`` text already states.
_IN_SELECTION = ("eval.select", "eval.select_metric")


@lru_cache(maxsize=None)
def _declared() -> tuple[dict[str, bool], frozenset[str]]:
    """``{method name: needs_labels}`` of every registered method, and the registered loss names."""
    from .. import registry
    from ..errors import HashbenchError

    try:
        reg = registry()
    except HashbenchError:  # pragma: no cover - a broken installation: every family is unknown
        return {}, frozenset()
    methods = {name: bool(getattr(reg.get("method", name).factory, "needs_labels", False))
               for name in reg.names("method")}
    return methods, frozenset(reg.names("loss"))


def method_family(name: str) -> str:
    """``supervised`` / ``unsupervised`` for a registered method ``name``, else ``unknown``."""
    methods, _ = _declared()
    if name not in methods:
        return UNKNOWN
    return SUPERVISED if methods[name] else UNSUPERVISED


def identity_family(identity: Mapping[str, Any] | None) -> str:
    """The family of a local row (``identity`` None: a hashbench 0.1 row, a backbone + head + loss triple)."""
    name = None if identity is None else identity.get("method.name")
    return method_family(str(name) if name is not None else BUILTIN_METHOD)


def published_family(method: str, declared: Any = "") -> str:
    """The family of a published row: its ``family`` cell when set, else what its ``method`` names."""
    text = "" if declared is None or str(declared) in ("", "nan", "<NA>") else str(declared).strip().lower()
    if text:
        return text if text in FAMILIES else UNKNOWN
    methods, losses = _declared()
    lowered = {n.lower(): n for n in methods}
    name = str(method).strip().lower()
    if name in lowered:
        return method_family(lowered[name])
    if name in {n.lower() for n in losses}:
        return method_family(BUILTIN_METHOD)
    return UNKNOWN


def _select_text(selection: str) -> str:
    """``last`` -> ``select=last``; ``best_val:map`` -> ``select=val on map``; other text kept."""
    text = selection.strip()
    kind, _, metric = text.partition(":")
    if text == "last" or text.lower().startswith("last "):
        return "select=last"
    if kind in ("best_val", TEST_SELECTED) and metric:
        return f"select={kind[5:]} on {metric}"
    return f"selection: {text}" if text else "selection not stated"


def protocol_text(selections: Iterable[str], identity: Mapping[str, Any] | None = None) -> str:
    """The protocol of a row from its runs' ``selection`` values and its identity's ``eval.*`` keys."""
    parts = sorted({_select_text(str(s)) for s in selections}) or ["selection not stated"]
    for key, value in sorted((identity or {}).items()):
        if key.startswith("eval.") and key not in _IN_SELECTION:
            parts.append(f"{key[5:]}={format_value(value)}")
    return ", ".join(parts)


def family_rank(family: str) -> int:
    """The position of ``family``'s section (unknown families last)."""
    return FAMILIES.index(family) if family in FAMILIES else len(FAMILIES)
