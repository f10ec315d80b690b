"""CLI commands: ``hashbench leaderboard`` and ``hashbench plot bits|pr`` (thin: parse, call, print)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..config import DEFAULT_METRIC
from ..errors import ResultsError
from ._app import MARKUP, app, console, err_console

plot_app = typer.Typer(help="Plots (PNG, needs matplotlib): mAP vs bits, precision-recall curves.",
                       no_args_is_help=True, rich_markup_mode=MARKUP)
app.add_typer(plot_app, name="plot")

_METRIC = typer.Option(DEFAULT_METRIC, "--metric", "-m", help="One metric (one convention) per table, e.g."
                       " map, map@100, map_tie.")
_DATASETS = typer.Option(None, "--datasets", help="Datasets to show, comma-separated (repeatable).")
_BITS = typer.Option(None, "--bits", help="Code lengths to show, comma-separated (repeatable).")
_WHERE = typer.Option(None, "--where", help="Keep rows with COLUMN=VALUE[,VALUE] (repeatable, AND).")
_GROUP = typer.Option("method", "--group", help="Row keys, comma-separated. Default method: one row per"
                      " experiment (runs identical but for the seed), labelled by the settings that"
                      " differ; other columns (e.g. method,frames or method,epoch) group by their"
                      " values and flag cells that average different experiments with ‡.")
_RESULTS = typer.Option(None, "--results", help="Results table (default: $HASHBENCH_RESULTS or"
                        " results/results.csv).")
_PUBLISHED = typer.Option(None, "--published", help="A CSV of your own reference rows, added to the ones"
                          " shipped with hashbench (default: results/published.csv when present).")
LAYOUTS = ("board", "papers")
_LAYOUT = typer.Option("board", "--layout", help="board: experiments x (dataset, bits) for one metric."
                       " papers: the SSVH papers' table, methods x K (map_over_k@5 ... @100, or --metric's"
                       " family NAME@K), one block per dataset and code length; published rows marked †,"
                       " rows whose checkpoint was picked on the test queries §.")
_PLOT_K = typer.Option(None, "--plot-k", help="Also write the papers' curve, mAP@K over K (a panel per"
                       " dataset and code length, a line per method), to this PNG (needs matplotlib).")
_SECTIONS = typer.Option(True, "--sections/--no-sections", help="Default grouping: rows in sections by family"
                         " (supervised / unsupervised, from the method's declared needs_labels) and evaluation"
                         " protocol (tags P1, P2, ... in the legend); --no-sections: one flat list.")
_NO_PUBLISHED = typer.Option(False, "--no-published", help="Show local runs only (no shipped or added"
                             " reference rows).")


def _split(values: Optional[List[str]]) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def _bits(values: Optional[List[str]]) -> list[int]:
    out = []
    for v in _split(values):
        try:
            out.append(int(v))
        except ValueError:
            raise ResultsError(f"--bits {v!r}: not an integer (e.g. --bits 16,32,48,64)") from None
    return out


def _tables(results: Optional[Path], published: Optional[Path], no_published: bool):
    """(results rows, published rows or None, the results path)."""
    from ..results import default_results_path, read_results
    from ..results.published import LOCAL_PUBLISHED, published_rows

    if results is not None and not results.exists():
        raise ResultsError(f"results table {results} not found; check the path given to --results")
    results_path = results or default_results_path()
    pub = None
    if not no_published:
        pub = published_rows([published] if published is not None else
                             [LOCAL_PUBLISHED] if LOCAL_PUBLISHED.is_file() else [])
    return read_results(results_path), pub, results_path


def _board(metric: str, datasets: Optional[List[str]], bits: Optional[List[str]],
           where: Optional[List[str]], group: str, results: Optional[Path],
           published: Optional[Path], no_published: bool, sections: bool = True):
    from ..results.leaderboard import build_leaderboard

    frame, pub, results_path = _tables(results, published, no_published)
    board = build_leaderboard(frame, pub, metric=metric, datasets=_split(datasets), bits=_bits(bits),
                              where=_split_where(where), group=_split([group]), sections=sections)
    return board, results_path


def _papers(datasets: Optional[List[str]], bits: Optional[List[str]], where: Optional[List[str]],
            group: str, results: Optional[Path], published: Optional[Path], no_published: bool, family: str,
            sections: bool = True):
    """The papers' table (methods x K per dataset/bits) of the ``<family>@K`` metrics."""
    from ..results.board import DEFAULT_GROUP
    from ..results.papers import build_papers_table

    if tuple(_split([group])) != DEFAULT_GROUP:
        raise ResultsError(f"--group {group!r}: the papers' layout has one row per experiment; drop --group"
                           " (or use --layout board)")
    frame, pub, results_path = _tables(results, published, no_published)
    table = build_papers_table(frame, pub, family=family, datasets=_split(datasets), bits=_bits(bits),
                               where=_split_where(where), sections=sections)
    return table, results_path


def _split_where(values: Optional[List[str]]) -> list[str]:
    return [v for v in values or [] if v.strip()]


def _default_view(metric: str, datasets: Optional[List[str]], bits: Optional[List[str]],
                  where: Optional[List[str]], group: str, fmt: str, no_published: bool, sections: bool) -> bool:
    """Whether the call asks for the unfiltered default table (the one LEADERBOARD.md holds)."""
    from ..results.board import DEFAULT_GROUP

    return (metric == DEFAULT_METRIC and not _split(datasets) and not _split(bits) and not _split_where(where)
            and tuple(_split([group])) == DEFAULT_GROUP and fmt == "md" and not no_published and sections)


