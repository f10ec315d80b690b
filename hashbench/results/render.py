"""Rendering a leaderboard as text: markdown (GitHub pipe table), csv, LaTeX (tabular) or html.

Every format shows the same cells, best marks and notes; nothing here writes the results table
(:func:`write_text_atomic` writes rendered output only).
"""
from __future__ import annotations

import csv
import html
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..atomic import write_text_atomic as _write_atomic
from ..contract import parse_metric_spec
from ..errors import ResultsError
from .board import MIXED_MARK, PUBLISHED_MARK, Cell, Leaderboard

if TYPE_CHECKING:
    from .papers import PapersTable

__all__ = ["FORMATS", "EXTENSIONS", "render", "render_papers", "metric_caption", "write_text_atomic",
           "default_output"]

FORMATS: tuple[str, ...] = ("md", "csv", "latex", "html")
EXTENSIONS: dict[str, str] = {"md": "md", "csv": "csv", "latex": "tex", "html": "html"}


def _latex_escape(text: str) -> str:
    repl = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
            "±": r"$\pm$", PUBLISHED_MARK: r"$^\dagger$", MIXED_MARK: r"$^\ddagger$", "–": "--", "§": r"\S{}",
            "·": r"$\cdot$"}
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


def _section_titles(titles: list[str]) -> list[str]:
    """Each row's section heading where a new section starts, else "" (all "" without sections)."""
    return [t if t and (i == 0 or titles[i - 1] != t) else "" for i, t in enumerate(titles)]


def _heading(title: str, fmt: str) -> str:
    """A section heading in the label cell: bold in md and html, italic in LaTeX."""
    if fmt == "md":
        return f"**{title}**"
    if fmt == "html":
        return f"<b>{html.escape(title)}</b>"
    return rf"\textit{{{_latex_escape(title)}}}"


