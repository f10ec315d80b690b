"""Read one clip from a video file or a folder of frame images (the original repo's layout)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from ..errors import DataError
from .video import ClipInfo, read_video_clip
from .sampling import sample_indices

#: Image extensions of frame folders (lower case).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


def frame_files(folder: Path | str) -> list[Path]:
    """Image files of a frame folder, sorted by name (the original sampler's order)."""
    folder = Path(folder)
    try:
        names = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    except OSError as exc:
        raise DataError(f"{folder}: cannot list frame folder ({exc.strerror or exc})") from None
    return [folder / n for n in names]


def read_frame_folder(folder: Path | str, num_frames: int,
                      size: Optional[Tuple[int, int]] = None) -> tuple[np.ndarray, ClipInfo]:
    """``num_frames`` frames of a folder of images as uint8 ``(T, H, W, 3)`` RGB.

    Frames are picked with ``round(i * n / T)`` over the ``n`` images sorted by name and resized to
    ``size = (H, W)`` with PIL's bilinear filter (as torchvision's ``Resize`` does on PIL images).
    """
    from PIL import Image

    folder = Path(folder)
    files = frame_files(folder)
    if not files:
        raise DataError(f"{folder}: frame folder holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    out = []
    native = (0, 0)
    for index in sample_indices(len(files), num_frames):
        try:
            with Image.open(files[index]) as image:
                image = image.convert("RGB")
                native = image.size
                if size is not None and image.size != (size[1], size[0]):
                    image = image.resize((size[1], size[0]), Image.BILINEAR)
                out.append(np.asarray(image, dtype=np.uint8))
        except (OSError, ValueError) as exc:
            raise DataError(f"{files[index]}: cannot read image ({exc})") from None
    info = ClipInfo(decoded_frames=len(files), header_frames=len(files), width=native[0], height=native[1],
                    fps=0.0, codec="images")
    return np.stack(out), info


def read_media(path: Path | str, num_frames: int,
               size: Optional[Tuple[int, int]] = None) -> tuple[np.ndarray, ClipInfo]:
    """A clip ``(T, H, W, 3)`` uint8 from a video file or a frame folder; DataError when unusable."""
    path = Path(path)
    if path.is_dir():
        return read_frame_folder(path, num_frames, size)
    return read_video_clip(path, num_frames, size)
