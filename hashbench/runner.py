"""run_experiment(): build -> train -> encode -> evaluate -> record. Orchestration only.

A run directory ``<runs_dir>/<experiment name>/<run_id>/`` holds ``config.json`` (resolved experiment),
``record.json`` (row columns, status, per-epoch log, timings, metrics), ``log.txt``, ``checkpoint.pt``
(last epoch, atomic), ``best.pt`` (select = "val" only), ``codes.npz`` (packed query/database codes,
labels and video ids) and ``metrics.json``.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import platform
import re
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from . import __version__
from .atomic import write_text_atomic
from .config import Experiment
from .engine import (NullReporter, Precision, Reporter, device_description, encode, load_checkpoint,
                     make_loader, make_optimizer, make_scheduler, resolve_device, save_checkpoint,
                     seed_everything, train_epoch)
from .errors import ConfigError, DataError
from .model import HashModel, build_hash_model
from .registry import Registry

log = logging.getLogger(__name__)


@dataclass
class RunContext:
    """What lifecycle hooks receive: identity and location of the run."""

    run_id: str
    run_dir: Path
    experiment: Experiment
    device: str


@dataclass
class RunResult:
    """Outcome of one run: where it lives, the reported metrics and the epoch they come from."""

    run_id: str
    run_dir: Path
    metrics: dict[str, float]
    epoch: int
    selection: str
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Built:
    """Every component of an experiment, built and checked (what `hashbench validate` reports)."""

    dataset: Any
    model: HashModel
    loss: torch.nn.Module
    metrics: list[tuple[str, Any]]
    bits: int
    device: torch.device


def build_components(experiment: Experiment, registry: Registry, device: torch.device) -> Built:
    """Build dataset, model, loss and metrics with context injection; errors name the table/key."""
    bits = experiment.head.get("bits")
    if not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= 4096:
        raise ConfigError(f"{_src(experiment)}head.bits: expected an integer code length such as 48, got {bits!r}")
    context = {"seed": experiment.seed, "device": str(device), "bits": bits}
    dataset = registry.build("dataset", experiment.dataset, where="dataset", **context)
    context.update(num_classes=int(dataset.num_classes), multi_label=bool(dataset.multi_label),
                   num_frames=int(dataset.num_frames))
    model = build_hash_model(registry, experiment.backbone, experiment.head, **context)
    loss = registry.build("loss", experiment.loss, where="loss", **context)
    metrics = [registry.build_metric(spec) for spec in experiment.eval.metrics]
    return Built(dataset, model, loss, metrics, bits, device)


def _src(experiment: Experiment) -> str:
    return f"{experiment.source}: " if experiment.source else ""


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


def safe_name(name: str) -> str:
    """A file-system-safe folder name for an experiment."""
    return re.sub(r"[^A-Za-z0-9._=,+@-]+", "_", name).strip("._") or "experiment"


def _write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def find_resumable(runs_dir: Path, experiment: Experiment) -> Path:
    """Latest unfinished run directory of this experiment with the same config hash and a checkpoint."""
    folder = runs_dir / safe_name(experiment.name)
    candidates = []
    for run_dir in sorted(folder.glob("*")) if folder.is_dir() else []:
        record_path = run_dir / "record.json"
        if not (record_path.is_file() and (run_dir / "checkpoint.pt").is_file()):
            continue
        record = json.loads(record_path.read_text())
        if record.get("row", {}).get("config_hash") == experiment.config_hash() and record.get("status") != "finished":
            candidates.append(run_dir)
    if not candidates:
        raise ConfigError(f"--resume: no unfinished run of {experiment.name!r} with config hash "
                          f"{experiment.config_hash()} under {folder}; run without --resume to start one")
    return candidates[-1]


def _carve_validation(train: Dataset, fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """Split training items into (remaining train = validation database, validation queries)."""
    n = len(train)  # type: ignore[arg-type]
    n_val = max(1, int(round(n * fraction)))
    if n - n_val < 2:
        raise DataError(f"eval.val_fraction = {fraction} leaves too few training clips ({n} in all)")
    order = np.random.default_rng(seed + 7919).permutation(n)
    return Subset(train, sorted(order[n_val:].tolist())), Subset(train, sorted(order[:n_val].tolist()))


class _Evaluator:
    """Encodes query/database splits and scores them with the experiment's metrics."""

    def __init__(self, built: Built, registry: Registry, batch_size: int, num_workers: int,
                 precision: Precision, reporter: Reporter) -> None:
        self.built, self.registry = built, registry
        self.batch_size, self.num_workers = batch_size, num_workers
        self.precision, self.reporter = precision, reporter

    def codes(self, query: Dataset, database: Dataset, prefix: str) -> tuple[np.ndarray, ...]:
        model, device = self.built.model, self.built.device
        qc, ql = encode(model, query, self.batch_size, self.num_workers, device, self.precision,
                        self.reporter, f"{prefix}query")
        dc, dl = encode(model, database, self.batch_size, self.num_workers, device, self.precision,
                        self.reporter, f"{prefix}database")
        return qc, ql, dc, dl

    def score(self, qc: np.ndarray, ql: np.ndarray, dc: np.ndarray, dl: np.ndarray) -> dict[str, float]:
        from .evaluation import score_codes

        specs = [label for label, _ in self.built.metrics]
        return score_codes(self.registry, qc, ql, dc, dl, specs)


