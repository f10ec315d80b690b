"""``hashbench features extract``: per-frame features of a clip dataset, written as frame-feature files.

A clip dataset (ucf101, hmdb51, jhmdb, folder, moving_digits: uint8 clips ``(3, T, H, W)``) goes through a
frame-level backbone (one that has ``frame_features(clips) -> (B, T, D)``: ``tv_frames``, ``timm_frames``)
into one HDF5 file per split, in the layout :class:`~hashbench.data.FrameFeatureDataset` reads:

- ``feats`` ``(N, T, D)`` float32 (or float16 with ``dtype = "float16"``), rows in the split's order;
- ``labels``: int64 class ids ``(N,)`` or float32 multi-hot ``(N, C)``; ``video_ids``: one string per row;
- attributes: provenance (``backbone``, ``backbone_table``, ``weights``, ``weights_digest``, ``frames``,
  ``size``, ``sampling``, ``dataset``, ``dataset_table``, ``split``, ``dtype``, ``class_names``,
  ``hashbench_version``, ``batch_size``, ``device``), ``settings`` (the JSON a rerun must match) and
  ``rows_done`` (rows complete; flushed after every chunk).

Resumable: a split is written to ``<split>.h5.part`` (contiguous storage allocated up front, so a
chunk's write touches only its own bytes), renamed to ``<split>.h5`` when complete. A rerun with the
same settings continues at ``rows_done``; any other setting is refused in one line naming it. Chunks
are whole batches, so a resumed run feeds the backbone the same batches as an uninterrupted one: on
the CPU the file is bit-identical. A split whose videos are another split's (database = train for
UCF101, HMDB-51, folder, moving_digits) is written once and named twice in the TOML table.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

import numpy as np

from ..contract import rules
from ..errors import ConfigError, DataError
from .features import FEATURE_SPLITS, VIDEO_IDS_KEY

__all__ = ["ExtractRequest", "SplitReport", "ExtractReport", "DTYPES", "SAMPLING", "extract_features",
           "build_sources", "clip_batches", "split_files", "weights_digest", "feature_table", "toml_snippet"]

#: Storage dtypes of ``feats``.
DTYPES = ("float32", "float16")
#: How a video file's frames are picked (:func:`hashbench.data.sample_indices`).
SAMPLING = "even: frame round(i * n / T) of the n decoded frames, i = 0..T-1"
#: Settings a rerun must match to continue a file (the rest of the attributes are informative).
SETTING_KEYS = ("dataset", "dataset_table", "split", "ids_sha256", "backbone_table", "weights_digest", "frames",
                "size", "dtype", "feature_dim")
#: A progress callback: ``(split, rows done, rows in the split)``.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ExtractRequest:
    """What to extract. ``dataset``/``backbone``: the component tables (``name`` plus keys);
    ``frames``: T (default 25); ``size``: ``(H, W)`` frames of a video dataset (None: 224 x 224) or the
    side of a generated one (None: its default); ``dtype``: ``float32``/``float16``; ``batch_size``:
    clips per backbone call; ``chunk_rows``: rows per flushed chunk (rounded up to whole batches);
    ``device``: ``auto``/``cpu``/``cuda[:N]``; ``workers``: decoding processes; ``seed``: torch's seed
    before the backbone is built (its random init) and the dataset's ``seed``."""

    dataset: Mapping[str, Any]
    backbone: Mapping[str, Any]
    frames: int = 25
    size: Optional[tuple[int, int]] = None
    dtype: str = "float32"
    batch_size: int = 16
    chunk_rows: int = 256
    device: str = "auto"
    workers: int = 0
    seed: int = 0


@dataclass
class SplitReport:
    """One written file: ``path``, the ``splits`` it serves, ``rows``, rows ``extracted`` now (0 when it
    was complete already), ``resumed_from`` (rows found done), ``seconds`` spent extracting."""

    path: Path
    splits: list[str]
    rows: int
    extracted: int = 0
    resumed_from: int = 0
    seconds: float = 0.0


@dataclass
class ExtractReport:
    """Every file written, the class names, the device used, T x D; :meth:`clips_per_s` over this run."""

    out: Path
    files: list[SplitReport] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    multi_label: bool = False
    device: str = "cpu"
    frames: int = 0
    feature_dim: int = 0

    def clips_per_s(self) -> float:
        seconds = sum(f.seconds for f in self.files)
        return sum(f.extracted for f in self.files) / seconds if seconds > 0 else 0.0


