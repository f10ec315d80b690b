"""Video decoding with PyAV, robust to the quirks of real dataset files.

- Containers are opened with ``metadata_errors="ignore"``: some HMDB-51 AVIs carry non-UTF-8 metadata
  that PyAV's defaults refuse.
- Frames are numbered in the order the decoder returns them (frame index), never by ``pts``: DivX clips
  come out with swapped timestamps, and the decoder may return one frame fewer than the header says.
- A clip is ``num_frames`` frames chosen with the original sampler ``round(i * n / T)`` over the ``n``
  decoded frames (see :func:`hashbench.data.sampling.sample_indices`), each converted to RGB and
  resized by FFmpeg's swscale (area filter) to ``(H, W)``.

Errors (unreadable, empty, truncated, not a video) raise :class:`~hashbench.errors.DataError` with the
file name and the reason.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Tuple

import numpy as np

from ..errors import DataError
from .sampling import sample_indices

log = logging.getLogger(__name__)

#: File name extensions treated as videos (lower case).
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp")

#: Keep decoded frames as references (cheap) up to this many bytes of source pixels, then switch to
#: converting each frame at once to the (small) target size.
_REF_BUDGET_BYTES = 384 * 2**20


@dataclass(frozen=True)
class ClipInfo:
    """What decoding one video found: decoded frame count, header count, size and rate."""

    decoded_frames: int
    header_frames: int  # 0 when the container does not say
    width: int
    height: int
    fps: float
    codec: str


def is_video_file(path: Path) -> bool:
    """True when ``path``'s extension is a known video extension (case-insensitive)."""
    return path.suffix.lower() in VIDEO_EXTENSIONS


def open_container(path: Path | str) -> Any:
    """``av.open`` for reading, tolerant of non-UTF-8 metadata. Raises DataError naming the file."""
    import av

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such video file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes)")
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except Exception as exc:  # av.error.* and OSError: not a container FFmpeg can read
        raise DataError(f"{path}: cannot open as a video ({_reason(exc)})") from exc


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    msg = text[0] if text else type(exc).__name__
    # av's messages repeat the file name: "[Errno ...] Invalid data found ...: 'path'"
    if ": '" in msg:
        msg = msg.split(": '")[0]
    return re.sub(r"^\[Errno -?\d+\]\s*", "", msg)


def truncated(decoded: int, header: int) -> bool:
    """Whether ``decoded`` frames are clearly fewer than the container header announced.

    Tolerance: max(2, 5% of the header count) — DivX clips legitimately decode one frame fewer.
    A header count of 0 (unknown) never counts as truncated.
    """
    return header > 0 and decoded < header - max(2, header // 20)


def read_video_clip(path: Path | str, num_frames: int, size: Optional[Tuple[int, int]] = None,
                    *, allow_truncated: bool = False) -> tuple[np.ndarray, ClipInfo]:
    """Decode a whole video and return ``num_frames`` sampled frames.

    Returns ``(frames, info)``: ``frames`` uint8 ``(num_frames, H, W, 3)`` RGB, resized to ``size``
    = ``(H, W)`` (native size when None); ``info`` a :class:`ClipInfo`. Frame ``i`` of the clip is
    decoded frame ``round(i * n / num_frames)`` (decoder output order, clamped to ``n - 1``).
    Raises DataError for files that cannot be opened, have no video stream, decode no frame, fail
    mid-stream, or decode clearly fewer frames than their header (truncated) unless ``allow_truncated``.
    """
    path = Path(path)
    if num_frames < 1:
        raise DataError(f"num_frames must be >= 1, got {num_frames}")
    with open_container(path) as container:
        stream = _video_stream(container, path)
        header = int(stream.frames or 0)
        fps = float(stream.average_rate) if stream.average_rate else 0.0
        codec = stream.codec_context.name if stream.codec_context else "?"
        frames: list[Any] = []  # av.VideoFrame references, or already converted arrays
        ref_bytes = 0
        converting = False
        try:
            for frame in container.decode(stream):
                if converting:
                    frames.append(_to_rgb(frame, size))
                    continue
                frames.append(frame)
                ref_bytes += frame.width * frame.height * 3 // 2
                if size is not None and ref_bytes > _REF_BUDGET_BYTES:
                    frames = [_to_rgb(f, size) if not isinstance(f, np.ndarray) else f for f in frames]
                    converting = True
        except Exception as exc:
            raise DataError(f"{path}: decoding failed after {len(frames)} frames ({_reason(exc)})") from exc
        if not frames:
            raise DataError(f"{path}: no frame could be decoded")
        n = len(frames)
        if truncated(n, header) and not allow_truncated:
            raise DataError(f"{path}: truncated: decoded {n} of {header} frames announced by the header")
        first = frames[0]
        width, height = (first.shape[1], first.shape[0]) if isinstance(first, np.ndarray) else (
            first.width, first.height)
        picked = [frames[i] for i in sample_indices(n, num_frames)]
        out = np.stack([f if isinstance(f, np.ndarray) else _to_rgb(f, size) for f in picked])
    info = ClipInfo(decoded_frames=n, header_frames=header, width=width, height=height, fps=fps, codec=codec)
    return out, info


def _to_rgb(frame: Any, size: Optional[Tuple[int, int]]) -> np.ndarray:
    if size is None:
        return frame.to_ndarray(format="rgb24")
    height, width = size
    return frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="AREA")


def _video_stream(container: Any, path: Path) -> Any:
    """The first video stream of an open container, with threaded decoding; DataError if none."""
    if not container.streams.video:
        raise DataError(f"{path}: no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return stream


def decode_all(path: Path | str, size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """Every decoded frame of ``path`` as uint8 ``(n, H, W, 3)`` in decoder output order."""
    path = Path(path)
    with open_container(path) as container:
        stream = _video_stream(container, path)
        try:
            frames = [_to_rgb(f, size) for f in container.decode(stream)]
        except Exception as exc:
            raise DataError(f"{path}: decoding failed ({_reason(exc)})") from exc
    if not frames:
        raise DataError(f"{path}: no frame could be decoded")
    return np.stack(frames)

