"""The "random codes" reference row of the leaderboard: what codes that carry no information score.

For each column (dataset column, bits) with local runs, the labels of its most recent run that still
has its run directory (``<runs_dir>/<experiment>/<run_id>/codes.npz``) are scored with random ±1
codes of the column's length (:data:`DRAWS` draws from fixed seeds, so the table is reproducible),
under the board's metric. Every other cell of the column then shows its ratio to that value
(``0.5350 (6.4x)``). Columns without such a run (published-only columns, deleted run directories)
have no reference; metrics that do not score codes (``top1``) get no row at all.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import HashbenchError
from .board import BoardRow, Cell, Leaderboard
from .rundir import RunDir

__all__ = ["DRAWS", "RANDOM_LABEL", "RANDOM_SOURCE", "random_codes_score", "add_random_reference"]

#: Random code sets averaged per column (seeds 0..DRAWS-1).
DRAWS = 3
RANDOM_LABEL = "random codes"
RANDOM_SOURCE = "reference: random codes"


def random_codes_score(query_labels: Any, db_labels: Any, bits: int, metric: str, draws: int = DRAWS) -> float:
    """Mean ``metric`` of ``draws`` sets of random ±1 codes (``bits`` long) for these labels; labels are
    (N,) class ids or (N, C) multi-hot, as in a run's ``codes.npz``. Raises HashbenchError when the
    metric cannot score codes."""
    import numpy as np

    from .. import score

    values = []
    for seed in range(draws):
        rng = np.random.default_rng(seed)
        query = rng.choice(np.array([-1, 1], dtype=np.int8), (len(query_labels), bits))
        db = rng.choice(np.array([-1, 1], dtype=np.int8), (len(db_labels), bits))
        values.append(score(query, query_labels, db, db_labels, [metric])[metric])
    return float(np.mean(values))


def _labels_of(board: Leaderboard, column: tuple[str, int], runs_dir: Path) -> tuple[Any, Any] | None:
    """The query and database labels of the column's most recent run with a codes.npz (None if none)."""
    from ..codes import load_codes

    for experiment, run_id in board.runs.get(column, []):
        path = RunDir.for_run(runs_dir, experiment, run_id).codes_path
        if path.is_file():
            codes = load_codes(path)
            if codes["bits"] == column[1]:
                return codes["query_labels"], codes["db_labels"]
    return None


def add_random_reference(board: Leaderboard, runs_dir: str | os.PathLike[str]) -> BoardRow | None:
    """Append the random-codes row to ``board`` (and a note), and set every other cell's ratio to it.
    Returns the row, or None when no column has a run directory with codes (nothing is changed)."""
    cells: dict[tuple[str, int], Cell] = {}
    for column in board.columns:
        if not column[1]:
            continue  # a published number without a code length (a classifier's top-1)
        labels = _labels_of(board, column, Path(runs_dir))
        if labels is None:
            continue
        try:
            cells[column] = Cell(random_codes_score(*labels, column[1], board.metric), None, 1)
        except HashbenchError:
            return None  # the metric does not score codes
    if not cells:
        return None
    for row in board.rows:
        for column, cell in row.cells.items():
            chance = cells.get(column)
            if chance is not None and chance.mean > 0:
                cell.ratio = cell.mean / chance.mean
    row = BoardRow((RANDOM_LABEL,) + ("",) * (len(board.group) - 1), RANDOM_SOURCE, cells)
    board.rows.append(row)
    board.notes.append(f"{RANDOM_LABEL}: the {board.metric} of random ±1 codes of the column's length on the"
                       f" queries and database of its latest run (mean of {DRAWS} draws); (N.Nx) after a cell is"
                       " its ratio to it. Never marked best.")
    return row
