"""run_experiment(): build -> check -> train -> encode -> evaluate -> record. Orchestration only.

Everything that can fail on bad input (plugins, data, contract, results table) is built and checked
before the run directory exists, so such a failure leaves nothing behind. Once the directory exists
(see :mod:`hashbench.rundir` for its files) the run ends ``finished``, ``failed`` (with the message,
phase, epoch and time) or ``interrupted`` (SIGINT/SIGTERM), never ``running``. Exceptions from plugin
code, the disk or memory are explained as one-line :class:`~hashbench.errors.HashbenchError`
(:mod:`hashbench.failures`); anything else is a bug and propagates as it is.
"""
from __future__ import annotations

import logging
import platform
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from . import __version__
from .checks import check_batch
from .config import Experiment
from .engine import (NullReporter, Position, Precision, Reporter, device_description, drops_last_batch,
                     encode, load_checkpoint, load_state_strict, make_loader, make_optimizer, make_scheduler,
                     resolve_device, save_checkpoint, seed_everything, train_epoch)
from .errors import CheckpointError, ConfigError, ContractError, DataError, HashbenchError, RunInterrupted
from .failures import component_refs, explain, plugin_refs
from .identity import experiment_identity, identity_json
from .model import HashModel, build_hash_model
from .registry import Registry
from .rundir import RunDir, iter_runs, mark, now_iso, safe_name, write_json

log = logging.getLogger(__name__)

__all__ = ["RunContext", "RunResult", "Built", "build_components", "run_experiment", "find_resumable",
           "git_commit", "safe_name"]


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
    appended: int = 0


@dataclass
class Built:
    """Every component of an experiment, built and checked (what `hashbench validate` reports)."""

    dataset: Any
    model: HashModel
    loss: torch.nn.Module
    metrics: list[tuple[str, Any]]
    bits: int
    device: torch.device
    components: list[ComponentRef] = field(default_factory=list)


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
    refs = component_refs(registry, [("dataset", experiment.dataset["name"], dataset),
                                     ("backbone", experiment.backbone["name"], model.backbone),
                                     ("head", experiment.head["name"], model.head),
                                     ("loss", experiment.loss["name"], loss)])
    return Built(dataset, model, loss, metrics, bits, device, refs + plugin_refs(registry.plugin_manager))


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


def find_resumable(runs_dir: Path, experiment: Experiment) -> RunDir:
    """Latest unfinished run directory of this experiment with the same config hash.

    It resumes from its checkpoint, or from epoch 1 when it stopped before writing one.
    """
    folder = Path(runs_dir) / safe_name(experiment.name)
    candidates = []
    for run in iter_runs(Path(runs_dir)):
        if run.path.parent != folder:
            continue
        try:
            record = run.read_record()
        except DataError:
            continue
        if record.get("row", {}).get("config_hash") == experiment.config_hash() and record.get("status") != "finished":
            candidates.append(run)
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


@dataclass
class _Splits:
    """The datasets a run reads: training clips, test query/database, validation query/database."""

    train: Dataset
    query: Dataset
    database: Dataset
    val_query: Optional[Dataset] = None
    val_database: Optional[Dataset] = None

    @classmethod
    def load(cls, dataset: Any, experiment: Experiment) -> "_Splits":
        train = dataset.split("train")
        query, database = dataset.split("query"), dataset.split("database")
        if experiment.eval.select == "val":
            train, val_query = _carve_validation(train, experiment.eval.val_fraction, experiment.seed)
            return cls(train, query, database, val_query, train)
        return cls(train, query, database)


class _Evaluator:
    """Encodes query/database splits and scores them with the experiment's metrics; times itself."""

    def __init__(self, built: Built, registry: Registry, batch_size: int, num_workers: int,
                 precision: Precision, reporter: Reporter, position: Position) -> None:
        self.built, self.registry = built, registry
        self.batch_size, self.num_workers = batch_size, num_workers
        self.precision, self.reporter, self.position = precision, reporter, position
        self.seconds = 0.0

    def codes(self, query: Dataset, database: Dataset, prefix: str) -> tuple[np.ndarray, ...]:
        start = time.perf_counter()
        model, device = self.built.model, self.built.device
        self.position.phase = f"encoding the {prefix}query split"
        qc, ql = encode(model, query, self.batch_size, self.num_workers, device, self.precision,
                        self.reporter, f"{prefix}query")
        self.position.phase = f"encoding the {prefix}database split"
        dc, dl = encode(model, database, self.batch_size, self.num_workers, device, self.precision,
                        self.reporter, f"{prefix}database")
        self.seconds += time.perf_counter() - start
        return qc, ql, dc, dl

    def score(self, qc: np.ndarray, ql: np.ndarray, dc: np.ndarray, dl: np.ndarray) -> dict[str, float]:
        from .evaluation import score_codes

        start = time.perf_counter()
        self.position.phase = "evaluating"
        specs = [label for label, _ in self.built.metrics]
        scores = score_codes(self.registry, qc, ql, dc, dl, specs)
        self.seconds += time.perf_counter() - start
        return scores


