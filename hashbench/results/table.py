"""The results table ``results/results.csv``: its columns and the one way rows are written (appended).

(About 300 lines: the all-or-nothing append — lock, one write, fsync, truncate back — and the upgrade
of 0.1 tables are spelled out here, next to the columns they write.)

``results.csv`` is tidy: one row per (run, metric) with the columns :data:`RESULT_COLUMNS`, in that
order, written with the :mod:`csv` module (one physical line per row; fields never contain newlines).
Rows are only ever *appended* (:func:`append_rows`): under an exclusive lock on ``<path>.lock``, all
rows of one call go to the file in a single ``write`` followed by ``fsync``, so runs that finish at
the same moment in different processes never lose, duplicate or interleave rows. An append is all or
nothing: if the write or the fsync fails (no space left, ...), the file is truncated back to its old
size. :func:`append_run_rows` appends a run's rows at most once (a resumed run whose id is already in
the table appends nothing). The leaderboard only reads the table; the one rewrite is the upgrade of a
table written by hashbench 0.1 (:data:`LEGACY_COLUMNS`), which gains the new columns, empty.

The columns ``data_origin`` (``official`` lists, ``custom`` lists or ``generated`` data), ``skipped``
(listed videos left out by ``missing = "skip"``) and ``config`` (the experiment's identity without the
seed, canonical JSON, see :mod:`hashbench.results.identity`) let the leaderboard average only comparable runs.

Reading the tables (with line-level checks) is :mod:`hashbench.results.reading`. ``published.csv``
(:data:`PUBLISHED_COLUMNS`) holds reference numbers from papers and original repositories together with
their source and metric convention; its optional ``family`` column (``supervised`` / ``unsupervised``)
places a row in the leaderboard's family section (:mod:`hashbench.results.families`).
"""
from __future__ import annotations

import csv
import errno
import io
import logging
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..atomic import write_text_atomic
from ..errors import ResultsError

log = logging.getLogger(__name__)

__all__ = ["RESULT_COLUMNS", "LEGACY_COLUMNS", "RESULT_INT_COLUMNS", "RESULT_FLOAT_COLUMNS", "RESULT_REQUIRED",
           "PUBLISHED_COLUMNS", "PUBLISHED_INT_COLUMNS", "PUBLISHED_FLOAT_COLUMNS", "PUBLISHED_REQUIRED",
           "RESULTS_ENV", "DEFAULT_RESULTS", "default_results_path", "metric_rows", "append_rows",
           "append_run_rows", "check_table", "check_tail", "header_message", "has_run_id"]

RESULT_COLUMNS: tuple[str, ...] = (
    "run_id", "time", "experiment", "method", "dataset", "split", "data_checksum", "backbone", "head",
    "loss", "bits", "frames", "metric", "value", "epoch", "selection", "seed", "config_hash",
    "hashbench_version", "torch_version", "git_commit", "device", "data_origin", "skipped", "config",
)
#: The columns of tables written by hashbench 0.1 (read as they are; upgraded on the next append).
LEGACY_COLUMNS: tuple[str, ...] = RESULT_COLUMNS[:RESULT_COLUMNS.index("data_origin")]
#: Integer columns of results.csv (empty cells read as missing, ``<NA>``).
RESULT_INT_COLUMNS: tuple[str, ...] = ("bits", "frames", "epoch", "seed", "skipped")
#: Float columns of results.csv (a value is required).
RESULT_FLOAT_COLUMNS: tuple[str, ...] = ("value",)
#: Columns that must not be empty in results.csv.
RESULT_REQUIRED: tuple[str, ...] = ("run_id", "method", "dataset", "bits", "metric", "value")

PUBLISHED_COLUMNS: tuple[str, ...] = (
    "source", "method", "dataset", "bits", "frames", "margin", "metric", "value", "selection", "note",
    "url", "family",
)
PUBLISHED_INT_COLUMNS: tuple[str, ...] = ("bits", "frames")
PUBLISHED_FLOAT_COLUMNS: tuple[str, ...] = ("margin", "value")
PUBLISHED_REQUIRED: tuple[str, ...] = ("source", "method", "dataset", "metric", "value")

RESULTS_ENV = "HASHBENCH_RESULTS"
DEFAULT_RESULTS = Path("results") / "results.csv"
LOCK_TIMEOUT_S = 120.0
MOVE_ASIDE = (f"move the file aside (e.g. rename it) so a new table is started, or point {RESULTS_ENV}/--results"
              " at another file")


def default_results_path() -> Path:
    """The results table: ``$HASHBENCH_RESULTS`` if set, else ``results/results.csv`` (relative to cwd)."""
    env = os.environ.get(RESULTS_ENV, "").strip()
    return Path(env) if env else DEFAULT_RESULTS


