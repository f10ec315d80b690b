"""The error hierarchy. The CLI turns any HashbenchError into one line on stderr and exit code 2.

::

    HashbenchError          a problem of the input, the data, a plugin or the environment (exit 2)
    ├── ConfigError         an experiment file or override: syntax, unknown key, wrong type or range
    ├── PluginError         a plugin is unknown or broken, or raised while building or running
    │   └── ContractError   a component broke the plugin contract (shape, feature_dim, scalar loss...)
    ├── DataError           a dataset, split list, cache or code file is missing or unusable
    ├── CheckpointError     a checkpoint or weight file does not load into the model
    ├── ResultsError        the results table is malformed or cannot be written
    ├── TrainingError       training diverged (a NaN or infinite loss)
    ├── ResourceError       the machine said no: disk full, unwritable path, out of memory
    └── MissingExtraError   an optional extra is not installed (faiss for search, matplotlib for plots)
    RunInterrupted          (a KeyboardInterrupt) SIGINT or SIGTERM stopped a run; the CLI exits 130

``HashbenchError`` itself is raised only by the CLI, for a combination of options it cannot act on
(``hashbench search`` without ``--id``/``--video``, an unknown ``--status``). A plugin's factory may
raise ``ValueError`` for a bad key value (it becomes a ConfigError naming the table); anything else a
plugin raises becomes a PluginError naming the component (:mod:`hashbench.failures`).

Any other exception escaping hashbench is a bug in hashbench: the CLI shows its traceback and asks
for a report. Errors raised inside a run carry the run directory and epoch once the run has recorded
them (:attr:`HashbenchError.run_dir`, :attr:`HashbenchError.epoch`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

__all__ = ["HashbenchError", "ConfigError", "PluginError", "ContractError", "DataError", "CheckpointError",
           "ResultsError", "TrainingError", "ResourceError", "MissingExtraError", "RunInterrupted"]


class HashbenchError(Exception):
    """Base of every error a user can cause or fix (bad config, bad data, broken plugin, full disk)."""

    #: The run directory that recorded this error as ``failed`` (None outside a run).
    run_dir: Optional[Path] = None
    #: The epoch the run was in when it failed (0 = before training).
    epoch: Optional[int] = None


class ConfigError(HashbenchError):
    """An experiment file or an override is malformed: syntax, unknown key, wrong type or range."""


class PluginError(HashbenchError):
    """A plugin is unknown, broken, raised an exception, or two distributions register the same name."""


class ContractError(PluginError):
    """A component broke the plugin contract (see :mod:`hashbench.contract.hookspecs`): wrong shape or type."""


class DataError(HashbenchError):
    """A dataset, split list, cache or code file is missing or unusable."""


class CheckpointError(HashbenchError):
    """A checkpoint or pretrained weight file cannot be loaded into the model."""


class ResultsError(HashbenchError):
    """The results table is malformed or cannot be written."""


class TrainingError(HashbenchError):
    """Training diverged: the loss became NaN or infinite."""


class ResourceError(HashbenchError):
    """The environment refused: no space left, a path that cannot be written, out of (GPU) memory."""


class MissingExtraError(HashbenchError):
    """An optional extra is not installed; the message gives the ``pip install 'hashbench[...]'`` line."""


class RunInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped a run; ``epoch`` is the epoch it was in, ``run_dir`` its directory.

    A KeyboardInterrupt, so ``except Exception`` never swallows it.
    """

    def __init__(self, message: str = "interrupted", *, epoch: Optional[int] = None,
                 run_dir: Optional[Path] = None, signal_name: str = "SIGINT") -> None:
        super().__init__(message)
        self.epoch = epoch
        self.run_dir = run_dir
        self.signal_name = signal_name
