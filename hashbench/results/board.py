"""The leaderboard's data: cells, rows, dataset columns and the board itself (built by
:func:`hashbench.results.leaderboard.build_leaderboard`, rendered by :mod:`hashbench.results.render`)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["Cell", "BoardRow", "DataColumn", "Leaderboard", "DIGITS", "PUBLISHED_MARK", "MIXED_MARK", "DEFAULT_GROUP",
           "protocol_legend"]

PUBLISHED_MARK = "†"
MIXED_MARK = "‡"
DIGITS = 4
#: The default row grouping: one row per experiment identity, labelled from ``method``.
DEFAULT_GROUP: tuple[str, ...] = ("method",)


def protocol_legend(protocols: list[str]) -> list[str]:
    """One line naming each protocol tag; empty without protocols."""
    if not protocols:
        return []
    tags = "; ".join(f"P{i} = {text}" for i, text in enumerate(protocols, start=1))
    return [f"Sections: family (supervised: the method trains on labels) · protocol; rows under one heading"
            f" were evaluated alike, and no cell holds runs of two protocols. Protocols: {tags}. The"
            " query/database split and include_self are the column's dataset's."]


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
    #: ``mean`` / the column's random-codes reference (None without one, see :mod:`~hashbench.results.chance`)
    ratio: float | None = None

    def text(self) -> str:
        """``0.7204 ± 0.0031 (n=3)`` when n > 1, else ``0.7204``; with a ratio to random codes
        ``0.7204 ± 0.0031 (n=3, 6.4x)`` or ``0.7204 (6.4x)``; `` ‡`` appended when mixed."""
        out = f"{self.mean:.{DIGITS}f}"
        extra = [f"n={self.n}"] if self.n > 1 else []
        if self.n > 1:
            std = 0.0 if self.std is None or math.isnan(self.std) else self.std
            out += f" ± {std:.{DIGITS}f}"
        if self.ratio is not None:
            extra.append(f"{self.ratio:.1f}x")
        out += f" ({', '.join(extra)})" if extra else ""
        return out + (f" {MIXED_MARK}" if self.mixed else "")


@dataclass
class BoardRow:
    """A leaderboard row: the group-key values shown, provenance, and cells keyed by (column, bits).

    ``identity`` is the row's experiment identity (canonical JSON without ``head.bits``/``dataset.*``)
    for identity rows of the default grouping, else None. ``family`` (``supervised``, ``unsupervised``,
    ``unknown``) and ``protocol`` (its text) are set for rows of the default grouping, else "" (see
    :mod:`hashbench.results.families`).
    """

    keys: tuple[str, ...]
    source: str  # "local" or the publication
    cells: dict[tuple[str, int], Cell] = field(default_factory=dict)
    identity: str | None = None
    family: str = ""
    protocol: str = ""

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
    ``protocols`` are the rows' protocol texts in the order of their tags (``P1``, ``P2``, ...); empty when
    the rows are not in sections (another ``group``, or sections turned off).
    """

    metric: str
    group: tuple[str, ...]
    columns: list[tuple[str, int]]
    rows: list[BoardRow]
    notes: list[str]
    local_rows: int = 0
    published_rows: int = 0
    data_columns: dict[str, DataColumn] = field(default_factory=dict)
    #: (experiment, run_id) of each column's local runs, the run appended last first
    runs: dict[tuple[str, int], list[tuple[str, str]]] = field(default_factory=dict)
    protocols: list[str] = field(default_factory=list)

    def protocol_tag(self, protocol: str) -> str:
        """``P1`` for the first of :attr:`protocols` ("" when the board has no sections)."""
        return f"P{self.protocols.index(protocol) + 1}" if protocol in self.protocols else ""

    def section_title(self, row: BoardRow) -> str:
        """``supervised · P1``: the heading of ``row``'s section ("" when the board has no sections);
        ``reference`` for a row of neither (the random-codes row)."""
        if not self.protocols:
            return ""
        return f"{row.family} · {self.protocol_tag(row.protocol)}" if row.family else "reference"

    def column_label(self, column: tuple[str, int], short: bool = False) -> str:
        """``ucf101 48-bit``; ``ucf101`` alone for published numbers without a code length (bits 0:
        a classifier's top-1, quoted for any code length). ``short``: a column set apart by its
        settings or data is ``moving_digits [1] 32-bit``, its settings in :meth:`legend`."""
        name = column[0]
        if short and name in self.footnotes():
            name = f"{self.data_columns[name].dataset} [{self.footnotes()[name]}]"
        return f"{name} {column[1]}-bit" if column[1] else str(name)

    def footnotes(self) -> dict[str, int]:
        """``{dataset column label: n}`` for the columns that are not plain (their settings or custom data
        would make the header long), numbered from 1 in column order."""
        shown = dict.fromkeys(label for label, _ in self.columns)
        notes = [label for label in shown if label in self.data_columns and not self.data_columns[label].plain]
        return {label: i for i, label in enumerate(notes, start=1)}

    def legend(self) -> list[str]:
        """``[1] moving_digits (clips_per_class=20, noise=10.0)``: the full name of each footnoted column."""
        return [f"[{n}] {label}" for label, n in self.footnotes().items()] + protocol_legend(self.protocols)

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
