"""Scoring a finished run again from its stored codes (no retraining): ``hashbench eval``, ``plot pr``."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..codes import load_codes
from ..config import DEFAULT_METRIC
from ..errors import DataError
from ..results import RESULT_COLUMNS, append_rows, metric_rows
from ..results.rundir import RunDir, now_iso
from .evaluation import Evaluation, evaluate
from .metrics import pr_curve
from .ranking import compute_stats

__all__ = ["rescore_run", "pr_curve_of_run"]


def rescore_run(run_dir: Any, metrics: Sequence[str | Mapping[str, Any]] | None = None, *,
                registry: Any = None, results_path: Any = None, device: Any = "auto",
                block: int | None = None) -> tuple[Evaluation, list[dict[str, Any]]]:
    """Re-score a finished run's ``codes.npz`` (no retraining); rows carry the run's id.

    ``metrics`` default to the run's ``[eval] metrics`` (``config.json``). The rows are the run's
    ``record.json["row"]`` with ``time`` set to now, one per metric; they are appended to
    ``results_path`` when given. Returns ``(evaluation, rows)``.
    """
    run = RunDir(Path(run_dir)).require("run directory")
    if not run.codes_path.is_file():
        raise DataError(f"{run.path}: no codes.npz; only finished runs can be re-scored")
    record = run.read_record()
    base = record.get("row")
    if not isinstance(base, dict):
        raise DataError(f"{run.record_path}: has no 'row' object")
    if metrics is None or not len(metrics):
        config = run.read_config() if run.config_path.is_file() else {}
        metrics = list(config.get("eval", {}).get("metrics") or [DEFAULT_METRIC])
    if registry is None:
        from .. import registry as load_default_registry

        registry = load_default_registry()
    codes = load_codes(run.codes_path)
    evaluation = evaluate(registry, codes["query_codes"], codes["query_labels"], codes["db_codes"],
                          codes["db_labels"], metrics, device=device, block=block)
    row = {column: base.get(column, "") for column in RESULT_COLUMNS if column not in ("metric", "value")}
    row["time"] = now_iso()
    rows = metric_rows(row, evaluation.values)
    if results_path is not None:
        append_rows(results_path, rows)
    return evaluation, rows


def pr_curve_of_run(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Precision-recall over Hamming radii 0..bits (:func:`hashbench.eval.metrics.pr_curve`) of a run's
    stored codes; ``run_dir`` is a run directory, or a ``codes.npz`` file itself."""
    path = Path(run_dir)
    codes_path = RunDir(path).codes_path if path.is_dir() else path
    if not codes_path.is_file():
        raise DataError(f"no codes at {codes_path}; pass a run directory runs/<experiment>/<run_id>"
                        " that holds codes.npz")
    codes = load_codes(codes_path)
    stats = compute_stats(codes["query_codes"], codes["query_labels"], codes["db_codes"], codes["db_labels"])
    return pr_curve(stats)