# -- writing ----------------------------------------------------------------------------------------
def metric_rows(base: Mapping[str, Any], metrics: Mapping[str, float]) -> list[dict[str, Any]]:
    """One results row per metric: ``base`` (every column except ``metric``/``value``) + name + value.

    Raises ResultsError when ``base`` lacks a column or has one that is not in RESULT_COLUMNS.
    """
    expected = set(RESULT_COLUMNS) - {"metric", "value"}
    missing = sorted(expected - set(base))
    extra = sorted(set(base) - expected)
    if missing or extra:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unexpected {', '.join(extra)}"] if extra else [])
        raise ResultsError(f"results row base has the wrong columns ({'; '.join(parts)});"
                           f" it needs exactly: {', '.join(c for c in RESULT_COLUMNS if c in expected)}")
    out = []
    for name, value in metrics.items():
        extra_values = {"metric": str(name), "value": float(value)}
        out.append({c: extra_values[c] if c in extra_values else base[c] for c in RESULT_COLUMNS})
    return out


def _format_field(column: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value)) if column in RESULT_INT_COLUMNS else str(value)
    if isinstance(value, float):
        if column in RESULT_INT_COLUMNS and value.is_integer():
            return str(int(value))
        return repr(value) if math.isfinite(value) else str(value)
    text = str(value)
    if "\n" in text or "\r" in text:
        raise ResultsError(f"results column {column!r} value {text[:40]!r} contains a line break;"
                           " results fields must be single-line")
    return text


def _serialise(rows: Sequence[Mapping[str, Any]], header: bool) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header:
        writer.writerow(RESULT_COLUMNS)
    for i, row in enumerate(rows):
        keys = set(row)
        if keys != set(RESULT_COLUMNS):
            missing = sorted(set(RESULT_COLUMNS) - keys)
            extra = sorted(keys - set(RESULT_COLUMNS))
            raise ResultsError(f"results row {i} has the wrong columns (missing: {missing or 'none'};"
                               f" unexpected: {extra or 'none'}); build rows with metric_rows()")
        fields = [_format_field(c, row[c]) for c in RESULT_COLUMNS]
        for c in RESULT_REQUIRED:
            if fields[RESULT_COLUMNS.index(c)] == "":
                raise ResultsError(f"results row {i}: column {c!r} is empty; it is required")
        _check_number(fields[RESULT_COLUMNS.index("value")], float, f"results row {i} column 'value'")
        for c in RESULT_INT_COLUMNS:
            text = fields[RESULT_COLUMNS.index(c)]
            if text:
                _check_number(text, int, f"results row {i} column {c!r}")
        writer.writerow(fields)
    return buf.getvalue()


def _check_number(text: str, kind: type, where: str) -> None:
    try:
        kind(text)
    except ValueError:
        raise ResultsError(f"{where}: {text!r} is not {'an integer' if kind is int else 'a number'}") \
            from None


def append_rows(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]], *,
                skip_run_id: str | None = None) -> int:
    """Append ``rows`` (dicts with exactly RESULT_COLUMNS) to the CSV table at ``path``; return the count.

    Creates the parent directory and the header when the file is new. Safe for concurrent processes:
    an exclusive lock on ``<path>.lock``, then one ``write`` + fsync of all rows; on a failed write the
    file is truncated back (all or nothing). With ``skip_run_id``, nothing is appended (0 returned) when
    a row of that run id is already in the table. Raises ResultsError if a row is malformed (nothing is
    written), the existing header differs or is damaged, the last line is a torn row (:func:`check_tail`), or
    the disk refuses (the table is left as it was).
    """
    path = Path(path)
    rows = list(rows)
    if not rows:
        return 0
    body = _serialise(rows, header=False)  # validate before touching the file
    from filelock import FileLock, Timeout

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S)
        with lock:
            if path.is_file():
                check_tail(path, path.read_bytes())
            if _header_of(path) == LEGACY_COLUMNS:
                _upgrade_legacy(path)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                size = os.fstat(fd).st_size
                if size == 0:
                    data = _serialise([], header=True) + body
                else:
                    _check_header_fd(fd, path)
                    if skip_run_id is not None and has_run_id(fd, size, skip_run_id):
                        log.info("%s: rows of run %s are already in the table; not appended again",
                                 path, skip_run_id)
                        return 0
                    # a hand edit may have left the last line without its newline
                    prefix = "" if os.pread(fd, 1, size - 1) == b"\n" else "\n"
                    data = prefix + body
                _write_all_or_nothing(fd, data.encode("utf-8"), size)
            finally:
                os.close(fd)
    except Timeout:
        raise ResultsError(f"could not lock {path}.lock within {LOCK_TIMEOUT_S:.0f} s; another process"
                           " holds it (delete the .lock file only if no hashbench run is active)") from None
    except OSError as exc:
        raise ResultsError(f"cannot append to results table {path}: {exc.strerror or exc}; the table is"
                           " unchanged") from None
    log.debug("appended %d rows to %s", len(rows), path)
    return len(rows)


def append_run_rows(path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]]) -> int:
    """Append one run's rows unless rows of its run id are already there (a resumed run); the count."""
    if not rows:
        return 0
    return append_rows(path, rows, skip_run_id=str(rows[0]["run_id"]))


