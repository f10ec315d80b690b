"""Reading the results table and the published reference rows, every line checked.

:func:`read_results` checks every line and raises :class:`~hashbench.errors.ResultsError` naming the
file and line number for a bad header, a wrong number of fields or a non-numeric value in a numeric
column. A missing file reads as an empty frame with the columns (there are simply no results yet).
:func:`read_published` reads ``published.csv`` with the same line-level checks. The leaderboard only
ever reads; rows are written by :mod:`hashbench.results.table`.
"""
from __future__ import annotations

import csv
import io
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..errors import ResultsError
from .table import (LEGACY_COLUMNS, PUBLISHED_COLUMNS, PUBLISHED_FLOAT_COLUMNS, PUBLISHED_INT_COLUMNS,
                    PUBLISHED_REQUIRED, RESULT_COLUMNS, RESULT_FLOAT_COLUMNS, RESULT_INT_COLUMNS, RESULT_REQUIRED,
                    has_run_id, header_message)

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

__all__ = ["read_results", "read_published", "completed_config_hashes", "has_run"]


def _read_table(path: Path, columns: Sequence[str], int_cols: Sequence[str],
                float_cols: Sequence[str], required: Sequence[str], what: str,
                exact_header: bool) -> "pd.DataFrame":
    """Parse a CSV table line by line (line numbers for errors) into a typed DataFrame."""
    import pandas as pd

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ResultsError(f"{path}: line {line}: not UTF-8 text ({what})") from None
    except OSError as exc:
        raise ResultsError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ResultsError(f"{path}: line 1: unreadable CSV header ({exc})") from None
    if header is None:
        return _empty_frame(columns, int_cols, float_cols)
    header = [h.strip() for h in header]
    if exact_header:
        if tuple(header) != tuple(columns) and not (tuple(columns) == RESULT_COLUMNS
                                                     and tuple(header) == LEGACY_COLUMNS):
            raise ResultsError(header_message(path, header))
    else:
        unknown = [h for h in header if h not in columns]
        missing = [c for c in required if c not in header]
        if unknown or missing or len(set(header)) != len(header):
            raise ResultsError(
                f"{path}: line 1: bad header (unknown: {', '.join(unknown) or 'none'};"
                f" missing: {', '.join(missing) or 'none'}); the columns are {', '.join(columns)}")
    records: list[list[str]] = []
    lines: list[int] = []
    width = len(header)
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ResultsError(f"{path}: line {reader.line_num}: malformed CSV ({exc}); fix or remove"
                               " that line") from None
        if len(fields) != width:
            if not fields or all(not f.strip() for f in fields):
                continue  # blank line
            raise ResultsError(f"{path}: line {reader.line_num}: {len(fields)} fields, expected {width}"
                               f" ({what} columns: {', '.join(header)}); fix or remove that line")
        if not fields[0] and not any(fields):
            continue  # a line of empty fields (",,,")
        records.append(fields)
        lines.append(reader.line_num)
    raw = pd.DataFrame(records, columns=header, dtype=object) if records else \
        pd.DataFrame({h: pd.array([], dtype=object) for h in header})
    line_no = np.asarray(lines, dtype=np.int64)
    out: dict[str, Any] = {}
    for col in columns:
        if col not in raw.columns:
            out[col] = _typed([None] * len(raw), col, int_cols, float_cols)
            continue
        text = raw[col]
        empty = (text == "").to_numpy(dtype=bool)
        if col in required and empty.any():
            lineno = int(line_no[np.argmax(empty)])
            raise ResultsError(f"{path}: line {lineno}: column {col!r} is empty; it is required")
        if col in int_cols or col in float_cols:
            out[col] = _numbers(text, empty, col in int_cols, path, line_no, col)
        else:
            out[col] = pd.array(text.tolist(), dtype=object)
    frame = pd.DataFrame(out, columns=list(columns))
    frame.attrs["source_path"] = str(path)
    frame["_line"] = pd.array(line_no, dtype="int64")
    return frame