def render(board: Leaderboard, fmt: str = "md", *, caption: str = "", source: str = "") -> str:
    """The leaderboard as text: ``md`` (GitHub pipe table), ``csv``, ``latex`` (tabular) or ``html``.

    ``caption`` describes the metric convention; ``source`` names the results file (both optional).
    """
    from tabulate import tabulate

    if fmt not in FORMATS:
        raise ResultsError(f"unknown leaderboard format {fmt!r}; choose one of {', '.join(FORMATS)}")
    headers = list(board.group) + [board.column_label(c, short=fmt != "csv") for c in board.columns]
    if fmt == "csv":  # full column names: a csv is read by programs, without the legend
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(headers + ["source", "family", "protocol"])
        for row in board.rows:
            writer.writerow(list(row.keys) + [_cell_text(row.cells.get(c), fmt) for c in board.columns]
                            + [row.source, row.family, row.protocol])
        return buf.getvalue()

    def key_text(k: str) -> str:
        return html.escape(k) if fmt == "html" else _latex_escape(k) if fmt == "latex" else k

    body: list[list[str]] = []
    for row, section in zip(board.rows, _section_titles([board.section_title(r) for r in board.rows])):
        if section:
            body.append([_heading(section, fmt)] + [""] * (len(board.group) - 1 + len(board.columns)))
        body.append([key_text(k) for k in row.keys] + [_cell_text(row.cells.get(c), fmt) for c in board.columns])
    title = f"hashbench leaderboard — metric {board.metric}"
    meta = f"{board.local_rows} local rows" + (f" from {source}" if source else "") + \
        f", {board.published_rows} published rows"
    align = ["left"] * len(board.group) + ["right"] * len(board.columns)
    if fmt == "md":
        table = tabulate(body, headers=headers, tablefmt="github", colalign=align, disable_numparse=True)
        parts = [f"# {title}", ""] + ([caption, ""] if caption else []) + [table, ""]
        parts += [f"- {n}" for n in board.legend() + board.notes] + [f"- {meta}.", ""]
        return "\n".join(parts)
    if fmt == "html":
        hdr = [html.escape(h) for h in headers]
        table = tabulate(body, headers=hdr, tablefmt="unsafehtml", colalign=align, disable_numparse=True)
        parts = [f"<h1>{html.escape(title)}</h1>"]
        if caption:
            parts.append(f"<p>{html.escape(caption)}</p>")
        parts.append(table)
        notes = board.legend() + board.notes + [meta]
        parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
        return "\n".join(parts) + "\n"
    hdr = [_latex_escape(h) for h in headers]
    table = tabulate(body, headers=hdr, tablefmt="latex_raw", colalign=align, disable_numparse=True)
    lines = [f"% {title}"] + ([f"% {caption}"] if caption else []) + [table, "", r"{\footnotesize"]
    lines += [_latex_escape(n) + r"\par" for n in board.legend() + board.notes + [meta]]
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_papers(table: "PapersTable", fmt: str = "md", *, caption: str = "", source: str = "") -> str:
    """The papers' table (:mod:`hashbench.results.papers`) as text: one table per block (dataset, bits),
    rows = methods, columns = ``@K``; csv is one flat table with ``dataset``, ``bits`` and ``source``."""
    from tabulate import tabulate

    if fmt not in FORMATS:
        raise ResultsError(f"unknown leaderboard format {fmt!r}; choose one of {', '.join(FORMATS)}")
    ks = table.ks
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["dataset", "bits", "method"] + [f"@{k}" for k in ks]
                        + ["source", "test_selected", "family", "protocol"])
        for block in table.blocks:
            for row in block.rows:
                writer.writerow([block.column, block.bits, row.label] + [_cell_text(row.cells.get(k), fmt)
                                                                          for k in ks]
                                + [row.source, int(row.test_selected), row.family, row.protocol])
        return buf.getvalue()
    title = f"hashbench papers' table — metric {table.family}@K"
    meta = f"{table.local_rows} local rows" + (f" from {source}" if source else "") + \
        f", {table.published_rows} published rows"
    escape = {"html": html.escape, "latex": _latex_escape}.get(fmt, str)
    tablefmt = {"md": "github", "html": "unsafehtml", "latex": "latex_raw"}[fmt]
    parts: list[str] = []
    for block in table.blocks:
        headers = [escape("method")] + [f"@{k}" for k in block.ks]
        body: list[list[str]] = []
        for row, section in zip(block.rows, _section_titles([table.section_title(r) for r in block.rows])):
            if section:
                body.append([_heading(section, fmt)] + [""] * len(block.ks))
            body.append([escape(row.shown)] + [_cell_text(row.cells.get(k), fmt) for k in block.ks])
        text = tabulate(body, headers=headers, tablefmt=tablefmt, disable_numparse=True,
                        colalign=["left"] + ["right"] * len(block.ks))
        heading = {"md": f"## {block.title}\n", "html": f"<h2>{html.escape(block.title)}</h2>",
                   "latex": f"% {block.title}"}[fmt]
        parts += [heading, text, ""]
    notes = table.notes + [meta]
    if fmt == "md":
        head = [f"# {title}", ""] + ([caption, ""] if caption else [])
        return "\n".join(head + parts + [f"- {n}" for n in table.notes] + [f"- {meta}.", ""])
    if fmt == "html":
        head = [f"<h1>{html.escape(title)}</h1>"] + ([f"<p>{html.escape(caption)}</p>"] if caption else [])
        items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
        return "\n".join(head + [p for p in parts if p] + [f"<ul>{items}</ul>"]) + "\n"
    head = [f"% {title}"] + ([f"% {caption}"] if caption else [])
    tail = [r"{\footnotesize"] + [_latex_escape(n) + r"\par" for n in notes] + ["}"]
    return "\n".join(head + parts + tail) + "\n"


def metric_caption(metric: str) -> str:
    """One line describing ``metric`` from its plugin's docstring summary ("" if unknown)."""
    from .. import registry
    from ..errors import HashbenchError

    base = metric
    parsed = parse_metric_spec(metric)
    try:
        reg = registry()
        if metric not in reg.names("metric") and parsed is not None:
            base = parsed.registered
        summary = reg.get("metric", base).summary
    except HashbenchError:
        return ""
    return f"Metric `{metric}`: {summary}" if summary else ""


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` via a temp file in the same directory + os.replace (never half-written)."""
    path = Path(path)
    try:
        return _write_atomic(path, text)
    except OSError as exc:
        raise ResultsError(f"cannot write {path}: {exc.strerror or exc}") from None


def default_output(results_path: str | os.PathLike[str], fmt: str) -> Path:
    """Where the leaderboard goes without --out: ``LEADERBOARD.<ext>`` next to the results table."""
    return Path(results_path).parent / f"LEADERBOARD.{EXTENSIONS[fmt]}"