@app.command("leaderboard")
def leaderboard(
    metric: str = _METRIC,
    datasets: Optional[List[str]] = _DATASETS,
    bits: Optional[List[str]] = _BITS,
    fmt: str = typer.Option("md", "--format", "-f", help="md, csv, latex or html."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the table to this file (and not to"
                                       " stdout). Without --out the table is printed, and only the"
                                       " unfiltered default table (metric map, no --datasets/--bits/"
                                       "--where, default --group and sections, md, published rows included) is also"
                                       " written to LEADERBOARD.md next to the results table; a filtered"
                                       " view never overwrites that file."),
    group: str = _GROUP,
    where: Optional[List[str]] = _WHERE,
    results: Optional[Path] = _RESULTS,
    published: Optional[Path] = _PUBLISHED,
    no_published: bool = _NO_PUBLISHED,
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Run directories, for the random-codes"
                                  " reference row (scored on the labels of each column's latest run)."),
    layout: str = _LAYOUT,
    plot_k: Optional[Path] = _PLOT_K,
    sections: bool = _SECTIONS,
) -> None:
    """Pivot the results table: experiments x (dataset, bits), mean ± std over seeds, best marked, and the
    score of random codes for reference; or, with --layout papers, the SSVH papers' methods x K table."""
    from ..results.chance import add_random_reference
    from ..results.render import FORMATS, default_output, metric_caption, render, write_text_atomic

    if fmt not in FORMATS:
        raise ResultsError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if layout not in LAYOUTS:
        raise ResultsError(f"--layout {layout!r}: choose one of {', '.join(LAYOUTS)}")
    if layout == "papers" or plot_k is not None:
        _papers_output(metric, datasets, bits, where, group, results, published, no_published, fmt, out,
                       plot_k, print_table=layout == "papers", sections=sections)
        if layout == "papers":
            return
    board, results_path = _board(metric, datasets, bits, where, group, results, published, no_published, sections)
    add_random_reference(board, runs_dir)
    text = render(board, fmt, caption=metric_caption(metric), source=str(results_path))
    if out is not None:
        write_text_atomic(out, text)
        err_console.print(f"wrote {out}", style="dim", highlight=False)
        return
    typer.echo(text, nl=False)
    target = default_output(results_path, "md")
    if _default_view(metric, datasets, bits, where, group, fmt, no_published, sections):
        write_text_atomic(target, text)
        err_console.print(f"wrote {target}", style="dim", highlight=False)
    else:
        err_console.print(f"a filtered view: printed only, {target} not written (use --out FILE to save it)",
                          style="dim", highlight=False)


def _papers_output(metric: str, datasets: Optional[List[str]], bits: Optional[List[str]],
                   where: Optional[List[str]], group: str, results: Optional[Path], published: Optional[Path],
                   no_published: bool, fmt: str, out: Optional[Path], plot_k: Optional[Path],
                   print_table: bool, sections: bool = True) -> None:
    """The papers' table (printed, or written to ``out``) and/or its curve (``plot_k``)."""
    from ..results.render import render_papers, write_text_atomic

    from ..results.papers import PAPERS_FAMILY

    # --metric names the family only in the papers' layout (in the board layout it is the board's metric)
    family = metric if print_table and metric != DEFAULT_METRIC else PAPERS_FAMILY
    table, results_path = _papers(datasets, bits, where, group, results, published, no_published, family, sections)
    if plot_k is not None:
        from ..results.plots import plot_over_k

        err_console.print(f"wrote {plot_over_k(table, plot_k)}", style="dim", highlight=False)
    if not print_table:
        return
    text = render_papers(table, fmt, source=str(results_path))
    if out is not None:
        write_text_atomic(out, text)
        err_console.print(f"wrote {out}", style="dim", highlight=False)
    else:
        typer.echo(text, nl=False)


@plot_app.command("bits")
def plot_bits_cmd(
    metric: str = _METRIC,
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Directory for the PNG (default:"
                                       " next to the results table)."),
    datasets: Optional[List[str]] = _DATASETS,
    bits: Optional[List[str]] = _BITS,
    group: str = _GROUP,
    where: Optional[List[str]] = _WHERE,
    results: Optional[Path] = _RESULTS,
    published: Optional[Path] = _PUBLISHED,
    no_published: bool = _NO_PUBLISHED,
) -> None:
    """Metric vs code length: a panel per dataset column, a line per comparable series (one experiment)."""
    from ..results.plots import plot_bits

    board, results_path = _board(metric, datasets, bits, where, group, results, published, no_published)
    path = plot_bits(board, out or Path(results_path).parent)
    console.print(f"wrote {path}", highlight=False)


@plot_app.command("pr")
def plot_pr_cmd(
    run_dir: Path = typer.Argument(..., help="A run directory runs/<experiment>/<run_id> with codes.npz."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG file (default:"
                                       " pr_<run_id>.png next to the results table)."),
    results: Optional[Path] = _RESULTS,
) -> None:
    """Precision-recall curve over Hamming radii from a run's stored codes."""
    from ..eval.rescore import pr_curve_of_run
    from ..results.plots import plot_pr
    from ..results import default_results_path

    target = out or (Path(results or default_results_path()).parent / f"pr_{run_dir.name}.png")
    path = plot_pr(pr_curve_of_run(run_dir), run_dir, target)
    console.print(f"wrote {path}", highlight=False)
