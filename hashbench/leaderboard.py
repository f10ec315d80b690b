"""The leaderboard: a pivot of the results table (plus published reference rows), rendered as text.

One table shows ONE metric, so numbers of different conventions (``map`` vs ``map@100`` vs ``map_tie``)
never share a column; published rows are shown only under the metric they were measured with.

Rules (the notes printed under every table say the same in short):

Cells
- With the default grouping a cell averages only runs whose experiments are identical except for the
  seed: equal ``config`` (the experiment identity without the seed, see :mod:`hashbench.identity`) on
  the same data (equal ``data_checksum``). It shows ``mean ± std (n=N)`` with the sample standard
  deviation (ddof=1) when N > 1, else just the value.
- Repeated runs: for each (``config``, ``data_checksum``, ``seed``) only the run appended last to the
  table is used (a row duplicated within that run counts once).
- The best cell of a column (highest value at the shown precision, ties all marked) is bold in md,
  html and latex and ends with ``*`` in csv, only where the column has at least two entries. Every
  registered metric is higher-is-better.

Rows (default ``group``: ``method``)
- One row per experiment identity without ``head.bits`` and ``dataset.*`` (those choose the column).
  The label starts from the ``method`` column (the experiment's ``label``, else the
  ``backbone+head+loss`` plugin names) of the identity's run appended last, and names every setting in
  which the row differs from the other rows of the table:
  - a key of a component table (``backbone.*``, ``head.*`` but ``bits``, ``loss.*``) is compared only
    among rows that use the same plugin for that component and shown in parentheses after the
    plugin's name: ``r3d18(width=32)+tanh+batch_all_triplet(margin=8)``. Keys of ``train.optimizer``
    and ``train.scheduler`` (but ``lr``) are likewise compared only among rows with the same
    optimizer/scheduler name;
  - other keys (``train.*``, ``eval.*``) are compared across all rows and follow a comma:
    ``train.epochs`` as ``20 ep``, the rest as ``<short name>=<value>`` (``lr=0.001``,
    ``optimizer=adam``, ``select=val``; the last dotted segment, the table's name for ``*.name``, more
    segments when that is ambiguous). ``train.scheduler.t_max`` equal to the row's ``train.epochs``
    (its default) counts as the same setting;
  - a key absent in one row and present in another differs; the rows that have it name it, the others
    do not (keys that do not apply, such as ``val_fraction`` when ``select = "last"``, are not in the
    identity at all);
  - with a user ``label``, the differing component settings follow in brackets
    (``ours [r3d18(width=32)+tanh+batch_all_triplet], 20 ep``), and a ``key=value`` already spelled
    in the label (as sweep points label themselves: ``... [margin=8]``) is not repeated.
  Two different rows never share a label: a clash gets `` #`` and 6 hex chars of a hash of the
  row's identity.
- ``group`` other than ``method`` (e.g. ``method,frames`` or ``method,epoch``) makes the rows the
  distinct values of those results columns (numeric columns sorted as numbers); a cell that then
  averages runs of different experiments is flagged ``‡``.
- Rows of tables written by hashbench 0.1 (empty ``config``) have no recorded identity: they are
  grouped by their ``method`` as before, repeated runs count per (``config_hash``, ``seed``), a cell
  whose runs share a seed is flagged ``‡``, and they sit in the plain dataset columns (their data
  origin is unknown).

Columns
- (dataset, bits): datasets in the order ucf101, hmdb51, jhmdb, then others alphabetically; bits
  ascending.
- A run whose data is not the dataset's official data (``data_origin == "custom"`` or ``skipped`` > 0)
  is never put in the dataset's plain column: it goes in ``<dataset> (custom lists <first 8 chars of
  data_checksum>)`` (one column per checksum), and a note under the table gives its skipped count.
- Runs of one dataset whose dataset settings (``dataset.*`` of the identity) differ go in separate
  columns labelled by the differing keys, ``moving_digits (noise=20.0)``,
  ``ucf101 (num_frames=16, custom lists 1a2b3c4d)``; with one variant the column is just the dataset
  name. Variant and custom columns follow the plain one; a clash of labels gets a hash as for rows.
- Published rows (``results/published.csv``) are labelled ``<method> [(variant)] †`` (the variant
  names the frames/margin when one source reports several settings) and go only in the plain dataset
  columns, never in custom or variant columns. In csv a ``source`` column says ``local`` or the
  publication. They take part in the best-per-column marking.

Nothing here writes the results table; :func:`write_text_atomic` writes rendered output only.
"""
from __future__ import annotations

import csv
import difflib
import hashlib
import html
import io
import json
import math
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from . import atomic
from .errors import ResultsError
from .results import PUBLISHED_COLUMNS, RESULT_COLUMNS, RESULT_FLOAT_COLUMNS, RESULT_INT_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

DATASET_ORDER: tuple[str, ...] = ("ucf101", "hmdb51", "jhmdb")
FORMATS: tuple[str, ...] = ("md", "csv", "latex", "html")
EXTENSIONS: dict[str, str] = {"md": "md", "csv": "csv", "latex": "tex", "html": "html"}
PUBLISHED_MARK = "†"
MIXED_MARK = "‡"
DIGITS = 4
#: The default row grouping: one row per experiment identity, labelled from ``method``.
DEFAULT_GROUP: tuple[str, ...] = ("method",)
_NOT_GROUPABLE = ("dataset", "bits", "metric", "value", "_line")
_VARIANT_COLUMNS = ("frames", "margin")

