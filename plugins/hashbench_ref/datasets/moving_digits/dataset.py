"""The moving_digits dataset object: generated splits served through the hashbench dataset contract."""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from hashbench.errors import DataError

from .config import GENERATOR_VERSION, NUM_DIGITS, MovingDigitsConfig
from .generator import GeneratedSplit, digit_images, generate_split, split_images

__all__ = ["MovingDigits"]


class MovingDigits:
    """The dataset object (hashbench dataset contract). ``train`` and ``database`` are the same clips
    (the original protocol: the training set doubles as the retrieval database); ``query`` clips use
    digit images held out from them. No augmentation (a flip would change the motion class)."""

    def __init__(self, cfg: MovingDigitsConfig) -> None:
        self.config = cfg
        seeds = np.random.SeedSequence([cfg.seed, 0x6D64]).spawn(3)
        _, targets = digit_images()
        self.db_images, self.query_images = split_images(
            targets, cfg.query_fraction, np.random.default_rng(seeds[0]))
        self._generated = {
            "database": generate_split(cfg, self.db_images, cfg.clips_per_class, np.random.default_rng(seeds[1])),
            "query": generate_split(cfg, self.query_images, cfg.queries_per_class, np.random.default_rng(seeds[2])),
        }
        digit_names = [f"digit_{d}" for d in range(NUM_DIGITS)]
        motion_names = list(cfg.motions)
        self.class_names: list[str] = {"motion": motion_names, "digit": digit_names,
                                       "both": motion_names + digit_names}[cfg.labels]
        self.num_classes: int = len(self.class_names)
        self.multi_label: bool = cfg.labels == "both"
        self.num_frames: int = cfg.num_frames
        self._datasets: dict[str, Any] = {}
        self._checksum = self._compute_checksum()

    def _compute_checksum(self) -> str:
        """sha256 of the generation parameters and GENERATOR_VERSION (bump it when output changes).

        Parameters only, so that machines whose float maths round a few pixels differently still
        record the same dataset; ``info()["bytes_sha256"]`` fingerprints the actual bytes."""
        return hashlib.sha256(self.config.to_json().encode()).hexdigest()[:16]

    def bytes_sha256(self) -> str:
        """sha256 (16 hex) of every generated clip and label, database then query."""
        digest = hashlib.sha256()
        for name in ("database", "query"):
            gen = self._generated[name]
            digest.update(np.ascontiguousarray(gen.clips).tobytes())
            digest.update(np.ascontiguousarray(gen.labels).tobytes())
        return digest.hexdigest()[:16]

    def generated(self, name: str) -> GeneratedSplit:
        """The raw arrays of split ``name`` (``train`` is ``database``)."""
        return self._generated[self._canonical(name)]

    @staticmethod
    def _canonical(name: str) -> str:
        if name not in ("train", "query", "database"):
            raise DataError(f"moving_digits: unknown split {name!r}; use 'train', 'query' or 'database'")
        return "database" if name == "train" else name

    def split(self, name: str) -> Any:
        """``torch.utils.data.Dataset`` of ``(uint8 clip (3, T, S, S), label)`` for train/query/database."""
        key = self._canonical(name)
        if key not in self._datasets:
            from hashbench.data import ClipArrayDataset

            gen = self._generated[key]
            self._datasets[key] = ClipArrayDataset(gen.clips, gen.labels, self.video_ids(key))
        return self._datasets[key]

    def video_ids(self, name: str) -> list[str]:
        """Stable ids ``db00012-right-7`` / ``q00003-zoom_in-4``: split, index, motion, digit."""
        key = self._canonical(name)
        gen = self._generated[key]
        tag = "db" if key == "database" else "q"
        motions = self.config.motions
        return [f"{tag}{i:05d}-{motions[m]}-{d}" for i, (m, d) in enumerate(zip(gen.motion, gen.digit))]

    def clip_geometry(self) -> dict[str, Any]:
        """``{"num_frames": T, "resize": [size, size], "crop": None}``: square frames of ``size`` px, no
        crop (how a video file would be read to match these clips; ``hashbench search --video``)."""
        return {"num_frames": self.config.num_frames, "resize": [self.config.size, self.config.size], "crop": None}

    def info(self) -> dict[str, str]:
        """Provenance: ``split`` = ``generated``, ``data_checksum`` (sha256 of the parameters),
        ``bytes_sha256`` (of the generated clips and labels), generator version, seed and sizes."""
        cfg = self.config
        return {
            "split": "generated",
            "data_origin": "generated",
            "skipped": "0",
            "data_checksum": self._checksum,
            "bytes_sha256": self.bytes_sha256(),
            "generator": GENERATOR_VERSION,
            "seed": str(cfg.seed),
            "labels": cfg.labels,
            "motions": ",".join(cfg.motions),
            "clips": f"database={len(self._generated['database'].motion)} query={len(self._generated['query'].motion)}",
            "digit_images": f"database={len(self.db_images)} query={len(self.query_images)}",
        }
