"""Results: the run directory, the results table, experiment identities, the leaderboard, plots.

- :mod:`~hashbench.results.rundir`: the one owner of the run-directory layout (file names, record, status);
- :mod:`~hashbench.results.table` / :mod:`~hashbench.results.reading`: ``results.csv`` (appended
  all-or-nothing) and ``published.csv``, read with line-level checks;
- :mod:`~hashbench.results.identity`: what makes two runs the same experiment but for the seed;
- :mod:`~hashbench.results.leaderboard`: the pivot (:mod:`~hashbench.results.rows`,
  :mod:`~hashbench.results.labels`, :mod:`~hashbench.results.columns`, :mod:`~hashbench.results.compare`,
  :mod:`~hashbench.results.board`), rendered by :mod:`~hashbench.results.render`;
- :mod:`~hashbench.results.papers`: the SSVH papers' table (methods x K per dataset/bits block), from the
  same boards; :mod:`~hashbench.results.published`: the shipped and added reference rows;
- :mod:`~hashbench.results.plots`: PNG plots (the ``plot`` extra).
"""
from __future__ import annotations

from .reading import completed_config_hashes, has_run, read_published, read_results
from .table import (DEFAULT_RESULTS, LEGACY_COLUMNS, PUBLISHED_COLUMNS, RESULT_COLUMNS, RESULT_FLOAT_COLUMNS,
                    RESULT_INT_COLUMNS, RESULTS_ENV, append_rows, append_run_rows, check_table,
                    default_results_path, metric_rows)

__all__ = ["RESULT_COLUMNS", "LEGACY_COLUMNS", "RESULT_INT_COLUMNS", "RESULT_FLOAT_COLUMNS", "PUBLISHED_COLUMNS",
           "RESULTS_ENV", "DEFAULT_RESULTS", "default_results_path", "metric_rows", "append_rows", "append_run_rows",
           "check_table", "read_results", "read_published", "completed_config_hashes", "has_run"]
