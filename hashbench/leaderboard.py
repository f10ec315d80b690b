"""The leaderboard: a pivot of the results table (plus published reference rows), rendered as text.

Rows are the ``group`` columns (default: ``method``), columns are dataset x bits (datasets in the order
ucf101, hmdb51, jhmdb, then others alphabetically; bits ascending). One table shows ONE metric, so numbers
of different conventions (``map`` vs ``map@100`` vs ``map_tie``) never share a column; published rows are
shown only under the metric they were measured with.

Rules (also printed under every table):

- Repeated runs of one configuration: for each (``config_hash``, ``seed``) only the run appended last to
  the table is used (rows without a config hash count as their own configuration).
- A cell is the mean over the remaining runs (normally one per seed), shown as
  ``mean ± std (n=N)`` with the sample standard deviation (ddof=1) when N > 1, else just the value.
- The best cell of each column (highest value at the shown precision, ties all marked) is bold in md,
  html and latex and ends with ``*`` in csv. Every registered metric is higher-is-better.
- Published rows (``results/published.csv``) are labelled ``<method> [(variant)] †``; the variant names
  the frames/margin when one source reports several settings. In csv a ``source`` column says
  ``local`` or the publication. They take part in the best-per-column marking.
- A cell that averages runs of different configurations sharing a seed (e.g. a margin sweep whose
  points carry the same method label) is flagged ``‡``; separate them with ``group`` or ``where``.

Nothing here writes the results table; :func:`write_text_atomic` writes rendered output only.
"""
from __future__ import annotations

import csv
import difflib
import html
import io
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

from . import atomic
from .errors import ResultsError
from .results import PUBLISHED_COLUMNS, RESULT_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

DATASET_ORDER: tuple[str, ...] = ("ucf101", "hmdb51", "jhmdb")
FORMATS: tuple[str, ...] = ("md", "csv", "latex", "html")
EXTENSIONS: dict[str, str] = {"md": "md", "csv": "csv", "latex": "tex", "html": "html"}
PUBLISHED_MARK = "†"
MIXED_MARK = "‡"
DIGITS = 4
_NOT_GROUPABLE = ("dataset", "bits", "metric", "value", "_line")
_VARIANT_COLUMNS = ("frames", "margin")


@dataclass
class Cell:
    """One leaderboard cell: mean over ``n`` runs (``std`` is the sample std, None when n == 1)."""

    mean: float
    std: float | None
    n: int
    best: bool = False
    mixed: bool = False

    def text(self) -> str:
        """``0.7204 ± 0.0031 (n=3)`` when n > 1, else ``0.7204``; `` ‡`` appended when mixed."""
        out = f"{self.mean:.{DIGITS}f}"
        if self.n > 1:
            std = 0.0 if self.std is None or math.isnan(self.std) else self.std
            out += f" ± {std:.{DIGITS}f} (n={self.n})"
        return out + (f" {MIXED_MARK}" if self.mixed else "")


@dataclass
class BoardRow:
    """A leaderboard row: the group-key values shown, provenance, and cells keyed by (dataset, bits)."""

    keys: tuple[str, ...]
    source: str  # "local" or the publication
    cells: dict[tuple[str, int], Cell] = field(default_factory=dict)

    @property
    def published(self) -> bool:
        return self.source != "local"


@dataclass
class Leaderboard:
    """The pivoted table for one metric (build with :func:`build_leaderboard`, render with :func:`render`)."""

    metric: str
    group: tuple[str, ...]
    columns: list[tuple[str, int]]
    rows: list[BoardRow]
    notes: list[str]
    local_rows: int = 0
    published_rows: int = 0

    def column_label(self, column: tuple[str, int]) -> str:
        return f"{column[0]} {column[1]}-bit"

    def cell(self, key: str, dataset: str, bits: int) -> Cell | None:
        """The cell of the row whose first key is ``key`` (test/inspection helper)."""
        for row in self.rows:
            if row.keys[0] == key:
                return row.cells.get((dataset, bits))
        return None


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


