"""The leaderboard: a pivot of the results table (plus published reference rows), rendered as text.

One table shows ONE metric, so numbers of different conventions (``map`` vs ``map@100`` vs ``map_tie``)
never share a column; published rows are shown only under the metric they were measured with.

Rules (the notes printed under every table say the same in short):

Cells
- With the default grouping a cell averages only runs whose experiments are identical except for the
  seed: equal ``config`` (the experiment identity without the seed, see :mod:`hashbench.results.identity`) on
  the same data (equal ``data_checksum``). It shows ``mean ± std (n=N)`` with the sample standard
  deviation (ddof=1) when N > 1, else just the value.
- Repeated runs: for each (``config``, ``data_checksum``, ``seed``) only the run appended last to the
  table is used (a row duplicated within that run counts once).
- The best cell of a column (highest value at the shown precision, ties all marked) is bold in md,
  html and latex and ends with ``*`` in csv, only where the column has at least two entries. Every
  registered metric is higher-is-better.

Rows (default ``group``: ``method``)
- One row per experiment identity without the code length (``head.bits``, ``method.bits``) and
  ``dataset.*`` (those choose the column); ``method.*`` keys are compared among rows of one method.
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

Sections (default ``group`` only; ``sections=False`` turns them off)
- Rows come in sections by family, then protocol (:mod:`hashbench.results.families`): ``supervised``
  (the method's registered factory declares ``needs_labels``; the built-in ``deep_hashing`` does),
  ``unsupervised``, then ``unknown``; within a family, rows of one protocol are together, tagged ``P1``,
  ``P2``, ... in order of appearance, each tag spelled out in the legend. A protocol is the reported
  checkpoint (the ``selection`` column) and the identity's other ``eval.*`` keys; being part of the
  identity, it never differs within a cell. Within a section rows keep the order below, local first.
- Published rows sit in the section of their family (the CSV's ``family`` column, else the registered
  method or loss their ``method`` names, else ``unknown``) and of their ``selection`` text's protocol.
- Renderers head each section (``supervised · P1``); csv has ``family`` and ``protocol`` columns.
- A fit-only run (``epoch`` 0: the method trained no epoch) never used ``train.*``: those keys are
  dropped from its identity, so its label names none, and runs differing only there are one experiment.

Columns
- (dataset, bits): datasets in the order they first appear in the published rows (the shipped
  ``published.csv``: ucf101, hmdb51, jhmdb), then in the results table; bits ascending.
- A run whose data is not the dataset's official data (``data_origin == "custom"`` or ``skipped`` > 0)
  is never put in the dataset's plain column: it goes in ``<dataset> (custom lists <first 8 chars of
  data_checksum>)`` (one column per checksum), and a note under the table gives its skipped count.
- Runs of one dataset whose dataset settings (``dataset.*`` of the identity) differ go in separate
  columns labelled by the differing keys, ``moving_digits (noise=20.0)``,
  ``ucf101 (num_frames=16, custom lists 1a2b3c4d)``; with one variant the column is just the dataset
  name. Variant and custom columns follow the plain one; a clash of labels gets a hash as for rows.
- Published rows (shipped with hashbench, plus a local ``results/published.csv``; see
  :mod:`hashbench.results.published`) are labelled ``<method> [(variant)] †`` (the variant
  names the frames/margin when one source reports several settings) and go only in the plain dataset
  columns, never in custom or variant columns. In csv a ``source`` column says ``local`` or the
  publication. They take part in the best-per-column marking.
- md, html and latex headers name a variant or custom column by its dataset and a footnote number
  (``moving_digits [1] 32-bit``); the legend under the table gives the full label (csv keeps it).
- ``hashbench leaderboard`` adds a ``random codes`` row, never marked best: random codes scored on the
  labels of each column's latest run, and every cell's ratio to it (:mod:`hashbench.results.chance`).

The modules: :mod:`~hashbench.results.rows` (which rows count), :mod:`~hashbench.results.labels` (row
labels), :mod:`~hashbench.results.columns` (dataset columns and their order),
:mod:`~hashbench.results.board` (the data), :mod:`~hashbench.results.render` (text formats). This
module builds the board; it is long because its docstring holds the rules. Nothing here writes the
results table.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from ..config import DEFAULT_METRIC
from ..errors import ResultsError
from .board import DEFAULT_GROUP, DIGITS, MIXED_MARK, PUBLISHED_MARK, BoardRow, Cell, DataColumn, Leaderboard
from .columns import dataset_columns, dataset_order, dataset_ranks
from .compare import canonical, natural_key
from .families import family_rank, identity_family, protocol_text, published_family
from .labels import identity_labels, identity_order, parse_config, published_labels, row_identity
from .rows import as_text, check_group, filter_rows, latest_runs, parse_where, text_column, without_unused_train
from .table import PUBLISHED_COLUMNS, RESULT_FLOAT_COLUMNS, RESULT_INT_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["build_leaderboard", "Leaderboard", "BoardRow", "Cell", "DataColumn", "DEFAULT_GROUP", "latest_runs",
           "parse_where", "identity_labels"]


def _missing(value: Any) -> bool:
    """None, NaN or pandas' NA."""
    import pandas as pd

    return bool(pd.isna(value))


