"""PNG plots (matplotlib is an optional extra: ``pip install 'hashbench[plot]'``).

- :func:`plot_bits`: a leaderboard's metric vs code length, one panel per dataset column (a dataset
  variant or custom-lists column is its own panel), one line per comparable series (error bars = the
  cells' sample std over seeds; published rows dashed). :func:`bits_series` computes the series.
  A line only ever joins cells of one leaderboard row that average the same experiment (equal
  identity apart from ``head.bits``), so a 1-epoch 16-bit run and a 20-epoch 48-bit run are two
  series, even when ``--group`` puts them in one row; cells of 0.1 tables (no recorded identity)
  are drawn as unconnected points.
- :func:`plot_over_k`: the papers' curve, mAP@K over K (a :class:`~hashbench.results.papers.PapersTable`),
  one panel per block (dataset, bits), one line per method (published rows dashed, test-selected ones
  with hollow markers); :func:`over_k_figure` draws it without writing.
- :func:`plot_pr`: a precision-recall curve over Hamming radii 0..bits (of a run's stored codes:
  :func:`hashbench.eval.pr_curve_of_run`).

Figures are drawn with the object-oriented API on the Agg canvas (no pyplot, no display needed) and
written atomically (temp file in the same directory + os.replace).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ..atomic import atomic_path
from ..errors import MissingExtraError, ResultsError

if TYPE_CHECKING:
    from .board import Leaderboard
    from .papers import PapersTable

PANEL_SIZE = (4.2, 3.4)  # inches per dataset panel
DPI = 120


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtraError("plotting needs matplotlib; install it with: pip install 'hashbench[plot]'"
                                ) from None
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: Path) -> Path:
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", bbox_inches="tight")
    except OSError as exc:
        raise ResultsError(f"cannot write plot {path}: {exc.strerror or exc}") from None
    return path


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@-]+", "_", name).strip("_") or "metric"


@dataclass
class BitsSeries:
    """One line of :func:`plot_bits`: cells of one comparable series, ``points`` = (bits, mean, std).

    ``row`` indexes ``board.rows`` (the colour), ``label`` is that row's label, ``column`` the
    dataset column (the panel); ``std`` is 0.0 for single runs.
    """

    row: int
    label: str
    column: str
    published: bool
    mixed: bool
    points: list[tuple[int, float, float]] = field(default_factory=list)


def bits_series(board: "Leaderboard") -> list[BitsSeries]:
    """The series :func:`plot_bits` draws: per row and dataset column, the cells grouped by the
    experiment they average (``Cell.series``); a cell without a known identity stands alone."""
    panels = list(dict.fromkeys(d for d, _ in board.columns))
    out: list[BitsSeries] = []
    for i, row in enumerate(board.rows):
        for column in panels:
            groups: dict[Any, BitsSeries] = {}
            for bits in sorted(b for d, b in board.columns if d == column):
                cell = row.cells.get((column, bits))
                if cell is None:
                    continue
                key = cell.series if cell.series is not None else ("alone", bits)
                series = groups.setdefault(key, BitsSeries(i, row.label, column, row.published, False))
                std = 0.0 if cell.std is None or np.isnan(cell.std) else float(cell.std)
                series.points.append((int(bits), float(cell.mean), std))
                series.mixed = series.mixed or cell.mixed
            out.extend(groups.values())
    return out


def plot_bits(board: "Leaderboard", out_dir: str | os.PathLike[str]) -> Path:
    """Draw ``board`` as metric vs bits per dataset column; write ``<out_dir>/<metric>_vs_bits.png``.

    One colour per leaderboard row across all panels; one line per :func:`bits_series` series; local
    rows solid with circles, published rows dashed with diamonds; error bars are the cells' sample std
    over seeds. Returns the path written.
    """
    panels = list(dict.fromkeys(d for d, _ in board.columns))
    if not panels:
        raise ResultsError(f"nothing to plot for metric {board.metric!r}")
    fig = _figure(PANEL_SIZE[0] * len(panels) + 2.0, PANEL_SIZE[1])
    fig.set_layout_engine("constrained")
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(board.rows) <= 10 else "tab20"]
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    by_panel: dict[str, list[BitsSeries]] = {}
    for series in bits_series(board):
        by_panel.setdefault(series.column, []).append(series)
    handles: dict[str, Any] = {}
    for ax, panel in zip(axes, panels):
        for series in by_panel.get(panel, []):
            xs = [b for b, _, _ in series.points]
            ys = [m for _, m, _ in series.points]
            err = [s for _, _, s in series.points]
            handle = ax.errorbar(xs, ys, yerr=err, fmt=("D--" if series.published else "o-"), capsize=3,
                                 markersize=4, color=cmap(series.row % cmap.N), label=series.label)
            handles.setdefault(series.label, handle)
        ax.set_title(panel, fontsize="medium" if len(panel) < 40 else "small")
        ax.set_xlabel("bits")
        ax.set_xticks(sorted({b for d, b in board.columns if d == panel}))
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel(board.metric)
    ordered = [r.label for r in board.rows if r.label in handles]
    fig.legend([handles[k] for k in ordered], ordered, loc="outside right center", fontsize="small",
               frameon=False)
    fig.suptitle(f"{board.metric} vs code length")
    return _save(fig, Path(out_dir) / f"{_safe(board.metric)}_vs_bits.png")


def over_k_figure(table: "PapersTable", columns: int = 3) -> Any:
    """The papers' curve as a matplotlib Figure: one axes per block (``columns`` per line of panels), on
    each one line per row, x = K, y = the cell means; a method keeps its colour in every panel."""
    from matplotlib import colormaps

    if not table.blocks:
        raise ResultsError(f"nothing to plot for {table.family}@K")
    ncols = min(columns, len(table.blocks))
    nrows = -(-len(table.blocks) // ncols)
    fig = _figure(PANEL_SIZE[0] * ncols + 2.0, PANEL_SIZE[1] * nrows)
    fig.set_layout_engine("constrained")
    labels = list(dict.fromkeys(r.shown for b in table.blocks for r in b.rows))
    cmap = colormaps["tab10" if len(labels) <= 10 else "tab20"]
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    handles: dict[str, Any] = {}
    for ax, block in zip(axes, table.blocks):
        for row in block.rows:
            ks = sorted(row.cells)
            colour = cmap(labels.index(row.shown) % cmap.N)
            (line,) = ax.plot(ks, [row.cells[k].mean for k in ks], "D--" if row.published else "o-",
                              markersize=4, color=colour, label=row.shown,
                              markerfacecolor="none" if row.test_selected else colour)
            handles.setdefault(row.shown, line)
        ax.set_title(block.title, fontsize="medium" if len(block.title) < 40 else "small")
        ax.set_xlabel("K")
        ax.set_xticks(block.ks)
        ax.grid(True, alpha=0.3)
        ax.set_ylabel(f"{table.family}@K")
    for ax in axes[len(table.blocks):]:
        ax.set_visible(False)
    fig.legend([handles[k] for k in labels], labels, loc="outside right center", fontsize="small", frameon=False)
    fig.suptitle(f"{table.family}@K over K")
    return fig


def plot_over_k(table: "PapersTable", out: str | os.PathLike[str]) -> Path:
    """Write :func:`over_k_figure` of ``table`` to the PNG ``out``; return it."""
    return _save(over_k_figure(table), Path(out))


def plot_pr(curve: Mapping[str, Any], run_dir: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Draw a precision-recall ``curve`` (``{"radius", "precision", "recall", ...}`` per Hamming radius
    0..bits, see :func:`hashbench.eval.pr_curve_of_run`) of the run in ``run_dir`` (named in the title;
    a run directory or its ``codes.npz``); write the PNG ``out``; return it."""
    run_dir = Path(run_dir)
    precision = np.asarray(curve["precision"], dtype=float)
    recall = np.asarray(curve["recall"], dtype=float)
    radius = np.asarray(curve["radius"])
    fig = _figure(5.0, 4.2)
    ax = fig.subplots()
    ax.plot(recall, precision, "o-", markersize=3)
    for r, x, y in zip(radius, recall, precision):
        if r in (0, 1, 2) or r == radius[-1]:
            ax.annotate(f"r={int(r)}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    folder = (run_dir if run_dir.is_dir() else run_dir.parent).resolve()
    ax.set_title(f"precision-recall over Hamming radius r = 0..{int(radius[-1])}\n"
                 f"{folder.parent.name}/{folder.name}; a query retrieving nothing counts as precision 0",
                 fontsize=8)
    return _save(fig, Path(out))
