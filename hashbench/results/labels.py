"""Row labels of the leaderboard: each row named by its method and every setting in which it differs
from the other rows (the rules are :mod:`hashbench.results.leaderboard`'s "Rows"), and the labels of
published rows."""
from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .board import PUBLISHED_MARK
from .compare import (COMPONENT_TABLES, MISSING, canonical, format_value, general_order, natural_key, short_names,
                      shown, sort_value, make_unique, varying_keys)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLUMN_KEYS", "VARIANT_COLUMNS", "parse_config", "row_identity", "identity_labels", "identity_order",
           "published_labels"]

#: Keys that choose the column, not the row.
COLUMN_KEYS = ("head.bits", "method.bits")
#: Published columns that tell two reported settings of one method apart.
VARIANT_COLUMNS = ("frames", "margin")


def parse_config(text: Any) -> dict[str, Any] | None:
    """The identity mapping of a ``config`` cell; None for an empty (0.1 table) or unreadable cell."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def row_identity(config: Mapping[str, Any]) -> dict[str, Any]:
    """The part of an experiment identity that chooses the row: all but the code length (``head.bits``,
    ``method.bits``) and ``dataset.*``."""
    return {k: v for k, v in config.items() if k not in COLUMN_KEYS and not k.startswith("dataset.")}


def _varying(idents: Sequence[Mapping[str, Any]]) -> dict[str, set[str] | None]:
    """The keys that vary between row identities; ``train.*`` only among rows that trained (have them)."""
    def skip(key: str) -> bool:
        return key in COLUMN_KEYS or key.startswith("dataset.") or key.startswith("train.")

    trained = [ident for ident in idents if any(k.startswith("train.") for k in ident)]
    out = varying_keys(idents, skip=skip)
    out.update(varying_keys(trained, skip=lambda k: not k.startswith("train.")))
    return out


def _named_in_label(label: str, key: str, value: Any) -> bool:
    """Whether ``label`` already spells ``<key or its last segment>=<value>`` (sweep point labels)."""
    text = format_value(value)
    for name in {key, key.split(".")[-1]}:
        if re.search(r"(?:^|[\[(,\s])" + re.escape(f"{name}={text}") + r"(?=$|[\]),\s])", label):
            return True
    return False


def identity_labels(rows: Sequence[tuple[str, Mapping[str, Any] | None]]) -> list[str]:
    """Row labels for ``(method, row identity)`` pairs (identity None: a 0.1 row, labelled ``method``).

    The rules are the module docstring's "Rows"; distinct pairs always get distinct labels.
    """
    idents = [ident for _, ident in rows if ident is not None]
    varying = _varying(idents)
    component_keys = {c: [k for k in varying if k.startswith(c + ".") and k != f"{c}.name"]
                      for c in COMPONENT_TABLES}
    component_short = {c: short_names(keys) for c, keys in component_keys.items()}
    general = sorted((k for k in varying if k.split(".", 1)[0] not in COMPONENT_TABLES),
                     key=general_order)
    general_short = short_names(general)
    names_by_method: dict[str, set[tuple]] = defaultdict(set)
    for method, ident in rows:
        if ident is not None:
            names_by_method[method].add(tuple(canonical(ident.get(f"{c}.name")) for c in COMPONENT_TABLES))

    labels, keys = [], []
    for method, ident in rows:
        if ident is None:
            labels.append(method)
            keys.append("legacy\n" + method)
            continue
        custom = method != "+".join(str(ident.get(f"{c}.name")) for c in COMPONENT_TABLES)

        def visible(key: str) -> bool:  # a key this row does not have is not named (rows that have it are)
            return key in ident and shown(ident, key, varying) and not (
                custom and _named_in_label(method, key, ident.get(key, MISSING))) and not (
                key == "method.name" and format_value(ident[key]) == method)  # the label already names it

        components, any_params = [], False
        for comp in COMPONENT_TABLES:
            params = [f"{component_short[comp][k]}={format_value(ident.get(k, MISSING))}"
                      for k in component_keys[comp] if visible(k)]
            any_params = any_params or bool(params)
            name = format_value(ident.get(f"{comp}.name", MISSING))
            components.append(name + (f"({', '.join(params)})" if params else ""))
        trailing = []
        for key in general:
            if not visible(key):
                continue
            value = ident.get(key, MISSING)
            if key == "train.epochs" and isinstance(value, int) and not isinstance(value, bool):
                trailing.append(f"{value} ep")
            else:
                trailing.append(f"{general_short[key]}={format_value(value)}")
        if not custom:
            label = "+".join(components)
        elif any_params or len(names_by_method[method]) > 1:
            label = f"{method} [{'+'.join(components)}]"
        else:
            label = method
        labels.append(", ".join([label] + trailing))
        keys.append(method + "\n" + canonical(ident))
    return make_unique(labels, keys)


def identity_order(rows: Sequence[tuple[str, Mapping[str, Any] | None]]) -> list[tuple]:
    """Sort keys for identity rows: method, then the differing settings' values (numbers as numbers)."""
    idents = [ident for _, ident in rows if ident is not None]
    varying = _varying(idents)
    ordered = sorted(varying, key=lambda k: (k.split(".", 1)[0] not in COMPONENT_TABLES,)
                     + general_order(k))
    out = []
    for method, ident in rows:
        if ident is None:
            out.append((natural_key(method), 1, ()))
        else:
            out.append((natural_key(method), 0, tuple(sort_value(ident.get(k, MISSING)) for k in ordered)))
    return out


def published_labels(pub: "pd.DataFrame", group: Sequence[str]) -> list[str]:
    """``<method> [(variant)] †`` per published row; the variant lists frames/margin values that vary."""
    import pandas as pd

    variants = [c for c in VARIANT_COLUMNS if c not in group]
    labels = []
    varying: dict[tuple[str, str], list[str]] = {}
    for (source, method), part in pub.groupby(["source", "method"], sort=False):
        varying[(source, method)] = [c for c in variants if part[c].dropna().nunique() > 1]
    for _, row in pub.iterrows():
        parts = []
        for col in varying[(row["source"], row["method"])]:
            value = row[col]
            if pd.isna(value):
                continue
            parts.append(f"{int(value)} frames" if col == "frames" else f"margin {value:g}")
        suffix = f" ({', '.join(parts)})" if parts else ""
        labels.append(f"{row['method']}{suffix}")
    # two sources reporting the same method/variant in one cell stay apart: name the source
    keys = pd.Series(labels, index=pub.index)
    clash = pd.DataFrame({"l": keys, "d": pub["dataset"], "b": pub["bits"], "s": pub["source"]})
    per_cell = clash.groupby(["l", "d", "b"], dropna=False)["s"].transform("nunique")
    return [f"{lab} [{src}] {PUBLISHED_MARK}" if n > 1 else f"{lab} {PUBLISHED_MARK}"
            for lab, src, n in zip(labels, pub["source"], per_cell)]
