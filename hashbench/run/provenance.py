"""What a run records about where its numbers come from: the results row and the run's record.

The row (one per metric in ``results.csv``, see :data:`hashbench.results.RESULT_COLUMNS`) names the
experiment, its components, the data (split, checksum, origin, skipped videos), the selected epoch, the
config hash and identity, versions, the git commit and the device. The record (``record.json``) holds
the row, the status, per-epoch logs, evaluations, timings and the dataset's provenance.
"""
from __future__ import annotations

import platform
import subprocess
from pathlib import Path
from typing import Any, Mapping, Optional

import torch

from ..config import Experiment
from ..results.rundir import now_iso
from .build import BuiltExperiment

__all__ = ["git_commit", "results_row", "new_record"]


def git_commit() -> str:
    """Short commit of the hashbench checkout (``+dirty`` when modified), or ``unknown``."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def results_row(experiment: Experiment, built: BuiltExperiment, info: Mapping[str, str], *, run_id: str, selection: str,
                config_hash: str, identity: str, device: str) -> dict[str, Any]:
    """The results row of a run (every column but ``metric``/``value``; ``time`` and ``epoch`` are set
    when it finishes). ``backbone``/``head``/``loss`` name the parts of the triple, also when a ``[method]``
    table holds them (``deep_hashing``; a baseline's frozen ``backbone``), else they are empty."""
    from .. import __version__

    return {
        "run_id": run_id, "time": "", "experiment": experiment.name, "method": experiment.method,
        "dataset": info.get("benchmark") or str(experiment.dataset["name"]), "split": info.get("split", ""),
        "data_checksum": info.get("data_checksum", ""), "backbone": str(experiment.part("backbone").get("name", "")),
        "head": str(experiment.part("head").get("name", "")), "loss": str(experiment.part("loss").get("name", "")),
        "bits": built.bits,
        "frames": int(getattr(built.dataset, "num_frames", 0) or 0), "epoch": 0, "selection": selection,
        "seed": experiment.seed, "config_hash": config_hash, "hashbench_version": __version__,
        "torch_version": torch.__version__, "git_commit": git_commit(), "device": device,
        "data_origin": info.get("data_origin", ""), "skipped": _int_or_none(info.get("skipped")),
        "config": identity,
    }


def new_record(row: dict[str, Any], built: BuiltExperiment, info: Mapping[str, str]) -> dict[str, Any]:
    """A run's ``record.json`` as it starts (status ``running``); ``clip_geometry`` when the dataset
    reports it (the optional ``clip_geometry()`` of the dataset contract)."""
    record = {
        "row": row, "status": "running", "started": now_iso(), "epochs": [], "evaluations": [],
        "timings": {}, "metrics": {}, "dataset_info": dict(info), "python": platform.python_version(),
        "class_names": [str(c) for c in getattr(built.dataset, "class_names", [])],
    }
    geometry = getattr(built.dataset, "clip_geometry", None)
    if callable(geometry):
        record["clip_geometry"] = dict(geometry())
    if built.init_from:
        record["init_from"] = dict(built.init_from)
    return record


def _int_or_none(text: Optional[str]) -> Optional[int]:
    try:
        return int(text) if text not in (None, "") else None
    except ValueError:
        return None
