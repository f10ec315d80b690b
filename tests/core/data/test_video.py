"""hashbench.data.video: decoding the nine real clips, their quirks, and clear errors for bad files."""
from __future__ import annotations

import json

import av
import numpy as np
import pytest

from support import RATRACE, TEST_DATA, SOCCER_23, TURNK, VIDEOS
from hashbench.data.sampling import sample_indices
from hashbench.errors import DataError
from hashbench.data.video import decode_all, open_container, read_video_clip, truncated

FACTS = {v["file"]: v for v in json.loads((TEST_DATA / "videos_decode_facts.json").read_text())["videos"]}


@pytest.mark.parametrize("name", sorted(FACTS))
def test_all_nine_clips_decode_with_the_measured_frame_counts(name):
    clip, info = read_video_clip(VIDEOS / name, 8, (24, 32))
    fact = FACTS[name]
    assert clip.shape == (8, 24, 32, 3) and clip.dtype == np.uint8
    assert info.decoded_frames == fact["decoded_frames"]
    assert info.header_frames == fact["header_frames"]
    assert (info.width, info.height) == (fact["width"], fact["height"])
    assert clip.std() > 1.0  # real picture content, not a blank buffer


def test_non_utf8_metadata_clip_needs_metadata_errors_ignore():
    with pytest.raises(UnicodeDecodeError):
        av.open(str(VIDEOS / TURNK)).close()  # PyAV's defaults refuse this HMDB clip
    with open_container(VIDEOS / TURNK) as container:
        assert container.streams.video[0].codec_context.name == "mpeg4"


def test_divx_frames_follow_decoder_order_not_pts():
    with av.open(str(VIDEOS / RATRACE)) as container:
        decoded = [(f.pts, f.to_ndarray(format="rgb24", width=32, height=24, interpolation="AREA"))
                   for f in container.decode(video=0)]
    pts = [p for p, _ in decoded]
    assert pts != sorted(pts)  # the quirk is real: timestamps come out swapped
    clip, info = read_video_clip(VIDEOS / RATRACE, len(decoded), (24, 32))
    assert info.decoded_frames == info.header_frames - 1 == 72
    in_output_order = np.stack([a for _, a in decoded])
    by_pts = np.stack([a for _, a in sorted(decoded, key=lambda x: x[0])])
    np.testing.assert_array_equal(clip, in_output_order)
    assert not np.array_equal(clip, by_pts)


def test_sampled_frames_are_round_i_n_over_t_of_all_decoded_frames():
    every = decode_all(VIDEOS / SOCCER_23, (24, 32))
    assert len(every) == 240
    clip, _ = read_video_clip(VIDEOS / SOCCER_23, 7, (24, 32))
    np.testing.assert_array_equal(clip, every[sample_indices(240, 7)])


def test_native_size_when_no_size_given():
    clip, info = read_video_clip(VIDEOS / SOCCER_23, 2)
    assert clip.shape == (2, 240, 320, 3) and info.fps == pytest.approx(29.97, abs=0.01)


def test_bad_files_raise_data_error_naming_the_file(tmp_path):
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    text = tmp_path / "notes.avi"
    text.write_text("not a video\n")
    cut = tmp_path / "cut.avi"
    data = (VIDEOS / SOCCER_23).read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 5])
    cases = {empty: "empty file", text: "cannot open as a video", cut: "truncated: decoded",
             tmp_path / "absent.avi": "no such video file"}
    for path, reason in cases.items():
        with pytest.raises(DataError) as err:
            read_video_clip(path, 4, (16, 16))
        assert str(path) in str(err.value) and reason in str(err.value)
    clip, info = read_video_clip(cut, 4, (16, 16), allow_truncated=True)
    assert clip.shape == (4, 16, 16, 3) and info.decoded_frames < info.header_frames == 240


def test_truncation_tolerates_the_divx_missing_frame():
    assert not truncated(72, 73) and not truncated(10, 0) and not truncated(95, 100)
    assert truncated(97, 240) and truncated(90, 100)
