"""hashbench.data.check: lists, disk and cache of a dataset against its official counts."""
from __future__ import annotations

from support import RATRACE, SOCCER_23, place
from hashbench.data import ListedVideo, VideoDataset, check_dataset


def dataset(tmp_path, expected):
    root = tmp_path / "root"
    place(SOCCER_23, root / "a" / "one.avi")
    place(RATRACE, root / "b" / "two.avi")
    train = [ListedVideo("a/one.avi", 0), ListedVideo("b/two.avi", 1)]
    query = [ListedVideo("b/gone.avi", 1, where="test.txt:1"), ListedVideo("../x.avi", 0, problem="escapes the root")]
    return VideoDataset(name="toy", root=root, class_names=["a", "b"], splits={"train": train, "query": query,
                        "database": train}, split_label="1", num_frames=2, resize=(16, 16), crop=None,
                        cache=str(tmp_path / "cache"), expected=expected)


def test_counts_missing_and_refused_videos_and_the_cache(tmp_path):
    ds = dataset(tmp_path, {"classes": 2, "train": 2, "query": 3, "videos": 4})
    report = check_dataset(ds)
    lines = {line.text.split(":")[0]: line.ok for line in report.lines}
    assert lines["classes"] and lines["train list"] and not lines["query list"] and lines["videos listed (all splits)"]
    assert not lines["refused list entries (outside the root or malformed)"]
    assert any(text.startswith("videos found under") and not ok for text, ok in lines.items())
    assert not report.ok and sorted(p.what for p in report.problems) == ["missing", "refused"]
    assert any("no clip cache at" in line.text and line.ok for line in report.lines)
    ds.prepare(workers=0)
    report = check_dataset(ds)
    assert any(line.text.startswith("clips in the cache") and line.ok and ": 2 of 2" in line.text
               for line in report.lines)