_COMPONENT_TABLES = ("backbone", "head", "loss")
#: Sub-tables whose keys (but the listed exceptions) are compared only among rows of the same name.
_SCOPED_TABLES = ("train.optimizer", "train.scheduler")
_UNSCOPED_KEYS = ("train.optimizer.lr",)
#: Keys that choose the column, not the row.
_COLUMN_KEYS = ("head.bits",)
#: key -> the key whose value is its default (equal values count as "left at the default").
_DERIVED_DEFAULTS = {"train.scheduler.t_max": "train.epochs"}
_MISSING = object()
_HASH_CHARS = 6


@dataclass
class Cell:
    """One leaderboard cell: mean over ``n`` runs (``std`` is the sample std, None when n == 1).

    ``series`` is equal for cells of one comparable series (the same experiment(s) apart from bits
    and the dataset column; published: the same published row) and None when unknown (0.1 tables).
    """

    mean: float
    std: float | None
    n: int
    best: bool = False
    mixed: bool = False
    series: str | None = None

    def text(self) -> str:
        """``0.7204 ± 0.0031 (n=3)`` when n > 1, else ``0.7204``; `` ‡`` appended when mixed."""
        out = f"{self.mean:.{DIGITS}f}"
        if self.n > 1:
            std = 0.0 if self.std is None or math.isnan(self.std) else self.std
            out += f" ± {std:.{DIGITS}f} (n={self.n})"
        return out + (f" {MIXED_MARK}" if self.mixed else "")


@dataclass
class BoardRow:
    """A leaderboard row: the group-key values shown, provenance, and cells keyed by (column, bits).

    ``identity`` is the row's experiment identity (canonical JSON without ``head.bits``/``dataset.*``)
    for identity rows of the default grouping, else None.
    """

    keys: tuple[str, ...]
    source: str  # "local" or the publication
    cells: dict[tuple[str, int], Cell] = field(default_factory=dict)
    identity: str | None = None

    @property
    def published(self) -> bool:
        return self.source != "local"

    @property
    def label(self) -> str:
        return " / ".join(self.keys)


@dataclass(frozen=True)
class DataColumn:
    """A dataset column (before bits): ``label`` is the header text without `` <bits>-bit``.

    ``settings`` are the ``short=value`` dataset settings that set it apart from other columns of the
    same dataset; ``custom`` is the first 8 chars of the data checksum for runs not on the official
    data (else ""), ``checksum`` then the whole ``data_checksum``; ``skipped`` the distinct
    ``skipped`` counts of its runs.
    """

    label: str
    dataset: str
    settings: tuple[str, ...] = ()
    custom: str = ""
    checksum: str = ""
    skipped: tuple[int, ...] = ()

    @property
    def plain(self) -> bool:
        return not self.settings and not self.custom


@dataclass
class Leaderboard:
    """The pivoted table for one metric (build with :func:`build_leaderboard`, render with :func:`render`).

    ``columns`` are (dataset column label, bits); ``data_columns`` describes each dataset column label.
    """

    metric: str
    group: tuple[str, ...]
    columns: list[tuple[str, int]]
    rows: list[BoardRow]
    notes: list[str]
    local_rows: int = 0
    published_rows: int = 0
    data_columns: dict[str, DataColumn] = field(default_factory=dict)

    def column_label(self, column: tuple[str, int]) -> str:
        return f"{column[0]} {column[1]}-bit"

    def cell(self, key: str, dataset: str, bits: int) -> Cell | None:
        """The cell of the row whose first key is ``key`` (test/inspection helper); ``dataset`` is the
        column label (``ucf101``, ``ucf101 (custom lists 1a2b3c4d)``, ...)."""
        for row in self.rows:
            if row.keys[0] == key:
                return row.cells.get((dataset, bits))
        return None

    def row(self, key: str) -> BoardRow | None:
        """The row whose first key is ``key`` (None if there is none)."""
        return next((r for r in self.rows if r.keys[0] == key), None)