# -- building the dataset and the backbone ------------------------------------------------------------
def build_sources(registry: Any, request: ExtractRequest) -> tuple[Any, Any]:
    """``(dataset, backbone)`` built through ``registry``: a video dataset (one with a ``resize`` key) at
    ``request.size`` (default 224 x 224, uncropped), a generated one with ``size`` = the side when given;
    the backbone after ``torch.manual_seed(seed)`` (reproducible random init), in eval mode."""
    import inspect

    import torch

    from .build import media_dataset

    table = dict(request.dataset)
    name = str(table.pop("name", ""))
    params = inspect.signature(registry.get("dataset", name).factory).parameters
    if "resize" in params:
        root = table.pop("root", None)
        if root is None:
            raise ConfigError(f"dataset {name!r}: give its folder with --root")
        dataset = media_dataset(registry, name, root, num_frames=request.frames, size=list(request.size or (224, 224)),
                                options=table)
    else:
        if request.size is not None and "size" in params:
            if request.size[0] != request.size[1]:
                raise ConfigError(f"--size: dataset {name!r} makes square frames; give one side (e.g. 64), "
                                  f"got {request.size[0]}x{request.size[1]}")
            table.setdefault("size", request.size[0])
        dataset = registry.build("dataset", {"name": name, **table}, where="dataset", num_frames=request.frames,
                                 seed=request.seed)
    if getattr(dataset, "item_kind", "clips") != "clips":
        raise ConfigError(f"dataset {name!r} yields {dataset.item_kind}, not clips; features extract reads clip "
                          "datasets (ucf101, hmdb51, jhmdb, folder, moving_digits)")
    torch.manual_seed(request.seed)
    backbone = registry.build("backbone", dict(request.backbone), where="backbone", num_frames=request.frames,
                              seed=request.seed)
    bname = request.backbone.get("name")
    if not callable(getattr(backbone, "frame_features", None)):
        raise ConfigError(f"backbone {bname!r} has no per-frame features (frame_features(clips) -> (B, T, D)); "
                          "use a frame-level backbone: tv_frames (torchvision: vgg16, resnet50) or timm_frames")
    problem = rules.normalisation(getattr(backbone, "input_mean", None), getattr(backbone, "input_std", None))
    if problem:
        raise ConfigError(f"backbone {bname!r} {problem}")
    return dataset, backbone.eval()


def weights_digest(module: Any) -> str:
    """sha256 (16 hex) of a module's state dict: every name, dtype, shape and value in key order."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{value.dtype}|{tuple(value.shape)}|".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes() if value.numel() else b"")
    return digest.hexdigest()[:16]


def split_files(dataset: Any) -> dict[str, str]:
    """``{split: file stem}``: a split whose video ids equal an earlier split's shares its file."""
    stems: dict[str, str] = {}
    ids: dict[str, list[str]] = {}
    for split in FEATURE_SPLITS:
        ids[split] = list(dataset.video_ids(split))
        stems[split] = next((stems[s] for s in stems if ids[s] == ids[split]), split)
    return stems


def clip_batches(split: Any, start: int = 0, batch_size: int = 16, workers: int = 0,
                 pin_memory: bool = False) -> Iterator[tuple[Any, Any]]:
    """``(uint8 clips (B, 3, T, H, W), labels)`` of rows ``start..N-1`` in order (decoded in ``workers``
    processes when > 0); the same batches whatever ``start`` is, when ``start`` is a multiple of B."""
    import torch
    from torch.utils.data import DataLoader, Subset

    rows = Subset(split, range(start, len(split)))
    loader = DataLoader(rows, batch_size=batch_size, shuffle=False, num_workers=workers, pin_memory=pin_memory,
                        persistent_workers=False)
    for clips, labels in loader:
        yield clips, labels if isinstance(labels, torch.Tensor) else torch.as_tensor(labels)


# -- the output file ----------------------------------------------------------------------------------
def _settings(request: ExtractRequest, split: str, ids: Sequence[str], digest: str, size: tuple[int, int],
              dim: int) -> dict[str, Any]:
    table = {k: v for k, v in request.dataset.items() if k not in ("root", "cache")}
    return {"dataset": str(request.dataset.get("name")), "dataset_table": json.dumps(table, sort_keys=True),
            "split": split, "ids_sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16],
            "backbone_table": json.dumps(dict(request.backbone), sort_keys=True), "weights_digest": digest,
            "frames": request.frames, "size": f"{size[0]}x{size[1]}", "dtype": request.dtype, "feature_dim": dim}


def _check_settings(path: Path, stored: str, wanted: Mapping[str, Any]) -> None:
    try:
        old = json.loads(stored)
    except (TypeError, ValueError):
        raise DataError(f"{path}: not a hashbench features file (no readable settings attribute); "
                        "choose another --out folder or delete it") from None
    for key in SETTING_KEYS:
        if old.get(key) != wanted.get(key):
            raise DataError(f"{path}: was extracted with {key} = {old.get(key)!r}, now {wanted.get(key)!r}; rerun "
                            "with the same settings to continue, or choose another --out folder (or delete the "
                            "file) to start over")