def _write_all_or_nothing(fd: int, payload: bytes, size: int) -> None:
    """Write ``payload`` at the end of ``fd`` and fsync; on any failure truncate back to ``size``."""
    try:
        written = 0
        while written < len(payload):  # a short write (disk nearly full) is followed by ENOSPC
            n = os.write(fd, payload[written:])
            if n <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            written += n
        os.fsync(fd)
    except BaseException:
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        except OSError:  # pragma: no cover - the truncate itself failed: nothing more can be done
            log.error("could not truncate the results table back to %d bytes", size)
        raise


def has_run_id(fd: int, size: int, run_id: str) -> bool:
    """Whether a line of the table (after the header) starts with ``run_id`` as its first field."""
    data = os.pread(fd, size, 0).decode("utf-8", errors="replace")
    needle = run_id + ","
    return any(line.startswith(needle) for line in data.split("\n")[1:])


def _header_of(path: Path) -> tuple[str, ...] | None:
    """The header fields of an existing, non-empty table (None when missing or empty)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(64 * 1024)
    except FileNotFoundError:
        return None
    if not head:
        return None
    return _parse_header(path, head)


def _parse_header(path: Path, head: bytes) -> tuple[str, ...]:
    """The fields of the first line of ``head``; ResultsError (one line) when it is not valid CSV, e.g. a
    carriage return inside a column name."""
    line = head.decode("utf-8", errors="replace").split("\n", 1)[0].rstrip("\r")
    try:
        return tuple(next(csv.reader([line], strict=True), []))
    except csv.Error as exc:
        reason = "a carriage return inside a column name" if "\r" in line else f"not valid CSV: {exc}"
        raise ResultsError(f"{path}: line 1: the header is damaged ({reason}: {line[:60]!r}); {MOVE_ASIDE}") \
            from None


def _upgrade_legacy(path: Path) -> None:
    """Rewrite a hashbench 0.1 table with today's columns (new cells empty), atomically."""
    text = path.read_text(encoding="utf-8")
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(RESULT_COLUMNS)
    pad = [""] * (len(RESULT_COLUMNS) - len(LEGACY_COLUMNS))
    for fields in reader:
        writer.writerow(fields + pad if fields else fields)
    write_text_atomic(path, buf.getvalue())
    log.warning("%s: upgraded the table to the columns of hashbench %s (added %s)", path,
                _version(), ", ".join(RESULT_COLUMNS[len(LEGACY_COLUMNS):]))


def _version() -> str:
    from .. import __version__

    return __version__


def check_table(path: str | os.PathLike[str]) -> None:
    """Fail now (ResultsError) if rows could not be appended to ``path`` later: bad or damaged header, a
    torn last row, unreadable or unwritable file, or a folder that cannot be created. Run before training."""
    path = Path(path)
    if path.is_dir():
        raise ResultsError(f"results table {path} is a directory; pass the CSV file path")
    if path.exists():
        try:
            header = _header_of(path)
            data = path.read_bytes() if header is not None else b""
        except OSError as exc:
            raise ResultsError(f"cannot read results table {path}: {exc.strerror or exc}") from None
        if header is not None and header not in (RESULT_COLUMNS, LEGACY_COLUMNS):
            raise ResultsError(header_message(path, list(header)))
        check_tail(path, data)
        if not os.access(path, os.W_OK):
            raise ResultsError(f"results table {path} is not writable; fix its permissions or pass"
                               f" --results / {RESULTS_ENV} with another file (or --no-record)")
        return
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ResultsError(f"results table {path}: cannot create it under {parent}; pass --results /"
                           f" {RESULTS_ENV} with a writable path (or --no-record)")


def _check_header_fd(fd: int, path: Path) -> None:
    found = _parse_header(path, os.pread(fd, 64 * 1024, 0))
    if found != RESULT_COLUMNS:
        raise ResultsError(header_message(path, found))


def check_tail(path: Path, data: bytes) -> None:
    """ResultsError when the table's last line (``data`` is the whole file) was torn mid-row by a crash or
    a full disk: it has no line end and is not a whole row. A whole row that only lacks its line end (a
    hand edit) passes. The message gives the command that drops the torn line."""
    if not data or data.endswith(b"\n"):
        return
    start = data.rfind(b"\n") + 1
    if start == 0:
        return  # the header line alone, checked by the header check
    width = len(_parse_header(path, data))
    try:
        fields = next(csv.reader([data[start:].decode("utf-8", errors="replace")], strict=True), [])
    except csv.Error:
        fields = []
    if len(fields) == width:
        return
    line = data.count(b"\n") + 1
    raise ResultsError(f"{path}: line {line}: the last row is torn (cut off mid-row, {len(data) - start} bytes"
                       f" without a line end); no rows are added after it. Drop that line, keeping lines 1-{line - 1}:"
                       f" `truncate -s {start} {path}`")


def header_message(path: Path, found: Sequence[str]) -> str:
    missing = [c for c in RESULT_COLUMNS if c not in found]
    extra = [c for c in found if c not in RESULT_COLUMNS]
    detail = []
    if missing:
        detail.append(f"missing {', '.join(missing)}")
    if extra:
        detail.append(f"unexpected {', '.join(extra[:5])}")
    if not detail:
        detail.append("columns in a different order")
    return (f"{path}: line 1: the header does not match hashbench's results columns ({'; '.join(detail)});"
            f" {MOVE_ASIDE}")
