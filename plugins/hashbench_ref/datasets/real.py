"""Real video datasets (UCF101, HMDB-51, JHMDB, frame folders): factories only, torch-free at import.

Options shared by every real dataset (keys of the ``[dataset]`` table):

- root: the dataset folder as distributed (the one holding the class folders).
- num_frames: frames per clip T (injected from the experiment unless set; default 32), picked with
  the original sampler ``round(i * n / T)`` over the n decoded frames.
- resize: stored frame size H x W (``[128, 171]`` or ``"128x171"``; default 128x171, the original's).
- crop: square crop side taken from the resized frames (default 112; 0 = no crop). Clips are uint8
  ``(3, T, crop, crop)``; normalisation happens on the device (backbone ``input_mean``/``input_std``).
- augment: random crop + horizontal flip on the train split (default false, as the original ran).
- cache: clip cache folder (default ``$HASHBENCH_CACHE/<root name>-<hash>`` or
  ``<root>/.hashbench-cache``); fill it with ``hashbench data prepare``.
- source: "auto" (cache when prepared, else decode on demand; default), "cache" or "files".
- missing: "error" (default: a listed video that is missing, undecodable or outside the root stops the
  run, naming it) or "skip" (warn, leave it out, count it in the run's provenance).
"""
from __future__ import annotations

from typing import Any, Optional, Sequence, Union

from hashbench.contract import conformance_example, identity_keys

from . import examples

_DEFAULT_RESIZE = (128, 171)
#: Keys that say where the data is or how it is read, not which clips: left out of the identity
#: (the clips used are recorded by the ``data_checksum``, ``data_origin`` and ``skipped`` columns).
_WHERE_KEYS = ("root", "cache", "source", "lists", "sampled_lists", "missing")
Size = Union[Sequence[int], str]


def _common(root: str, num_frames: int, resize: Size, crop: Optional[int], augment: bool,
            cache: Optional[str], source: str, missing: str) -> Any:
    from .splits import common

    return common(root, num_frames, resize, crop, augment, cache, source, missing)


@identity_keys(ignore=_WHERE_KEYS)
@conformance_example(examples.ucf101_example)
def ucf101(root: str, split: int = 1, lists: Optional[str] = None, num_frames: int = 32,
           resize: Size = _DEFAULT_RESIZE, crop: Optional[int] = 112, augment: bool = False,
           cache: Optional[str] = None, source: str = "auto", missing: str = "error") -> Any:
    """UCF101 (101 classes, 13,320 clips): train = database = trainlist0k, queries = testlist0k.

    - root: the ``UCF-101`` folder (``<Class>/v_*.avi``).
    - split: official split k in 1..3 (default 1: 9,537 train / 3,783 test).
    - lists: a folder with your copy of ``ucfTrainTestlist`` (``classInd.txt``, ``trainlist0k.txt``,
      ``testlist0k.txt``); default the official lists shipped with hashbench.
    - Shared options (num_frames, resize, crop, augment, cache, source, missing): see module docstring.
    Labels are classInd index - 1.
    """
    from .ucf101 import build

    return build(_common(root, num_frames, resize, crop, augment, cache, source, missing), split, lists)


@identity_keys(ignore=_WHERE_KEYS)
@conformance_example(examples.hmdb51_example)
def hmdb51(root: str, split: int = 1, lists: Optional[str] = None, num_frames: int = 32,
           resize: Size = _DEFAULT_RESIZE, crop: Optional[int] = 112, augment: bool = False,
           cache: Optional[str] = None, source: str = "auto", missing: str = "error") -> Any:
    """HMDB-51 (51 classes, 6,766 clips): train = database = id 1 of split k, queries = id 2.

    - root: the folder holding the 51 class folders (``<class>/*.avi``).
    - split: official split k in 1..3 (default 1: 3,570 train / 1,530 test; id 0 clips excluded).
    - lists: a folder with your copy of ``testTrainMulti_7030_splits`` (``<class>_test_split<k>.txt``);
      default the official lists shipped with hashbench.
    - Shared options (num_frames, resize, crop, augment, cache, source, missing): see module docstring.
    Labels are the index of the class in alphabetical order.
    """
    from .hmdb51 import build

    return build(_common(root, num_frames, resize, crop, augment, cache, source, missing), split, lists)


