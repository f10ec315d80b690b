"""``hashbench score`` (codes from anywhere), ``hashbench eval`` (re-score a run), ``hashbench search``."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.table import Table

from ..config import DEFAULT_METRIC
from ..errors import DataError
from ._app import app, console

_METRICS_HELP = ("Metric spec, repeatable: map, map@100, map_over_k@100, map_tie, map_tie@100,"
                 " precision@100, recall@100, precision@r2, recall@r2 (see `hashbench plugins -k metric`).")
_DEVICE_HELP = "auto (CUDA for large jobs when available), cpu or cuda[:N]."


def _fmt(value: float) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def _print_evaluation(evaluation: Any, title: str) -> None:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("undefined queries", justify="right")
    table.add_column("convention")
    for label, value in evaluation.values.items():
        detail = evaluation.details.get(label, {})
        undefined = detail.get("undefined")
        reason = detail.get("undefined_reason") or ""
        cell = "-" if undefined is None else (f"{undefined} ({reason})" if undefined and reason else str(undefined))
        table.add_row(label, _fmt(value), cell, detail.get("convention", ""))
    console.print(table)
    relevance = "multi-label (share a positive)" if evaluation.multi_label else "single-label (same class)"
    console.print(f"{evaluation.n_queries} queries x {evaluation.n_db} database items, {evaluation.bits} bits,"
                  f" {relevance}; {evaluation.queries_without_relevant} queries without any relevant item",
                  highlight=False)


def _looks_packed(arr: Any) -> bool:
    """Unsigned 8/64-bit integers above 1: packed bytes or words, not ±1/0-1 codes."""
    return arr.dtype.kind == "u" and arr.dtype.itemsize in (1, 8) and arr.ndim == 2 and arr.size > 0 \
        and int(arr.max()) > 1


def _load_codes_arg(spec: str, role: str, bits: Optional[int]) -> Any:
    from ..codes import load_array, pack_codes

    arr, stored_bits = load_array(spec, role)
    if bits is None and stored_bits is None and _looks_packed(arr):
        raise DataError(f"{spec}: {arr.dtype} values above 1 look like packed codes, whose length the file"
                        " does not store; pass it with --bits N (e.g. --bits 64), or name a hashbench codes"
                        " file as FILE.npz:KEY (e.g. runs/<experiment>/<run_id>/codes.npz:query_codes),"
                        " which stores its bits")
    return pack_codes(arr, bits=bits or stored_bits, what=f"{spec} ({role.replace('_', ' ')})")


@app.command("score")
def score(
    query_codes: str = typer.Option(..., "--query-codes", help="Query codes: FILE.npy, FILE.npz or FILE.npz:KEY"
                                    " ((N, bits) ±1 / 0-1 / real values -> sign, or packed with --bits)."),
    query_labels: str = typer.Option(..., "--query-labels", help="Query labels: (N,) class ids or (N, C) multi-hot."),
    db_codes: str = typer.Option(..., "--db-codes", help="Database codes (same forms as --query-codes)."),
    db_labels: str = typer.Option(..., "--db-labels", help="Database labels."),
    metric: List[str] = typer.Option([DEFAULT_METRIC], "--metric", "-m", help=_METRICS_HELP),
    bits: Optional[int] = typer.Option(None, "--bits", min=1, help="Code length, for packed uint8/uint64 codes."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    device: str = typer.Option("auto", "--device", help=_DEVICE_HELP),
) -> None:
    """Score binary codes produced anywhere by Hamming ranking; prints a table (or JSON)."""
    from .. import registry
    from ..codes import load_labels
    from ..eval.evaluation import evaluate

    qc = _load_codes_arg(query_codes, "query_codes", bits)
    dc = _load_codes_arg(db_codes, "db_codes", bits)
    ql = load_labels(query_labels, "query_labels", qc.n)
    dl = load_labels(db_labels, "db_labels", dc.n)
    evaluation = evaluate(registry(), qc, ql, dc, dl, metric, device=device)
    if json_out:
        typer.echo(json.dumps(evaluation.to_dict(), indent=2))
    else:
        _print_evaluation(evaluation, "hashbench score")


@app.command("eval")
def eval_(
    run_dir: Path = typer.Argument(..., help="A finished run directory, runs/<experiment>/<run_id>."),
    metric: Optional[List[str]] = typer.Option(None, "--metric", "-m",
                                               help=_METRICS_HELP + " Default: the run's [eval] metrics."),
    results: Optional[Path] = typer.Option(None, "--results", help="Results table [default:"
                                           " $HASHBENCH_RESULTS or results/results.csv]."),
    no_append: bool = typer.Option(False, "--no-append", help="Only print; do not append rows."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    device: str = typer.Option("auto", "--device", help=_DEVICE_HELP),
) -> None:
    """Re-score a finished run's stored codes (no retraining); append rows with the same run id."""
    from ..eval.rescore import rescore_run
    from ..results import default_results_path

    results_path = None if no_append else (results or default_results_path())
    evaluation, rows = rescore_run(run_dir, metric or None, results_path=results_path, device=device)
    if json_out:
        out = evaluation.to_dict()
        out.update(run_id=rows[0]["run_id"] if rows else None,
                   appended_to=str(results_path) if results_path else None)
        typer.echo(json.dumps(out, indent=2))
        return
    run_id = rows[0]["run_id"] if rows else run_dir.name
    _print_evaluation(evaluation, f"hashbench eval {run_id}")
    if results_path is not None:
        console.print(f"{len(rows)} rows appended to {results_path}", highlight=False)


