"""The run directory: one owner of its layout, its record and its status.

``<runs_dir>/<experiment name>/<run_id>/`` holds:

==================  =====================================================================================
``config.json``     the resolved experiment
``record.json``     status, the results row columns, per-epoch log, evaluations, timings, metrics, error
``log.txt``         the run's log
``checkpoint.pt``   last epoch: model, optimizer, scheduler, loss state (while the run is unfinished)
``best.pt``         the best epoch's model (``select = "val"``/``"test"``; while unfinished)
``model.pt``        the reported epoch's model weights (a finished run; used by ``search --video``)
``codes.npz``       packed query/database codes, labels and video ids (a finished run)
``metrics.json``    the reported metrics (a finished run)
``index-*.faiss``   FAISS indexes of the database codes, built by ``hashbench search`` (one per kind)
==================  =====================================================================================

A finished run keeps ``model.pt`` and drops ``checkpoint.pt``/``best.pt`` (optimizer state is only
needed to resume). ``status`` in ``record.json`` is one of :data:`STATUSES`; a run is never left
``running`` by hashbench: a failure marks it ``failed`` (with the message, phase, epoch and time),
SIGINT/SIGTERM ``interrupted`` (both resumable with ``--resume``).
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

from ..atomic import write_text_atomic
from ..errors import DataError
from ..failures import os_error

log = logging.getLogger(__name__)

__all__ = ["RunDir", "RunSummary", "STATUSES", "safe_name", "iter_runs", "now_iso", "read_json", "write_json", "mark",
           "summarize"]

STATUSES = ("running", "finished", "failed", "interrupted")


def safe_name(name: str) -> str:
    """A file-system-safe folder name for an experiment."""
    return re.sub(r"[^A-Za-z0-9._=,+@-]+", "_", name).strip("._") or "experiment"


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def read_json(path: Path, what: str = "") -> dict[str, Any]:
    """A JSON object from ``path``; DataError naming the file when missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: missing{f' ({what})' if what else ''}") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not readable JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object")
    return data


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented JSON, written atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


@dataclass(frozen=True)
class RunDir:
    """A run directory (see the module docstring for its files)."""

    path: Path

    CONFIG = "config.json"
    RECORD = "record.json"
    LOG = "log.txt"
    CHECKPOINT = "checkpoint.pt"
    BEST = "best.pt"
    MODEL = "model.pt"
    CODES = "codes.npz"
    METRICS = "metrics.json"

    @classmethod
    def for_run(cls, runs_dir: Path, experiment_name: str, run_id: str) -> "RunDir":
        """``<runs_dir>/<safe experiment name>/<run_id>``, not created."""
        return cls(Path(runs_dir) / safe_name(experiment_name) / run_id)

    @classmethod
    def create(cls, runs_dir: Path, experiment_name: str, config_hash: str) -> "RunDir":
        """A new, empty run directory; its id is ``<YYYYmmdd-HHMMSS>-<config hash[:8]>-<4 random hex>``.

        ResourceError naming the path when it cannot be made (a full disk, no permission).
        """
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run = cls.for_run(runs_dir, experiment_name, f"{stamp}-{config_hash[:8]}-{uuid.uuid4().hex[:4]}")
        try:
            run.path.mkdir(parents=True, exist_ok=False)
        except OSError as exc:
            raise os_error(exc, "while creating the run directory", path=run.path) from exc
        return run

    @property
    def run_id(self) -> str:
        return self.path.name

    def file(self, name: str) -> Path:
        """The path of one of the files named by the class constants."""
        return self.path / name

    @property
    def config_path(self) -> Path:
        return self.path / self.CONFIG

    @property
    def record_path(self) -> Path:
        return self.path / self.RECORD

    @property
    def checkpoint_path(self) -> Path:
        return self.path / self.CHECKPOINT

    @property
    def best_path(self) -> Path:
        return self.path / self.BEST

    @property
    def model_path(self) -> Path:
        return self.path / self.MODEL

    @property
    def codes_path(self) -> Path:
        return self.path / self.CODES

    @property
    def metrics_path(self) -> Path:
        return self.path / self.METRICS

    @property
    def log_path(self) -> Path:
        return self.path / self.LOG

    def index_path(self, kind: str) -> Path:
        """``index-<kind>.faiss``: a FAISS index of the database codes (``hashbench search``)."""
        return self.path / f"index-{kind}.faiss"

    def exists(self) -> bool:
        return self.path.is_dir()

    def require(self, what: str = "a run directory") -> "RunDir":
        """Self, or DataError when the folder does not exist."""
        if not self.exists():
            raise DataError(f"{self.path}: {what} not found (runs live in runs/<experiment>/<run_id>/)")
        return self

    def read_record(self) -> dict[str, Any]:
        return read_json(self.record_path, "the run's record")

    def write_record(self, record: dict[str, Any]) -> None:
        write_json(self.record_path, record)

    def read_config(self) -> dict[str, Any]:
        return read_json(self.config_path, "the run's resolved experiment")

    def weights_path(self) -> Path:
        """The file holding the reported model: ``model.pt``, else (runs of hashbench 0.1) ``best.pt``
        for validation-selected runs or ``checkpoint.pt``."""
        if self.model_path.is_file():
            return self.model_path
        record = self.read_record() if self.record_path.is_file() else {}
        selection = str(record.get("row", {}).get("selection", "last"))
        return self.best_path if selection.startswith("best_") and self.best_path.is_file() \
            else self.checkpoint_path

    def status(self) -> str:
        """The recorded status (``unknown`` when the record cannot be read)."""
        try:
            return str(self.read_record().get("status", "unknown"))
        except DataError:
            return "unknown"