@identity_keys(ignore=_WHERE_KEYS)
@conformance_example(examples.jhmdb_example)
def jhmdb(root: str, protocol: str = "sampled", split: int = 1, draw_seed: int = 0, train_per_class: int = 10,
          query_per_class: int = 10, database_per_class: int = 20, lists: Optional[str] = None,
          sampled_lists: Optional[str] = None, num_frames: int = 32, resize: Size = _DEFAULT_RESIZE,
          crop: Optional[int] = 112, augment: bool = False, cache: Optional[str] = None,
          source: str = "auto", missing: str = "error") -> Any:
    """JHMDB (21 classes, 928 clips): per class 10 train / 10 query / 20 database drawn with a seed.

    - root: the folder holding the 21 class folders of videos (``<class>/*.avi``) or frame folders
      (``<class>/<video>/00001.png``); HMDB-51 names with ``#`` match JHMDB's ``@``.
    - protocol: "sampled" (default; the original repo's 10/10/20 per class, database = the 10 training
      clips + 10 more, disjoint from the queries) or "official" (split k: id 1 train = database, id 2
      queries).
    - split: official split k in 1..3 (protocol "official"; the sampled draw uses all 928 clips).
    - draw_seed, train_per_class, query_per_class, database_per_class: the draw (defaults 0, 10, 10,
      20); clips are ranked by sha256("draw_seed:name"), identical everywhere and independent of the
      experiment's seed (so runs over several seeds share one protocol).
    - sampled_lists: folder the drawn lists are written to (``train_10_210.txt``, ``test_10_210.txt``,
      ``db_20_420.txt``, ``classes.txt``; ``path label`` lines) and read back from when present —
      edit or replace them to fix a protocol; default ``<cache>/lists/jhmdb_seed0_10_10_20``.
    - lists: a folder with your copy of JHMDB's ``splits`` (``<class>_test_split<k>.txt``).
    - Shared options (num_frames, resize, crop, augment, cache, source, missing): see module docstring.
    """
    from .jhmdb import build

    return build(_common(root, num_frames, resize, crop, augment, cache, source, missing), protocol, split,
                 draw_seed, train_per_class, query_per_class, database_per_class, lists, sampled_lists)


@identity_keys(ignore=_WHERE_KEYS)
@conformance_example(examples.frames_example)
def frames(root: str, train_list: str, query_list: str, database_list: Optional[str] = None,
           classes: Optional[str] = None, num_frames: int = 32, resize: Size = _DEFAULT_RESIZE,
           crop: Optional[int] = 112, augment: bool = False, cache: Optional[str] = None,
           source: str = "auto", missing: str = "error") -> Any:
    """The original repo's layout: a folder of JPEG frames per video plus ``path label`` lists.

    - root: the folder the list paths live in (absolute list paths must lie inside it).
    - train_list, query_list: ``path label`` list files (0-based labels); paths name frame folders
      (frames sorted by name) or video files.
    - database_list: the retrieval database list (default: train_list, the original protocol).
    - classes: optional class-name file (``name`` or ``<index> <name>`` lines); default "0".."C-1".
    - Shared options (num_frames, resize, crop, augment, cache, source, missing): see module docstring.
    """
    from .frames import build

    return build(_common(root, num_frames, resize, crop, augment, cache, source, missing), train_list,
                 query_list, database_list, classes)


@identity_keys(ignore=_WHERE_KEYS)
@conformance_example(examples.folder_example)
def folder(root: str, query_fraction: float = 0.3, draw_seed: int = 0, num_frames: int = 32,
           resize: Size = _DEFAULT_RESIZE, crop: Optional[int] = 112, augment: bool = False,
           cache: Optional[str] = None, source: str = "auto", missing: str = "error") -> Any:
    """Any class-per-subfolder video collection; a seeded per-class query / train=database split.

    - root: ``<root>/<class>/<video file or frame folder>``; classes sorted by name.
    - query_fraction: share of each class's clips used as queries (default 0.3); the rest are
      training clips and the retrieval database.
    - draw_seed: the draw (sha256 ranking; default 0), independent of the experiment's seed.
    - Shared options (num_frames, resize, crop, augment, cache, source, missing): see module docstring.
    """
    from .folder import build

    return build(_common(root, num_frames, resize, crop, augment, cache, source, missing), query_fraction,
                 draw_seed)


FACTORIES: dict = {"ucf101": ucf101, "hmdb51": hmdb51, "jhmdb": jhmdb, "frames": frames, "folder": folder}
