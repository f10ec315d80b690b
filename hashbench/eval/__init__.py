"""Evaluation: scoring binary codes by Hamming ranking, exactly, under named conventions.

- :mod:`~hashbench.eval.relevance`: who is relevant to whom (same class, or a shared positive);
- :mod:`~hashbench.eval.ranking`: the ranking pass, per-query integer statistics
  (:mod:`~hashbench.eval.stats`) shared by every metric, on one of three backends:
  :mod:`~hashbench.eval.rank_numba` (the compiled kernel is :mod:`~hashbench.eval._kernels`),
  :mod:`~hashbench.eval.rank_numpy`, :mod:`~hashbench.eval.rank_torch`;
- :mod:`~hashbench.eval.tie_aware`: closed forms of the expected AP over orderings of ties;
- :mod:`~hashbench.eval.metrics`: the metric definitions (:class:`Metric` and the reference metrics;
  public, for metric plugins);
- :mod:`~hashbench.eval.ssvh`: the self-supervised video hashing protocol's specs (``map_over_k@K`` at
  K = 5..100, ``include_self`` for all-vs-all);
- :mod:`~hashbench.eval.evaluation`: metric specs -> values, conventions and undefined-query counts;
- :mod:`~hashbench.eval.rescore`: scoring a finished run's stored codes again;
- :mod:`~hashbench.eval.search`: FAISS search over a finished run's database (the ``search`` extra).
"""
from __future__ import annotations

from .evaluation import Evaluation, build_metrics, evaluate, evaluate_metrics, score_codes
from .metrics import Metric, MetricResult, pr_curve
from .ranking import Needs, RankStats, compute_stats
from .relevance import Relevance
from .rescore import pr_curve_of_run, rescore_run

__all__ = ["Evaluation", "build_metrics", "evaluate", "evaluate_metrics", "score_codes", "Metric", "MetricResult",
           "pr_curve", "Needs", "RankStats", "compute_stats", "Relevance", "rescore_run", "pr_curve_of_run"]
