"""Independent re-derivation of the mAP function shared by the self-supervised video hashing code bases
(SSVH, BTH, DKPH, MCMSH, ConMH, S5VH and AutoSSVH ``tools.py::mAP``, with its caller), for parity tests.

Written from the references' behaviour, per query with Python loops, sharing nothing with hashbench's
ranking pass:

- codes are ±1; the Hamming distance of database item ``j`` to query ``q`` is
  ``0.5 * (bits - <b_j, b_q>)`` (float), one column per query;
- each column is sorted ascending with ``np.argsort``; the references use numpy's default kind
  (quicksort, not stable), ``kind`` here defaults to ``"stable"`` (ties by database index), the order
  hashbench defines;
- an item is relevant when the label dot product ``<l_j, l_q>`` is positive (a shared label);
- walking ranks ``r = 1..K``: each relevant item adds ``hits_so_far / r``; the query's AP is that sum
  divided by **K** (not by the hits), 0 when nothing relevant was found; mAP@K is the mean over queries.

FCVID is all-vs-all: the query set is the database and each query's own entry stays in its ranking.
``exclude_self=True`` drops it (for hashbench's ``include_self=False``).

Source (read, not copied): ``utils/tools.py::mAP`` of huangmozhi9527/ConMH and gimpong/AAAI25-S5VH;
``SSVH/tools.py::mAP`` of lixiangpengcs/Self-Supervised-Video-Hashing.
"""
from __future__ import annotations

import numpy as np


def hamming_column(db_codes: np.ndarray, query_code: np.ndarray) -> np.ndarray:
    """Distances ``(nd,)`` float64 of every database code to one query, from ±1 codes."""
    bits = db_codes.shape[1]
    dots = np.array([float(np.dot(db_codes[j].astype(np.float64), query_code.astype(np.float64)))
                     for j in range(db_codes.shape[0])])
    return 0.5 * (bits - dots)


def papers_ap(ranking: list[int], relevant: list[bool], k: int) -> float:
    """The AP of one query over its top ``k`` (``ranking``: database indices, best first), divided by k."""
    hits, total = 0, 0.0
    for r in range(min(k, len(ranking))):
        if relevant[ranking[r]]:
            hits += 1
            total += hits / (r + 1.0)
    return 0.0 if total == 0 else total / float(k)


def papers_map(db_codes: np.ndarray, db_labels: np.ndarray, query_codes: np.ndarray,
               query_labels: np.ndarray, ks: list[int], kind: str = "stable",
               exclude_self: bool = False) -> dict[int, float]:
    """``{K: mAP@K / K}`` over all queries. Codes ±1 ``(N, bits)``; labels multi-hot ``(N, C)``.

    ``kind``: numpy's argsort kind (``"quicksort"``: the references' own, unstable tie order).
    ``exclude_self``: the queries are the database and query ``i``'s own entry ``i`` is dropped.
    """
    per_k: dict[int, list[float]] = {k: [] for k in ks}
    for q in range(query_codes.shape[0]):
        column = hamming_column(db_codes, query_codes[q])
        ranking = [int(j) for j in np.argsort(column, kind=kind)]
        if exclude_self:
            ranking = [j for j in ranking if j != q]
        relevant = [float(np.dot(db_labels[j].astype(np.float64), query_labels[q].astype(np.float64))) > 0
                    for j in range(db_codes.shape[0])]
        for k in ks:
            per_k[k].append(papers_ap(ranking, relevant, k))
    return {k: float(np.mean(values)) for k, values in per_k.items()}
