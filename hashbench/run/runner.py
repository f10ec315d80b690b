"""run_experiment(): build -> check -> train -> encode -> evaluate -> record. Orchestration only.

(One run's life cycle in its directory — the record, statuses, resume, the epoch loop and the final
rows; every step it calls lives in another module: a distributed run's failures in :mod:`~hashbench.run.ranks`,
the epoch's batches and loop in :mod:`hashbench.train`.)

Everything that can fail on bad input (plugins, data, contract, results table) is built and checked
before the run directory exists, so such a failure leaves nothing behind. Once the directory exists
(see :mod:`hashbench.results.rundir` for its files) the run ends ``finished``, ``failed`` (with the message,
phase, epoch and time) or ``interrupted`` (SIGINT/SIGTERM), never ``running``. Exceptions from plugin
code, the disk or memory are explained as one-line :class:`~hashbench.errors.HashbenchError`
(:mod:`hashbench.failures`); anything else is a bug and propagates as it is.

The pieces it orchestrates: :mod:`~hashbench.run.build` (components), :mod:`~hashbench.run.selection`
(splits and the reported epoch), :mod:`~hashbench.run.evaluator` (encode and score),
:mod:`~hashbench.run.state` (what a checkpoint holds), :mod:`~hashbench.run.provenance` (row and record)
and :mod:`hashbench.train` (the loops).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..codes import save_codes
from ..config import Experiment
from ..contract import Registry, RunInfo
from ..device import device_description, torch_device
from ..contract.methods import fits, trains
from ..errors import ConfigError, DataError, HashbenchError, RunInterrupted
from ..failures import explain, explaining
from ..results import append_run_rows, check_table, metric_rows
from ..results.identity import experiment_identity, identity_json
from ..results.rundir import RunDir, iter_runs, mark, now_iso, safe_name, write_json
from ..train.checkpoint import load_checkpoint, load_state_strict, save_checkpoint
from ..train.distributed import DistEnv, barrier, broadcast_buffers, broadcast_object, dist_env, init_distributed
from ..train.loaders import drops_last_batch, epoch_batches
from ..train.loop import EpochStats, Training, TrainSettings, train_epoch
from ..train.optim import make_optimizer, make_scheduler, step_scheduler
from ..train.precision import Precision
from ..train.progress import NullReporter, Position, Reporter
from ..train.seeding import seed_everything
from .build import BuiltExperiment, build_components, check_query_batch, prepare_model
from .evaluator import Evaluator
from .provenance import new_record, results_row
from .ranks import STEP_LOG_ENV, ignore_sigterm, leave_rank_failure, rank_failure
from .selection import Splits, reported_epoch, selection_label, selection_metric
from .state import TrainState, method_parts, module_state

log = logging.getLogger(__name__)

__all__ = ["RunResult", "run_experiment", "find_resumable", "trained_epochs"]


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


def find_resumable(runs_dir: Path, experiment: Experiment, config_hash: str | None = None) -> RunDir:
    """Latest unfinished run directory of this experiment with the same config hash.

    It resumes from its checkpoint, or from epoch 1 when it stopped before writing one.
    """
    config_hash = config_hash or experiment.config_hash()
    folder = Path(runs_dir) / safe_name(experiment.name)
    candidates = []
    for run in iter_runs(Path(runs_dir)):
        if run.path.parent != folder:
            continue
        try:
            record = run.read_record()
        except DataError:
            continue
        if record.get("row", {}).get("config_hash") == config_hash and record.get("status") != "finished":
            candidates.append(run)
    if not candidates:
        raise ConfigError(f"--resume: no unfinished run of {experiment.name!r} with config hash "
                          f"{config_hash} under {folder}; run without --resume to start one")
    return candidates[-1]


def run_experiment(experiment: Experiment, registry: Registry, *, runs_dir: Path = Path("runs"),
                   results_path: Path | None = Path("results/results.csv"), resume: bool = False,
                   reporter: Reporter | None = None) -> RunResult:
    """Train, encode and evaluate one experiment; write its run directory and results rows.

    ``results_path=None`` skips the results table. Returns the reported metrics (selected epoch).
    Raises HashbenchError (the run, if it started, is marked ``failed``) or RunInterrupted (marked
    ``interrupted``); any other exception is a bug (the run is marked ``failed`` too).
    """
    env = dist_env()
    reporter = reporter if reporter is not None and env.is_main else NullReporter()
    if results_path is not None:
        check_table(results_path)
    check_batch_split(experiment, env)
    device = init_distributed(env, torch_device(experiment.device))
    return _run(experiment, registry, env, device, runs_dir, results_path, resume, reporter)


def trained_epochs(experiment: Experiment, built: BuiltExperiment) -> int:
    """The epochs the run trains: ``train.epochs``, or 0 for a method without ``training_loss``."""
    return experiment.train.epochs if trains(built.method) else 0


def check_batch_split(experiment: Experiment, env: DistEnv) -> None:
    """``train.batch_size`` (the global batch per optimizer step) must split evenly over the processes and
    the ``train.accumulate_steps`` micro-batches (ConfigError in one line otherwise)."""
    train, world = experiment.train, env.world_size
    if train.batch_size % (world * train.accumulation):
        micro = f" x {train.accumulation} micro-batches" if train.accumulation > 1 else ""
        raise ConfigError(f"train.batch_size = {train.batch_size} (the global batch) does not divide among {world}"
                          f" processes{micro}; make it a multiple of {world * train.accumulation}")


def _run(experiment: Experiment, registry: Registry, env: DistEnv, device: Any, runs_dir: Path,
         results_path: Path | None, resume: bool, reporter: Reporter) -> RunResult:
    seed_everything(experiment.seed)
    built = build_components(experiment, registry, device)
    if built.deep is None and env.enabled:
        raise ConfigError("a [method] experiment runs in one process; run it without --nproc or torchrun")
    built.to_device()
    with explaining(built.components, "while loading the data"):
        splits = Splits.load(built.dataset, experiment)
        check_query_batch(built, splits.query)
        info = {k: str(v) for k, v in dict(built.dataset.info()).items()}
    config_hash = experiment.config_hash()
    identity = identity_json(experiment_identity(experiment, registry))
    run = None
    if env.is_main:
        run = find_resumable(runs_dir, experiment, config_hash) if resume else \
            RunDir.create(runs_dir, experiment.name, config_hash)
    run = RunDir(Path(broadcast_object(str(run.path) if run is not None else None)))
    metric = selection_metric(experiment.eval, [label for label, _ in built.metrics])
    device_text = device_description(built.device)
    if env.enabled:  # e.g. "8 x NVIDIA H100 80GB HBM3": the processes of one distributed run
        device_text = f"{env.world_size} x {device_text}"
    selection = selection_label(experiment.eval.select if trained_epochs(experiment, built) else "last", metric)
    row = results_row(experiment, built, info, run_id=run.run_id, selection=selection, config_hash=config_hash,
                      identity=identity, device=device_text)
    hooks = registry.plugin_manager.hook if registry.plugin_manager else None
    record = new_record(row, built, info)
    record["world_size"] = env.world_size
    active = _RunInProgress(experiment, built, splits, run, record, metric,
                            RunInfo(run.run_id, run.path, experiment, device_text), hooks if env.is_main else None,
                            results_path, reporter, env)
    return active.execute(resume)


class _RunInProgress:
    """One run in progress in its directory: its components and splits, its record, the epochs, and the
    rows it ends with."""

    def __init__(self, experiment: Experiment, built: BuiltExperiment, splits: Splits, run: RunDir,
                 record: dict[str, Any], select_metric: str, context: RunInfo, hooks: Any, results_path: Path | None,
                 reporter: Reporter, env: DistEnv = DistEnv()) -> None:
        self.experiment, self.built, self.splits, self.run = experiment, built, splits, run
        self.record, self.row = record, record["row"]
        self.select_metric, self.context, self.hooks = select_metric, context, hooks
        self.results_path, self.reporter = results_path, reporter
        self.position = Position()
        self.env = env
        self.training: Training | None = None  # what the epochs train with (built once the model is prepared)
        self.epochs = trained_epochs(experiment, built)
        self.select = experiment.eval.select if self.epochs else "last"  # a fit-only method has no epoch to pick

    # -- lifecycle ----------------------------------------------------------------------------------
    def execute(self, resume: bool) -> RunResult:
        """Run in the directory with its log file; whatever happens, the record ends with a status."""
        handler: logging.Handler = (logging.FileHandler(self.run.log_path) if self.env.is_main
                                    else logging.NullHandler())
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger = logging.getLogger("hashbench")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            return self._execute_one(resume)
        except BaseException as exc:
            error = self._distributed_failure(exc) if self.env.enabled else self._failure(exc)
            if error is exc:
                raise
            raise error from (None if isinstance(error, RunInterrupted) else exc)
        finally:
            logger.removeHandler(handler)
            handler.close()

    def _failure(self, exc: BaseException) -> BaseException:
        """Record an interruption or a failure (one process); returns what to raise."""
        if isinstance(exc, KeyboardInterrupt):
            return self._interrupted(exc)
        explained = self._explain(exc)
        message = str(explained) if explained is not None else f"{type(exc).__name__}: {exc}"
        mark(self.run, self.record, "failed",
             {"message": message, "type": type(explained or exc).__name__, "phase": self.position.phase,
              "epoch": self.position.epoch, "step": self.position.step, "time": now_iso()})
        log.error("run %s failed %s: %s", self.run.run_id, self.position.describe(), message)
        if explained is None:
            return exc
        explained.run_dir, explained.epoch = self.run.path, self.position.epoch
        return explained

    def _interrupted(self, exc: KeyboardInterrupt) -> RunInterrupted:
        signal_name = getattr(exc, "signal_name", "SIGINT")
        mark(self.run, self.record, "interrupted",
             {"epoch": self.position.epoch, "phase": self.position.phase, "time": now_iso(), "signal": signal_name})
        log.warning("run %s interrupted (%s) %s", self.run.run_id, signal_name, self.position.describe())
        return RunInterrupted(f"interrupted in epoch {self.position.epoch}", epoch=self.position.epoch,
                              run_dir=self.run.path, signal_name=signal_name)

    def _explain(self, exc: BaseException) -> HashbenchError | None:
        """:func:`~hashbench.failures.explain` of ``exc`` where the run stands (None for a bug)."""
        return explain(exc, self.built.components, self.position.describe(), self.experiment.train.batch_size)

    def _distributed_failure(self, exc: BaseException) -> BaseException:
        """A distributed run's failure (see :mod:`~hashbench.run.ranks`): a rank other than 0 leaves its
        message for rank 0 and records nothing; rank 0 records the failure of the lowest failed rank, or
        its own, or the interruption when no rank failed. Returns what to raise."""
        ignore_sigterm()  # torchrun stops the other ranks with SIGTERM: finish recording first
        explained = None if isinstance(exc, KeyboardInterrupt) else self._explain(exc)
        if not self.env.is_main:
            leave_rank_failure(self.run.path, self.env, exc, explained)
            return explained if explained is not None else exc
        failure = rank_failure(exc, explained, self.run.path)
        if failure is None:
            return self._failure(exc)  # interrupted, or a bug on rank 0: recorded, and its traceback shown
        mark(self.run, self.record, "failed",
             {"message": failure.message, "type": failure.kind, "phase": self.position.phase,
              "epoch": self.position.epoch, "step": self.position.step, "time": now_iso(),
              "world_size": self.env.world_size})
        log.error("run %s failed %s: %s", self.run.run_id, self.position.describe(), failure.message)
        failure.error.run_dir, failure.error.epoch = self.run.path, self.position.epoch
        return failure.error

    def _write_record(self) -> None:
        if self.env.is_main:
            self.run.write_record(self.record)

    def _execute_one(self, resume: bool) -> RunResult:
        exp, built, train_cfg = self.experiment, self.built, self.experiment.train
        if self.env.is_main:
            write_json(self.run.config_path, exp.to_dict())
        state = self._train_state()
        fitted = resume and self.run.checkpoint_path.is_file()  # a checkpoint holds the fit's result
        evaluator = Evaluator(built, exp.eval.batch_size or train_cfg.batch_size, train_cfg.num_workers,
                              state.precision, self.reporter, self.position, clips=exp.eval.clips or 1,
                              env=self.env)
        if resume:
            self._restore(state)
            self.context = dataclasses.replace(self.context, resumed_from=state.start_epoch)
        self.record["status"] = "running"
        self.record.pop("error", None)
        self.record.pop("interrupted", None)
        self._write_record()
        if self.hooks:
            self.hooks.hashbench_run_start(run=self.context)
        n_train = len(self.splits.train)  # type: ignore[arg-type]
        log.info("run %s: %s on %s, %d train / %d query / %d database clips", self.run.run_id, exp.name,
                 self.row["device"], n_train, len(self.splits.query), len(self.splits.database))
        if fits(built.method) and not fitted:
            self._fit(state)
        if self.epochs and train_cfg.sampler is None and drops_last_batch(n_train, train_cfg.batch_size):
            self._note(f"each epoch drops its last training batch of {n_train % train_cfg.batch_size} clip"
                       f" ({n_train} clips, batch_size {train_cfg.batch_size}): BatchNorm and pairwise losses"
                       " need at least 2")
        t_train = time.perf_counter()
        for epoch in range(state.start_epoch, self.epochs + 1):
            self._epoch(epoch, state, evaluator)
        self.record["timings"]["train_seconds"] = time.perf_counter() - t_train - evaluator.seconds
        return self._finish(state, evaluator)

    # -- steps ----------------------------------------------------------------------------------------
    def _train_state(self) -> TrainState:
        """Optimizer, scheduler and precision (no optimizer for a method that trains no epochs), and the
        :class:`Training` of the epochs (the triple's model set up to train through DDP or compile)."""
        built, train_cfg = self.built, self.experiment.train
        precision = Precision(built.device, train_cfg.amp)
        if not self.epochs:
            return TrainState(None, None, precision)
        prepare_model(built, train_cfg, self.env)
        model, loss = method_parts(built.method)
        optimizer = make_optimizer(model, train_cfg.optimizer, loss)
        self.training = Training(built.method, optimizer, precision, built.device,
                                 TrainSettings.from_config(train_cfg), reporter=self.reporter,
                                 position=self.position, step_log=self._step_log())
        return TrainState(optimizer, make_scheduler(optimizer, train_cfg.scheduler), precision)

    def _fit(self, state: TrainState) -> None:
        """The method's ``fit`` over the training split (streamed), then a checkpoint (epoch 0) holding
        its result, so that ``--resume`` does not fit again."""
        self.position.phase = "fitting the method on the training split"
        start = time.perf_counter()
        self.built.method.fit(self.splits.train)
        self.record["timings"]["fit_seconds"] = time.perf_counter() - start
        if self.env.is_main:
            save_checkpoint(self.run.checkpoint_path, state.checkpoint(self.built.method, 0))
        self._write_record()

    def _restore(self, state: TrainState) -> None:
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
        state.restore(self.built.method, load_checkpoint(path, map_location=self.built.device), path)
        self.record["started"] = previous.get("started", self.record["started"])
        self.record["epochs"] = previous.get("epochs", [])[: state.start_epoch - 1]
        self.record["evaluations"] = [e for e in previous.get("evaluations", []) if e["epoch"] < state.start_epoch]
        self.record["resumed"][-1]["from_epoch"] = state.start_epoch
        self._note(f"resumed run {self.run.run_id} from epoch {state.start_epoch}")

    def _epoch(self, epoch: int, state: TrainState, evaluator: Evaluator) -> None:
        built, train_cfg = self.built, self.experiment.train
        stats = self._train_epoch(epoch, state)
        lr = state.optimizer.param_groups[0]["lr"]  # type: ignore[union-attr]
        if state.scheduler is not None and not train_cfg.scheduler.steps_at_epoch_start:
            state.scheduler.step()
        logs = {"epoch": epoch, "loss": stats.loss, "clips_per_s": stats.clips_per_s, "seconds": stats.seconds,
                "skipped_steps": stats.skipped_steps, "lr": lr}
        self.record["epochs"].append(logs)
        log.info("epoch %d/%d loss %.4f (%.1f clips/s)", epoch, self.epochs, stats.loss, stats.clips_per_s)
        if train_cfg.evaluates_after(epoch):
            self._evaluate(epoch, state, evaluator)
        self.position.phase = "saving the checkpoint"
        if self.env.is_main:
            save_checkpoint(self.run.checkpoint_path, state.checkpoint(built.method, epoch))
        self._write_record()
        if self.hooks:  # after the checkpoint: a hook that stops the run leaves a resumable epoch behind
            self.position.phase = "running the epoch-end hooks"
            self.hooks.hashbench_epoch_end(run=self.context, epoch=epoch, logs=logs)

    def _train_epoch(self, epoch: int, state: TrainState) -> EpochStats:
        """Epoch ``epoch``'s batches (items with their indices) through the method's ``training_loss``."""
        exp, built, train_cfg = self.experiment, self.built, self.experiment.train
        batches = epoch_batches(self.splits.train, train_cfg, exp.seed, epoch, built.device, self.env, indexed=True)
        hook = getattr(built.method, "on_epoch_start", None)
        if callable(hook):
            hook(epoch, self.epochs)
        if state.scheduler is not None and train_cfg.scheduler.steps_at_epoch_start:
            step_scheduler(state.scheduler)
        return train_epoch(self.training, epoch, batches)  # type: ignore[arg-type]

    def _step_log(self) -> Any:
        """The per-step trace writer (``HASHBENCH_STEP_LOG``, rank 0), or None."""
        path = os.environ.get(STEP_LOG_ENV, "")
        if not path or not self.env.is_main:
            return None

        def write(entry: dict[str, Any]) -> None:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(dict(entry, world_size=self.env.world_size)) + "\n")
        return write

    def _evaluate(self, epoch: int, state: TrainState, evaluator: Evaluator) -> None:
        select = self.select
        broadcast_buffers(self.built.module)  # every process encodes with rank 0's BatchNorm statistics
        if select == "val":
            codes = evaluator.codes(self.splits.val_query, self.splits.val_database, "val ")
            scores = evaluator.score(*codes, validation=True)
            split_name = "validation"
        else:
            codes = evaluator.codes(self.splits.query, self.splits.database, "")
            scores = evaluator.score(*codes)
            split_name = "test"
            state.last_test = (epoch, scores, codes)
        if select in ("val", "test") and state.best.offer(epoch, scores[self.select_metric]) and self.env.is_main:
            save_checkpoint(self.run.best_path, {"model": self.built.module.state_dict(), "epoch": epoch})
        self.record["evaluations"].append({"epoch": epoch, "split": split_name, "metrics": scores})
        log.info("epoch %d %s: %s", epoch, split_name, _fmt(scores))
        self.reporter.evaluated(epoch, split_name, scores)
        if self.hooks:
            self.hooks.hashbench_evaluated(run=self.context, epoch=epoch, split=split_name, metrics=scores)

    def _finish(self, state: TrainState, evaluator: Evaluator) -> RunResult:
        built = self.built
        final_eval_start = evaluator.seconds
        last_test_epoch = state.last_test[0] if state.last_test is not None else None
        epoch_used, source = reported_epoch(self.select, self.epochs, state.best, last_test_epoch)
        if source == "last_test":
            _, metrics, codes = state.last_test  # type: ignore[misc]
        else:
            if source == "best":
                barrier()  # rank 0 wrote best.pt
                load_state_strict(built.module, load_checkpoint(self.run.best_path, built.device)["model"],
                                  str(self.run.best_path))
            broadcast_buffers(built.module)
            codes = evaluator.codes(self.splits.query, self.splits.database, "")
            metrics = evaluator.score(*codes)
        self.position.phase, self.position.epoch = "recording the results", epoch_used
        self.record["timings"]["eval_seconds"] = evaluator.seconds
        self.record["timings"]["final_eval_seconds"] = evaluator.seconds - final_eval_start
        qc, ql, dc, dl = codes
        if not self.env.is_main:
            barrier()  # rank 0 writes the run's files and rows
            return RunResult(self.run.run_id, self.run.path, metrics, epoch_used, self.row["selection"])
        save_codes(self.run.codes_path, query_codes=qc, query_labels=ql, db_codes=dc, db_labels=dl,
                   query_ids=np.asarray(built.dataset.video_ids("query")),
                   db_ids=np.asarray(built.dataset.video_ids("database")))
        save_checkpoint(self.run.model_path, {**module_state(built.method), "epoch": epoch_used})
        write_json(self.run.metrics_path, metrics)
        self.row.update(time=now_iso(), epoch=epoch_used)
        rows = metric_rows(self.row, metrics)
        appended = append_run_rows(self.results_path, rows) if self.results_path is not None else 0
        self.record.update(status="finished", finished=now_iso(), metrics=metrics)
        self.run.write_record(self.record)
        for leftover in (self.run.checkpoint_path, self.run.best_path):  # optimizer state: resume only
            leftover.unlink(missing_ok=True)
        log.info("run %s finished: %s (epoch %d, selection %s)", self.run.run_id, _fmt(metrics), epoch_used,
                 self.row["selection"])
        if self.hooks:
            self.hooks.hashbench_run_end(run=self.context, metrics=metrics)
        barrier()
        return RunResult(self.run.run_id, self.run.path, metrics, epoch_used, self.row["selection"], rows, appended)

    def _note(self, text: str) -> None:
        log.info("%s", text)
        self.reporter.note(text)


def _fmt(metrics: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:.4f}" for k, v in metrics.items())
