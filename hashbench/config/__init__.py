"""Experiment files: TOML -> a typed, validated :class:`Experiment`.

The package: :mod:`~hashbench.config.schema` (the dataclasses and the names they allow),
:mod:`~hashbench.config.load` (TOML with syntax positions), :mod:`~hashbench.config.overrides`
(``--set``, ``--unset``, ``${ENV}``), :mod:`~hashbench.config.protocol` (``[eval] protocol`` presets),
:mod:`~hashbench.config.validate` (the primitives and their one-line messages),
:mod:`~hashbench.config.tables` (the rules of each table) and :mod:`~hashbench.config.sweep` (the grid of a
``[sweep]`` and its point names). Import from ``hashbench.config``.

One file is one experiment (or a grid of them, see ``[sweep]``). Every key is checked; an unknown
key is an error with a "did you mean". Component tables (``[dataset]``, ``[backbone]``, ``[head]``,
``[loss]``) need ``name`` (the plugin); their other keys are the plugin factory's parameters and are
checked by the registry when the component is built (``hashbench validate`` does that).

Schema (defaults shown)::

    name   = "demo"       # default: the file's stem. Letters, digits and . _ - + = , @ (it names runs/<name>/)
    seed   = 0            # integer in [0, 2**32)
    device = "auto"       # "auto" (cuda if available, else cpu) | "cpu" | "cuda" | "cuda:N"
    label  = "..."        # optional method label for the leaderboard (default: backbone+head+loss names)

    [method]              # EITHER a method plugin (its keys are its parameters; bits = the code length)
    name = "itq"          # ... with [dataset], and no [backbone]/[head]/[loss]: see `hashbench plugins -k method`
    bits = 64
    [dataset]             # name = a dataset plugin, other keys = its parameters
    name = "moving_digits"
    [backbone]            # OR the triple [backbone], [head] (gets `bits`), [loss], likewise
    name = "r3d18"

    [train]
    epochs = 10           # >= 1
    batch_size = 32       # >= 2 (clips per step: BatchNorm and pairwise losses need two)
    optimizer = { name = "sgd", lr = 1e-4, momentum = 0.9, weight_decay = 5e-4, nesterov = false }
      # or { name = "adam",  lr = 1e-4, betas = [0.9, 0.999], weight_decay = 0.0,  eps = 1e-8 }
      # or { name = "adamw", lr = 1e-4, betas = [0.9, 0.999], weight_decay = 0.01, eps = 1e-8 }
      # or just optimizer = "adam"; keys of another optimizer are errors
    scheduler = "none"    # or { name = "step", step_size = 40 (required), gamma = 0.1 }
                          # or { name = "cosine", t_max = <epochs>, eta_min = 0.0 }; stepped once per epoch
    amp = true            # mixed precision; used only on CUDA
    eval_every = 5        # evaluate every N epochs (>= 1)
    num_workers = 0       # DataLoader worker processes (>= 0)
    skip_zero_loss = true # skip the optimiser step on a batch whose loss is exactly 0 (as the original)
    grad_clip = 1.0       # optional: clip the gradient norm to this value (> 0); unset = no clipping
    sampler = "shuffle"   # or { name = "pk", classes = P, per_class = K }: every batch P classes x K clips
                          # (class-balanced, seeded per epoch; batch_size becomes P * K)
    clip_frames = 16      # optional: train on a random window of this many consecutive frames of each
                          # clip (temporal jitter, seeded per epoch and step); unset = the whole clip
    # distributed runs (torchrun / hashbench run --nproc N): batch_size is the GLOBAL batch per optimizer
    # step, split over processes and accumulation micro-batches (it must divide by world_size x accumulate_steps)
    sync_bn = false       # BatchNorm statistics over the global batch (SyncBatchNorm); per process otherwise
    loss_scope = "global" # "global": the loss sees the whole global batch (codes, labels, indices and
                          # features all-gathered, gradients to each process's own clips); "rank": each
                          # process's loss on its own clips, gradients averaged (DataParallel-like)
    accumulate_steps = 1  # micro-batches per optimizer step; the step's loss is the clip-weighted mean of
                          # the micro-batch losses (equal to the full batch's for per-clip mean losses)
    channels_last_3d = false  # channels-last (NDHWC) memory format for model and clips (faster on GPUs)
    compile = false       # torch.compile the model
    pin_memory = true     # pinned host memory + non-blocking copies (default: on CUDA only)

    [eval]
    protocol = "none"     # or "ssvh": the SSVH papers' map_over_k@K, K = 5, 10, 20, 40, 60, 80, 100, labelled
                          # "map_over_k@K", include_self = true when the dataset's query and database are the
                          # same rows (resolved when the run is built); its metrics come first, then `metrics`
                          # (default [] with a protocol); a listed label equal to one of them is an error
    metrics = ["map", "map@100", "map_tie", "precision@100"]   # spec strings or tables {name=..., label=...}
    select = "last"       # which epoch is reported: "last", or "val" = best on a validation split
                          # carved from the training data, or "test" = best on the test queries (the
                          # original repo's protocol; optimistic, and every row says "best_test:<metric>")
    val_fraction = 0.1    # share of the training clips held out when select = "val" (0 < x < 0.5)
    select_metric = "map" # the metric "val"/"test" maximises (default: the first metric)
    batch_size = 64       # optional batch size for encoding (default: train.batch_size)
    clips = 4             # optional: encode each clip as this many consecutive windows and average
                          # their relaxed codes (and class logits) before the sign; unset = 1

    [sweep]               # dotted keys -> non-empty lists; the run is the cartesian grid (see config.sweep)
    "head.bits" = [16, 32, 48, 64]
    seed = [0, 1, 2]

Every string value (not keys) may use ``${VAR}`` or ``${VAR:-default}`` (the default is used when
VAR is unset or empty); ``$${`` writes a literal ``${``. Overrides (``--set train.epochs=3``) take a
dotted key and a TOML value (``--set eval.metrics=["map"]``; text that is not TOML is a plain string,
``--set dataset.name=ucf101``); they create or replace the key before ``${}`` expansion and validation.
``optimizer = "adam"`` / ``scheduler = "cosine"`` are shorthands for ``{ name = ... }``, expanded before
overrides apply, so ``--set train.optimizer.lr=0.01`` works on either form.

Errors are :class:`~hashbench.errors.ConfigError` with one line: the file, the key path, the value and
what to do (TOML syntax errors give ``file:line:column``).
"""
from __future__ import annotations

from .load import experiment_from_dict, load_experiment
from .overrides import apply_overrides, expand_env, parse_override
from .schema import (BUILTIN_METHOD, COMPONENT_TABLES, COMPONENTS, DEFAULT_METRIC, DEFAULT_METRICS, HASH_EXCLUDE, EvalConfig, Experiment,
                     OptimizerConfig, SamplerConfig, SchedulerConfig, TrainConfig)
from .sweep import expand_sweep, point_names

__all__ = [
    "Experiment", "TrainConfig", "OptimizerConfig", "SchedulerConfig", "SamplerConfig", "EvalConfig",
    "load_experiment", "experiment_from_dict", "parse_override", "apply_overrides", "expand_env",
    "expand_sweep", "point_names", "COMPONENTS", "COMPONENT_TABLES", "BUILTIN_METHOD", "DEFAULT_METRICS", "DEFAULT_METRIC", "HASH_EXCLUDE",
]
