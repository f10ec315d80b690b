"""The rules of an experiment document: each table checked and turned into the typed schema.

:func:`validate_document` takes a document after overrides and ``${}`` expansion and returns an
:class:`~hashbench.config.schema.Experiment`, or raises the first problem as one ConfigError line
(see :mod:`hashbench.config.validate`). Component tables keep their plugin keys as they are: the
registry checks those when it builds the component (``hashbench validate``).
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Mapping

from ..device import DEVICE_CHOICES, is_device_name
from ..suggest import closest, did_you_mean
from .protocol import EVAL_PROTOCOLS, protocol_metrics
from .schema import (COMPONENTS, DEFAULT_METRICS, METHOD_COMPONENTS, EVAL_KEYS, LAUNCHER_KEYS, NAME_MAX, NAME_PATTERN, OPTIMIZERS, SCHEDULERS,
                     TOP_SCALARS, TOP_TABLES, TRAIN_KEYS, EvalConfig, Experiment, OptimizerConfig,
                     LOSS_SCOPES, SAMPLERS, SamplerConfig, SchedulerConfig, TrainConfig, metric_label)
from .validate import (ErrorContext, check_bool, check_float, check_int, check_keys, check_plain, check_str,
                       check_table, join_path)

__all__ = ["validate_document"]


def validate_document(doc: dict[str, Any], ctx: ErrorContext, source: Path | None) -> Experiment:
    allowed_top = TOP_SCALARS + TOP_TABLES
    for key, value in doc.items():
        if key not in allowed_top:
            if isinstance(value, dict):
                close = closest(key, TOP_TABLES)
                hint = f" (did you mean [{close}]?)" if close else ""
                ctx.fail("", f"unknown table [{key}]{hint}; tables are"
                             f" {', '.join(f'[{t}]' for t in TOP_TABLES)}", at=key)
            ctx.fail("", f"unknown top-level key {key}{did_you_mean(key, allowed_top)};"
                         f" top-level keys are {', '.join(TOP_SCALARS)}", at=key)
    check_plain(ctx, "", doc)

    if "name" not in doc:
        ctx.fail("", "missing top-level key name (it names runs/<name>/)")
    name = _check_name(ctx, doc["name"])
    seed = check_int(ctx, "seed", doc.get("seed", 0), 0, 2**32 - 1)
    device = check_str(ctx, "device", doc.get("device", "auto"))
    if not is_device_name(device):
        ctx.fail("device", f"must be {DEVICE_CHOICES}, got {device!r}")
    label = doc.get("label")
    if label is not None:
        label = check_str(ctx, "label", label)
        if not label.strip():
            ctx.fail("label", "must not be empty (leave it out to use backbone+head+loss)")
    loggers = doc.get("loggers", [])
    if not isinstance(loggers, list) or not all(isinstance(x, str) and x.strip() for x in loggers):
        ctx.fail("loggers", f"expected a list of logger names (e.g. [\"jsonl\", \"tensorboard\"]), got {loggers!r}")
    if len(set(loggers)) != len(loggers):
        ctx.fail("loggers", f"names a logger twice: {loggers!r}")

    kinds = _component_kinds(ctx, doc)
    components: dict[str, Any] = {"backbone": {}, "head": {}, "loss": {}}
    for kind in kinds:
        if kind not in doc:
            ctx.fail("", f"missing table [{kind}]; add it with name = \"<{kind} plugin>\""
                         " (see `hashbench plugins`)")
        table = check_table(ctx, kind, doc[kind])
        if "name" not in table:
            ctx.fail("", f"[{kind}] has no name; set name = \"<{kind} plugin>\" (see `hashbench plugins`)")
        if not isinstance(table["name"], str) or not table["name"].strip():
            ctx.fail(f"{kind}.name", f"expected a plugin name (string), got {table['name']!r}")
        components["method_table" if kind == "method" else kind] = copy.deepcopy(table)

    train = _validate_train(ctx, check_table(ctx, "train", doc.get("train", {})))
    evaluation = _validate_eval(ctx, check_table(ctx, "eval", doc.get("eval", {})))
    sweep = _validate_sweep(ctx, check_table(ctx, "sweep", doc.get("sweep", {})))
    launcher = _validate_launcher(ctx, check_table(ctx, "launcher", doc.get("launcher", {})))
    return Experiment(name=name, seed=seed, device=device, label=label, loggers=tuple(loggers), train=train, eval=evaluation,
                      sweep=sweep, launcher=launcher, source=source, raw=doc, **components)


def _component_kinds(ctx: ErrorContext, doc: Mapping[str, Any]) -> tuple[str, ...]:
    """The plugin tables ``doc`` must have: ``[method]`` or the backbone/head/loss triple, never both."""
    if "method" not in doc:
        return COMPONENTS
    parts = [kind for kind in ("backbone", "head", "loss") if kind in doc]
    if parts:
        ctx.fail("", f"has both [method] and [{parts[0]}]: an experiment names a method plugin or the"
                     f" backbone/head/loss triple; remove [method] or [{'], ['.join(parts)}]", at=parts[0])
    return METHOD_COMPONENTS


def _validate_launcher(ctx: ErrorContext, table: dict[str, Any]) -> dict[str, Any]:
    """``[launcher]`` (see :data:`~hashbench.config.schema.LAUNCHER_KEYS`): the keys given, checked."""
    check_keys(ctx, table, "launcher", LAUNCHER_KEYS)
    out: dict[str, Any] = {}
    for key in ("gpus", "time", "cpus_per_task"):
        if key in table:
            out[key] = check_int(ctx, f"launcher.{key}", table[key], 0 if key == "gpus" else 1)
    if "partition" in table:
        out["partition"] = check_str(ctx, "launcher.partition", table["partition"])
    if "mem_gb" in table:
        out["mem_gb"] = check_float(ctx, "launcher.mem_gb", table["mem_gb"], 0.0, low_open=True)
    if "slurm" in table:
        extra = check_table(ctx, "launcher.slurm", table["slurm"])
        for key, value in extra.items():
            if not isinstance(value, (str, int, float, bool)):
                ctx.fail(f"launcher.slurm.{key}", f"expected a string, number or boolean, got {value!r}")
        out["slurm"] = dict(extra)
    return out


def _check_name(ctx: ErrorContext, value: Any) -> str:
    name = check_str(ctx, "name", value)
    if not NAME_PATTERN.match(name) or len(name) > NAME_MAX:
        ctx.fail("name", f"{name!r} must start with a letter or digit and use only letters, digits and"
                         f" . _ - + = , @ (at most {NAME_MAX} characters): it names the run directory")
    return name


def _validate_train(ctx: ErrorContext, table: dict[str, Any]) -> TrainConfig:
    check_keys(ctx, table, "train", TRAIN_KEYS)
    defaults = TrainConfig()
    epochs = check_int(ctx, "train.epochs", table.get("epochs", defaults.epochs), 1)
    grad_clip = table.get("grad_clip")
    sampler = _validate_sampler(ctx, check_table(ctx, "train.sampler", table.get("sampler", {})))
    batch_size = check_int(ctx, "train.batch_size", table.get("batch_size", defaults.batch_size), 2)
    if sampler is not None:
        per_batch = sampler.classes * sampler.per_class
        if "batch_size" in table and batch_size != per_batch:
            ctx.fail("train.batch_size", f"is {batch_size}, but the pk sampler makes batches of classes x per_class"
                                         f" = {per_batch} clips; remove batch_size or make them agree")
        batch_size = per_batch
    return TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        sampler=sampler,
        optimizer=_validate_optimizer(ctx, check_table(ctx, "train.optimizer", table.get("optimizer", {}))),
        scheduler=_validate_scheduler(ctx, check_table(ctx, "train.scheduler", table.get("scheduler", {})), epochs),
        amp=check_bool(ctx, "train.amp", table.get("amp", defaults.amp)),
        eval_every=check_int(ctx, "train.eval_every", table.get("eval_every", defaults.eval_every), 1),
        eval_first=None if table.get("eval_first") is None else
        check_int(ctx, "train.eval_first", table["eval_first"], 1, epochs),
        num_workers=check_int(ctx, "train.num_workers", table.get("num_workers", defaults.num_workers), 0),
        skip_zero_loss=check_bool(ctx, "train.skip_zero_loss", table.get("skip_zero_loss", defaults.skip_zero_loss)),
        grad_clip=None if grad_clip is None else check_float(ctx, "train.grad_clip", grad_clip, 0.0, low_open=True),
        clip_frames=None if table.get("clip_frames") is None else
        check_int(ctx, "train.clip_frames", table["clip_frames"], 1),
        **_validate_scale_out(ctx, table, batch_size),
    )


def _validate_scale_out(ctx: ErrorContext, table: dict[str, Any], batch_size: int) -> dict[str, Any]:
    """``sync_bn``, ``loss_scope``, ``accumulate_steps`` and the speed options ``channels_last_3d``,
    ``compile``, ``pin_memory``. A value equal to the default is kept as None (so the config hash and
    the identity of an experiment change only when it sets a non-default value); ``pin_memory``'s
    default (None) means "on CUDA"."""
    out: dict[str, Any] = {}
    for key in ("sync_bn", "channels_last_3d", "compile"):
        value = table.get(key)
        out[key] = None if value is None or not check_bool(ctx, f"train.{key}", value) else True
    pin = table.get("pin_memory")
    out["pin_memory"] = None if pin is None else check_bool(ctx, "train.pin_memory", pin)
    scope = table.get("loss_scope")
    scope = None if scope is None else check_str(ctx, "train.loss_scope", scope, LOSS_SCOPES)
    out["loss_scope"] = None if scope == "global" else scope
    steps = table.get("accumulate_steps")
    steps = None if steps is None else check_int(ctx, "train.accumulate_steps", steps, 1)
    if steps is not None and batch_size % steps:
        ctx.fail("train.accumulate_steps", f"is {steps}, but train.batch_size = {batch_size} (clips per optimizer"
                                           f" step) does not divide into {steps} micro-batches")
    out["accumulate_steps"] = None if steps == 1 else steps
    return out


def _validate_sampler(ctx: ErrorContext, table: dict[str, Any]) -> SamplerConfig | None:
    """None for the default shuffling sampler; a SamplerConfig for ``pk``."""
    path = "train.sampler"
    name = check_str(ctx, f"{path}.name", table.get("name", "shuffle"), SAMPLERS)
    allowed = ("name",) if name == "shuffle" else ("name", "classes", "per_class")
    for key in table:
        if key not in allowed:
            ctx.fail("", f"unknown key {path}.{key} for sampler {name!r}{did_you_mean(key, allowed)};"
                         f" allowed: {', '.join(allowed)}", at=f"{path}.{key}")
    if name == "shuffle":
        return None
    for key in ("classes", "per_class"):
        if key not in table:
            ctx.fail(path, f"the pk sampler needs {key} (P classes x K clips per class in every batch)")
    classes = check_int(ctx, f"{path}.classes", table["classes"], 1)
    per_class = check_int(ctx, f"{path}.per_class", table["per_class"], 1)
    if classes * per_class < 2:
        ctx.fail(path, f"classes x per_class = {classes * per_class}; a batch needs at least 2 clips")
    return SamplerConfig(name=name, classes=classes, per_class=per_class)


def _validate_optimizer(ctx: ErrorContext, table: dict[str, Any]) -> OptimizerConfig:
    path = "train.optimizer"
    name = check_str(ctx, f"{path}.name", table.get("name", "sgd"), tuple(OPTIMIZERS))
    defaults = OPTIMIZERS[name][1]
    allowed = ("name", "lr") + tuple(defaults)
    for key in table:
        if key not in allowed:
            others = [n for n, (_, keys) in OPTIMIZERS.items() if key in keys]
            why = f" (it is a key of {' and '.join(others)})" if others else did_you_mean(key, allowed)
            ctx.fail("", f"unknown key {path}.{key} for optimizer {name!r}{why};"
                         f" allowed: {', '.join(allowed)}", at=f"{path}.{key}")
    values: dict[str, Any] = {"momentum": None, "weight_decay": None, "nesterov": None, "betas": None,
                              "eps": None}
    for key, default in defaults.items():
        value = table.get(key, default)
        where = f"{path}.{key}"
        if key == "momentum":
            value = check_float(ctx, where, value, 0.0, 1.0, high_open=True)
        elif key == "weight_decay":
            value = check_float(ctx, where, value, 0.0)
        elif key == "nesterov":
            value = check_bool(ctx, where, value)
        elif key == "eps":
            value = check_float(ctx, where, value, 0.0, low_open=True)
        elif key == "betas":
            if not isinstance(value, (list, tuple)) or len(value) != 2:
                ctx.fail(where, f"expected two numbers like [0.9, 0.999], got {value!r}")
            value = tuple(check_float(ctx, f"{where}[{i}]", b, 0.0, 1.0, high_open=True) for i, b in enumerate(value))
        values[key] = value
    if values["nesterov"] and not values["momentum"]:
        ctx.fail(f"{path}.nesterov", "needs momentum > 0")
    lr = check_float(ctx, f"{path}.lr", table.get("lr", 1e-4), 0.0, low_open=True)
    return OptimizerConfig(name=name, lr=lr, **values)


def _validate_scheduler(ctx: ErrorContext, table: dict[str, Any], epochs: int) -> SchedulerConfig:
    path = "train.scheduler"
    name = check_str(ctx, f"{path}.name", table.get("name", "none"), tuple(SCHEDULERS))
    allowed = ("name",) + SCHEDULERS[name] + (("at",) if name != "none" else ())
    for key in table:
        if key not in allowed:
            others = [n for n, keys in SCHEDULERS.items() if key in keys]
            why = f" (it is a key of {' and '.join(others)})" if others else did_you_mean(key, allowed)
            ctx.fail("", f"unknown key {path}.{key} for scheduler {name!r}{why};"
                         f" allowed: {', '.join(allowed)}", at=f"{path}.{key}")
    at = None
    if table.get("at", "epoch_end") != "epoch_end":  # the default is kept as None (config hashes unchanged)
        at = check_str(ctx, f"{path}.at", table["at"], ("epoch_end", "epoch_start"))
    if name == "step":
        if "step_size" not in table:
            ctx.fail(path, "the step scheduler needs step_size (epochs between lr drops)")
        return SchedulerConfig(name=name, step_size=check_int(ctx, f"{path}.step_size", table["step_size"], 1),
                               gamma=check_float(ctx, f"{path}.gamma", table.get("gamma", 0.1), 0.0, 1.0,
                                            low_open=True), at=at)
    if name == "cosine":
        return SchedulerConfig(name=name, t_max=check_int(ctx, f"{path}.t_max", table.get("t_max", epochs), 1),
                               eta_min=check_float(ctx, f"{path}.eta_min", table.get("eta_min", 0.0), 0.0), at=at)
    return SchedulerConfig()


def _validate_eval(ctx: ErrorContext, table: dict[str, Any]) -> EvalConfig:
    check_keys(ctx, table, "eval", EVAL_KEYS)
    protocol = check_str(ctx, "eval.protocol", table.get("protocol", "none"), EVAL_PROTOCOLS)
    protocol = None if protocol == "none" else protocol  # the default stays out of to_dict and the hash
    metrics = table.get("metrics", [] if protocol else list(DEFAULT_METRICS))
    if not isinstance(metrics, list) or not (metrics or protocol):
        ctx.fail("eval.metrics", f"expected a non-empty array like [\"map\", \"map@100\"], got {metrics!r}")
    preset = [metric_label(spec) for spec in protocol_metrics(protocol)]
    labels = list(preset)
    for i, spec in enumerate(metrics):
        where = f"eval.metrics[{i}]"
        if isinstance(spec, dict):
            if not isinstance(spec.get("name"), str) or not spec["name"].strip():
                ctx.fail(where, f"a metric table needs name = \"<metric>\", got {spec!r}")
            if "label" in spec and (not isinstance(spec["label"], str) or not spec["label"].strip()):
                ctx.fail(f"{where}.label", f"expected a non-empty string, got {spec['label']!r}")
        elif not isinstance(spec, str) or not spec.strip():
            ctx.fail(where, f"expected a metric like \"map@100\" or a table, got {spec!r}")
        label = metric_label(spec)
        if label in preset:
            ctx.fail(where, f"metric {label!r} is already added by protocol = {protocol!r}; remove it from"
                            " eval.metrics or give it a different label")
        if label in labels:
            ctx.fail(where, f"metric {label!r} is listed twice; give one a different label")
        labels.append(label)
    select = check_str(ctx, "eval.select", table.get("select", "last"), ("last", "val", "test"))
    val_fraction = check_float(ctx, "eval.val_fraction", table.get("val_fraction", 0.1), 0.0, 0.5,
                          low_open=True, high_open=True)
    select_metric = table.get("select_metric")
    if select_metric is not None:
        check_str(ctx, "eval.select_metric", select_metric, labels)
    elif select in ("val", "test"):
        select_metric = labels[0]
    batch_size = table.get("batch_size")
    if batch_size is not None:
        batch_size = check_int(ctx, "eval.batch_size", batch_size, 1)
    clips = table.get("clips")
    if clips is not None:
        clips = check_int(ctx, "eval.clips", clips, 1)
    return EvalConfig(metrics=copy.deepcopy(metrics), select=select, val_fraction=val_fraction,
                      select_metric=select_metric, batch_size=batch_size, clips=clips, protocol=protocol)


def _flatten_sweep(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"head": {"bits": [..]}, "loss.margin": [..]}`` -> ``{"head.bits": [..], "loss.margin": [..]}``."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        dotted = join_path(prefix, key)
        if isinstance(value, dict):
            flat.update(_flatten_sweep(value, dotted))
        else:
            flat[dotted] = value
    return flat


#: The sweep key whose values are tables of keys set together (``[[sweep.variant]]``).
VARIANT = "variant"


def _check_sweep_key(ctx: ErrorContext, dotted: str, where: str, allowed: tuple[str, ...]) -> None:
    parts = dotted.split(".")
    if any(not p for p in parts):
        ctx.fail(where, "is not a dotted key like \"head.bits\"")
    if parts[0] not in allowed:
        ctx.fail(where, f"{parts[0]!r} is not a key that can be swept{did_you_mean(parts[0], allowed)};"
                        f" sweep keys start with one of: {', '.join(allowed)}")
    if parts[0] in TOP_SCALARS and len(parts) > 1:
        ctx.fail(where, f"{parts[0]} is a single value, not a table")
    if parts[0] in ("train", "eval") and len(parts) > 1:
        known = TRAIN_KEYS if parts[0] == "train" else EVAL_KEYS
        if parts[1] not in known:
            ctx.fail(where, f"unknown key {parts[0]}.{parts[1]}{did_you_mean(parts[1], known)}")


def _validate_variants(ctx: ErrorContext, values: Any, allowed: tuple[str, ...]) -> list[dict[str, Any]]:
    """``[[sweep.variant]]``: tables of keys set together, each with a distinct ``name`` (its point name)."""
    where = "sweep.variant"
    if not isinstance(values, list) or not values or not all(isinstance(v, dict) for v in values):
        ctx.fail(where, "expected [[sweep.variant]] tables, each with name = \"...\" and the keys it sets")
    names: list[str] = []
    for i, variant in enumerate(values):
        name = variant.get("name")
        if not isinstance(name, str) or not name.strip():
            ctx.fail(f"{where}[{i}]", "needs name = \"...\" (it names the sweep point)")
        if name in names:
            ctx.fail(f"{where}[{i}]", f"name {name!r} is used twice")
        names.append(name)
        keys = _flatten_sweep({k: v for k, v in variant.items() if k != "name"})
        if not keys:
            ctx.fail(f"{where}[{i}]", f"variant {name!r} sets no key")
        for dotted in keys:
            _check_sweep_key(ctx, dotted, f"{where}[{i}].{dotted}", allowed)
    return values


def _validate_sweep(ctx: ErrorContext, table: dict[str, Any]) -> dict[str, list[Any]]:
    sweep = _flatten_sweep({k: v for k, v in table.items() if k != VARIANT})
    allowed = tuple(k for k in TOP_SCALARS + TOP_TABLES if k not in ("name", "sweep", "launcher")) + ("bits",)
    keys = list(sweep)
    variants = _validate_variants(ctx, table[VARIANT], allowed) if VARIANT in table else None
    for dotted, values in sweep.items():
        where = f'sweep."{dotted}"'
        _check_sweep_key(ctx, dotted, where, allowed)
        if not isinstance(values, list) or not values:
            ctx.fail(where, f"expected a non-empty array of values, got {values!r}")
        seen: set[str] = set()
        for value in values:
            canonical = json.dumps(value, sort_keys=True)  # 1, 1.0 and true stay distinct
            if canonical in seen:
                ctx.fail(where, f"lists {value!r} twice")
            seen.add(canonical)
        for other in keys:
            if other != dotted and other.startswith(dotted + "."):
                ctx.fail(where, f"overlaps sweep key \"{other}\"; sweep one or the other")
    if variants is not None:
        sweep = {VARIANT: variants, **sweep}
    return copy.deepcopy(sweep)

