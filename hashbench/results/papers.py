"""The papers' table: methods x K, one block per (dataset column, bits), as every SSVH paper prints it.

:func:`build_papers_table` reads the metrics ``<family>@K`` (default family ``map_over_k``, the SSVH
protocol's mAP@K / K) and, for each K, builds the ordinary leaderboard (:func:`build_leaderboard`, default
grouping), so a row is one experiment identity (or one published source) exactly as there: runs under a
different protocol (``eval.protocol``, ``include_self``, ...) are a different identity, hence a different
row, and never share a cell. The blocks then transpose those boards: rows are methods (hashbench's own
rows first, published rows after them, marked ``†``), columns are K. A row whose checkpoint was kept by
its test-query score (published ``selection`` ``best_test:...``, or a local run with ``select = "test"``)
ends with :data:`TEST_SELECTED_MARK`. The best cell of each K in a block is marked as in the leaderboard.
Rendered by :func:`hashbench.results.render.render_papers`, drawn by :func:`hashbench.results.plots.plot_over_k`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

from ..errors import ResultsError
from .board import DIGITS, Cell, Leaderboard, protocol_legend
from .compare import canonical
from .families import family_rank
from .labels import parse_config, row_identity
from .published import is_test_selected
from .rows import text_column, without_unused_train

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PAPERS_FAMILY", "TEST_SELECTED_MARK", "PapersRow", "PapersBlock", "PapersTable", "family_ks",
           "build_papers_table"]

#: The metric family of the SSVH papers' table (``map_over_k@5`` ... ``map_over_k@100``).
PAPERS_FAMILY = "map_over_k"
#: Appended to the label of a row whose checkpoint was selected on the test queries.
TEST_SELECTED_MARK = "§"


@dataclass
class PapersRow:
    """One method of a block: its label, ``source`` (``local`` or the publication), cells per K, and its
    board row's ``family`` and ``protocol`` (:mod:`hashbench.results.families`)."""

    label: str
    source: str
    test_selected: bool = False
    cells: dict[int, Cell] = field(default_factory=dict)
    family: str = ""
    protocol: str = ""

    @property
    def published(self) -> bool:
        return self.source != "local"

    @property
    def shown(self) -> str:
        """The label as printed: with :data:`TEST_SELECTED_MARK` when test-selected."""
        return f"{self.label} {TEST_SELECTED_MARK}" if self.test_selected else self.label


@dataclass
class PapersBlock:
    """The rows of one (dataset column, bits) pair; ``title`` is ``fcvid 64-bit``."""

    column: str
    bits: int
    title: str
    rows: list[PapersRow] = field(default_factory=list)

    @property
    def ks(self) -> list[int]:
        """The K that at least one row of this block has, ascending."""
        return sorted({k for r in self.rows for k in r.cells})


@dataclass
class PapersTable:
    """The blocks in column order (datasets as in the leaderboard, bits ascending) and the notes;
    ``protocols`` in the order of their tags (``P1`` ...), as :attr:`Leaderboard.protocols`."""

    family: str
    blocks: list[PapersBlock]
    notes: list[str]
    local_rows: int = 0
    published_rows: int = 0
    protocols: list[str] = field(default_factory=list)

    def section_title(self, row: PapersRow) -> str:
        """``unsupervised · P1``: the heading of ``row``'s section in its block ("" without sections)."""
        if row.protocol not in self.protocols:
            return ""
        return f"{row.family} · P{self.protocols.index(row.protocol) + 1}"

    @property
    def ks(self) -> list[int]:
        return sorted({k for b in self.blocks for k in b.ks})

    def block(self, column: str, bits: int) -> PapersBlock | None:
        """The block of ``column`` (a dataset column label) at ``bits`` (None if there is none)."""
        return next((b for b in self.blocks if b.column == column and b.bits == bits), None)


def family_ks(frames: Iterable["pd.DataFrame | None"], family: str = PAPERS_FAMILY) -> list[int]:
    """The K of every ``<family>@K`` metric in ``frames`` (results and published rows), ascending."""
    pattern = re.compile(rf"{re.escape(family)}@(\d+)")
    found = set()
    for frame in frames:
        if frame is None or not len(frame):
            continue
        for metric in set(frame["metric"].astype(str)):
            match = pattern.fullmatch(metric)
            if match:
                found.add(int(match.group(1)))
    return sorted(found)