def run_experiment(experiment: Experiment, registry: Registry, *, runs_dir: Path = Path("runs"),
                   results_path: Path | None = Path("results/results.csv"), resume: bool = False,
                   reporter: Reporter | None = None) -> RunResult:
    """Train, encode and evaluate one experiment; write its run directory and results rows.

    ``results_path=None`` skips the results table. Returns the reported metrics (selected epoch).
    """
    from .codes import save_codes
    from .results import append_rows, metric_rows

    reporter = reporter or NullReporter()
    device = resolve_device(experiment.device)
    seed_everything(experiment.seed)
    built = build_components(experiment, registry, device)
    model = built.model.to(device)
    loss_fn = built.loss.to(device) if isinstance(built.loss, torch.nn.Module) else built.loss

    if resume:
        run_dir = find_resumable(runs_dir, experiment)
        run_id = run_dir.name
    else:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        run_id = f"{stamp}-{experiment.config_hash()[:8]}-{uuid.uuid4().hex[:4]}"
        run_dir = runs_dir / safe_name(experiment.name) / run_id
        run_dir.mkdir(parents=True, exist_ok=False)
    handler = logging.FileHandler(run_dir / "log.txt")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger("hashbench").addHandler(handler)
    logging.getLogger("hashbench").setLevel(logging.INFO)
    try:
        return _run(experiment, registry, built, model, loss_fn, device, run_id, run_dir, resume,
                    results_path, reporter, save_codes, append_rows, metric_rows)
    finally:
        logging.getLogger("hashbench").removeHandler(handler)
        handler.close()