@app.command("search")
def search(
    run_dir: Path = typer.Argument(..., help="A finished run directory, runs/<experiment>/<run_id>."),
    query_id: Optional[List[str]] = typer.Option(None, "--id", "-q", help="Video id of the run (query split,"
                                                 " else database); repeatable."),
    video: Optional[List[Path]] = typer.Option(None, "--video", help="Video file, encoded with the run's model;"
                                               " repeatable."),
    k: int = typer.Option(10, "--top-k", "-k", min=1, help="Results per query."),
    index: str = typer.Option("flat", "--index", help="flat (exact, default), hash or ivf (approximate)."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Rebuild and save the index even if present."),
    nlist: Optional[int] = typer.Option(None, "--nlist", min=1, help="ivf: number of cells [sqrt(N)]."),
    nprobe: Optional[int] = typer.Option(None, "--nprobe", min=1, help="ivf: cells probed [min(nlist, 8)]."),
    hash_bits: Optional[int] = typer.Option(None, "--hash-bits", min=1, help="hash: bits hashed [min(bits, 16)]."),
    list_: bool = typer.Option(False, "--list", help="List the run's video ids (query and database) with"
                               " their labels and class names, then exit."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    device: str = typer.Option("cpu", "--device", help="Where to encode --video files (cpu or cuda)."),
    threads: int = typer.Option(1, "--threads", min=1, help="FAISS OpenMP threads (1: single queries are"
                                " latency-bound; more threads only add synchronisation)."),
) -> None:
    """Top-k retrieval over a run's database with a FAISS binary index (built and saved on first use)."""
    from ..errors import HashbenchError
    from ..eval.search import RunSearch, RunVideos, import_faiss, label_text

    if list_:
        videos = RunVideos(run_dir).listing()
        if json_out:
            typer.echo(json.dumps(videos, indent=2))
            return
        listing = Table(title=f"{run_dir}: {len(videos)} videos")
        for column in ("split", "id", "label"):
            listing.add_column(column)
        for video in videos:
            listing.add_row(video["split"], video["id"], video["class"])
        console.print(listing)
        return
    if not query_id and not video:
        raise HashbenchError("search: give --id VIDEO_ID or --video FILE (see the run's ids with --list)")
    import_faiss().omp_set_num_threads(threads)
    params = {key: value for key, value in (("nlist", nlist), ("nprobe", nprobe), ("hash_bits", hash_bits))
              if value is not None}
    searcher = RunSearch(run_dir, index, rebuild=rebuild, **params)
    answers = searcher.query_ids(query_id or [], k) + searcher.query_videos(video or [], k, device=device)
    if json_out:
        typer.echo(json.dumps({
            "index": str(searcher.index_path), "built": searcher.built,
            "queries": [{"query": a["query"], "label": a["label"],
                         "hits": [vars(h) for h in a["hits"]]} for a in answers],
        }, indent=2))
        return
    state = "built and saved" if searcher.built else "loaded"
    console.print(f"index {searcher.index_path} ({index}, {searcher.index.ntotal} codes) {state}",
                  highlight=False)
    for answer in answers:
        label = "" if answer["label"] is None else f" (label {label_text(answer['label'], searcher.class_names)})"
        table = Table(title=f"{answer['query']}{label}: top {k}")
        for column in ("rank", "id", "label", "distance", "relevant"):
            table.add_column(column, justify="right" if column in ("rank", "distance") else "left")
        for hit in answer["hits"]:
            relevant = "" if hit.relevant is None else ("yes" if hit.relevant else "no")
            table.add_row(str(hit.rank), hit.id, label_text(hit.label, searcher.class_names), str(hit.distance),
                          relevant)
        console.print(table)
