"""moving_digits: the embedded, generated dataset (real handwritten digits moving; the class is the motion).

:mod:`.config` (parameters and their validation), :mod:`.generator` (rendering the clips),
:mod:`.dataset` (the dataset contract). The factory is ``hashbench_ref.datasets.synthetic.moving_digits``.
"""
from __future__ import annotations

from .config import BASIC_MOTIONS, GENERATOR_VERSION, LABEL_MODES, MOTIONS, NUM_DIGITS, MovingDigitsConfig
from .dataset import MovingDigits
from .generator import GeneratedSplit, digit_images, generate_split, render, split_images

__all__ = ["MovingDigits", "MovingDigitsConfig", "GeneratedSplit", "MOTIONS", "BASIC_MOTIONS", "LABEL_MODES",
           "NUM_DIGITS", "GENERATOR_VERSION", "digit_images", "split_images", "render", "generate_split"]