def _preflight(built: Built, splits: _Splits) -> None:
    """Forward two query clips through backbone, head and loss one by one (contract check, no grad)."""
    n = len(splits.query)  # type: ignore[arg-type]
    if n < 2:
        raise DataError(f"the query split has {n} clip(s); at least 2 are needed")
    items = [splits.query[i] for i in (0, 1)]
    clips = torch.stack([torch.as_tensor(c) for c, _ in items]).to(built.device)
    labels = torch.stack([torch.as_tensor(label) for _, label in items]).to(built.device)
    if clips.dtype != torch.uint8 or clips.dim() != 5 or clips.shape[1] != 3:
        raise ContractError(f"{built.components[0].describe()} gave clips {tuple(clips.shape[1:])}"
                            f" {clips.dtype}; the contract is uint8 (3, T, H, W)")
    with torch.random.fork_rng(devices=[]):
        check_batch(built.model, built.loss, clips, labels, built.bits, built.components, backward=False)


def run_experiment(experiment: Experiment, registry: Registry, *, runs_dir: Path = Path("runs"),
                   results_path: Path | None = Path("results/results.csv"), resume: bool = False,
                   reporter: Reporter | None = None) -> RunResult:
    """Train, encode and evaluate one experiment; write its run directory and results rows.

    ``results_path=None`` skips the results table. Returns the reported metrics (selected epoch).
    Raises HashbenchError (the run, if it started, is marked ``failed``) or RunInterrupted (marked
    ``interrupted``); any other exception is a bug (the run is marked ``failed`` too).
    """
    from .results import check_table

    reporter = reporter or NullReporter()
    if results_path is not None:
        check_table(results_path)
    device = resolve_device(experiment.device)
    seed_everything(experiment.seed)
    built = build_components(experiment, registry, device)
    built.model.to(device)
    if isinstance(built.loss, torch.nn.Module):
        built.loss.to(device)
    try:
        splits = _Splits.load(built.dataset, experiment)
        _preflight(built, splits)
        info = {k: str(v) for k, v in dict(built.dataset.info()).items()}
    except HashbenchError:
        raise
    except Exception as exc:
        explained = explain(exc, built.components, "while loading the data")
        if explained is None:
            raise
        raise explained from exc
    identity = identity_json(experiment_identity(experiment, registry))
    run = find_resumable(runs_dir, experiment) if resume else _new_run_dir(runs_dir, experiment)
    session = _Session(experiment, registry, built, splits, info, identity, run, results_path, reporter)
    return session.execute(resume)


def _new_run_dir(runs_dir: Path, experiment: Experiment) -> RunDir:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run = RunDir.for_run(runs_dir, experiment.name, f"{stamp}-{experiment.config_hash()[:8]}-{uuid.uuid4().hex[:4]}")
    try:
        run.path.mkdir(parents=True, exist_ok=False)
    except OSError as exc:
        from .failures import os_error

        raise os_error(exc, "while creating the run directory", path=run.path) from exc
    return run


