"""Embedded, generated datasets (no download): factories only, torch-free at import."""
from __future__ import annotations

from typing import Any, List, Optional, Union

from hashbench.contract import conformance_example


@conformance_example({"clips_per_class": 2, "queries_per_class": 1})
def moving_digits(
    size: int = 32,
    num_frames: int = 8,
    clips_per_class: int = 60,
    queries_per_class: int = 20,
    noise: float = 0.0,
    speed: float = 1.0,
    distractor: Union[int, bool] = 0,
    labels: str = "motion",
    motions: Union[str, List[str]] = "basic",
    color: str = "gray",
    query_fraction: float = 0.25,
    data_seed: Optional[int] = None,
    seed: int = 0,
) -> Any:
    """Generated videos of real handwritten digits (sklearn digits) whose class is a motion pattern.

    Each clip moves one 8x8 scikit-learn digit image (upscaled, bilinear) on a black wrap-around canvas.
    Classes (``motions = "basic"``, 8): left, right, up, down, circle_cw, circle_ccw, zoom_in, zoom_out;
    ``"all"`` adds up_left, up_right, down_left, down_right, rotate_cw, rotate_ccw, static (15), or
    give a list of names. Position, circle phase, scale and tilt are random and sampled at mid-clip,
    so one frame (or the unordered set of frames) does not tell opposite motions apart.

    - size: frame side in pixels (>= 16; default 32). Clips are uint8 (3, num_frames, size, size).
    - num_frames: frames per clip (>= 2; default 8); motions cover the same path whatever the count.
    - clips_per_class: clips per label class in train = database (default 60).
    - queries_per_class: query clips per label class (default 20), drawn from held-out digit images.
    - noise: std of i.i.d. gaussian pixel noise in 0-255 units (default 0), added per channel.
    - speed: multiplier (0.1-2, default 1) of every motion amount: straight paths cover half the
      frame side, circles (radius 1/5 of the side) sweep 3/4 of a turn, zooms scale by 1.6x and
      rotations turn 90 degrees over the whole clip at speed 1.
    - distractor: number of extra digits (0-8; true = 1) drifting on a random walk
      (a new random direction every frame), composited by pixel-wise max.
    - labels: "motion" (default), "digit" (10 classes) or "both" (multi-hot: motions then digit_0-9).
      In "digit" mode clips_per_class/queries_per_class count clips per digit.
    - color: "gray" (replicated to 3 channels), "random" (a random saturated colour per clip) or
      "#rrggbb" (a fixed tint).
    - query_fraction: share of the 1797 digit images (per digit, by seeded index split) held out for
      query clips (default 0.25); train/database clips use only the others.
    - data_seed: generation seed (default: the experiment's ``seed``, injected). Set it to keep the
      same clips while the experiment's seed varies. Same parameters -> byte-identical clips.
    """
    from .moving_digits import MovingDigits, MovingDigitsConfig

    cfg = MovingDigitsConfig.from_params(
        size=size, num_frames=num_frames, clips_per_class=clips_per_class,
        queries_per_class=queries_per_class, noise=noise, speed=speed, distractor=distractor, labels=labels,
        motions=motions, color=color, query_fraction=query_fraction,
        seed=seed if data_seed is None else data_seed)
    return MovingDigits(cfg)


FACTORIES: dict = {"moving_digits": moving_digits}
