"""``hashbench data check``: lists, disk and cache of a dataset against the official counts."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .cache import ClipCache
from .prepare import Problem


@dataclass(frozen=True)
class CheckLine:
    """One finding: ``ok`` False marks a problem."""

    ok: bool
    text: str


@dataclass
class CheckReport:
    """All findings; ``problems`` names every missing, refused, bad or not yet cached video."""

    dataset: str
    lines: list[CheckLine] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(line.ok for line in self.lines)

    def add(self, ok: bool, text: str) -> None:
        self.lines.append(CheckLine(ok, text))


def _count_line(report: CheckReport, what: str, found: int, expected: Any) -> None:
    if expected is None:
        report.add(True, f"{what}: {found}")
    else:
        report.add(found == expected, f"{what}: {found} (official: {expected})")


def check_dataset(ds: Any) -> CheckReport:
    """Check a :class:`~hashbench.data.video_dataset.VideoDataset`: class and list counts against
    ``ds.expected``, listed videos present under the root, and (when prepared) in the cache. A
    frame-feature dataset (``item_kind == "frame_features"``) reports its files, shapes, label rows and
    a scan of every row for NaN/inf instead (:meth:`~hashbench.data.FrameFeatureDataset.check_lines`)."""
    report = CheckReport(ds.name)
    if getattr(ds, "item_kind", None) == "frame_features":
        for ok, text in ds.check_lines():
            report.add(ok, text)
        return report
    exp = ds.expected
    _count_line(report, "classes", ds.num_classes, exp.get("classes"))
    for split in ("train", "query", "database"):
        _count_line(report, f"{split} list", len(ds.splits[split]), exp.get(split))
    _count_line(report, "videos listed (all splits)", len(ds.all_videos), exp.get("videos"))
    plan = ds.media_plan()
    refused = [p for p in plan.problems if p.what == "refused"]
    missing = [p for p in plan.problems if p.what == "missing"]
    if refused:
        report.add(False, f"refused list entries (outside the root or malformed): {len(refused)}")
    report.add(not missing, f"videos found under {ds.root}: {len(plan.items)} of {len(ds.all_videos)}"
               + (f"; missing {len(missing)}" if missing else ""))
    report.problems += refused + missing
    if ClipCache.exists(ds.cache_dir):
        cache = ClipCache(ds.cache_dir)
        bad = [Problem("bad", item.key, cache.bad[item.key]) for item in plan.items if item.key in cache.bad]
        absent = [Problem("not cached", item.key, "run `hashbench data prepare` again")
                  for item in plan.items if item.key not in cache and item.key not in cache.bad]
        cached = len(plan.items) - len(bad) - len(absent)
        report.add(not bad and not absent, f"clips in the cache {ds.cache_dir}: {cached} of {len(plan.items)}"
                   + (f"; could not be decoded {len(bad)}" if bad else "")
                   + (f"; not yet prepared {len(absent)}" if absent else ""))
        report.problems += bad + absent
    else:
        report.add(True, f"no clip cache at {ds.cache_dir} yet (videos are decoded on demand; "
                         f"`hashbench data prepare {ds.name}` makes loading fast)")
    return report