def latest_runs(results: "pd.DataFrame") -> "pd.DataFrame":
    """Keep, per (config_hash, seed), only the rows of the run appended last (highest line number).

    A row duplicated within that run (same metric twice) counts once (the last one).
    """
    if results.empty:
        return results
    frame = results.copy()
    config = frame["config_hash"].astype(str)
    frame["_config"] = config.where(config != "", "run:" + frame["run_id"].astype(str))
    frame["_seed"] = _as_text(frame["seed"])
    if "_line" in frame.columns:
        frame = frame.sort_values("_line", kind="stable")
    latest = frame.groupby(["_config", "_seed"], sort=False)["run_id"].transform("last")
    frame = frame[frame["run_id"] == latest]
    frame = frame.drop_duplicates(["_config", "_seed", "metric"], keep="last")
    return frame.drop(columns=["_config", "_seed"])


# -- building ---------------------------------------------------------------------------------------
def _dataset_key(name: str) -> tuple[int, str]:
    return (DATASET_ORDER.index(name), "") if name in DATASET_ORDER else (len(DATASET_ORDER), name)


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
    out: dict[tuple, dict[tuple[str, int], Cell]] = {}
    for values, part in frame.groupby(keys + ["dataset", "bits"], sort=False, dropna=False):
        *row_key, dataset, bits = values
        vals = part["value"].astype(float)
        n = int(len(vals))
        std = float(vals.std(ddof=1)) if n > 1 else None
        seeds = _as_text(part["seed"]) if "seed" in part.columns else None
        mixed = bool(seeds is not None and seeds.duplicated().any())
        out.setdefault(tuple(row_key), {})[(str(dataset), int(bits))] = Cell(
            float(vals.mean()), std, n, mixed=mixed)
    return out


def build_leaderboard(results: "pd.DataFrame", published: "pd.DataFrame | None" = None, *,
                      metric: str = "map", datasets: Sequence[str] | None = None,
                      bits: Sequence[int] | None = None, where: Iterable[str] | Mapping[str, set[str]] = (),
                      group: Sequence[str] = ("method",)) -> Leaderboard:
    """Pivot ``results`` (from :func:`hashbench.results.read_results`) and ``published`` rows for ``metric``.

    ``datasets``/``bits`` restrict the columns; ``where`` is ``COLUMN=VALUE[,VALUE...]`` items (or their
    parsed mapping) applied to local rows and, on the columns published.csv also has, to published rows;
    ``group`` names the row-key columns. Raises ResultsError when nothing is left to show.
    """
    import pandas as pd

    group = _check_group(group)
    where_map = dict(where) if isinstance(where, Mapping) else parse_where(where)
    local = _filter(latest_runs(results), metric, datasets, bits, where_map)
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

    if local.empty and pub.empty:
        metrics = sorted(set(results["metric"].astype(str))) if len(results) else []
        if published is not None and len(published):
            metrics = sorted(set(metrics) | set(published["metric"].astype(str)))
        raise ResultsError(f"no results for metric {metric!r} with these filters"
                           f" (metrics in the tables: {', '.join(metrics) or 'none'})")

    key_cols = [f"_k{i}" for i in range(len(group))]
    rows: list[BoardRow] = []
    for key, cells in sorted(_aggregate(local, key_cols).items()):
        rows.append(BoardRow(tuple(str(k) or "–" for k in key), "local", cells))
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

    columns = sorted({c for r in rows for c in r.cells}, key=lambda c: (_dataset_key(c[0]), c[1]))
    for column in columns:
        present = [r.cells[column] for r in rows if column in r.cells]
        best = max(round(c.mean, DIGITS) for c in present)
        for c in present:
            c.best = round(c.mean, DIGITS) == best

    notes = _notes(rows, pub)
    return Leaderboard(metric, group, columns, rows, notes, local_rows=len(local), published_rows=len(pub))


def _notes(rows: list[BoardRow], pub: "pd.DataFrame") -> list[str]:
    notes = ["Cells: mean ± sample std over seeds (n = runs) when n > 1; for each (config_hash, seed) only"
             " the run appended last counts. Best per column in bold (csv: trailing *)."]
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
        notes.append(f"{MIXED_MARK} this cell averages different configurations that share a seed;"
                     " separate them with --group (e.g. method,frames) or --where.")
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
