"""Retrieval search over a finished run's database with a FAISS binary index (the ``search`` extra).

(About 300 lines: the index (build, save, load, query), a run's videos and labels, and encoding a new
video the way the run read its clips — everything ``hashbench search`` needs, and nothing else uses.)

The index is built from the run's packed database codes (``codes.npz``) and saved beside them as
``<run_dir>/index-<kind>.faiss`` (written atomically); FAISS row ``i`` is database item ``i``, whose
video id and label come from ``codes.npz``. Index kinds:

- ``flat`` (default): ``IndexBinaryFlat``, exact Hamming top-k;
- ``hash``: ``IndexBinaryHash`` on the first ``hash_bits`` bits, probing buckets within ``nflip`` flips
  (approximate: items whose hashed prefix differs in more bits are not found);
- ``ivf``: ``IndexBinaryIVF`` with ``nlist`` Hamming k-means cells, ``nprobe`` probed (approximate).

Queries are video ids of the run (its query split, else its database) or video files encoded with the
run's model (its weights and the clip geometry its dataset reported, recorded in ``record.json``). Results within a query are
ordered by (distance, database index), i.e. ties in database order like the metrics.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..atomic import atomic_path
from ..codes import PackedCodes, load_codes, pack_codes
from ..contract import key_modes
from ..errors import CheckpointError, DataError, MissingExtraError
from ..results.rundir import RunDir
from ..suggest import did_you_mean

__all__ = ["INDEX_KINDS", "INSTALL_HINT", "import_faiss", "build_index", "save_index", "load_index",
           "search_index", "RunSearch", "Hit", "encode_video", "clip_geometry_of_run", "RunVideos", "label_text"]

INDEX_KINDS = ("flat", "hash", "ivf")
INSTALL_HINT = "faiss is not installed; install the search extra: pip install 'hashbench[search]'"


def import_faiss() -> Any:
    """The ``faiss`` module, or a MissingExtraError saying how to install it."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        raise MissingExtraError(INSTALL_HINT) from None
    return faiss


def build_index(codes: PackedCodes, kind: str = "flat", *, nlist: int | None = None,
                nprobe: int | None = None, hash_bits: int | None = None, nflip: int = 2) -> Any:
    """A FAISS binary index of ``codes`` (row i = code i). See the module docstring for the kinds.

    Defaults: ``nlist = round(sqrt(N))``, ``nprobe = min(nlist, 8)``, ``hash_bits = min(bits, 16)``.
    """
    faiss = import_faiss()
    if kind not in INDEX_KINDS:
        raise DataError(f"unknown index kind {kind!r}; choose one of {', '.join(INDEX_KINDS)}")
    if codes.n == 0:
        raise DataError("cannot index an empty database")
    dim = codes.words.shape[1] * 8  # padding bits are 0 on both sides: distances are unchanged
    words = np.ascontiguousarray(codes.words)
    if kind == "flat":
        index = faiss.IndexBinaryFlat(dim)
    elif kind == "hash":
        b = int(hash_bits or min(codes.bits, 16))
        if not 1 <= b <= codes.bits:
            raise DataError(f"hash_bits must lie in 1..{codes.bits}, got {b}")
        index = faiss.IndexBinaryHash(dim, b)
        index.nflip = int(nflip)
    else:
        cells = int(nlist or max(1, round(math.sqrt(codes.n))))
        if not 1 <= cells <= codes.n:
            raise DataError(f"nlist must lie in 1..{codes.n} (database size), got {cells}")
        quantizer = faiss.IndexBinaryFlat(dim)
        index = faiss.IndexBinaryIVF(quantizer, dim, cells)
        index._hashbench_quantizer = quantizer  # keep the quantizer alive with the index
        index.train(words)
        index.nprobe = int(nprobe or min(cells, 8))
    index.add(words)
    return index


