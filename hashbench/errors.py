"""The error hierarchy. The CLI turns any HashbenchError into one line on stderr and exit code 2."""
from __future__ import annotations


class HashbenchError(Exception):
    """Base of every error a user can cause (bad config, bad data, missing file, broken plugin)."""


class ConfigError(HashbenchError):
    """An experiment file or an override is malformed: syntax, unknown key, wrong type or range."""


class PluginError(HashbenchError):
    """A plugin is unknown, broken, or two distributions register the same component name."""


class DataError(HashbenchError):
    """A dataset, split list, cache or code file is missing or unusable."""


class CheckpointError(HashbenchError):
    """A checkpoint or pretrained weight file cannot be loaded into the model."""


class ResultsError(HashbenchError):
    """The results table is malformed or cannot be written."""
