"""Regenerate hashbench/results/published.csv: reference numbers with their source and metric convention.

The file ships with the package (package data), so an installed hashbench shows its rows from any folder.

Two sources:

1. The original repository's README table (Video-Retrieval-C3D): mAP over the whole database, epoch
   picked on the test queries; copied as published (see ../shared/reference-method.md).
2. CSQ's released 64-bit UCF101/HMDB-51 codes (../shared/data/csq_codes), scored here with
   ``hashbench.score`` under each convention: ``map``, the top-k mAP the authors published
   (``map@100`` UCF101, ``map@70`` HMDB-51) and the tie-aware ``map_tie`` and ``map_tie@k``.

Usage (from the repository root)::

    .venv/bin/python tools/make_published.py [--data ../shared/data] [--out hashbench/results/published.csv]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

C3D_SOURCE = "Video-Retrieval-C3D README"
C3D_METHOD = "Video-Retrieval-C3D"
C3D_SELECTION = "best epoch on test queries"
C3D_NOTE = "3D ResNet-18 + tanh + batch-all triplet; mAP over the whole database"
# dataset, bits, margin, frames, map  (../shared/reference-method.md, "Published results")
C3D_TABLE = [
    ("ucf101", 48, 14, 16, "0.7116"),
    ("ucf101", 48, 14, 32, "0.7204"),
    ("ucf101", 64, 20, 32, "0.7724"),
    ("hmdb51", 48, 8, 32, "0.4687"),
    ("hmdb51", 48, 14, 16, "0.4627"),
    ("hmdb51", 48, 14, 32, "0.4763"),
    ("jhmdb", 16, 8, 10, "0.4338"),
    ("jhmdb", 48, 14, 5, "0.3859"),
    ("jhmdb", 48, 14, 10, "0.4883"),
    ("jhmdb", 48, 14, 15, "0.5487"),
]

CSQ_SOURCE = "CSQ released codes (Yuan et al., CVPR 2020), scored by hashbench"
CSQ_METHOD = "CSQ"
CSQ_SELECTION = "authors' released model"
CSQ_URL = "https://github.com/yuanli2333/Hadamard-Matrix-for-hashing (commit 55cab00)"
# dataset -> (top-k the authors published, their figure, where it comes from)
CSQ_TOPK = {
    "ucf101": (100, "0.8738", "checkpoint name 64bit_87.38"),
    "hmdb51": (70, "0.5767", "checkpoint name 64bit_57.67"),
}
CONVENTIONS = {
    "map": "AP over the whole database / all relevant; Hamming ties in database order",
    "map@k": "AP over the top k / relevant found there (CSQ/DeepHash convention); ties in database order",
    "map_tie": "tie-aware mAP: expected AP over random orders within equal distances",
    "map_tie@k": "tie-aware mAP@k: expected AP over the top k / relevant found there, over tie orders",
}


def reference_rows() -> list[dict[str, str]]:
    """The original repo's README table, one row each (values exactly as published)."""
    return [{"source": C3D_SOURCE, "method": C3D_METHOD, "dataset": ds, "bits": str(bits),
             "frames": str(frames), "margin": str(margin), "metric": "map", "value": value,
             "selection": C3D_SELECTION, "note": C3D_NOTE, "url": "", "family": "supervised"}
            for ds, bits, margin, frames, value in C3D_TABLE]


def csq_rows(data_dir: Path) -> list[dict[str, str]]:
    """CSQ's released codes scored by hashbench.score under each convention."""
    import hashbench

    rows = []
    for dataset, (k, figure, origin) in CSQ_TOPK.items():
        folder = data_dir / "csq_codes" / dataset
        q = np.load(folder / "test_hash.npy")
        ql = np.load(folder / "test_label.npy").astype(np.int64)
        d = np.load(folder / "database_hash.npy")
        dl = np.load(folder / "database_label.npy").astype(np.int64)
        metrics = ["map", f"map@{k}", "map_tie", f"map_tie@{k}"]
        scores = hashbench.score(q, ql, d, dl, metrics)
        for metric in metrics:
            convention = CONVENTIONS[metric.split("@")[0] + ("@k" if "@" in metric else "")]
            note = f"{convention}; {len(ql)} queries x {len(dl)} database (split 1)"
            if metric == f"map@{k}":
                note += f"; authors' figure {figure} ({origin})"
            rows.append({"source": CSQ_SOURCE, "method": CSQ_METHOD, "dataset": dataset,
                         "bits": str(q.shape[1]), "frames": "", "margin": "", "metric": metric,
                         "value": f"{scores[metric]:.4f}", "selection": CSQ_SELECTION, "note": note,
                         "url": CSQ_URL, "family": "supervised"})
    return rows


def other_rows(path: Path) -> list[dict[str, str]]:
    """The rows of ``path`` from sources this script does not generate (added by hand with their source,
    e.g. Hara et al.'s top-1 accuracies), kept as they are."""
    import csv

    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["source"] not in (C3D_SOURCE, CSQ_SOURCE)]


def main(argv: list[str] | None = None) -> int:
    from hashbench.results.render import write_text_atomic
    from hashbench.results import PUBLISHED_COLUMNS, read_published
    import csv
    import io

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "hashbench" / "results" / "published.csv")
    args = parser.parse_args(argv)
    rows = reference_rows() + csq_rows(args.data) + other_rows(args.out)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(PUBLISHED_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(args.out, buf.getvalue())
    read_published(args.out)  # the file we wrote must read back cleanly
    print(f"wrote {len(rows)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
