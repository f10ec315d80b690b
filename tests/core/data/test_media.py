"""hashbench.data.media: one clip from a video file or from a folder of frame images."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from support import SOCCER_23, VIDEOS
from hashbench.data.media import frame_files, read_frame_folder, read_media
from hashbench.data.video import read_video_clip
from hashbench.errors import DataError


def _frames(folder, n, size=(10, 14)):
    folder.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.full((*size, 3), 10 * i, np.uint8)).save(folder / f"{i + 1:05d}.png")
    (folder / "notes.txt").write_text("not a frame")
    return folder


def test_frame_folders_are_sampled_by_name_like_videos(tmp_path):
    folder = _frames(tmp_path / "v", 10)
    assert [p.name for p in frame_files(folder)] == [f"{i:05d}.png" for i in range(1, 11)]
    clip, info = read_frame_folder(folder, 4)
    assert clip.shape == (4, 10, 14, 3) and clip.dtype == np.uint8
    assert clip[:, 0, 0, 0].tolist() == [0, 20, 50, 80]  # frames round(i * 10 / 4) = 0, 2, 5, 8 (2.5 -> 2, 7.5 -> 8)
    assert (info.decoded_frames, info.width, info.height, info.codec) == (10, 14, 10, "images")
    resized, _ = read_media(folder, 2, size=(5, 7))
    assert resized.shape == (2, 5, 7, 3)


def test_read_media_reads_video_files_too():
    clip, info = read_media(VIDEOS / SOCCER_23, 3, size=(16, 20))
    expected, _ = read_video_clip(VIDEOS / SOCCER_23, 3, size=(16, 20))
    np.testing.assert_array_equal(clip, expected)
    assert info.decoded_frames > 3


def test_unusable_frame_folders_are_data_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="frame folder holds no images"):
        read_media(tmp_path / "empty", 4)
    broken = _frames(tmp_path / "broken", 2)
    (broken / "00003.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"00003.jpg: cannot read image"):
        read_frame_folder(broken, 3)
