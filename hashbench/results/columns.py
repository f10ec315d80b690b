"""The dataset columns of the leaderboard: one per dataset, split further when runs' dataset settings
differ or their data is not the official data (custom lists, skipped videos), and their order.

Datasets are ordered without naming any: first as they appear in the published reference rows (the
shipped ``hashbench/results/published.csv`` lists ucf101, hmdb51, jhmdb in that order), then as they
first appear in the results table (:func:`dataset_ranks`).
"""
from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .board import DataColumn
from .compare import MISSING, compared_value, format_value, make_unique, short_names, sort_value, varying_keys
from .rows import text_column

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["dataset_ranks", "dataset_order", "dataset_columns"]


def dataset_ranks(*tables: "pd.DataFrame | None") -> dict[str, int]:
    """``{dataset: rank}`` by first appearance: in the first table (its line order), then the next."""
    ranks: dict[str, int] = {}
    for table in tables:
        if table is None or "dataset" not in table.columns or not len(table):
            continue
        ordered = table.sort_values("_line", kind="stable") if "_line" in table.columns else table
        for name in ordered["dataset"].astype(str):
            ranks.setdefault(name, len(ranks))
    return ranks


def _skipped_values(frame: "pd.DataFrame") -> list[int | None]:
    import pandas as pd

    if "skipped" not in frame.columns:
        return [None] * len(frame)
    return [None if pd.isna(v) else int(v) for v in frame["skipped"]]


def dataset_order(ranks: Mapping[str, int], name: str) -> tuple[int, str]:
    """Sort key of dataset ``name``: its rank (see :func:`dataset_ranks`), unranked names last by name."""
    return (ranks[name], "") if name in ranks else (len(ranks), name)


def dataset_columns(local: "pd.DataFrame", configs: Sequence[Mapping[str, Any] | None], ranks: Mapping[str, int]
                  ) -> tuple[list[str], dict[str, DataColumn], dict[str, tuple]]:
    """The dataset column of every local row, the columns' descriptions and their sort keys."""
    datasets = local["dataset"].astype(str).tolist()
    origins = text_column(local, "data_origin").tolist()
    checksums = text_column(local, "data_checksum").tolist()
    skipped = _skipped_values(local)
    settings: list[dict[str, Any] | None] = [
        None if cfg is None else
        {k: v for k, v in cfg.items() if k.startswith("dataset.") and k != "dataset.name"}
        for cfg in configs]
    per_dataset: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ds, s in zip(datasets, settings):
        if s is not None:
            per_dataset[ds].append(s)
    varying = {ds: sorted(varying_keys(rows)) for ds, rows in per_dataset.items()}
    shorts = {ds: short_names(keys) for ds, keys in varying.items()}

    labels, keys, described = [], [], []
    for ds, s, origin, checksum, skip in zip(datasets, settings, origins, checksums, skipped):
        custom = origin == "custom" or (skip or 0) > 0
        shown = varying.get(ds, []) if s is not None else []
        parts = [f"{shorts[ds][k]}={format_value(s.get(k, MISSING))}" for k in shown]
        short_sum = (checksum[:8] or "unknown") if custom else ""
        text = parts + ([f"custom lists {short_sum}"] if custom else [])
        labels.append(f"{ds} ({', '.join(text)})" if text else ds)
        keys.append("\n".join([ds, *(compared_value(s, k) for k in shown), checksum if custom else ""]))
        order = (dataset_order(ranks, ds), custom, bool(parts),
                 tuple(sort_value(s.get(k, MISSING)) for k in shown), checksum if custom else "")
        described.append((ds, tuple(parts), short_sum, checksum if custom else "", skip, order))
    labels = make_unique(labels, keys)
    columns: dict[str, DataColumn] = {}
    orders: dict[str, tuple] = {}
    skips: dict[str, set[int]] = defaultdict(set)
    for label, (ds, parts, short_sum, checksum, skip, order) in zip(labels, described):
        columns.setdefault(label, DataColumn(label, ds, parts, short_sum, checksum))
        orders.setdefault(label, order + (label,))
        if skip is not None and short_sum:
            skips[label].add(skip)
    for label, values in skips.items():
        c = columns[label]
        columns[label] = DataColumn(c.label, c.dataset, c.settings, c.custom, c.checksum,
                                    tuple(sorted(values)))
    return labels, columns, orders
