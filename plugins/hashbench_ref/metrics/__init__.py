"""Reference metrics: torch-free factories returning :class:`hashbench.eval.metrics.Metric` objects.

Every metric ranks the database by Hamming distance (relevant = same class, or multi-hot labels that
share a positive). ``empty`` says what a query whose value is undefined under the convention counts as:
``"zero"`` (default; the original repo's and CSQ/DeepHash's choice) or ``"skip"`` (left out of the mean).
Reference metrics asked for together share one ranking pass (see ``hashbench.eval.evaluation``).
"""
from __future__ import annotations

from typing import Any, Callable


def map_(empty: str = "zero") -> Any:
    """mAP over the whole database: AP / all relevant items, Hamming ties in database order.

    Equals the original repo's ``compute_MAP`` whenever there are no ties. ``empty``: "zero" | "skip"
    for queries without any relevant item.
    """
    from hashbench.eval.metrics import MeanAP

    return MeanAP(empty=empty)


def map_at_k(k: int, empty: str = "zero") -> Any:
    """mAP@k: AP over the top k / relevant items found there, 0 if none (original repo, CSQ, DeepHash).

    ``k`` ranks (``map@100``), Hamming ties in database order.
    """
    from hashbench.eval.metrics import MapAtK

    return MapAtK(k, normalize="retrieved", empty=empty)


def map_over_k_at_k(k: int, include_self: bool | None = None) -> Any:
    """mAP@k divided by k (self-supervised video hashing papers): sum of precision at hits in top k / k.

    ``k`` ranks (``map_over_k@100``), Hamming ties in database order. ``include_self`` (true/false)
    declares that the queries are the database (FCVID all-vs-all) and counts (true, as the papers do) or
    removes (false) each query's own entry; absent: separate sets.
    """
    from hashbench.eval.metrics import MapAtK

    return MapAtK(k, normalize="k", include_self=include_self)


def map_tie(empty: str = "zero") -> Any:
    """Tie-aware mAP: expected AP (whole database) over random orders within equal Hamming distances.

    Closed form (McSherry & Najork 2008); independent of database order.
    """
    from hashbench.eval.metrics import MapTie

    return MapTie(empty=empty)


def map_tie_at_k(k: int, empty: str = "zero") -> Any:
    """Tie-aware mAP@k: expected AP over the top k / relevant items found there, over tie orders.

    The tie group straddling rank k contributes a hypergeometric number of relevant items (closed form).
    """
    from hashbench.eval.metrics import MapTieAtK

    return MapTieAtK(k, empty=empty)


def precision_at_k(k: int) -> Any:
    """Precision@k: relevant items among the top k ranks / k (Hamming ties in database order).

    Divided by min(k, database size).
    """
    from hashbench.eval.metrics import PrecisionAtK

    return PrecisionAtK(k)


def recall_at_k(k: int, empty: str = "zero") -> Any:
    """Recall@k: relevant items among the top k ranks / all relevant items (ties in database order)."""
    from hashbench.eval.metrics import RecallAtK

    return RecallAtK(k, empty=empty)


def precision_at_r(r: int, empty: str = "zero") -> Any:
    """Precision within Hamming radius r (``precision@r2``): relevant / retrieved at distance <= r.

    Queries retrieving nothing within the radius count as 0 (``empty="zero"``) or are skipped.
    """
    from hashbench.eval.metrics import PrecisionAtRadius

    return PrecisionAtRadius(r, empty=empty)


def recall_at_r(r: int, empty: str = "zero") -> Any:
    """Recall within Hamming radius r (``recall@r2``): relevant items at distance <= r / all relevant."""
    from hashbench.eval.metrics import RecallAtRadius

    return RecallAtRadius(r, empty=empty)


FACTORIES: dict[str, Callable[..., Any]] = {
    "map": map_,
    "map@k": map_at_k,
    "map_over_k@k": map_over_k_at_k,
    "map_tie": map_tie,
    "map_tie@k": map_tie_at_k,
    "precision@k": precision_at_k,
    "recall@k": recall_at_k,
    "precision@r": precision_at_r,
    "recall@r": recall_at_r,
}