# -- filters ----------------------------------------------------------------------------------------
def parse_where(items: Iterable[str]) -> dict[str, set[str]]:
    """``["dataset=ucf101,hmdb51", "loss=batch_all_triplet"]`` -> {column: allowed values} (AND of items)."""
    out: dict[str, set[str]] = {}
    for item in items:
        col, sep, value = str(item).partition("=")
        col = col.strip()
        if not sep or not col:
            raise ResultsError(f"--where {item!r}: expected COLUMN=VALUE (e.g. loss=batch_all_triplet)")
        if col not in RESULT_COLUMNS:
            close = difflib.get_close_matches(col, RESULT_COLUMNS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ResultsError(f"--where {item!r}: unknown column {col!r}{hint}; columns: "
                               f"{', '.join(RESULT_COLUMNS)}")
        values = {v.strip() for v in value.split(",")}
        out[col] = out[col] & values if col in out else values
    return out


def _check_group(group: Sequence[str]) -> tuple[str, ...]:
    group = tuple(g.strip() for g in group if g.strip())
    if not group:
        raise ResultsError("--group needs at least one column (e.g. method or method,frames)")
    for col in group:
        if col not in RESULT_COLUMNS or col in _NOT_GROUPABLE:
            allowed = [c for c in RESULT_COLUMNS if c not in _NOT_GROUPABLE]
            close = difflib.get_close_matches(col, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            why = " (it is a table column/cell)" if col in _NOT_GROUPABLE else ""
            raise ResultsError(f"--group: cannot group rows by {col!r}{why}{hint}; choose from "
                               f"{', '.join(allowed)}")
    return group


def _as_text(series: "pd.Series") -> "pd.Series":
    """String form of a column for --where matching and display (missing -> "")."""
    import pandas as pd

    if pd.api.types.is_float_dtype(series):
        return series.map(lambda v: "" if pd.isna(v) else f"{v:g}")
    return series.astype("string").fillna("").astype(str)


def _filter(frame: "pd.DataFrame", metric: str, datasets: Sequence[str] | None,
            bits: Sequence[int] | None, where: Mapping[str, set[str]]) -> "pd.DataFrame":
    mask = frame["metric"].astype(str) == metric
    if datasets:
        mask &= frame["dataset"].astype(str).isin(list(datasets))
    if bits:
        mask &= frame["bits"].isin([int(b) for b in bits])
    for col, values in where.items():
        if col in frame.columns:
            mask &= _as_text(frame[col]).isin(values)
    return frame[mask.fillna(False).astype(bool)]


def _text_column(frame: "pd.DataFrame", col: str) -> "pd.Series":
    """``frame[col]`` as text, or "" everywhere when the frame has no such column (older frames)."""
    import pandas as pd

    if col not in frame.columns:
        return pd.Series([""] * len(frame), index=frame.index, dtype=object)
    return _as_text(frame[col])


def _run_identity(frame: "pd.DataFrame") -> "pd.Series":
    """What makes two runs repeats of one another (apart from the seed), per row of ``frame``.

    ``config`` plus ``data_checksum`` (a list the identity ignores, e.g. ``lists``, still changes the
    clips); a 0.1 row: its ``config_hash``; a row without either: its own run.
    """
    config = _text_column(frame, "config")
    checksum = _text_column(frame, "data_checksum")
    config_hash = _text_column(frame, "config_hash")
    run_id = _text_column(frame, "run_id")
    legacy = ("hash:" + config_hash).where(config_hash != "", "run:" + run_id)
    return ("config:" + config + "\n" + checksum).where(config != "", legacy)


def latest_runs(results: "pd.DataFrame") -> "pd.DataFrame":
    """Keep, per (identity, seed), only the rows of the run appended last (highest line number).

    The identity is ``config`` + ``data_checksum`` (rows of 0.1 tables: ``config_hash``; without
    either, the run itself). A row duplicated within that run (same metric twice) counts once (the
    last one).
    """
    if results.empty:
        return results
    frame = results.copy()
    frame["_config"] = _run_identity(frame)
    frame["_seed"] = _as_text(frame["seed"])
    if "_line" in frame.columns:
        frame = frame.sort_values("_line", kind="stable")
    latest = frame.groupby(["_config", "_seed"], sort=False)["run_id"].transform("last")
    frame = frame[frame["run_id"] == latest]
    frame = frame.drop_duplicates(["_config", "_seed", "metric"], keep="last")
    return frame.drop(columns=["_config", "_seed"])


# -- identities and labels --------------------------------------------------------------------------
def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


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
    """The part of an experiment identity that chooses the row: all but ``head.bits`` and ``dataset.*``."""
    return {k: v for k, v in config.items() if k not in _COLUMN_KEYS and not k.startswith("dataset.")}


def _scope(key: str) -> str | None:
    """The ``*.name`` key whose value must be equal for ``key`` to be compared (None: all rows)."""
    table = key.split(".", 1)[0]
    if table in _COMPONENT_TABLES:
        return None if key == f"{table}.name" else f"{table}.name"
    for sub in _SCOPED_TABLES:
        if key.startswith(sub + ".") and key != f"{sub}.name" and key not in _UNSCOPED_KEYS:
            return f"{sub}.name"
    return None


def _compared(row: Mapping[str, Any], key: str) -> str:
    """The value of ``key`` in ``row`` as compared: canonical JSON, or markers for absent/default."""
    if key not in row:
        return "\0unset"
    default = _DERIVED_DEFAULTS.get(key)
    if default is not None and default in row and _canonical(row[key]) == _canonical(row[default]):
        return "\0default"
    return _canonical(row[key])


def _varying(rows: Sequence[Mapping[str, Any]], skip: Any = None) -> dict[str, set[str] | None]:
    """Keys whose value differs between ``rows``: key -> None (compared across all rows) or the set
    of scope values (canonical ``*.name`` values) among whose rows it differs."""
    out: dict[str, set[str] | None] = {}
    for key in sorted(set().union(*rows)) if rows else []:
        if skip is not None and skip(key):
            continue
        scope = _scope(key)
        groups: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            groups[_compared(row, scope) if scope else ""].add(_compared(row, key))
        differing = {g for g, values in groups.items() if len(values) > 1}
        if differing:
            out[key] = differing if scope else None
    return out


def _shown(row: Mapping[str, Any], key: str, varying: Mapping[str, set[str] | None]) -> bool:
    if key not in varying:
        return False
    scopes = varying[key]
    return scopes is None or _compared(row, _scope(key) or "") in scopes


def _format_value(value: Any) -> str:
    """Short display text of an identity value (numbers as Python writes them: 0.001, 1e-08, 20.0)."""
    if value is _MISSING:
        return "unset"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return value
    return _canonical(value)


def _short_names(keys: Iterable[str], drop: int = 1) -> dict[str, str]:
    """Short display names: the last dotted segment (``*.name``: the table's name), more segments
    where two keys would otherwise look alike, the full key as the last resort."""
    keys = list(dict.fromkeys(keys))
    segments = {}
    for key in keys:
        parts = key.split(".")
        parts = parts[drop:] if len(parts) > drop else parts
        if len(parts) > 1 and parts[-1] == "name":
            parts = parts[:-1]
        segments[key] = parts
    depth = {k: 1 for k in keys}
    while True:
        names = {k: ".".join(segments[k][-depth[k]:]) for k in keys}
        counts: dict[str, int] = defaultdict(int)
        for name in names.values():
            counts[name] += 1
        clashing = [k for k in keys if counts[names[k]] > 1]
        if not clashing:
            return names
        grown = False
        for key in clashing:
            if depth[key] < len(segments[key]):
                depth[key] += 1
                grown = True
        if not grown:
            return {k: (k if counts[names[k]] > 1 else names[k]) for k in keys}


def _general_order(key: str) -> tuple:
    """train.epochs first, then train.*, eval.*, the rest; a table's ``name`` before its other keys."""
    rank = {"train": 0, "eval": 1}.get(key.split(".", 1)[0], 2)
    parts = tuple("" if p == "name" else p for p in key.split("."))
    return (rank, key != "train.epochs", parts)


def _sort_value(value: Any) -> tuple:
    """Sort numbers as numbers, then text, then none/unset (for row order)."""
    if value is _MISSING:
        return (3, 0.0, "")
    if value is None:
        return (2, 0.0, "")
    if isinstance(value, (bool, int, float)):
        return (0, float(value), "")
    if isinstance(value, str):
        return (1, 0.0, value)
    return (1, 0.0, _canonical(value))


def _natural(text: str) -> tuple:
    """Sort key for labels: digit runs compare as numbers (``margin=8`` before ``margin=14``)."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def _named_in_label(label: str, key: str, value: Any) -> bool:
    """Whether ``label`` already spells ``<key or its last segment>=<value>`` (sweep point labels)."""
    text = _format_value(value)
    for name in {key, key.split(".")[-1]}:
        if re.search(r"(?:^|[\[(,\s])" + re.escape(f"{name}={text}") + r"(?=$|[\]),\s])", label):
            return True
    return False


def _digest(key: str, chars: int) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:chars]


def _make_unique(labels: Sequence[str], keys: Sequence[str]) -> list[str]:
    """Append `` #<hash of the key>`` to labels shared by different keys until all are distinct."""
    out = list(labels)
    chars = _HASH_CHARS
    while True:
        owners: dict[str, set[str]] = defaultdict(set)
        for label, key in zip(out, keys):
            owners[label].add(key)
        clash = {label for label, ks in owners.items() if len(ks) > 1}
        if not clash:
            return out
        if chars > 64:  # pragma: no cover - only equal keys could still clash
            return out
        out = [f"{label} #{_digest(key, chars)}" if label in clash else label
               for label, key in zip(out, keys)]
        chars *= 2


def identity_labels(rows: Sequence[tuple[str, Mapping[str, Any] | None]]) -> list[str]:
    """Row labels for ``(method, row identity)`` pairs (identity None: a 0.1 row, labelled ``method``).

    The rules are the module docstring's "Rows"; distinct pairs always get distinct labels.
    """
    idents = [ident for _, ident in rows if ident is not None]
    varying = _varying(idents, skip=lambda k: k in _COLUMN_KEYS or k.startswith("dataset."))
    component_keys = {c: [k for k in varying if k.startswith(c + ".") and k != f"{c}.name"]
                      for c in _COMPONENT_TABLES}
    component_short = {c: _short_names(keys) for c, keys in component_keys.items()}
    general = sorted((k for k in varying if k.split(".", 1)[0] not in _COMPONENT_TABLES),
                     key=_general_order)
    general_short = _short_names(general)
    names_by_method: dict[str, set[tuple]] = defaultdict(set)
    for method, ident in rows:
        if ident is not None:
            names_by_method[method].add(tuple(_canonical(ident.get(f"{c}.name")) for c in _COMPONENT_TABLES))

    labels, keys = [], []
    for method, ident in rows:
        if ident is None:
            labels.append(method)
            keys.append("legacy\n" + method)
            continue
        custom = method != "+".join(str(ident.get(f"{c}.name")) for c in _COMPONENT_TABLES)

        def visible(key: str) -> bool:  # a key this row does not have is not named (rows that have it are)
            return key in ident and _shown(ident, key, varying) and not (
                custom and _named_in_label(method, key, ident.get(key, _MISSING)))

        components, any_params = [], False
        for comp in _COMPONENT_TABLES:
            params = [f"{component_short[comp][k]}={_format_value(ident.get(k, _MISSING))}"
                      for k in component_keys[comp] if visible(k)]
            any_params = any_params or bool(params)
            name = _format_value(ident.get(f"{comp}.name", _MISSING))
            components.append(name + (f"({', '.join(params)})" if params else ""))
        trailing = []
        for key in general:
            if not visible(key):
                continue
            value = ident.get(key, _MISSING)
            if key == "train.epochs" and isinstance(value, int) and not isinstance(value, bool):
                trailing.append(f"{value} ep")
            else:
                trailing.append(f"{general_short[key]}={_format_value(value)}")
        if not custom:
            label = "+".join(components)
        elif any_params or len(names_by_method[method]) > 1:
            label = f"{method} [{'+'.join(components)}]"
        else:
            label = method
        labels.append(", ".join([label] + trailing))
        keys.append(method + "\n" + _canonical(ident))
    return _make_unique(labels, keys)


def _identity_order(rows: Sequence[tuple[str, Mapping[str, Any] | None]]) -> list[tuple]:
    """Sort keys for identity rows: method, then the differing settings' values (numbers as numbers)."""
    idents = [ident for _, ident in rows if ident is not None]
    varying = _varying(idents, skip=lambda k: k in _COLUMN_KEYS or k.startswith("dataset."))
    ordered = sorted(varying, key=lambda k: (k.split(".", 1)[0] not in _COMPONENT_TABLES,)
                     + _general_order(k))
    out = []
    for method, ident in rows:
        if ident is None:
            out.append((_natural(method), 1, ()))
        else:
            out.append((_natural(method), 0, tuple(_sort_value(ident.get(k, _MISSING)) for k in ordered)))
    return out


# -- columns ----------------------------------------------------------------------------------------
def _dataset_key(name: str) -> tuple[int, str]:
    return (DATASET_ORDER.index(name), "") if name in DATASET_ORDER else (len(DATASET_ORDER), name)


def _skipped_values(frame: "pd.DataFrame") -> list[int | None]:
    import pandas as pd

    if "skipped" not in frame.columns:
        return [None] * len(frame)
    return [None if pd.isna(v) else int(v) for v in frame["skipped"]]


def _data_columns(local: "pd.DataFrame", configs: Sequence[Mapping[str, Any] | None]
                  ) -> tuple[list[str], dict[str, DataColumn], dict[str, tuple]]:
    """The dataset column of every local row, the columns' descriptions and their sort keys."""
    datasets = local["dataset"].astype(str).tolist()
    origins = _text_column(local, "data_origin").tolist()
    checksums = _text_column(local, "data_checksum").tolist()
    skipped = _skipped_values(local)
    settings: list[dict[str, Any] | None] = [
        None if cfg is None else
        {k: v for k, v in cfg.items() if k.startswith("dataset.") and k != "dataset.name"}
        for cfg in configs]
    per_dataset: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ds, s in zip(datasets, settings):
        if s is not None:
            per_dataset[ds].append(s)
    varying = {ds: sorted(_varying(rows)) for ds, rows in per_dataset.items()}
    shorts = {ds: _short_names(keys) for ds, keys in varying.items()}

    labels, keys, described = [], [], []
    for ds, s, origin, checksum, skip in zip(datasets, settings, origins, checksums, skipped):
        custom = origin == "custom" or (skip or 0) > 0
        shown = varying.get(ds, []) if s is not None else []
        parts = [f"{shorts[ds][k]}={_format_value(s.get(k, _MISSING))}" for k in shown]
        short_sum = (checksum[:8] or "unknown") if custom else ""
        text = parts + ([f"custom lists {short_sum}"] if custom else [])
        labels.append(f"{ds} ({', '.join(text)})" if text else ds)
        keys.append("\n".join([ds, *(_compared(s, k) for k in shown), checksum if custom else ""]))
        order = (_dataset_key(ds), custom, bool(parts),
                 tuple(_sort_value(s.get(k, _MISSING)) for k in shown), checksum if custom else "")
        described.append((ds, tuple(parts), short_sum, checksum if custom else "", skip, order))
    labels = _make_unique(labels, keys)
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


# -- building ---------------------------------------------------------------------------------------
def _published_labels(pub: "pd.DataFrame", group: Sequence[str]) -> list[str]:
    """``<method> [(variant)] †`` per published row; the variant lists frames/margin values that vary."""
    import pandas as pd

    variants = [c for c in _VARIANT_COLUMNS if c not in group]
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


def _aggregate(frame: "pd.DataFrame", keys: list[str]) -> dict[tuple, dict[tuple[str, int], Cell]]:
    """Cells per row key and (column, bits); ``frame`` has ``_col`` and ``_rid`` ("" when unknown)."""
    out: dict[tuple, dict[tuple[str, int], Cell]] = {}
    for values, part in frame.groupby(keys + ["_col", "bits"], sort=False, dropna=False):
        *row_key, column, bits = values
        vals = part["value"].astype(float)
        n = int(len(vals))
        std = float(vals.std(ddof=1)) if n > 1 else None
        seeds = _as_text(part["seed"]) if "seed" in part.columns else None
        identities = set(part["_rid"].astype(str))
        known = identities - {""}
        mixed = bool(seeds is not None and seeds.duplicated().any()) or len(known) > 1 or \
            bool(known and "" in identities)
        series = "\n\n".join(sorted(known)) if known and "" not in identities else None
        out.setdefault(tuple(row_key), {})[(str(column), int(bits))] = Cell(
            float(vals.mean()), std, n, mixed=mixed, series=series)
    return out


def _group_order(key: tuple[str, ...], group: Sequence[str]) -> tuple:
    """Numeric results columns (bits, frames, epoch, seed, skipped, value) sort as numbers."""
    out = []
    for text, col in zip(key, group):
        if col in RESULT_INT_COLUMNS or col in RESULT_FLOAT_COLUMNS:
            try:
                out.append((0, float(text), ()))
                continue
            except ValueError:
                out.append((1 if text else 2, 0.0, (text,)))
                continue
        out.append((0 if text else 2, 0.0, _natural(text)))
    return tuple(out)


def build_leaderboard(results: "pd.DataFrame", published: "pd.DataFrame | None" = None, *,
                      metric: str = "map", datasets: Sequence[str] | None = None,
                      bits: Sequence[int] | None = None, where: Iterable[str] | Mapping[str, set[str]] = (),
                      group: Sequence[str] = DEFAULT_GROUP) -> Leaderboard:
    """Pivot ``results`` (from :func:`hashbench.results.read_results`) and ``published`` rows for ``metric``.

    ``datasets``/``bits`` restrict the columns (``datasets`` by dataset name, variant and custom
    columns included); ``where`` is ``COLUMN=VALUE[,VALUE...]`` items (or their parsed mapping)
    applied to local rows and, on the columns published.csv also has, to published rows; ``group``
    names the row-key columns (default ``method``: one row per experiment identity, see the module
    docstring). Raises ResultsError when nothing is left to show.
    """
    import pandas as pd

    group = _check_group(group)
    identity_rows = group == DEFAULT_GROUP
    where_map = dict(where) if isinstance(where, Mapping) else parse_where(where)
    local = _filter(latest_runs(results), metric, datasets, bits, where_map).copy()
    parsed: dict[str, tuple[dict[str, Any] | None, dict[str, Any] | None, str]] = {}
    for text in set(_text_column(local, "config")):
        config = parse_config(text)
        ident = None if config is None else row_identity(config)
        parsed[text] = (config, ident, "" if ident is None else _canonical(ident))
    config_text = _text_column(local, "config").tolist()
    configs = [parsed[t][0] for t in config_text]
    row_idents = [parsed[t][1] for t in config_text]
    local["_rid"] = [parsed[t][2] for t in config_text]
    col_labels, data_columns, column_order = _data_columns(local, configs)
    local["_col"] = col_labels

    row_order: dict[tuple, tuple] = {}
    row_identity_text: dict[tuple, str | None] = {}
    if identity_rows:
        # a row is an identity (0.1 rows: a method); its label starts from the method of its run
        # appended last (a relabelled rerun of the same experiment renames the row)
        methods = _text_column(local, "method").tolist()
        lines = local["_line"].tolist() if "_line" in local.columns else list(range(len(local)))
        row_keys = [rid if rid else "legacy\n" + m for rid, m in zip(local["_rid"], methods)]
        method_of: dict[str, tuple[Any, str]] = {}
        idents: dict[str, dict[str, Any] | None] = {}
        for key, method, line, ident in zip(row_keys, methods, lines, row_idents):
            if key not in method_of or line >= method_of[key][0]:
                method_of[key] = (line, method)
            idents[key] = ident
        keys = list(method_of)
        listed = [(method_of[k][1], idents[k]) for k in keys]
        labels = identity_labels(listed)
        orders = _identity_order(listed)
        label_of = dict(zip(keys, labels))
        local["_k0"] = [label_of[k] for k in row_keys]
        for key, label, order in zip(keys, labels, orders):
            row_order[(label,)] = (order, label)
            row_identity_text[(label,)] = None if key.startswith("legacy\n") else key
    else:
        local = local.assign(**{f"_k{i}": _as_text(local[c]) for i, c in enumerate(group)})

    pub = published if published is not None else pd.DataFrame(columns=list(PUBLISHED_COLUMNS))
    pub = _filter(pub, metric, datasets, bits, where_map) if len(pub) else pub.iloc[0:0]
    if len(pub):
        pub = pub.copy()
        labels = _published_labels(pub, group)
        label_col = group.index("method") if "method" in group else 0
        for i, col in enumerate(group):
            if i == label_col:
                pub[f"_k{i}"] = labels
            elif col in pub.columns:
                pub[f"_k{i}"] = _as_text(pub[col])
            else:
                pub[f"_k{i}"] = ""
        pub["seed"] = pd.array([pd.NA] * len(pub), dtype="Int64")
        pub["_col"] = pub["dataset"].astype(str)  # published numbers: the plain dataset column only
        key_text = pub[[f"_k{i}" for i in range(len(group))]].astype(str).agg("\n".join, axis=1)
        pub["_rid"] = "published\n" + pub["source"].astype(str) + "\n" + key_text
        for ds in pub["dataset"].astype(str):
            data_columns.setdefault(ds, DataColumn(ds, ds))
            column_order.setdefault(ds, (_dataset_key(ds), False, False, (), "", ds))

    if local.empty and pub.empty:
        metrics = sorted(set(results["metric"].astype(str))) if len(results) else []
        if published is not None and len(published):
            metrics = sorted(set(metrics) | set(published["metric"].astype(str)))
        raise ResultsError(f"no results for metric {metric!r} with these filters"
                           f" (metrics in the tables: {', '.join(metrics) or 'none'})")

    key_cols = [f"_k{i}" for i in range(len(group))]
    rows: list[BoardRow] = []
    local_cells = _aggregate(local, key_cols)
    if identity_rows:
        ordered = sorted(local_cells, key=lambda k: row_order[tuple(k)])
    else:
        ordered = sorted(local_cells, key=lambda k: (_group_order(k, group), k))
    for key in ordered:
        rows.append(BoardRow(tuple(str(k) or "–" for k in key), "local", local_cells[key],
                             identity=row_identity_text.get(tuple(key))))
    if len(pub):
        sources = {tuple(k): s for k, s in zip(pub[key_cols].itertuples(index=False, name=None),
                                               pub["source"].astype(str))}
        pub_cells = _aggregate(pub.assign(seed=range(len(pub))), key_cols)
        order = {}  # method, source, then frames/margin numerically
        for key, method, source, frames, margin in zip(
                pub[key_cols].itertuples(index=False, name=None), pub["method"].astype(str),
                pub["source"].astype(str), pub["frames"], pub["margin"]):
            order.setdefault(tuple(key), (method, source, -1 if pd.isna(frames) else int(frames),
                                          -1.0 if pd.isna(margin) else float(margin), tuple(key)))
        for key in sorted(pub_cells, key=lambda k: order[tuple(k)]):
            rows.append(BoardRow(tuple(str(k) or "–" for k in key), sources[tuple(key)], pub_cells[key]))

    columns = sorted({c for r in rows for c in r.cells}, key=lambda c: (column_order[c[0]], c[1]))
    for column in columns:
        present = [r.cells[column] for r in rows if column in r.cells]
        if len(present) < 2:
            continue  # nothing to compare with: no best mark
        best = max(round(c.mean, DIGITS) for c in present)
        for c in present:
            c.best = round(c.mean, DIGITS) == best

    shown = {c[0] for c in columns}
    data_columns = {label: data_columns[label] for label in sorted(shown, key=lambda l: column_order[l])}
    legacy = bool((local["_rid"] == "").any()) if len(local) else False
    notes = _notes(rows, pub, group, data_columns, legacy)
    return Leaderboard(metric, group, columns, rows, notes, local_rows=len(local), published_rows=len(pub),
                       data_columns=data_columns)


def _skipped_text(values: Sequence[int]) -> str:
    if not values:
        return "skipped videos unknown"
    if len(values) == 1:
        n = values[0]
        return "no listed video skipped" if n == 0 else \
            f"{n} listed video{'s' if n != 1 else ''} skipped"
    return f"{values[0]} to {values[-1]} listed videos skipped (varies by run)"


def _notes(rows: list[BoardRow], pub: "pd.DataFrame", group: Sequence[str],
           data_columns: Mapping[str, DataColumn], legacy: bool) -> list[str]:
    latest = ("for each (config, data, seed) only the run appended last counts. Best per column in bold"
              " (csv: trailing *) where a column has at least two entries.")
    if tuple(group) == DEFAULT_GROUP:
        notes = [f"Cells: mean ± sample std over seeds (n = runs) when n > 1, averaging only runs of"
                 f" experiments identical except for the seed (equal config, same data); {latest}",
                 "Rows: one per experiment (its identity without bits and dataset settings); a label"
                 " names every setting in which its row differs from the others (component keys in"
                 " parentheses, training/evaluation keys after a comma)."]
    else:
        notes = [f"Cells: mean ± sample std over the runs of the row's group (n = runs) when n > 1;"
                 f" {latest}",
                 f"Rows: grouped by {', '.join(group)} (the values of those results columns); a row"
                 " may hold runs of different experiments."]
    for column in data_columns.values():
        if column.custom:
            checksum = column.checksum or "unknown"
            notes.append(f"{column.label}: {_skipped_text(column.skipped)}; not the official"
                         f" {column.dataset} split data (data_checksum {checksum}), so never in the plain"
                         f" {column.dataset} column.")
    variants = [c.label for c in data_columns.values() if c.settings and not c.custom]
    if variants:
        notes.append(f"Columns {', '.join(variants)}: runs whose dataset settings differ from other runs of"
                     " the same dataset are kept apart; published rows only sit in plain dataset columns.")
    if legacy:
        notes.append("Rows without a recorded experiment identity (tables of hashbench 0.1, empty config)"
                     " are grouped by method as before and sit in the plain dataset columns (their data"
                     " origin is unknown).")
    if len(pub):
        seen: dict[str, tuple[str, str, str]] = {}
        for source, part in pub.groupby("source", sort=False):
            def common(col: str) -> str:  # shown only when every row of the source agrees
                values = set(part[col].fillna("").astype(str)) if col in part.columns else {""}
                return values.pop() if len(values) == 1 else ""
            seen[str(source)] = (common("selection"), common("url"), common("note"))
        for source, (selection, url, note) in seen.items():
            text = f"{PUBLISHED_MARK} published: {source}"
            if selection:
                text += f"; epoch/model selection: {selection}"
            if note:
                text += f"; {note}"
            if url:
                text += f" ({url})"
            notes.append(text)
    if any(c.mixed for r in rows for c in r.cells.values()):
        notes.append(f"{MIXED_MARK} this cell averages runs of different experiments (or runs sharing a"
                     " seed); separate them with the default grouping, --group (e.g. method,frames)"
                     " or --where.")
    return notes


# -- rendering --------------------------------------------------------------------------------------
def _latex_escape(text: str) -> str:
    repl = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
            "±": r"$\pm$", PUBLISHED_MARK: r"$^\dagger$", MIXED_MARK: r"$^\ddagger$", "–": "--"}
    return "".join(repl.get(ch, ch) for ch in text)


def _cell_text(cell: Cell | None, fmt: str) -> str:
    if cell is None:
        return {"csv": "", "latex": "--"}.get(fmt, "–")
    text = cell.text()
    if fmt == "csv":
        return text + ("*" if cell.best else "")
    if fmt == "md":
        return f"**{text}**" if cell.best else text
    if fmt == "html":
        text = html.escape(text)
        return f"<b>{text}</b>" if cell.best else text
    text = _latex_escape(text)
    return rf"\textbf{{{text}}}" if cell.best else text


def render(board: Leaderboard, fmt: str = "md", *, caption: str = "", source: str = "") -> str:
    """The leaderboard as text: ``md`` (GitHub pipe table), ``csv``, ``latex`` (tabular) or ``html``.

    ``caption`` describes the metric convention; ``source`` names the results file (both optional).
    """
    from tabulate import tabulate

    if fmt not in FORMATS:
        raise ResultsError(f"unknown leaderboard format {fmt!r}; choose one of {', '.join(FORMATS)}")
    headers = list(board.group) + [board.column_label(c) for c in board.columns]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(headers + ["source"])
        for row in board.rows:
            writer.writerow(list(row.keys) + [_cell_text(row.cells.get(c), fmt) for c in board.columns]
                            + [row.source])
        return buf.getvalue()

    def key_text(k: str) -> str:
        return html.escape(k) if fmt == "html" else _latex_escape(k) if fmt == "latex" else k

    body = [[key_text(k) for k in row.keys] + [_cell_text(row.cells.get(c), fmt) for c in board.columns]
            for row in board.rows]
    title = f"hashbench leaderboard — metric {board.metric}"
    meta = f"{board.local_rows} local rows" + (f" from {source}" if source else "") + \
        f", {board.published_rows} published rows"
    align = ["left"] * len(board.group) + ["right"] * len(board.columns)
    if fmt == "md":
        table = tabulate(body, headers=headers, tablefmt="github", colalign=align, disable_numparse=True)
        parts = [f"# {title}", ""] + ([caption, ""] if caption else []) + [table, ""]
        parts += [f"- {n}" for n in board.notes] + [f"- {meta}.", ""]
        return "\n".join(parts)
    if fmt == "html":
        hdr = [html.escape(h) for h in headers]
        table = tabulate(body, headers=hdr, tablefmt="unsafehtml", colalign=align, disable_numparse=True)
        parts = [f"<h1>{html.escape(title)}</h1>"]
        if caption:
            parts.append(f"<p>{html.escape(caption)}</p>")
        parts.append(table)
        parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in board.notes + [meta])
                     + "</ul>")
        return "\n".join(parts) + "\n"
    hdr = [_latex_escape(h) for h in headers]
    table = tabulate(body, headers=hdr, tablefmt="latex_raw", colalign=align, disable_numparse=True)
    lines = [f"% {title}"] + ([f"% {caption}"] if caption else []) + [table, "", r"{\footnotesize"]
    lines += [_latex_escape(n) + r"\par" for n in board.notes + [meta]]
    lines.append("}")
    return "\n".join(lines) + "\n"


def metric_caption(metric: str) -> str:
    """One line describing ``metric`` from its plugin's docstring summary ("" if unknown)."""
    from . import registry
    from .errors import HashbenchError

    base = metric
    match = re.match(r"^([A-Za-z_][\w\-]*)@(r?)\d+$", metric)
    try:
        reg = registry()
        if metric not in reg.names("metric") and match:
            base = f"{match[1]}@{'r' if match[2] else 'k'}"
        summary = reg.get("metric", base).summary
    except HashbenchError:
        return ""
    return f"Metric `{metric}`: {summary}" if summary else ""


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` via a temp file in the same directory + os.replace (never half-written)."""
    path = Path(path)
    try:
        return atomic.write_text_atomic(path, text)
    except OSError as exc:
        raise ResultsError(f"cannot write {path}: {exc.strerror or exc}") from None


def default_output(results_path: str | os.PathLike[str], fmt: str) -> Path:
    """Where the leaderboard goes without --out: ``LEADERBOARD.<ext>`` next to the results table."""
    return Path(results_path).parent / f"LEADERBOARD.{EXTENSIONS[fmt]}"