def _test_selected_identities(results: "pd.DataFrame") -> set[str]:
    """Identities (canonical, as ``BoardRow.identity``) of local runs selected on the test queries."""
    if not len(results) or "selection" not in results.columns:
        return set()
    out = set()
    results = without_unused_train(results)  # as the board's rows
    for selection, config in zip(text_column(results, "selection"), text_column(results, "config")):
        parsed = parse_config(config) if is_test_selected(selection) else None
        if parsed is not None:
            out.add(canonical(row_identity(parsed)))
    return out


def build_papers_table(results: "pd.DataFrame", published: "pd.DataFrame | None" = None, *,
                       family: str = PAPERS_FAMILY, datasets: Sequence[str] | None = None,
                       bits: Sequence[int] | None = None,
                       where: Iterable[str] | Mapping[str, set[str]] = (), sections: bool = True) -> PapersTable:
    """The papers' table of the ``<family>@K`` metrics in ``results`` and ``published`` (filters and
    ``sections`` as in :func:`build_leaderboard`). Raises ResultsError naming the family when no such metric is left."""
    from .leaderboard import build_leaderboard

    boards: dict[int, Leaderboard] = {}
    for k in family_ks([results, published], family):
        try:
            boards[k] = build_leaderboard(results, published, metric=f"{family}@{k}", datasets=datasets,
                                          bits=bits, where=where, sections=sections)
        except ResultsError:
            continue  # this K has no row under the filters
    if not boards:
        raise ResultsError(f"no {family}@K results with these filters; runs with [eval] protocol = \"ssvh\""
                           f" write them (or pick another family with --metric)")
    selected = _test_selected_identities(results)
    pub_selected = set() if published is None or not len(published) else {
        str(s) for s, sel in zip(published["source"], published["selection"].fillna("")) if is_test_selected(sel)}
    blocks: dict[tuple[str, int], PapersBlock] = {}
    first_seen: dict[str, int] = {}  # dataset column -> order of first appearance (boards keep the leaderboard's)
    for k, board in boards.items():
        for column in board.columns:
            first_seen.setdefault(column[0], len(first_seen))
            block = blocks.setdefault(column, PapersBlock(column[0], column[1], board.column_label(column)))
            for row in board.rows:
                cell = row.cells.get(column)
                if cell is None:
                    continue
                found = next((r for r in block.rows if r.label == row.label and r.source == row.source), None)
                if found is None:
                    flagged = row.source in pub_selected if row.published else row.identity in selected
                    found = PapersRow(row.label, row.source, flagged, family=row.family, protocol=row.protocol)
                    block.rows.append(found)
                found.cells[k] = replace(cell, best=False, ratio=None)
    ordered = [blocks[c] for c in sorted(blocks, key=lambda c: (first_seen[c[0]], c[1]))]
    protocols = list(dict.fromkeys(p for b in boards.values() for p in b.protocols))
    for block in ordered:  # stable: by family and protocol, hashbench's rows first, in board order
        block.rows.sort(key=lambda r: (family_rank(r.family), protocols.index(r.protocol) if protocols else 0,
                                       r.published))
        _mark_best(block)
    notes = _notes(boards.values(), family, bool(selected or pub_selected)) + protocol_legend(protocols)
    return PapersTable(family, ordered, notes,
                       local_rows=max(b.local_rows for b in boards.values()),
                       published_rows=sum(b.published_rows for b in boards.values()), protocols=protocols)


def _mark_best(block: PapersBlock) -> None:
    """Bold the best cell(s) of each K (at the shown precision) where the K has at least two entries."""
    for k in block.ks:
        present = [r.cells[k] for r in block.rows if k in r.cells]
        if len(present) < 2:
            continue
        best = max(round(c.mean, DIGITS) for c in present)
        for cell in present:
            cell.best = round(cell.mean, DIGITS) == best


def _notes(boards: Iterable[Leaderboard], family: str, flagged: bool) -> list[str]:
    """The boards' notes, each once, after what a column and the marks mean."""
    notes = [f"Columns: K of {family}@K; one block per dataset column and code length; rows are experiments"
             " (as in the leaderboard: runs differing in more than the seed, the protocol included, never"
             " share a cell) and published rows (†)."]
    if flagged:
        notes.append(f"{TEST_SELECTED_MARK} checkpoint kept by its score on the test queries (selection"
                     " best_test): an optimistic number, not comparable with a held-out selection.")
    for board in boards:
        notes += [n for n in board.notes if n not in notes]
    return notes
