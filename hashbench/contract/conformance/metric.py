"""Conformance of a retrieval metric, scored through ``hashbench.score`` on tiny 8-bit code sets.

Checks, in order: ``builds`` (a callable), ``value`` (a finite float on random codes),
``perfect_beats_shuffled`` (codes that are perfect, one per class, score at least as high as the same
codes shuffled across items: higher is better) and ``known_answers`` (the reference metrics give the
exact values of :data:`KNOWN_ANSWERS`).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

from ..registry import REFERENCE_DIST, Component
from .kit import KIT_CONTEXT, PER_CLASS_DB, CheckResult, Checks, CheckSkipped, build, expect, run_kind

__all__ = ["check_metric", "KNOWN_ANSWERS"]

BITS = 8
#: Known answers of the reference metrics: (table, case, expected). Case "ranked": one query (label 0),
#: database at Hamming distances 0, 1, 2, 3 with labels 0, 1, 0, 1 (relevant at ranks 1 and 3, no
#: ties): AP = (1/1 + 2/3) / 2. Case "tied": the same query, every database code equal (labels 1, 0, 1,
#: 0): in database order relevant at ranks 2 and 4, AP = (1/2 + 2/4) / 2 = 0.5; over random tie orders,
#: the mean AP of 2 relevant among 4 is 49/72. Every reference metric is 1 on perfect codes.
KNOWN_ANSWERS: Dict[str, List[tuple]] = {
    "map": [({}, "ranked", 5 / 6), ({}, "tied", 0.5)],
    "map_tie": [({}, "ranked", 5 / 6), ({}, "tied", 49 / 72)],
    "map@k": [({"k": 2}, "ranked", 1.0), ({"k": 4}, "ranked", 5 / 6)],
    "map_over_k@k": [({"k": 2}, "ranked", 0.5), ({"k": 4}, "ranked", (1 + 2 / 3) / 4)],
    "map_tie@k": [({"k": 2}, "ranked", 1.0), ({"k": 4}, "tied", 49 / 72)],
    "precision@k": [({"k": 2}, "ranked", 0.5), ({"k": 3}, "ranked", 2 / 3)],
    "recall@k": [({"k": 1}, "ranked", 0.5), ({"k": 3}, "ranked", 1.0)],
    "precision@r": [({"r": 1}, "ranked", 0.5), ({"r": 0}, "ranked", 1.0)],
    "recall@r": [({"r": 1}, "ranked", 0.5), ({"r": 2}, "ranked", 1.0)],
}


def check_metric(component: Union[Component, Callable[..., Any]], table: Optional[Mapping[str, Any]] = None, *,
                 device: str = "cpu", workdir: Optional[Path] = None) -> List[CheckResult]:
    """Every check of a metric (registered component or bare factory) on tiny code sets."""
    return run_kind("metric", component, table, device=device, workdir=workdir, builds=builds, body=_checks)


def _checks(checks: Checks, metric: Any, component: Component, table: Mapping[str, Any], device: str) -> None:
    checks.run("value", value, component, table)
    checks.run("perfect_beats_shuffled", perfect_beats_shuffled, component, table)
    checks.run("known_answers", known_answers, component, table)


def score(component: Component, table: Mapping[str, Any], qc: Any, ql: Any, dc: Any, dl: Any) -> float:
    """The metric's value through ``hashbench.score`` (codes packed as a run packs them)."""
    import hashbench

    metrics = hashbench.registry().components["metric"]
    name, temporary = component.name, None
    registered = metrics.get(name)
    if registered is None or registered.factory is not component.factory:  # a component built elsewhere
        temporary = name = f"conformance-check-{id(component)}"
        metrics[name] = Component("metric", name, component.factory, component.dist, component.version)
    try:
        values = hashbench.score(qc, ql, dc, dl, [{"name": name, "label": "value", **table}])
    finally:
        if temporary is not None:
            metrics.pop(temporary, None)
    return values["value"]