def _open_output(path: Path, request: ExtractRequest, settings: Mapping[str, Any], attrs: Mapping[str, Any],
                 ids: Sequence[str], label_shape: tuple[int, ...], label_dtype: str) -> tuple[Any, int]:
    """``(h5py.File opened r+, rows done)`` of ``<path>.part``, created when absent, checked when present."""
    import h5py

    part = path.with_name(path.name + ".part")
    if part.is_file():
        try:
            f = h5py.File(str(part), "r+")
        except OSError:  # killed before its first flush: nothing to keep
            part.unlink()
        else:
            _check_settings(part, f.attrs.get("settings"), settings)
            return f, int(f.attrs.get("rows_done", 0))
    n, t, d = len(ids), int(settings["frames"]), int(settings["feature_dim"])
    f = h5py.File(str(part), "w")
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)  # contiguous, allocated now: chunk writes touch data only
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    f.create_dataset("feats", shape=(n, t, d), dtype=request.dtype, dcpl=dcpl)
    f.create_dataset("labels", shape=(n, *label_shape), dtype=label_dtype)
    f.create_dataset(VIDEO_IDS_KEY, data=np.array([i.encode() for i in ids]))
    for key, value in attrs.items():
        f.attrs[key] = value
    f.attrs["settings"] = json.dumps(dict(settings), sort_keys=True)
    f.attrs["rows_done"] = np.int64(0)
    f.flush()
    return f, 0


def _write_rows(f: Any, path: Path, start: int, feats: np.ndarray, labels: np.ndarray, ids: Sequence[str]) -> int:
    """Write rows ``start..`` (features checked finite), then ``rows_done`` and flush; the new rows done."""
    finite = np.isfinite(feats).reshape(len(feats), -1).all(axis=1)
    if not finite.all():
        row = start + int(np.argmin(finite))
        raise DataError(f"{path}: the backbone gave NaN or inf features for row {row} ({ids[row]}) once stored as "
                        f"{f['feats'].dtype}; float16 holds at most 65504: use --dtype float32")
    end = start + len(feats)
    f["feats"][start:end] = feats
    f["labels"][start:end] = labels
    f.flush()
    f.attrs["rows_done"] = np.int64(end)
    f.flush()
    return end