class _Session:
    """One run in its directory: the record, the training loop, epoch selection and the final rows."""

    def __init__(self, experiment: Experiment, registry: Registry, built: Built, splits: _Splits,
                 info: dict[str, str], identity: str, run: RunDir, results_path: Path | None,
                 reporter: Reporter) -> None:
        self.experiment, self.registry, self.built, self.splits = experiment, registry, built, splits
        self.run, self.results_path, self.reporter = run, results_path, reporter
        self.position = Position()
        ev = experiment.eval
        self.select_metric = ev.select_metric or built.metrics[0][0]
        self.selection = {"last": "last", "val": f"best_val:{self.select_metric}",
                          "test": f"best_test:{self.select_metric}"}[ev.select]
        device_text = device_description(built.device)
        self.row: dict[str, Any] = {
            "run_id": run.run_id, "time": "", "experiment": experiment.name, "method": experiment.method,
            "dataset": str(experiment.dataset["name"]), "split": info.get("split", ""),
            "data_checksum": info.get("data_checksum", ""), "backbone": str(experiment.backbone["name"]),
            "head": str(experiment.head["name"]), "loss": str(experiment.loss["name"]), "bits": built.bits,
            "frames": int(built.dataset.num_frames), "epoch": 0, "selection": self.selection,
            "seed": experiment.seed, "config_hash": experiment.config_hash(), "hashbench_version": __version__,
            "torch_version": torch.__version__, "git_commit": git_commit(), "device": device_text,
            "data_origin": info.get("data_origin", ""), "skipped": _int_or_none(info.get("skipped")),
            "config": identity,
        }
        self.record: dict[str, Any] = {
            "row": self.row, "status": "running", "started": now_iso(), "epochs": [], "evaluations": [],
            "timings": {}, "metrics": {}, "dataset_info": info, "python": platform.python_version(),
            "class_names": [str(c) for c in getattr(built.dataset, "class_names", [])],
        }
        self.context = RunContext(run.run_id, run.path, experiment, device_text)
        self.hooks = registry.plugin_manager.hook if registry.plugin_manager else None

    # -- lifecycle ----------------------------------------------------------------------------------
    def execute(self, resume: bool) -> RunResult:
        handler = logging.FileHandler(self.run.log_path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger = logging.getLogger("hashbench")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            return self._execute(resume)
        except KeyboardInterrupt as exc:
            signal_name = getattr(exc, "signal_name", "SIGINT")
            mark(self.run, self.record, "interrupted",
                 {"epoch": self.position.epoch, "phase": self.position.phase, "time": now_iso(),
                  "signal": signal_name})
            log.warning("run %s interrupted (%s) %s", self.run.run_id, signal_name, self.position.describe())
            raise RunInterrupted(f"interrupted in epoch {self.position.epoch}", epoch=self.position.epoch,
                                 run_dir=self.run.path, signal_name=signal_name) from None
        except BaseException as exc:
            explained = explain(exc, self.built.components, self.position.describe(),
                                self.experiment.train.batch_size)
            message = str(explained) if explained is not None else f"{type(exc).__name__}: {exc}"
            mark(self.run, self.record, "failed",
                 {"message": message, "type": type(explained or exc).__name__, "phase": self.position.phase,
                  "epoch": self.position.epoch, "step": self.position.step, "time": now_iso()})
            log.error("run %s failed %s: %s", self.run.run_id, self.position.describe(), message)
            if explained is None:
                raise
            explained.run_dir, explained.epoch = self.run.path, self.position.epoch
            if explained is exc:
                raise
            raise explained from exc
        finally:
            logger.removeHandler(handler)
            handler.close()

    def _execute(self, resume: bool) -> RunResult:
        exp, built = self.experiment, self.built
        train_cfg = exp.train
        write_json(self.run.config_path, exp.to_dict())
        optimizer = make_optimizer(built.model, train_cfg.optimizer.name, train_cfg.optimizer.params)
        scheduler = make_scheduler(optimizer, train_cfg.scheduler.name, train_cfg.scheduler.params,
                                   train_cfg.epochs)
        precision = Precision(built.device, train_cfg.amp)
        evaluator = _Evaluator(built, self.registry, exp.eval.batch_size or train_cfg.batch_size,
                               train_cfg.num_workers, precision, self.reporter, self.position)
        state = _TrainState(optimizer, scheduler, precision)
        if resume:
            self._restore(state)
        self.record["status"] = "running"
        self.record.pop("error", None)
        self.record.pop("interrupted", None)
        self.run.write_record(self.record)
        if self.hooks:
            self.hooks.hashbench_run_start(run=self.context)
        n_train = len(self.splits.train)  # type: ignore[arg-type]
        log.info("run %s: %s on %s, %d train / %d query / %d database clips", self.run.run_id, exp.name,
                 self.row["device"], n_train, len(self.splits.query), len(self.splits.database))
        if drops_last_batch(n_train, train_cfg.batch_size):
            self._note(f"each epoch drops its last training batch of {n_train % train_cfg.batch_size} clip"
                       f" ({n_train} clips, batch_size {train_cfg.batch_size}): BatchNorm and pairwise losses"
                       " need at least 2")
        t_train = time.perf_counter()
        for epoch in range(state.start_epoch, train_cfg.epochs + 1):
            self._epoch(epoch, state, evaluator)
        self.record["timings"]["train_seconds"] = time.perf_counter() - t_train - evaluator.seconds
        return self._finish(state, evaluator)

    # -- steps ----------------------------------------------------------------------------------------
    def _restore(self, state: "_TrainState") -> None:
        """Load the checkpoint of the run being resumed (every piece must fit this experiment); a run
        stopped before its first checkpoint starts again from epoch 1 in its directory."""
        path = self.run.checkpoint_path
        self.position.phase = "resuming"
        previous = self.run.read_record()
        self.record["resumed"] = previous.get("resumed", []) + [{"time": now_iso()}]
        if not path.is_file():
            self.record["resumed"][-1]["from_epoch"] = 1
            self._note(f"resumed run {self.run.run_id} from epoch 1 (it stopped before its first checkpoint)")
            return
        saved = load_checkpoint(path, map_location=self.built.device)
        load_state_strict(self.built.model, saved.get("model"), f"{path} (model)")
        try:
            state.optimizer.load_state_dict(saved["optimizer"])
            if state.scheduler is not None and saved.get("scheduler"):
                state.scheduler.load_state_dict(saved["scheduler"])
            if state.precision.scaler is not None and saved.get("scaler"):
                state.precision.scaler.load_state_dict(saved["scaler"])
        except (KeyError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: the optimizer or scheduler state does not fit this experiment"
                                  f" ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''});"
                                  " start a new run without --resume") from exc
        state.start_epoch = int(saved["epoch"]) + 1
        state.best = {"value": float(saved.get("best_value", -np.inf)), "epoch": int(saved.get("best_epoch", 0))}
        self.record["started"] = previous.get("started", self.record["started"])
        self.record["epochs"] = previous.get("epochs", [])[: state.start_epoch - 1]
        self.record["evaluations"] = [e for e in previous.get("evaluations", []) if e["epoch"] < state.start_epoch]
        self.record["resumed"][-1]["from_epoch"] = state.start_epoch
        self._note(f"resumed run {self.run.run_id} from epoch {state.start_epoch}")

    def _epoch(self, epoch: int, state: "_TrainState", evaluator: _Evaluator) -> None:
        exp, built, train_cfg = self.experiment, self.built, self.experiment.train
        loader = make_loader(self.splits.train, train_cfg.batch_size, train_cfg.num_workers, built.device,
                             shuffle_seed=exp.seed * 100_003 + epoch, drop_small_last=True)
        stats = train_epoch(built.model, built.loss, loader, state.optimizer, state.precision, built.device,
                            self.reporter, epoch, train_cfg.epochs, train_cfg.skip_zero_loss,
                            train_cfg.grad_clip, position=self.position)
        lr = state.optimizer.param_groups[0]["lr"]
        if state.scheduler is not None:
            state.scheduler.step()
        logs = {"epoch": epoch, "loss": stats.loss, "clips_per_s": stats.clips_per_s, "seconds": stats.seconds,
                "skipped_steps": stats.skipped_steps, "lr": lr}
        self.record["epochs"].append(logs)
        log.info("epoch %d/%d loss %.4f (%.1f clips/s)", epoch, train_cfg.epochs, stats.loss, stats.clips_per_s)
        if epoch % train_cfg.eval_every == 0 or epoch == train_cfg.epochs:
            self._evaluate(epoch, state, evaluator)
        self.position.phase = "saving the checkpoint"
        save_checkpoint(self.run.checkpoint_path, {
            "model": built.model.state_dict(), "optimizer": state.optimizer.state_dict(),
            "scheduler": state.scheduler.state_dict() if state.scheduler is not None else {},
            "scaler": state.precision.scaler.state_dict() if state.precision.scaler is not None else {},
            "epoch": epoch, "best_value": float(state.best["value"]), "best_epoch": int(state.best["epoch"]),
        })
        self.run.write_record(self.record)
        if self.hooks:  # after the checkpoint: a hook that stops the run leaves a resumable epoch behind
            self.position.phase = "running the epoch-end hooks"
            self.hooks.hashbench_epoch_end(run=self.context, epoch=epoch, logs=logs)

    def _evaluate(self, epoch: int, state: "_TrainState", evaluator: _Evaluator) -> None:
        select = self.experiment.eval.select
        if select == "val":
            scores = evaluator.score(*evaluator.codes(self.splits.val_query, self.splits.val_database, "val "))
            split_name = "validation"
        else:
            codes = evaluator.codes(self.splits.query, self.splits.database, "")
            scores = evaluator.score(*codes)
            split_name = "test"
            state.last_test = (epoch, scores, codes)
        if select in ("val", "test") and scores[self.select_metric] > state.best["value"]:
            state.best = {"value": scores[self.select_metric], "epoch": epoch}
            save_checkpoint(self.run.best_path, {"model": self.built.model.state_dict(), "epoch": epoch})
        self.record["evaluations"].append({"epoch": epoch, "split": split_name, "metrics": scores})
        log.info("epoch %d %s: %s", epoch, split_name, _fmt(scores))
        self.reporter.evaluated(epoch, split_name, scores)
        if self.hooks:
            self.hooks.hashbench_evaluated(run=self.context, epoch=epoch, split=split_name, metrics=scores)

    def _finish(self, state: "_TrainState", evaluator: _Evaluator) -> RunResult:
        from .codes import save_codes
        from .results import append_run_rows, metric_rows

        exp, built = self.experiment, self.built
        select, epochs = exp.eval.select, exp.train.epochs
        final_eval_start = evaluator.seconds
        if state.last_test is not None and state.last_test[0] == (state.best["epoch"] if select == "test" else epochs):
            epoch_used, metrics, codes = state.last_test
        elif select in ("val", "test"):
            load_state_strict(built.model, load_checkpoint(self.run.best_path, built.device)["model"],
                              str(self.run.best_path))
            epoch_used = state.best["epoch"]
            codes = evaluator.codes(self.splits.query, self.splits.database, "")
            metrics = evaluator.score(*codes)
        else:  # resumed after the last epoch's evaluation was lost
            epoch_used = epochs
            codes = evaluator.codes(self.splits.query, self.splits.database, "")
            metrics = evaluator.score(*codes)
        self.position.phase, self.position.epoch = "recording the results", epoch_used
        self.record["timings"]["eval_seconds"] = evaluator.seconds
        self.record["timings"]["final_eval_seconds"] = evaluator.seconds - final_eval_start
        qc, ql, dc, dl = codes
        dataset = built.dataset
        save_codes(self.run.codes_path, query_codes=qc, query_labels=ql, db_codes=dc, db_labels=dl,
                   query_ids=np.asarray(dataset.video_ids("query")),
                   db_ids=np.asarray(dataset.video_ids("database")))
        save_checkpoint(self.run.model_path, {"model": built.model.state_dict(), "epoch": epoch_used})
        write_json(self.run.metrics_path, metrics)
        self.row.update(time=now_iso(), epoch=epoch_used)
        rows = metric_rows(self.row, metrics)
        appended = append_run_rows(self.results_path, rows) if self.results_path is not None else 0
        self.record.update(status="finished", finished=now_iso(), metrics=metrics)
        self.run.write_record(self.record)
        for leftover in (self.run.checkpoint_path, self.run.best_path):  # optimizer state: resume only
            leftover.unlink(missing_ok=True)
        log.info("run %s finished: %s (epoch %d, selection %s)", self.run.run_id, _fmt(metrics), epoch_used,
                 self.selection)
        if self.hooks:
            self.hooks.hashbench_run_end(run=self.context, metrics=metrics)
        return RunResult(self.run.run_id, self.run.path, metrics, epoch_used, self.selection, rows, appended)

    def _note(self, text: str) -> None:
        log.info("%s", text)
        self.reporter.note(text)


@dataclass
class _TrainState:
    """Optimizer, scheduler and precision, plus where training resumes and the best epoch so far."""

    optimizer: torch.optim.Optimizer
    scheduler: Any
    precision: Precision
    start_epoch: int = 1
    best: dict[str, Any] = field(default_factory=lambda: {"value": -np.inf, "epoch": 0})
    last_test: Optional[tuple[int, dict[str, float], tuple[np.ndarray, ...]]] = None


def _int_or_none(text: Optional[str]) -> Optional[int]:
    try:
        return int(text) if text not in (None, "") else None
    except ValueError:
        return None


def _fmt(metrics: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:.4f}" for k, v in metrics.items())
