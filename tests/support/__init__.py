"""The tests' one support module (importable from every test folder: pyproject sets ``pythonpath = ["tests"]``).

- :mod:`support.cli`: repository paths (``ROOT``, ``TEST_DATA``), ``run_cli`` (a real ``hashbench`` subprocess),
  ``run_cli_here`` (the same, in this process),
  the tiny-experiment TOML, an offline ``pip_install`` of a test plugin package, ``replicate_clips``;
- :mod:`support.data_trees`: UCF101-, HMDB-51-, JHMDB- and frame-folder-shaped trees built from the real clips;
- :mod:`support.loss_parity`: tolerances and helpers of the loss parity tests (value and gradient, bank round trip);
- :mod:`support.methods`: the method tests' shared checks (exact resume, state round trip, gradients, bad keys).

The oracles (independent re-derivations of reference code) live in ``tests/references/``. Import from here:
``from support import run_cli, ucf_tree``.
"""
from __future__ import annotations

from .cli import HASHBENCH, ROOT, TEST_DATA, pip_install, replicate_clips, run_cli, run_cli_here, tiny_experiment_text
from .data_trees import (ALL_NINE, KINETICS, RATRACE, SCHOOL, SOCCER_23, SOCCER_24, SPLITS, TRUMAN, TURNK, UCF_TEST,
                         UCF_TRAIN, VIDEOS, PLAN_CLIPS, add_bad_files, media_plan, hmdb_tree, jhmdb_tree, official_lines, place, ucf_tree,
                         write_frames)
from .data_trees import __all__ as _TREES
from .loss_parity import (ATOL, BITS, CLASSES, NUM_TRAIN, RTOL, SEQUENCE, assert_bank_round_trips, onehot, train_labels,
                          value_and_grad)

__all__ = ["HASHBENCH", "ROOT", "TEST_DATA", "pip_install", "replicate_clips", "run_cli", "run_cli_here",
           "tiny_experiment_text",
           *_TREES, "ATOL", "BITS", "CLASSES", "NUM_TRAIN", "RTOL", "SEQUENCE", "assert_bank_round_trips", "onehot",
           "train_labels", "value_and_grad"]
