"""moving_digits' parameters: the motion classes, label modes and :class:`MovingDigitsConfig`
(validated from the ``[dataset]`` table; the checksum of its canonical JSON identifies the data)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence, Union

import numpy as np

from hashbench.errors import ConfigError

__all__ = ["GENERATOR_VERSION", "MOTIONS", "BASIC_MOTIONS", "LABEL_MODES", "NUM_DIGITS", "MovingDigitsConfig"]

GENERATOR_VERSION = "moving_digits/1"

#: (kind, parameters) of every motion. Directions are unit vectors with y pointing down.
_D = 1.0 / np.sqrt(2.0)
MOTIONS: dict[str, tuple[str, tuple[float, ...]]] = {
    "left": ("translate", (-1.0, 0.0)),
    "right": ("translate", (1.0, 0.0)),
    "up": ("translate", (0.0, -1.0)),
    "down": ("translate", (0.0, 1.0)),
    "circle_cw": ("circle", (1.0,)),
    "circle_ccw": ("circle", (-1.0,)),
    "zoom_in": ("zoom", (1.0,)),
    "zoom_out": ("zoom", (-1.0,)),
    "up_left": ("translate", (-_D, -_D)),
    "up_right": ("translate", (_D, -_D)),
    "down_left": ("translate", (-_D, _D)),
    "down_right": ("translate", (_D, _D)),
    "rotate_cw": ("rotate", (1.0,)),
    "rotate_ccw": ("rotate", (-1.0,)),
    "static": ("static", ()),
}
BASIC_MOTIONS = ("left", "right", "up", "down", "circle_cw", "circle_ccw", "zoom_in", "zoom_out")
LABEL_MODES = ("motion", "digit", "both")
NUM_DIGITS = 10


@dataclass(frozen=True)
class MovingDigitsConfig:
    """The knobs (see ``hashbench_ref.datasets.synthetic.moving_digits`` for units and defaults)."""

    size: int = 32
    num_frames: int = 8
    clips_per_class: int = 60
    queries_per_class: int = 20
    noise: float = 0.0
    speed: float = 1.0
    distractor: int = 0
    labels: str = "motion"
    motions: tuple[str, ...] = BASIC_MOTIONS
    color: str = "gray"
    query_fraction: float = 0.25
    seed: int = 0
    tint: tuple[float, float, float] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_params(cls, **params: Any) -> "MovingDigitsConfig":
        """Validate raw table values; ConfigError names the key (``dataset.<key>: ...``)."""
        p = dict(params)
        _int("size", p["size"], 16, 1024)
        _int("num_frames", p["num_frames"], 2, 1024)
        _int("clips_per_class", p["clips_per_class"], 1, 100_000)
        _int("queries_per_class", p["queries_per_class"], 1, 100_000)
        _int("seed", p["seed"], 0, 2**63 - 1)
        noise = _number("noise", p["noise"])
        if not 0.0 <= noise <= 255.0:
            raise ConfigError(f"dataset.noise: {noise!r} is out of range; give the std of the pixel noise "
                              "in 0-255 units, between 0 and 255")
        speed = _number("speed", p["speed"])
        if not 0.1 <= speed <= 2.0:
            raise ConfigError(f"dataset.speed: {speed!r} is out of range; give a multiplier of the motion "
                              "amounts between 0.1 and 2")
        distractor = p["distractor"]
        distractor = int(distractor) if isinstance(distractor, bool) else distractor
        _int("distractor", distractor, 0, 8)
        if p["labels"] not in LABEL_MODES:
            raise ConfigError(f"dataset.labels: unknown mode {p['labels']!r}; use one of "
                              f"{', '.join(map(repr, LABEL_MODES))}")
        motions = _motions(p["motions"])
        tint = _tint(p["color"])
        fraction = _number("query_fraction", p["query_fraction"])
        if not 0.05 <= fraction <= 0.95:
            raise ConfigError(f"dataset.query_fraction: {fraction!r} must lie in [0.05, 0.95] (the share of "
                              "digit images held out for queries)")
        return cls(size=p["size"], num_frames=p["num_frames"], clips_per_class=p["clips_per_class"],
                   queries_per_class=p["queries_per_class"], noise=noise, speed=speed, distractor=distractor,
                   labels=p["labels"], motions=motions, color=p["color"], query_fraction=fraction,
                   seed=p["seed"], tint=tint)

    def to_json(self) -> str:
        """Canonical JSON of the generation parameters (checksum input)."""
        params = asdict(self)
        params.pop("tint")
        params["generator"] = GENERATOR_VERSION
        return json.dumps(params, sort_keys=True)


def _int(key: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"dataset.{key}: expected an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ConfigError(f"dataset.{key}: {value} is out of range; use an integer in [{lo}, {hi}]")


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"dataset.{key}: expected a number, got {value!r}")
    return float(value)


def _motions(value: Union[str, Sequence[str]]) -> tuple[str, ...]:
    if value == "basic":
        return BASIC_MOTIONS
    if value == "all":
        return tuple(MOTIONS)
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(f"dataset.motions: expected \"basic\", \"all\" or a list of motion names, got {value!r}")
    names = tuple(value)
    for name in names:
        if name not in MOTIONS:
            import difflib

            close = difflib.get_close_matches(str(name), list(MOTIONS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"dataset.motions: unknown motion {name!r}{hint}; available: {', '.join(MOTIONS)}")
    if len(set(names)) != len(names) or len(names) < 2:
        raise ConfigError(f"dataset.motions: give at least 2 distinct motion names, got {list(names)!r}")
    return names


def _tint(color: Any) -> tuple[float, float, float] | None:
    """RGB multipliers in [0, 1] for ``"#rrggbb"``, white for ``"gray"``, None for ``"random"``."""
    if color == "gray":
        return (1.0, 1.0, 1.0)
    if color == "random":
        return None
    if isinstance(color, str) and len(color) == 7 and color[0] == "#":
        try:
            rgb = tuple(int(color[i:i + 2], 16) / 255.0 for i in (1, 3, 5))
        except ValueError:
            rgb = ()
        if len(rgb) == 3 and max(rgb) > 0:
            return rgb  # type: ignore[return-value]
    raise ConfigError(f"dataset.color: {color!r} is not \"gray\", \"random\" or a non-black \"#rrggbb\" colour")