def labelled_codes() -> tuple:
    """Query and database labels (2 queries and PER_CLASS_DB items per class) and one code per class
    (Hadamard rows: pairwise Hamming distance BITS / 2)."""
    import numpy as np

    hadamard = np.array([[1]])
    while hadamard.shape[0] < BITS:
        hadamard = np.block([[hadamard, hadamard], [hadamard, -hadamard]])
    classes = KIT_CONTEXT["num_classes"]
    return np.repeat(np.arange(classes), 2), np.repeat(np.arange(classes), PER_CLASS_DB), \
        hadamard[:classes].astype(np.int8)


def builds(component: Component, table: Mapping[str, Any], device: str) -> tuple:
    """The factory returns a callable ``(query_codes, query_labels, db_codes, db_labels) -> float``
    (``device`` unused: metrics score packed codes on the CPU)."""
    metric = build(component, table)
    expect(callable(metric), f"the factory returned {type(metric).__name__}, not a callable"
           " (query_codes, query_labels, db_codes, db_labels) -> float")
    return type(metric).__name__, metric


def value(component: Component, table: Mapping[str, Any]) -> str:
    """Random codes score a finite float."""
    import numpy as np

    rng = np.random.default_rng(0)
    query_labels, db_labels, _ = labelled_codes()
    qc = rng.choice([-1, 1], size=(len(query_labels), BITS)).astype(np.int8)
    dc = rng.choice([-1, 1], size=(len(db_labels), BITS)).astype(np.int8)
    result = score(component, table, qc, query_labels, dc, db_labels)
    expect(isinstance(result, float) and math.isfinite(result), f"random codes score {result!r}")
    return f"random codes: {result:.4g}"


def perfect_beats_shuffled(component: Component, table: Mapping[str, Any]) -> str:
    """Perfect codes (one per class) score at least as high as the same codes shuffled across items."""
    import numpy as np

    rng = np.random.default_rng(1)
    query_labels, db_labels, class_codes = labelled_codes()
    qc, dc = class_codes[query_labels], class_codes[db_labels]
    best = score(component, table, qc, query_labels, dc, db_labels)
    shuffled = score(component, table, qc[rng.permutation(len(qc))], query_labels, dc[rng.permutation(len(dc))],
                     db_labels)
    expect(best >= shuffled, f"perfect codes (one per class) score {best:.4g} < class-shuffled codes"
           f" {shuffled:.4g}: higher must be better")
    if component.dist == REFERENCE_DIST and component.name in KNOWN_ANSWERS:
        expect(math.isclose(best, 1.0, abs_tol=1e-9), f"perfect codes score {best!r}, expected 1.0")
    return f"perfect {best:.4g} >= shuffled {shuffled:.4g}"


def known_case(case: str) -> tuple:
    """``(query codes, query labels, db codes, db labels)`` of the ``ranked`` or ``tied`` case."""
    import numpy as np

    query = -np.ones((1, BITS), dtype=np.int8)
    if case == "ranked":
        db = -np.ones((4, BITS), dtype=np.int8)
        for i in range(4):
            db[i, :i] = 1  # Hamming distance i from the query
        return query, np.array([0]), db, np.array([0, 1, 0, 1])
    return query, np.array([0]), -np.ones((4, BITS), dtype=np.int8), np.array([1, 0, 1, 0])


def known_answers(component: Component, table: Mapping[str, Any]) -> str:
    """The reference metrics give the exact values of KNOWN_ANSWERS (other metrics: skipped)."""
    if component.dist != REFERENCE_DIST or component.name not in KNOWN_ANSWERS:
        raise CheckSkipped("no known answers for this metric")
    seen = []
    for extra, case, expected in KNOWN_ANSWERS[component.name]:
        got = score(component, {**table, **extra}, *known_case(case))
        expect(math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12),
               f"{case} case with {extra or 'defaults'}: got {got!r}, expected {expected!r}")
        seen.append(f"{case}{extra or ''}={expected:.4g}")
    return ", ".join(seen)