def _extract_split(split_ds: Any, f: Any, path: Path, start: int, backbone: Any, norm: tuple[Any, Any],
                   request: ExtractRequest, ids: Sequence[str], progress: Optional[Progress], name: str) -> int:
    """Extract rows ``start..N-1`` of one split into ``f`` chunk by chunk; returns the rows done."""
    import torch

    device = norm[0].device
    chunk = max(1, -(-request.chunk_rows // request.batch_size)) * request.batch_size
    feats: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    done, n = start, len(ids)
    with torch.inference_mode():
        for clips, batch_labels in clip_batches(split_ds, start, request.batch_size, request.workers,
                                                pin_memory=device.type == "cuda"):
            clips = clips.to(device, non_blocking=True)
            out = backbone.frame_features((clips.float() - norm[0]) / norm[1])
            feats.append(out.float().cpu().numpy().astype(request.dtype))
            labels.append(batch_labels.numpy())
            if sum(len(x) for x in feats) >= chunk or done + sum(len(x) for x in feats) == n:
                done = _write_rows(f, path, done, np.concatenate(feats), np.concatenate(labels), ids)
                feats, labels = [], []
                if progress is not None:
                    progress(name, done, n)
    return done


def _provenance(request: ExtractRequest, dataset: Any, backbone: Any, split: str, device: str) -> dict[str, Any]:
    from .. import __version__

    pretrained = request.backbone.get("pretrained")
    return {"backbone": str(request.backbone.get("name")), "backbone_table": json.dumps(dict(request.backbone),
                                                                                        sort_keys=True),
            "weights": str(pretrained) if pretrained not in (None, False) else f"random init (seed {request.seed})",
            "frames": request.frames, "sampling": SAMPLING if hasattr(dataset, "media_plan") else
            "every frame the dataset generates (T frames per clip)",
            "dataset": str(request.dataset.get("name")), "split": split, "dtype": request.dtype,
            "class_names": json.dumps([str(c) for c in dataset.class_names]), "hashbench_version": __version__,
            "batch_size": request.batch_size, "device": device}


def extract_features(registry: Any, request: ExtractRequest, out: Path | str,
                     progress: Optional[Progress] = None) -> ExtractReport:
    """Extract every split of ``request.dataset`` into ``out/<split>.h5`` (see the module docstring);
    resumes ``.part`` files, skips complete ones with the same settings. DataError/ConfigError in one line."""
    import torch

    from ..device import resolve_device

    if request.dtype not in DTYPES:
        raise ConfigError(f"--dtype: must be one of {', '.join(DTYPES)}, got {request.dtype!r}")
    device = torch.device(resolve_device(request.device))
    dataset, backbone = build_sources(registry, request)
    digest = weights_digest(backbone)
    backbone.to(device)
    norm = tuple(torch.tensor([float(v) for v in values], device=device).view(1, 3, 1, 1, 1)
                 for values in (backbone.input_mean, backbone.input_std))
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    multi = bool(getattr(dataset, "multi_label", False))
    label_shape, label_dtype = ((int(dataset.num_classes),), "float32") if multi else ((), "int64")
    report = ExtractReport(out, class_names=[str(c) for c in dataset.class_names], multi_label=multi,
                           device=str(device), frames=request.frames, feature_dim=int(backbone.feature_dim))
    stems = split_files(dataset)
    size: Optional[tuple[int, int]] = None
    for split in FEATURE_SPLITS:
        if stems[split] != split:
            next(r for r in report.files if r.path.stem == stems[split]).splits.append(split)
            continue
        split_ds, ids = dataset.split(split), list(dataset.video_ids(split))
        if len(ids) == 0:
            raise DataError(f"dataset {request.dataset.get('name')!r}: the {split} split has no videos")
        if size is None:
            size = tuple(int(v) for v in split_ds[0][0].shape[-2:])  # type: ignore[assignment]
        path = out / f"{split}.h5"
        settings = _settings(request, split, ids, digest, size, report.feature_dim)  # type: ignore[arg-type]
        attrs = {**_provenance(request, dataset, backbone, split, str(device)), "weights_digest": digest,
                 "size": settings["size"]}
        report.files.append(_one_file(path, split_ds, ids, backbone, norm, request, settings, attrs,
                                      (label_shape, label_dtype), progress))
    return report


def _one_file(path: Path, split_ds: Any, ids: list[str], backbone: Any, norm: tuple[Any, Any],
              request: ExtractRequest, settings: Mapping[str, Any], attrs: Mapping[str, Any],
              labels: tuple[tuple[int, ...], str], progress: Optional[Progress]) -> SplitReport:
    """One split's file: checked and skipped when complete, else created or resumed, extracted, renamed."""
    import h5py

    split = str(settings["split"])
    if path.is_file():
        with h5py.File(str(path), "r") as done:
            _check_settings(path, done.attrs.get("settings"), settings)
        if progress is not None:
            progress(split, len(ids), len(ids))
        return SplitReport(path, [split], len(ids), resumed_from=len(ids))
    f, start = _open_output(path, request, settings, attrs, ids, *labels)
    began = time.perf_counter()
    try:
        if progress is not None:
            progress(split, start, len(ids))
        done = start if start >= len(ids) else _extract_split(split_ds, f, path, start, backbone, norm, request,
                                                              ids, progress, split)
    finally:
        f.close()
    seconds = time.perf_counter() - began
    path.with_name(path.name + ".part").replace(path)
    return SplitReport(path, [split], len(ids), extracted=done - start, resumed_from=start, seconds=seconds)


# -- the TOML table that reads the files ----------------------------------------------------------------
def feature_table(report: ExtractReport) -> dict[str, Any]:
    """The ``[dataset]`` table of ``frame_features`` reading the files (labels from the same files);
    ``class_names`` when the labels' class count is theirs (multi-hot, or ids reaching the last class)."""
    table: dict[str, Any] = {"name": "frame_features", "root": str(report.out)}
    for item in report.files:
        for split in item.splits:
            table[split] = item.path.name
    for split in FEATURE_SPLITS:
        table[f"{split}_labels"] = table[split]
    classes = _classes_used(report)
    if classes:
        table["class_names"] = report.class_names[:classes]
    return table


def _classes_used(report: ExtractReport) -> int:
    """The class count FrameFeatureDataset will see: C for multi-hot, else the largest id + 1."""
    import h5py

    if report.multi_label:
        return len(report.class_names)
    largest = -1
    for item in report.files:
        with h5py.File(str(item.path), "r") as f:
            labels = f["labels"][()]
            largest = max(largest, int(labels.max()) if labels.size else -1)
    return largest + 1


def toml_snippet(table: Mapping[str, Any]) -> str:
    """``table`` as a TOML ``[dataset]`` section (strings JSON-quoted, which TOML reads the same)."""
    lines = ["[dataset]"]
    for key, value in table.items():
        text = "[" + ", ".join(json.dumps(str(v)) for v in value) + "]" if isinstance(value, list) \
            else json.dumps(value)
        lines.append(f"{key} = {text}")
    return "\n".join(lines)