def _run(experiment: Experiment, registry: Registry, built: Built, model: HashModel, loss_fn: Any,
         device: torch.device, run_id: str, run_dir: Path, resume: bool, results_path: Path | None,
         reporter: Reporter, save_codes: Any, append_rows: Any, metric_rows: Any) -> RunResult:
    train_cfg, eval_cfg = experiment.train, experiment.eval
    dataset = built.dataset
    info = {k: str(v) for k, v in dict(dataset.info()).items()}
    select_on_val = eval_cfg.select == "val"
    select_on_test = eval_cfg.select == "test"  # the original protocol: optimistic, and the row says so
    select_metric = eval_cfg.select_metric or built.metrics[0][0]
    selection = {"last": "last", "val": f"best_val:{select_metric}",
                 "test": f"best_test:{select_metric}"}[eval_cfg.select]
    row = {
        "run_id": run_id, "time": "", "experiment": experiment.name, "method": experiment.method,
        "dataset": str(experiment.dataset["name"]), "split": info.get("split", ""),
        "data_checksum": info.get("data_checksum", ""), "backbone": str(experiment.backbone["name"]),
        "head": str(experiment.head["name"]), "loss": str(experiment.loss["name"]), "bits": built.bits,
        "frames": int(dataset.num_frames), "epoch": 0, "selection": selection, "seed": experiment.seed,
        "config_hash": experiment.config_hash(), "hashbench_version": __version__,
        "torch_version": torch.__version__, "git_commit": git_commit(), "device": device_description(device),
    }
    record: dict[str, Any] = {"row": row, "status": "running", "epochs": [], "evaluations": [],
                              "timings": {}, "metrics": {}, "dataset_info": info,
                              "python": platform.python_version()}
    _write_json(run_dir / "config.json", experiment.to_dict())

    train_set = dataset.split("train")
    val_query = val_db = None
    if select_on_val:
        train_set, val_query = _carve_validation(train_set, eval_cfg.val_fraction, experiment.seed)
        val_db = train_set
    query_set, db_set = dataset.split("query"), dataset.split("database")
    optimizer = make_optimizer(model, train_cfg.optimizer.name, train_cfg.optimizer.params)
    scheduler = make_scheduler(optimizer, train_cfg.scheduler.name, train_cfg.scheduler.params,
                               train_cfg.epochs)
    precision = Precision(device, train_cfg.amp)
    eval_batch = eval_cfg.batch_size or train_cfg.batch_size
    evaluator = _Evaluator(built, registry, eval_batch, train_cfg.num_workers, precision, reporter)

    start_epoch, best = 1, {"value": -np.inf, "epoch": 0}
    if resume:
        state = load_checkpoint(run_dir / "checkpoint.pt", map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler"):
            scheduler.load_state_dict(state["scheduler"])
        if precision.scaler is not None and state.get("scaler"):
            precision.scaler.load_state_dict(state["scaler"])
        start_epoch = int(state["epoch"]) + 1
        best = {"value": float(state.get("best_value", -np.inf)), "epoch": int(state.get("best_epoch", 0))}
        previous = json.loads((run_dir / "record.json").read_text())
        record["epochs"] = previous.get("epochs", [])[: start_epoch - 1]
        record["evaluations"] = [e for e in previous.get("evaluations", []) if e["epoch"] < start_epoch]
        log.info("resuming %s from epoch %d", run_id, start_epoch)
    _write_json(run_dir / "record.json", record)

    context = RunContext(run_id, run_dir, experiment, row["device"])
    hooks = registry.plugin_manager.hook if registry.plugin_manager else None
    if hooks:
        hooks.hashbench_run_start(run=context)
    log.info("run %s: %s on %s, %d train / %d query / %d database clips", run_id, experiment.name,
             row["device"], len(train_set), len(query_set), len(db_set))
    t_train = time.perf_counter()
    last_test: tuple[int, dict[str, float], tuple[np.ndarray, ...]] | None = None
    for epoch in range(start_epoch, train_cfg.epochs + 1):
        loader = make_loader(train_set, train_cfg.batch_size, train_cfg.num_workers, device,
                             shuffle_seed=experiment.seed * 100_003 + epoch)
        stats = train_epoch(model, loss_fn, loader, optimizer, precision, device, reporter, epoch,
                            train_cfg.epochs, train_cfg.skip_zero_loss, train_cfg.grad_clip)
        lr = optimizer.param_groups[0]["lr"]
        if scheduler is not None:
            scheduler.step()
        logs = {"epoch": epoch, "loss": stats.loss, "clips_per_s": stats.clips_per_s, "seconds": stats.seconds,
                "skipped_steps": stats.skipped_steps, "lr": lr}
        record["epochs"].append(logs)
        log.info("epoch %d/%d loss %.4f (%.1f clips/s)", epoch, train_cfg.epochs, stats.loss, stats.clips_per_s)
        if epoch % train_cfg.eval_every == 0 or epoch == train_cfg.epochs:
            if select_on_val:
                scores = evaluator.score(*evaluator.codes(val_query, val_db, "val "))
                split_name = "validation"
                key = select_metric
                if scores[key] > best["value"]:
                    best = {"value": scores[key], "epoch": epoch}
                    save_checkpoint(run_dir / "best.pt", {"model": model.state_dict(), "epoch": epoch})
            else:
                codes = evaluator.codes(query_set, db_set, "")
                scores = evaluator.score(*codes)
                split_name = "test"
                last_test = (epoch, scores, codes)
                if select_on_test and scores[select_metric] > best["value"]:
                    best = {"value": scores[select_metric], "epoch": epoch}
                    save_checkpoint(run_dir / "best.pt", {"model": model.state_dict(), "epoch": epoch})
            record["evaluations"].append({"epoch": epoch, "split": split_name, "metrics": scores})
            log.info("epoch %d %s: %s", epoch, split_name, _fmt(scores))
            if hooks:
                hooks.hashbench_evaluated(run=context, epoch=epoch, split=split_name, metrics=scores)
        save_checkpoint(run_dir / "checkpoint.pt", {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else {},
            "scaler": precision.scaler.state_dict() if precision.scaler is not None else {},
            "epoch": epoch, "best_value": float(best["value"]), "best_epoch": int(best["epoch"]),
        })
        _write_json(run_dir / "record.json", record)
        if hooks:  # after the checkpoint: a hook that stops the run leaves a resumable epoch behind
            hooks.hashbench_epoch_end(run=context, epoch=epoch, logs=logs)
    record["timings"]["train_seconds"] = time.perf_counter() - t_train

    t_eval = time.perf_counter()
    if last_test is not None and last_test[0] == (best["epoch"] if select_on_test else train_cfg.epochs):
        epoch_used, metrics, codes = last_test
    elif select_on_val or select_on_test:
        model.load_state_dict(load_checkpoint(run_dir / "best.pt", map_location=device)["model"])
        epoch_used = best["epoch"]
        codes = evaluator.codes(query_set, db_set, "")
        metrics = evaluator.score(*codes)
    else:  # resumed after the last epoch's evaluation was lost
        epoch_used = train_cfg.epochs
        codes = evaluator.codes(query_set, db_set, "")
        metrics = evaluator.score(*codes)
    record["timings"]["eval_seconds"] = time.perf_counter() - t_eval
    qc, ql, dc, dl = codes
    save_codes(run_dir / "codes.npz", query_codes=qc, query_labels=ql, db_codes=dc, db_labels=dl,
               query_ids=np.asarray(dataset.video_ids("query")), db_ids=np.asarray(dataset.video_ids("database")))
    _write_json(run_dir / "metrics.json", metrics)
    row.update(time=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), epoch=epoch_used)
    rows = metric_rows(row, metrics)
    if results_path is not None:
        append_rows(results_path, rows)
    record.update(status="finished", metrics=metrics)
    _write_json(run_dir / "record.json", record)
    log.info("run %s finished: %s (epoch %d, selection %s)", run_id, _fmt(metrics), epoch_used, selection)
    if hooks:
        hooks.hashbench_run_end(run=context, metrics=metrics)
    return RunResult(run_id, run_dir, metrics, epoch_used, selection, rows)


def _fmt(metrics: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:.4f}" for k, v in metrics.items())