def iter_runs(runs_dir: Path) -> Iterator[RunDir]:
    """Every run directory (one holding ``record.json``) under ``runs_dir``, sorted by path."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return
    for record in sorted(runs_dir.glob(f"*/*/{RunDir.RECORD}")):
        yield RunDir(record.parent)


def mark(run: RunDir, record: dict[str, Any], status: str, detail: Optional[dict[str, Any]] = None) -> None:
    """Set ``record['status']`` (and ``record[status]`` = ``detail``) and write it, best effort.

    Used on the way out of a failing run: when even this write fails (a full disk), it is logged.
    """
    record["status"] = status
    if detail is not None:
        record[status if status != "failed" else "error"] = detail
    try:
        run.write_record(record)
    except OSError as exc:
        log.error("could not record status %r in %s: %s", status, run.record_path, exc)


@dataclass(frozen=True)
class RunSummary:
    """One line of ``hashbench runs``: identity, status, progress, main metric and where it lives."""

    run_id: str
    experiment: str
    status: str
    epoch: int
    epochs: Optional[int]
    metric: str
    value: Optional[float]
    started: str
    path: Path
    message: str = ""


def summarize(run: RunDir) -> RunSummary:
    """What a run's ``record.json`` (and ``config.json``) say about it; unreadable records say so."""
    try:
        record = run.read_record()
    except DataError as exc:
        return RunSummary(run.run_id, run.path.parent.name, "unreadable", 0, None, "", None, "", run.path,
                          str(exc))
    try:
        config = run.read_config()
    except DataError:
        config = {}
    row = record.get("row", {})
    epochs_done = [int(e.get("epoch", 0)) for e in record.get("epochs", []) if isinstance(e, dict)]
    total = config.get("train", {}).get("epochs") if isinstance(config.get("train"), dict) else None
    metrics = record.get("metrics") or {}
    evaluations = record.get("evaluations") or []
    if not metrics and evaluations:
        metrics = evaluations[-1].get("metrics", {})
    name, value = next(iter(metrics.items()), ("", None))
    status = str(record.get("status", "unknown"))
    detail = record.get("error") if status == "failed" else record.get("interrupted") if status == "interrupted" else None
    message = ""
    if isinstance(detail, dict):
        message = str(detail.get("message") or f"{detail.get('signal', '')} {detail.get('phase', '')}").strip()
    return RunSummary(run.run_id, str(row.get("experiment") or run.path.parent.name), status,
                      max(epochs_done, default=0), int(total) if isinstance(total, int) else None, str(name),
                      float(value) if isinstance(value, (int, float)) else None,
                      str(record.get("started", "")), run.path, message)