def _aggregate(frame: "pd.DataFrame", keys: list[str]) -> dict[tuple, dict[tuple[str, int], Cell]]:
    """Cells per row key and (column, bits); ``frame`` has ``_col`` and ``_rid`` ("" when unknown)."""
    out: dict[tuple, dict[tuple[str, int], Cell]] = {}
    for values, part in frame.groupby(keys + ["_col", "bits"], sort=False, dropna=False):
        *row_key, column, bits = values
        vals = part["value"].astype(float)
        n = int(len(vals))
        std = float(vals.std(ddof=1)) if n > 1 else None
        seeds = as_text(part["seed"]) if "seed" in part.columns else None
        identities = set(part["_rid"].astype(str))
        known = identities - {""}
        mixed = bool(seeds is not None and seeds.duplicated().any()) or len(known) > 1 or \
            bool(known and "" in identities)
        series = "\n\n".join(sorted(known)) if known and "" not in identities else None
        bits = 0 if _missing(bits) else int(bits)  # a published number without a code length
        out.setdefault(tuple(row_key), {})[(str(column), bits)] = Cell(
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
        out.append((0 if text else 2, 0.0, natural_key(text)))
    return tuple(out)


def build_leaderboard(results: "pd.DataFrame", published: "pd.DataFrame | None" = None, *,
                      metric: str = DEFAULT_METRIC, datasets: Sequence[str] | None = None,
                      bits: Sequence[int] | None = None, where: Iterable[str] | Mapping[str, set[str]] = (),
                      group: Sequence[str] = DEFAULT_GROUP, sections: bool = True) -> Leaderboard:
    """Pivot ``results`` (from :func:`hashbench.results.read_results`) and ``published`` rows for ``metric``.

    ``datasets``/``bits`` restrict the columns (``datasets`` by dataset name, variant and custom
    columns included); ``where`` is ``COLUMN=VALUE[,VALUE...]`` items (or their parsed mapping)
    applied to local rows and, on the columns published.csv also has, to published rows; ``group``
    names the row-key columns (default ``method``: one row per experiment identity, see the module
    docstring); ``sections`` (default grouping only) orders the rows by family, then protocol (see
    "Sections"). Raises ResultsError when nothing is left to show.
    """
    import pandas as pd

    group = check_group(group)
    identity_rows = group == DEFAULT_GROUP
    where_map = dict(where) if isinstance(where, Mapping) else parse_where(where)
    local = filter_rows(latest_runs(without_unused_train(results)), metric, datasets, bits, where_map).copy()
    parsed: dict[str, tuple[dict[str, Any] | None, dict[str, Any] | None, str]] = {}
    for text in set(text_column(local, "config")):
        config = parse_config(text)
        ident = None if config is None else row_identity(config)
        parsed[text] = (config, ident, "" if ident is None else canonical(ident))
    config_text = text_column(local, "config").tolist()
    configs = [parsed[t][0] for t in config_text]
    row_idents = [parsed[t][1] for t in config_text]
    local["_rid"] = [parsed[t][2] for t in config_text]
    ranks = dataset_ranks(published, results)
    col_labels, data_columns, column_order = dataset_columns(local, configs, ranks)
    local["_col"] = col_labels

    row_order: dict[tuple, tuple] = {}
    row_identity_text: dict[tuple, str | None] = {}
    sectioned = identity_rows and sections
    if identity_rows:
        row_order, row_identity_text = _identity_rows(local, row_idents)
    else:
        local = local.assign(**{f"_k{i}": as_text(local[c]) for i, c in enumerate(group)})

    pub = published if published is not None else pd.DataFrame(columns=list(PUBLISHED_COLUMNS))
    pub = filter_rows(pub, metric, datasets, bits, where_map) if len(pub) else pub.iloc[0:0]
    if len(pub):
        pub = _published_keys(pub, group)
        for ds in pub["dataset"].astype(str):
            data_columns.setdefault(ds, DataColumn(ds, ds))
            column_order.setdefault(ds, (dataset_order(ranks, ds), False, False, (), "", ds))

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
    local_sections = _local_sections(local, row_idents) if sectioned else {}
    for key in ordered:
        family, protocol = local_sections.get(tuple(key), ("", ""))
        rows.append(BoardRow(tuple(str(k) or "–" for k in key), "local", local_cells[key],
                             identity=row_identity_text.get(tuple(key)), family=family, protocol=protocol))
    if len(pub):
        rows += _published_board_rows(pub, key_cols, sectioned)
    protocols = _sort_sections(rows) if sectioned else []
    columns = sorted({c for r in rows for c in r.cells}, key=lambda c: (column_order[c[0]], c[1]))
    _mark_best(rows, columns)

    shown = {c[0] for c in columns}
    data_columns = {label: data_columns[label] for label in sorted(shown, key=lambda l: column_order[l])}
    legacy = bool((local["_rid"] == "").any()) if len(local) else False
    notes = _notes(rows, pub, group, data_columns, legacy)
    return Leaderboard(metric, group, columns, rows, notes, local_rows=len(local), published_rows=len(pub),
                       data_columns=data_columns, runs=_column_runs(local), protocols=protocols)


def _sort_sections(rows: list[BoardRow]) -> list[str]:
    """Sort ``rows`` by family, then protocol (in order of first appearance); the protocols in that order.
    Stable: within a section the rows keep their order (local rows, then published ones)."""
    seen = list(dict.fromkeys(r.protocol for r in rows))
    rows.sort(key=lambda r: (family_rank(r.family), seen.index(r.protocol)))
    return list(dict.fromkeys(r.protocol for r in rows))  # P1 is the first one shown


def _local_sections(local: "pd.DataFrame", row_idents: list[dict[str, Any] | None]) -> dict[tuple, tuple[str, str]]:
    """(family, protocol text) per local row key (``_k0``): the identity's family, the runs' selections."""
    selections: dict[tuple, set[str]] = {}
    idents: dict[tuple, dict[str, Any] | None] = {}
    for key, selection, ident in zip(local["_k0"], text_column(local, "selection"), row_idents):
        selections.setdefault((key,), set()).add(selection)
        idents[(key,)] = ident
    return {k: (identity_family(idents[k]), protocol_text(selections[k], idents[k])) for k in selections}


def _published_board_rows(pub: "pd.DataFrame", key_cols: list[str], sectioned: bool) -> list[BoardRow]:
    """The published rows' board rows: by method, source, then frames/margin numerically; with their
    family and protocol when ``sectioned``."""
    import pandas as pd

    sources = {tuple(k): s for k, s in zip(pub[key_cols].itertuples(index=False, name=None),
                                           pub["source"].astype(str))}
    pub_cells = _aggregate(pub.assign(seed=range(len(pub))), key_cols)
    order = {}
    for key, method, source, frames, margin in zip(
            pub[key_cols].itertuples(index=False, name=None), pub["method"].astype(str),
            pub["source"].astype(str), pub["frames"], pub["margin"]):
        order.setdefault(tuple(key), (method, source, -1 if pd.isna(frames) else int(frames),
                                      -1.0 if pd.isna(margin) else float(margin), tuple(key)))
    sections: dict[tuple, tuple[str, str]] = {}
    if sectioned:
        families = pub["family"] if "family" in pub.columns else [""] * len(pub)
        for key, method, family, selection in zip(pub[key_cols].itertuples(index=False, name=None),
                                                  pub["method"].astype(str), families, text_column(pub, "selection")):
            sections.setdefault(tuple(key), (published_family(method, family), protocol_text([selection])))
    return [BoardRow(tuple(str(k) or "–" for k in key), sources[tuple(key)], pub_cells[key],
                     family=sections.get(tuple(key), ("", ""))[0], protocol=sections.get(tuple(key), ("", ""))[1])
            for key in sorted(pub_cells, key=lambda k: order[tuple(k)])]


def _mark_best(rows: list[BoardRow], columns: list[tuple[str, int]]) -> None:
    """Mark the best cell(s) of each column (at the shown precision) where it has at least two entries."""
    for column in columns:
        present = [r.cells[column] for r in rows if column in r.cells]
        if len(present) < 2:
            continue  # nothing to compare with: no best mark
        best = max(round(c.mean, DIGITS) for c in present)
        for c in present:
            c.best = round(c.mean, DIGITS) == best


def _identity_rows(local: "pd.DataFrame", row_idents: list[dict[str, Any] | None]
                   ) -> tuple[dict[tuple, tuple], dict[tuple, str | None]]:
    """Label local rows by experiment identity (sets ``_k0``); returns each label's sort key and identity.

    A row is an identity (0.1 rows: a method); its label starts from the method of its run appended
    last (a relabelled rerun of the same experiment renames the row).
    """
    methods = text_column(local, "method").tolist()
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
    label_of = dict(zip(keys, labels))
    local["_k0"] = [label_of[k] for k in row_keys]
    row_order: dict[tuple, tuple] = {}
    row_identity_text: dict[tuple, str | None] = {}
    for key, label, order in zip(keys, labels, identity_order(listed)):
        row_order[(label,)] = (order, label)
        row_identity_text[(label,)] = None if key.startswith("legacy\n") else key
    return row_order, row_identity_text


def _published_keys(pub: "pd.DataFrame", group: Sequence[str]) -> "pd.DataFrame":
    """Published rows with their row keys (``_k<i>``), ``_col`` (the plain dataset column) and ``_rid``."""
    import pandas as pd

    pub = pub.copy()
    labels = published_labels(pub, group)
    label_col = group.index("method") if "method" in group else 0
    for i, col in enumerate(group):
        if i == label_col:
            pub[f"_k{i}"] = labels
        elif col in pub.columns:
            pub[f"_k{i}"] = as_text(pub[col])
        else:
            pub[f"_k{i}"] = ""
    pub["seed"] = pd.array([pd.NA] * len(pub), dtype="Int64")
    pub["_col"] = pub["dataset"].astype(str)  # published numbers: the plain dataset column only
    key_text = pub[[f"_k{i}" for i in range(len(group))]].astype(str).agg("\n".join, axis=1)
    pub["_rid"] = "published\n" + pub["source"].astype(str) + "\n" + key_text
    return pub


def _column_runs(local: "pd.DataFrame") -> dict[tuple[str, int], list[tuple[str, str]]]:
    """(experiment, run_id) per (column, bits), the run appended last first (see Leaderboard.runs)."""
    runs: dict[tuple[str, int], list[tuple[str, str]]] = {}
    if local.empty:
        return runs
    ordered = local.sort_values("_line", ascending=False, kind="stable") if "_line" in local.columns else local
    for column, bits, experiment, run_id in zip(ordered["_col"], ordered["bits"], text_column(ordered, "experiment"),
                                                text_column(ordered, "run_id")):
        found = runs.setdefault((str(column), int(bits)), [])
        if (experiment, run_id) not in found:
            found.append((experiment, run_id))
    return runs


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