def save_index(index: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``index`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    faiss = import_faiss()
    path = Path(path)
    with atomic_path(path) as tmp:
        faiss.write_index_binary(index, str(tmp))
    return path


def load_index(path: str | os.PathLike[str]) -> Any:
    """Read a binary index written by :func:`save_index` (DataError if unreadable)."""
    faiss = import_faiss()
    try:
        return faiss.read_index_binary(str(path))
    except RuntimeError as exc:
        text = str(exc).strip().splitlines()
        raise DataError(f"{path}: not a readable FAISS binary index ({text[-1] if text else exc})") from None


def search_index(index: Any, queries: PackedCodes, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` ``(distances, rows)`` per query, each ``(nq, k')`` with ``k' = min(k, ntotal)``.

    Rows the index could not fill (approximate kinds) are -1. Within a query, results are ordered by
    (distance, row).
    """
    if k < 1:
        raise DataError(f"k must be >= 1, got {k}")
    k_eff = int(min(k, index.ntotal))
    distances, rows = index.search(np.ascontiguousarray(queries.words), k_eff)
    missing = rows < 0
    order_key = np.where(missing, np.iinfo(np.int64).max, distances.astype(np.int64) * (index.ntotal + 1)
                         + rows)
    order = np.argsort(order_key, axis=1, kind="stable")
    return np.take_along_axis(distances, order, 1), np.take_along_axis(rows, order, 1)


@dataclass(frozen=True)
class Hit:
    """One retrieved database item."""

    rank: int
    id: str
    label: Any
    distance: int
    relevant: bool | None


def label_text(label: Any, class_names: Sequence[str]) -> str:
    """``3 (up)`` for a class id (``3`` without class names); multi-label lists join with ``, ``."""
    if isinstance(label, list):
        return ", ".join(label_text(item, class_names) for item in label) or "-"
    if label is None:
        return ""
    index = int(label)
    return f"{index} ({class_names[index]})" if 0 <= index < len(class_names) else str(index)


class RunVideos:
    """The video ids, labels and class names of a finished run (``codes.npz`` + ``record.json``); no FAISS."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run = RunDir(Path(run_dir))
        self.run_dir = self.run.path
        if not self.run.codes_path.is_file():
            raise DataError(f"{self.run_dir}: not a finished run directory (no codes.npz); runs live in"
                            " runs/<experiment>/<run_id>/")
        self.codes = load_codes(self.run.codes_path)
        record = self.run.read_record() if self.run.record_path.is_file() else {}
        self.class_names: list[str] = [str(c) for c in record.get("class_names", [])]

    def _label(self, labels: np.ndarray, i: int) -> Any:
        value = labels[i]
        return [int(j) for j in np.flatnonzero(value)] if labels.ndim == 2 else int(value)

    def listing(self) -> list[dict[str, Any]]:
        """Every video of the run: ``{"split": "query"|"database", "id", "label", "class"}``."""
        out = []
        for side, split in (("query", "query"), ("db", "database")):
            labels = self.codes[f"{side}_labels"]
            ids = self.codes[f"{side}_ids"] or [str(i) for i in range(len(labels))]
            for i, vid in enumerate(ids):
                label = self._label(labels, i)
                out.append({"split": split, "id": vid, "label": label,
                            "class": label_text(label, self.class_names)})
        return out


class RunSearch(RunVideos):
    """Search a finished run's database: ``RunSearch(run_dir).query_ids(["v_x"], k=10)``.

    Loads ``codes.npz``; the index ``index-<kind>.faiss`` is loaded when present and consistent, else
    built and saved (``rebuild=True`` forces it).
    """

    def __init__(self, run_dir: str | os.PathLike[str], kind: str = "flat", *, rebuild: bool = False,
                 **index_params: Any) -> None:
        super().__init__(run_dir)
        self.db: PackedCodes = self.codes["db_codes"]
        n_db = self.db.n
        self.db_ids = self.codes["db_ids"] or [str(i) for i in range(n_db)]
        if kind not in INDEX_KINDS:
            raise DataError(f"unknown index kind {kind!r}; choose one of {', '.join(INDEX_KINDS)}")
        self.index_path = self.run.index_path(kind)
        self.built = False
        index = None
        if self.index_path.is_file() and not rebuild:
            index = load_index(self.index_path)
            if index.ntotal != n_db or index.d != self.db.words.shape[1] * 8:
                index = None  # stale (codes rewritten): rebuild
        if index is None:
            index = build_index(self.db, kind, **index_params)
            save_index(index, self.index_path)
            self.built = True
        elif kind == "ivf" and index_params.get("nprobe"):
            index.nprobe = int(index_params["nprobe"])
        self.index = index

    def lookup(self, video_id: str) -> tuple[PackedCodes, Any, np.ndarray]:
        """The code, label and label row of a video id of this run (query split first, then database)."""
        for side in ("query", "db"):
            ids = self.codes[f"{side}_ids"] or []
            if video_id in ids:
                i = ids.index(video_id)
                labels = self.codes[f"{side}_labels"]
                return self.codes[f"{side}_codes"][i], self._label(labels, i), labels[i]
        known = (self.codes["query_ids"] or []) + (self.codes["db_ids"] or [])
        raise DataError(f"video id {video_id!r} is not in {self.run.codes_path}{did_you_mean(video_id, known)}")

    def _hits(self, code: PackedCodes, label_row: np.ndarray | None, k: int) -> list[Hit]:
        distances, rows = search_index(self.index, code, k)
        db_labels = self.codes["db_labels"]
        hits = []
        for rank, (dist, row) in enumerate(zip(distances[0], rows[0]), start=1):
            if row < 0:
                continue
            relevant = None
            if label_row is not None:
                other = db_labels[row]
                relevant = bool(np.any(other & label_row)) if db_labels.ndim == 2 else bool(other == label_row)
            hits.append(Hit(rank, self.db_ids[row], self._label(db_labels, int(row)), int(dist), relevant))
        return hits

    def query_ids(self, video_ids: Sequence[str], k: int = 10) -> list[dict[str, Any]]:
        """Top-k for each video id: ``[{"query", "label", "hits": [Hit, ...]}]``."""
        out = []
        for vid in video_ids:
            code, label, row = self.lookup(vid)
            out.append({"query": vid, "label": label, "hits": self._hits(code, row, k)})
        return out

    def query_videos(self, paths: Sequence[str | os.PathLike[str]], k: int = 10,
                     device: str = "cpu") -> list[dict[str, Any]]:
        """Top-k for video files encoded with the run's model (label unknown: ``relevant`` is None)."""
        out = []
        for path in paths:
            code = encode_video(self.run_dir, path, device=device)
            out.append({"query": str(path), "label": None, "hits": self._hits(code, None, k)})
        return out


def clip_geometry_of_run(record: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """``{"num_frames": T, "resize": [H, W] or None, "crop": side or None}`` of a run's clips: what its
    dataset reported (``clip_geometry()``, recorded in ``record.json``), else :func:`_legacy_clip_geometry`."""
    recorded = record.get("clip_geometry")
    if isinstance(recorded, dict) and recorded.get("num_frames"):
        return recorded
    row = record.get("row", {})
    frames = int(row.get("frames") or config["dataset"].get("num_frames", 32))
    return _legacy_clip_geometry(config["dataset"], frames)


def _legacy_clip_geometry(dataset: dict[str, Any], frames: int) -> dict[str, Any]:
    """The clip geometry of a run recorded before datasets reported theirs (hashbench 0.1, no
    ``clip_geometry`` in ``record.json``): guessed from the dataset table the way the reference datasets
    read it — moving_digits' square ``size`` without crop, else ``resize`` (default 128x171) and
    ``crop`` (default 112). Only for those old runs; new runs record what their dataset says."""
    if "size" in dataset and "resize" not in dataset:  # moving_digits: square frames, no crop
        side = int(dataset["size"])
        return {"num_frames": frames, "resize": [side, side], "crop": None}
    resize = dataset.get("resize", (128, 171))
    if isinstance(resize, str):
        try:
            h, w = (int(v) for v in resize.lower().split("x"))
        except ValueError:
            raise DataError(f"dataset.resize {resize!r}: expected 'HxW' such as '128x171'") from None
        resize = (h, w)
    crop = dataset.get("crop", 112)
    return {"num_frames": frames, "resize": [int(resize[0]), int(resize[1])], "crop": int(crop) if crop else None}


def encode_video(run_dir: str | os.PathLike[str], video: str | os.PathLike[str],
                 device: str = "cpu") -> PackedCodes:
    """Encode one video file with a run's model (1 code): same frame count, resize and centre crop as the
    run's dataset (:func:`clip_geometry_of_run`); weights from ``model.pt`` (the reported epoch; older runs:
    ``best.pt``/``checkpoint.pt``), so the backbone is rebuilt without its ``weights`` keys (see
    :func:`hashbench.contract.identity_keys`)."""
    import torch

    from .. import registry
    from ..train.checkpoint import load_checkpoint
    from ..train.model import build_hash_model
    from ..data.video import read_video_clip

    run = RunDir(Path(run_dir)).require("run directory")
    config, record = run.read_config(), run.read_record()
    geometry = clip_geometry_of_run(record, config)
    bits = int(config["head"]["bits"])
    frames = int(geometry["num_frames"])
    reg = registry()
    modes = key_modes(reg.get("backbone", str(config["backbone"]["name"])).factory)
    backbone = {k: v for k, v in config["backbone"].items() if modes.get(k) != "weights"}  # model.pt replaces them
    context = {"bits": bits, "num_frames": frames, "seed": int(config.get("seed", 0)), "device": device}
    model = build_hash_model(reg, backbone, config["head"], **context)
    checkpoint = run.weights_path()
    state = load_checkpoint(checkpoint, map_location=device)
    try:
        model.load_state_dict(state["model"])
    except (KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{checkpoint}: does not fit the run's model ({str(exc).splitlines()[0]})") from None
    model.to(device).eval()
    resize = tuple(geometry["resize"]) if geometry.get("resize") else None
    crop = geometry.get("crop")
    clip, _ = read_video_clip(video, frames, size=resize)  # (T, H, W, 3) uint8
    if crop:
        top, left = (clip.shape[1] - crop) // 2, (clip.shape[2] - crop) // 2
        clip = clip[:, top:top + crop, left:left + crop]
    tensor = torch.from_numpy(np.ascontiguousarray(clip)).permute(3, 0, 1, 2).unsqueeze(0).to(device)
    with torch.no_grad():
        code = model.encode(tensor)
    return pack_codes(code.cpu().numpy(), bits=bits, what=str(video))
