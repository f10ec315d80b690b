"""Which results rows a leaderboard counts: filters (``--where``, ``--datasets``, ``--bits``), the row
grouping (``--group``), and the latest run per (experiment identity, data, seed)."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

from ..errors import ResultsError
from ..suggest import did_you_mean
from .table import RESULT_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["parse_where", "check_group", "as_text", "filter_rows", "text_column", "run_identity", "latest_runs",
           "without_unused_train", "NOT_GROUPABLE"]

#: Results columns that cannot group rows (they are the table's columns and cells).
NOT_GROUPABLE = ("dataset", "bits", "metric", "value", "_line")


def parse_where(items: Iterable[str]) -> dict[str, set[str]]:
    """``["dataset=ucf101,hmdb51", "loss=batch_all_triplet"]`` -> {column: allowed values} (AND of items)."""
    out: dict[str, set[str]] = {}
    for item in items:
        col, sep, value = str(item).partition("=")
        col = col.strip()
        if not sep or not col:
            raise ResultsError(f"--where {item!r}: expected COLUMN=VALUE (e.g. loss=batch_all_triplet)")
        if col not in RESULT_COLUMNS:
            hint = did_you_mean(col, RESULT_COLUMNS)
            raise ResultsError(f"--where {item!r}: unknown column {col!r}{hint}; columns: "
                               f"{', '.join(RESULT_COLUMNS)}")
        values = {v.strip() for v in value.split(",")}
        out[col] = out[col] & values if col in out else values
    return out


def check_group(group: Sequence[str]) -> tuple[str, ...]:
    group = tuple(g.strip() for g in group if g.strip())
    if not group:
        raise ResultsError("--group needs at least one column (e.g. method or method,frames)")
    for col in group:
        if col not in RESULT_COLUMNS or col in NOT_GROUPABLE:
            allowed = [c for c in RESULT_COLUMNS if c not in NOT_GROUPABLE]
            hint = did_you_mean(col, allowed)
            why = " (it is a table column/cell)" if col in NOT_GROUPABLE else ""
            raise ResultsError(f"--group: cannot group rows by {col!r}{why}{hint}; choose from "
                               f"{', '.join(allowed)}")
    return group


def as_text(series: "pd.Series") -> "pd.Series":
    """String form of a column for --where matching and display (missing -> "")."""
    import pandas as pd

    if pd.api.types.is_float_dtype(series):
        return series.map(lambda v: "" if pd.isna(v) else f"{v:g}")
    return series.astype("string").fillna("").astype(str)


def filter_rows(frame: "pd.DataFrame", metric: str, datasets: Sequence[str] | None,
            bits: Sequence[int] | None, where: Mapping[str, set[str]]) -> "pd.DataFrame":
    mask = frame["metric"].astype(str) == metric
    if datasets:
        mask &= frame["dataset"].astype(str).isin(list(datasets))
    if bits:
        mask &= frame["bits"].isin([int(b) for b in bits])
    for col, values in where.items():
        if col in frame.columns:
            mask &= as_text(frame[col]).isin(values)
    return frame[mask.fillna(False).astype(bool)]


def text_column(frame: "pd.DataFrame", col: str) -> "pd.Series":
    """``frame[col]`` as text, or "" everywhere when the frame has no such column (older frames)."""
    import pandas as pd

    if col not in frame.columns:
        return pd.Series([""] * len(frame), index=frame.index, dtype=object)
    return as_text(frame[col])


def run_identity(frame: "pd.DataFrame") -> "pd.Series":
    """What makes two runs repeats of one another (apart from the seed), per row of ``frame``.

    ``config`` plus ``data_checksum`` (a list the identity ignores, e.g. ``lists``, still changes the
    clips); a 0.1 row: its ``config_hash``; a row without either: its own run.
    """
    config = text_column(frame, "config")
    checksum = text_column(frame, "data_checksum")
    config_hash = text_column(frame, "config_hash")
    run_id = text_column(frame, "run_id")
    legacy = ("hash:" + config_hash).where(config_hash != "", "run:" + run_id)
    return ("config:" + config + "\n" + checksum).where(config != "", legacy)


def without_unused_train(results: "pd.DataFrame") -> "pd.DataFrame":
    """``results`` with the ``train.*`` keys dropped from the ``config`` of fit-only runs (``epoch`` 0: the
    method trained no epoch, so those settings never changed a number); such runs that differ only
    there are then repeats of one experiment."""
    if results.empty or "config" not in results.columns or "epoch" not in results.columns:
        return results
    from .compare import canonical

    fit_only = (text_column(results, "epoch") == "0") & (text_column(results, "config") != "")
    if not fit_only.any():
        return results

    def strip(text: str) -> str:
        try:
            config = json.loads(text)
        except ValueError:
            return text
        if not isinstance(config, dict):
            return text
        return canonical({k: v for k, v in config.items() if not k.startswith("train.")})

    frame = results.copy()
    texts = {t: strip(t) for t in set(text_column(frame, "config")[fit_only])}
    frame.loc[fit_only, "config"] = [texts[t] for t in text_column(frame, "config")[fit_only]]
    return frame


def latest_runs(results: "pd.DataFrame") -> "pd.DataFrame":
    """Keep, per (identity, seed), only the rows of the run appended last (highest line number).

    The identity is ``config`` + ``data_checksum`` (rows of 0.1 tables: ``config_hash``; without
    either, the run itself). A row duplicated within that run (same metric twice) counts once (the
    last one).
    """
    if results.empty:
        return results
    frame = results.copy()
    frame["_config"] = run_identity(frame)
    frame["_seed"] = as_text(frame["seed"])
    if "_line" in frame.columns:
        frame = frame.sort_values("_line", kind="stable")
    latest = frame.groupby(["_config", "_seed"], sort=False)["run_id"].transform("last")
    frame = frame[frame["run_id"] == latest]
    frame = frame.drop_duplicates(["_config", "_seed", "metric"], keep="last")
    return frame.drop(columns=["_config", "_seed"])