def _numbers(text: "pd.Series", empty: np.ndarray, integer: bool, path: Path, line_no: np.ndarray,
             col: str) -> Any:
    """Vectorised int/float parsing of one column; ResultsError naming the first bad line."""
    import pandas as pd

    numbers = pd.to_numeric(text.where(~empty, None), errors="coerce").to_numpy(dtype=float)
    bad = ~empty & np.isnan(numbers)
    if bad.any():  # "nan" written for a metric that was undefined is a number, not an error
        bad &= ~text.str.strip().str.lower().isin(["nan", "+nan", "-nan"]).to_numpy(dtype=bool)
    if integer:
        with np.errstate(invalid="ignore"):
            bad |= ~empty & ~(np.isfinite(numbers) & (np.mod(numbers, 1) == 0))
    if bad.any():
        i = int(np.argmax(bad))
        kind = "an integer" if integer else "a number"
        raise ResultsError(f"{path}: line {int(line_no[i])}: column {col!r} = {text.iloc[i]!r} is not {kind}")
    if integer:
        return pd.arrays.IntegerArray(np.where(empty, 0, numbers).astype(np.int64), mask=empty.copy())
    return pd.array(np.where(empty, np.nan, numbers), dtype="float64")


def _typed(values: list[Any], col: str, int_cols: Sequence[str], float_cols: Sequence[str]) -> Any:
    import pandas as pd

    if col in int_cols:
        return pd.array(values, dtype="Int64")
    if col in float_cols:
        return pd.array(values, dtype="float64")
    return pd.array(values, dtype="object")


def _empty_frame(columns: Sequence[str], int_cols: Sequence[str],
                 float_cols: Sequence[str]) -> "pd.DataFrame":
    import pandas as pd

    frame = pd.DataFrame({c: _typed([], c, int_cols, float_cols) for c in columns})
    frame["_line"] = pd.array([], dtype="int64")
    return frame


def read_results(path: str | os.PathLike[str]) -> "pd.DataFrame":
    """The results table as a DataFrame with RESULT_COLUMNS plus ``_line`` (its line number in the file).

    Types: ``bits``, ``frames``, ``epoch``, ``seed`` nullable ``Int64``; ``value`` float64; the rest
    strings (``time`` is kept as written, ISO 8601). A missing file gives an empty frame with the same
    columns. A bad header, a line with the wrong number of fields, or a non-numeric value in a numeric
    column raises ResultsError naming the file and line.
    """
    path = Path(path)
    if not path.exists():
        log.info("no results table at %s yet", path)
        return _empty_frame(RESULT_COLUMNS, RESULT_INT_COLUMNS, RESULT_FLOAT_COLUMNS)
    if path.is_dir():
        raise ResultsError(f"results table {path} is a directory; pass the CSV file path")
    return _read_table(path, RESULT_COLUMNS, RESULT_INT_COLUMNS, RESULT_FLOAT_COLUMNS,
                       RESULT_REQUIRED, "results table", exact_header=True)


def read_published(path: str | os.PathLike[str]) -> "pd.DataFrame":
    """Published reference rows (PUBLISHED_COLUMNS; optional columns may be left out of the file).

    ``bits``/``frames`` are Int64, ``margin``/``value`` float64. Raises ResultsError naming the file and
    line for malformed content, and when the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise ResultsError(f"published results file {path} not found (pass --published PATH or"
                           " --no-published)")
    return _read_table(path, PUBLISHED_COLUMNS, PUBLISHED_INT_COLUMNS, PUBLISHED_FLOAT_COLUMNS,
                       PUBLISHED_REQUIRED, "published results", exact_header=False)


def completed_config_hashes(path: str | os.PathLike[str]) -> set[str]:
    """Config hashes that already have at least one row in the results table (empty set if no file)."""
    frame = read_results(path)
    return {h for h in frame["config_hash"].tolist() if h}


def has_run(path: str | os.PathLike[str], run_id: str) -> bool:
    """Whether the table at ``path`` holds rows of ``run_id`` (False when there is no table)."""
    path = Path(path)
    if not path.is_file():
        return False
    with open(path, "rb") as handle:
        return has_run_id(handle.fileno(), os.fstat(handle.fileno()).st_size, run_id)
